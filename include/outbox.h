/*
 * outbox: sends the `outbound` rows, through each channel's provider,
 * from the event loop.
 *
 * A row is claimed (status sending, one more attempt) in a committed
 * transaction before its request leaves, so a crash leaves a trace: at
 * the next start, rows left sending are sent again where the provider
 * drops a repeated key, else marked unknown until a delivery report
 * naming our key settles them.  The caller must never get a text twice.
 *
 * Send-time checks, on every attempt: no text to a number that opted out
 * or whose task says texting is unsafe (except the one opt-out
 * confirmation); replies go at once while the caller is in a
 * conversation, anything later only inside the contact window they chose
 * (outbox.contact_windows, in the process's TZ, set to the hotline's).
 * Failures are retried with backoff and full jitter up to
 * outbox.max_attempts; a provider's permanent refusal fails at once.
 * Each channel has at most outbox.max_in_flight requests out and sends
 * at most rate_limit_per_second (by default its provider's documented
 * throughput; none for console).
 *
 * What is due leaves by lane (enum store_lane): urgent, confirmations,
 * first replies, conversation pages, counsellors' texts, follow-ups; a
 * higher lane always first, callers taking turns inside a lane so one
 * flooding number delays nobody else.  A conversation page whose caller
 * has gone idle past sms.session_idle_seconds is never sent late: it
 * becomes `expired`.
 *
 * Urgent tasks are announced here too: alerts.sms numbers get the
 * urgent_alert template (a task number and link, never the caller's
 * number) and alerts.url a signed JSON POST, both as outbox rows.
 */
#ifndef HOTLINE_OUTBOX_H
#define HOTLINE_OUTBOX_H

#include <stddef.h>

struct config;
struct event_base;
struct http_client;
struct store;

struct outbox;

/* Borrowed: base, config (see outbox_set_config), store and client.
 * Free the client first: its cancelled requests report to the outbox.
 * NULL when out of memory.  The caller owns the result. */
struct outbox *outbox_new(struct event_base *base,
    const struct config *config, struct store *store,
    struct http_client *client);
void outbox_free(struct outbox *outbox);

/* Rows were queued or a caller's state changed: look again soon. */
void outbox_kick(struct outbox *outbox);

/* A reloaded config: 0, and the old one may be freed; -1 (out of
 * memory) and the outbox keeps using the old one. */
int outbox_set_config(struct outbox *outbox, const struct config *config);

/*
 * Tell the counsellors on call (alerts.sms: the security_alert template;
 * alerts.url: {"id", "event", "token"}) of a security event such as
 * "reveal_limit", naming the token, never a caller.  Queued inside the
 * caller's open transaction when there is one.  0, or -1 on a store
 * error.  event and token are borrowed.
 */
int outbox_alert_security(struct outbox *outbox, const char *event,
    const char *token);

/* Start no new sends (shutdown); what is in flight runs on. */
void outbox_stop(struct outbox *outbox);

/* Requests sent and not yet answered. */
size_t outbox_in_flight(const struct outbox *outbox);

#endif
