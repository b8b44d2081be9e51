/*
 * outbox: sends the `outbound` rows, through each queue's sender, from
 * the event loop, and changes them only through the writer (writer.h).
 *
 * A row is claimed (status sending, one more attempt) by a unit of the
 * writer, and its request leaves only from that unit's completion, once
 * the claim is durable, so a crash leaves a trace: at the next start,
 * rows left sending are sent again where the receiver drops a repeated
 * key, else marked unknown until a delivery report naming our key settles
 * them.  The caller must never get a text twice.  Due rows are read on
 * the loop's own connection; while a channel's claim is in flight its
 * rows are not read again (that connection cannot see the claim yet),
 * and a claim moves only rows still pending: a row it did not move is
 * not sent.  A provider's answer is stored by a unit of its own; nothing
 * waits for it.
 *
 * Send-time checks, on every attempt: no text to a number that opted out
 * or whose task says texting is unsafe (except the one opt-out
 * confirmation); replies go at once while the caller is in a
 * conversation, anything later only inside the contact window they chose
 * (outbox.contact_windows, in the process's TZ, set to the hotline's).
 * Failures are retried with backoff and full jitter up to
 * outbox.max_attempts; a provider's permanent refusal fails at once.
 * Each queue has at most outbox.max_in_flight requests out and sends
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
 * Urgent tasks are announced here too, as rows of the urgent lane:
 * alerts.sms numbers get the urgent_alert template (a task number and
 * link, never the caller's number) through alerts.channel, like any
 * text, and alerts.url a signed JSON POST through its own sender, whose
 * queue is named "@alerts" (no number: "-").
 *
 * An urgent task still pending alerts.escalate_after_seconds after its
 * alert (or its last escalation) is announced again, the same way, with
 * the urgent_escalation template, to alerts.sms and alerts.supervisors,
 * every as long until claimed or closed (logged task.escalated).  When
 * it was last escalated is stored, so a restart does not repeat one
 * early; the table is read when the next one falls due, not every turn.
 *
 * Another process's commit (hotlinectl) is noticed within a second
 * (SQLite's data_version); our own writer's commits are not mistaken
 * for one.
 */
#ifndef HOTLINE_OUTBOX_H
#define HOTLINE_OUTBOX_H

#include <stddef.h>

struct config;
struct event_base;
struct http_client;
struct store;
struct writer;

struct outbox;

/* Borrowed: base, config (see outbox_set_config), store (the loop's
 * connection, read only), writer (every change goes through it) and
 * client.  Free the writer and then the client before the outbox: the
 * completions of its units and its cancelled requests report to the
 * outbox.  NULL when out of memory.  The caller owns the result. */
struct outbox *outbox_new(struct event_base *base,
    const struct config *config, struct store *store,
    struct writer *writer, struct http_client *client);
void outbox_free(struct outbox *outbox);

/* Rows were queued or a caller's state changed: look again soon. */
void outbox_kick(struct outbox *outbox);

/* A reloaded config: 0, and the old one may be freed; -1 (out of
 * memory) and the outbox keeps using the old one. */
int outbox_set_config(struct outbox *outbox, const struct config *config);

/*
 * Tell the counsellors on call (alerts.sms: the security_alert template;
 * alerts.url: {"id", "event", "token"}) of a security event such as
 * "reveal_limit", naming the token, never a caller.  On the loop: the
 * rows are queued by a unit of the writer of their own, sent once it has
 * committed (a store error there is logged, store.failed
 * op=alert_queue).  0 when submitted, -1 when out of memory.  event and
 * token are borrowed for the call only.  A NULL outbox: 0, nothing sent.
 */
int outbox_alert_security(struct outbox *outbox, const char *event,
    const char *token);

/* Start no new sends (shutdown); what is in flight runs on, and a claim
 * that commits afterwards is handed back (pending, uncounted). */
void outbox_stop(struct outbox *outbox);

/* Requests sent and not yet answered. */
size_t outbox_in_flight(const struct outbox *outbox);

/*
 * For the health check, on the loop: *seconds, how long rows have been
 * waiting to be sent (due, being sent, or failed and waiting for a
 * retry) with no send succeeding meanwhile; 0 when none wait.  Counted
 * from the first failed attempt after the last success, or else from the
 * first call that found rows waiting, so call it regularly.  Any send
 * that succeeds counts, on any queue.  0, or -1 on a store error.
 */
int outbox_stalled(struct outbox *outbox, double *seconds);

#endif
