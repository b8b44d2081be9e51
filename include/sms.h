/*
 * sms: POST (or GET) /v1/sms/{channel}, one inbound SMS.
 *
 * channel -> adapter (verify, parse) -> inbox (group commit) -> the
 * aggregator's acknowledgement, sent only once the row is durable.  A
 * retried webhook (same channel and provider id) is acknowledged and
 * changes nothing.  Never refused for volume: a 429 or 503 to an
 * aggregator that does not retry (Twilio) would lose the message.
 */
#ifndef HOTLINE_SMS_H
#define HOTLINE_SMS_H

struct http_request;

/* The route handler; arg is the struct app. */
void sms_inbound_cb(struct http_request *req, void *arg);

/* POST (or GET) /v1/dlr/{channel}: a delivery report, recorded before
 * it is acknowledged; a repeated report changes nothing. */
void sms_dlr_cb(struct http_request *req, void *arg);

#endif
