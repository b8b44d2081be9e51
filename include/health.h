/*
 * health: whether the daemon can do its work, for /readyz, the log and
 * systemd's status line.
 *
 * Three conditions make it not ready: the database does not take a
 * durable write (probed through the writer, like any write), free disk
 * under the database is below health.min_free_mb, or texts have waited
 * health.outbox_stall_seconds with no send succeeding.  /readyz checks
 * them on each request and answers 503 with their names and what to do;
 * a timer checks them every health.interval_seconds and logs
 * health.degraded for each one present (once an interval while it
 * lasts) and health.recovered once when it ends.  /healthz is answered
 * by the event loop itself: an answer means the loop turns.
 */
#ifndef HOTLINE_HEALTH_H
#define HOTLINE_HEALTH_H

#include <stddef.h>

struct app;
struct http_request;
struct health;

/* app is borrowed and must outlive the health (its config, outbox,
 * writer and base are read when a check runs).  The caller owns the
 * result: free it after the writer (a probe's completion uses it).
 * NULL when out of memory. */
struct health *health_new(struct app *app);
void health_free(struct health *health);

/* Start the periodic check.  -1 when its timer cannot be set. */
int health_start(struct health *health);

/* GET /healthz and GET /readyz; arg is the struct health. */
void health_healthz_cb(struct http_request *req, void *arg);
void health_readyz_cb(struct http_request *req, void *arg);

/* The conditions the last periodic check found, as "disk_low,
 * outbox_stalled" ("" when none), into out (always terminated). */
void health_degraded(const struct health *health, char *out, size_t len);

#endif
