/*
 * retention: forgetting on time.  The daemon purges what is past
 * privacy.retention_days (and audit rows past audit_retention_days) once
 * shortly after it starts and then every privacy.purge_interval_seconds,
 * through the writer (writer.h) like every change, in capped steps so
 * that no step holds the write lock for long; then gives the freed pages
 * back (incremental vacuum) and logs one retention.purged line with the
 * counts.  hotlinectl purge runs the same policy on its own connection.
 * What goes and what stays is the store's (store_purge in store.h).
 *
 * Threads: every function here runs on the loop thread (the step's work
 * on the writer's).
 */
#ifndef HOTLINE_RETENTION_H
#define HOTLINE_RETENTION_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

struct app;
struct config;
struct retention;

/* Rows of each table one step of the daemon's purge changes, at most. */
#define RETENTION_STEP_ROWS 500
/* The first purge after start comes after this many seconds (or the
 * interval, when shorter). */
#define RETENTION_FIRST_SECONDS 60

/* The purge cfg asks for, with its windows ending at now (unix time). */
void retention_policy(const struct config *cfg, double now, bool dry_run,
    size_t cap, struct store_purge_policy *out);

/* "tasks=3 task_notes=1 …": every table's count, for a log line or a
 * terminal (always terminated). */
void retention_counts_format(const struct store_purge_counts *counts,
    char *out, size_t len);

/* The daemon's job.  app is borrowed and must outlive it (config, writer
 * and base are read when it runs).  Free it after the writer: a step's
 * completion uses it.  NULL when out of memory. */
struct retention *retention_new(struct app *app);
/* Arm the first purge.  -1 when the timer cannot be set. */
int retention_start(struct retention *retention);
void retention_free(struct retention *retention);

#endif
