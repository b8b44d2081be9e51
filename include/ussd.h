/*
 * ussd: POST /v1/ussd/{channel}, one USSD hop.
 *
 * The path reads straight through: channel -> adapter (verify, parse) ->
 * menu (replayed from the caller's whole input path, so a retried hop
 * gives the same page) -> store (session, and the task when the request
 * is finished, in one commit) -> the framed page.
 */
#ifndef HOTLINE_USSD_H
#define HOTLINE_USSD_H

struct http_request;

/* The route handler; arg is the struct app. */
void ussd_hop_cb(struct http_request *req, void *arg);

#endif
