/*
 * store_purge: forgetting.  The retention purge (what is older than the
 * window goes, its counts stay in stats_daily) and the erasure of one
 * caller on request.  What each keeps and why is in store.h.
 */
#include "store.h"
#include "store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

/*
 * The rules, as SQL conditions on a row of table `a` (the table's own
 * name in a DELETE or UPDATE, an alias in a subquery).  ?1 is the
 * cutoff ("YYYY-MM-DDTHH:MM:SSZ", the store's time format, so times
 * compare as text).
 */

/* Nothing of a caller with an open task goes: the counsellor who calls
 * back reads their history. */
#define NO_OPEN_TASK(a) \
	"NOT EXISTS (SELECT 1 FROM tasks ot WHERE ot.caller = " a ".caller " \
	"AND ot.status != 'closed') AND NOT EXISTS (SELECT 1 FROM tasks ot " \
	"WHERE ot.id = " a ".task_id AND ot.status != 'closed')"
/* Closed before the cutoff, not yet anonymised.  A closed task holds no
 * lease (closing ends it). */
#define TASKS_DUE(a) \
	a ".status = 'closed' AND " a ".closed_at < ?1 AND (" a ".msisdn != " \
	"'' OR " a ".caller != '' OR " a ".preferred_time IS NOT NULL)"
#define NOTES_DUE(a) \
	a ".task_id IN (SELECT id FROM tasks WHERE status = 'closed' AND " \
	"closed_at < ?1)"
/* A text still pending or being sent is the outbox's: never touched. */
#define OUTBOUND_DUE(a) \
	a ".created_at < ?1 AND " a ".status NOT IN ('pending', 'sending') " \
	"AND " NO_OPEN_TASK(a)
/* Unprocessed messages wait for the conversation to take them. */
#define INBOUND_OLD(a) \
	a ".stored_at < ?1 AND " a ".processed_at IS NOT NULL AND " \
	NO_OPEN_TASK(a)
/* outbound.inbound_id references the message: it goes once no outbound
 * row names it (the outbound step runs first in the same step). */
#define INBOUND_DUE(a) \
	INBOUND_OLD(a) " AND NOT EXISTS (SELECT 1 FROM outbound o WHERE " \
	"o.inbound_id = " a ".id)"
/* What a dry run counts: the rows that would go once the outbound rows
 * that would go are gone, so its counts equal the real run's. */
#define INBOUND_DUE_DRY(a) \
	INBOUND_OLD(a) " AND NOT EXISTS (SELECT 1 FROM outbound o WHERE " \
	"o.inbound_id = " a ".id AND NOT (" OUTBOUND_DUE("o") "))"
#define SESSIONS_DUE(a) \
	a ".updated_at < ?1 AND " NO_OPEN_TASK(a)
/* A report is kept while a text that may still take it (waiting for its
 * answer, or unknown) is kept. */
#define DLR_DUE(a) \
	a ".received_at < ?1 AND NOT EXISTS (SELECT 1 FROM outbound o WHERE " \
	"o.channel = " a ".channel AND (o.provider_ref = " a ".provider_ref " \
	"OR o.send_key = " a ".send_key) AND o.status IN ('pending', " \
	"'sending', 'unknown') AND NOT (" OUTBOUND_DUE("o") "))"
/* ?1: the audit cutoff. */
#define AUDIT_DUE(a) a ".at < ?1"

/* A capped step takes the due rows up to ?2 (-1: all). */
#define BOUNDED(a) " AND (?2 < 0 OR " a ".id <= ?2)"
/* The id below the (cap + 1)-th due row (?2: cap): the step's bound. */
#define BOUND(t, due) "SELECT id - 1 FROM " t " WHERE " due " ORDER BY " \
	"id LIMIT 1 OFFSET ?2"
#define COUNT(t, due) "SELECT count(*) FROM " t " WHERE " due BOUNDED(t)
#define CALLERS(t, due) "SELECT DISTINCT caller FROM " t " WHERE " due \
	BOUNDED(t) " AND caller != ''"
/* Counts kept per UTC day, channel, kind and status. */
#define KEEP(select) "INSERT INTO stats_daily(day, channel, kind, status, " \
	"count) " select " ON CONFLICT(day, channel, kind, status) DO " \
	"UPDATE SET count = stats_daily.count + excluded.count"

const struct store_sql store_purge_sql[] = {
	{ STMT_PURGE_TASKS_BOUND, BOUND("tasks", TASKS_DUE("tasks")) },
	{ STMT_PURGE_TASKS_COUNT, COUNT("tasks", TASKS_DUE("tasks")) },
	/* Kept for statistics; what names or describes the caller goes. */
	{ STMT_PURGE_TASKS_DO, "UPDATE tasks SET msisdn = '', caller = '', "
	    "preferred_time = NULL, verification = NULL WHERE " TASKS_DUE("tasks")
	    BOUNDED("tasks") },
	{ STMT_PURGE_NOTES_BOUND, BOUND("task_notes",
	    NOTES_DUE("task_notes")) },
	{ STMT_PURGE_NOTES_COUNT, COUNT("task_notes",
	    NOTES_DUE("task_notes")) },
	{ STMT_PURGE_NOTES_DO, "DELETE FROM task_notes WHERE "
	    NOTES_DUE("task_notes") BOUNDED("task_notes") },
	{ STMT_PURGE_OUTBOUND_BOUND, BOUND("outbound",
	    OUTBOUND_DUE("outbound")) },
	{ STMT_PURGE_OUTBOUND_COUNT, COUNT("outbound",
	    OUTBOUND_DUE("outbound")) },
	{ STMT_PURGE_OUTBOUND_KEEP, KEEP("SELECT substr(created_at, 1, 10), "
	    "channel, 'outbound', status, count(*) FROM outbound WHERE "
	    OUTBOUND_DUE("outbound") BOUNDED("outbound") " GROUP BY 1, 2, "
	    "4") },
	{ STMT_PURGE_OUTBOUND_DO, "DELETE FROM outbound WHERE "
	    OUTBOUND_DUE("outbound") BOUNDED("outbound") },
	{ STMT_PURGE_INBOUND_BOUND, BOUND("inbound", INBOUND_DUE("inbound")) },
	{ STMT_PURGE_INBOUND_COUNT, COUNT("inbound", INBOUND_DUE("inbound")) },
	{ STMT_PURGE_INBOUND_COUNT_DRY, COUNT("inbound",
	    INBOUND_DUE_DRY("inbound")) },
	/* A message in parts counts once: its joined row. */
	{ STMT_PURGE_INBOUND_KEEP, KEEP("SELECT substr(stored_at, 1, 10), "
	    "channel, 'inbound', '', count(*) FROM inbound WHERE "
	    INBOUND_DUE("inbound") BOUNDED("inbound") " AND concat_ref IS "
	    "NULL GROUP BY 1, 2") },
	{ STMT_PURGE_INBOUND_DO, "DELETE FROM inbound WHERE "
	    INBOUND_DUE("inbound") BOUNDED("inbound") },
	{ STMT_PURGE_SESSIONS_BOUND, BOUND("sessions",
	    SESSIONS_DUE("sessions")) },
	{ STMT_PURGE_SESSIONS_COUNT, COUNT("sessions",
	    SESSIONS_DUE("sessions")) },
	{ STMT_PURGE_SESSIONS_KEEP, KEEP("SELECT substr(created_at, 1, 10), "
	    "channel, kind || '_session', '', count(*) FROM sessions WHERE "
	    SESSIONS_DUE("sessions") BOUNDED("sessions") " GROUP BY 1, 2, "
	    "3") },
	{ STMT_PURGE_SESSIONS_DO, "DELETE FROM sessions WHERE "
	    SESSIONS_DUE("sessions") BOUNDED("sessions") },
	{ STMT_PURGE_DLR_BOUND, BOUND("delivery_reports",
	    DLR_DUE("delivery_reports")) },
	{ STMT_PURGE_DLR_COUNT, COUNT("delivery_reports",
	    DLR_DUE("delivery_reports")) },
	{ STMT_PURGE_DLR_KEEP, KEEP("SELECT substr(received_at, 1, 10), "
	    "channel, 'delivery_report', status, count(*) FROM "
	    "delivery_reports WHERE " DLR_DUE("delivery_reports")
	    BOUNDED("delivery_reports") " GROUP BY 1, 2, 4") },
	{ STMT_PURGE_DLR_DO, "DELETE FROM delivery_reports WHERE "
	    DLR_DUE("delivery_reports") BOUNDED("delivery_reports") },
	{ STMT_PURGE_AUDIT_BOUND, BOUND("audit", AUDIT_DUE("audit")) },
	{ STMT_PURGE_AUDIT_COUNT, COUNT("audit", AUDIT_DUE("audit")) },
	{ STMT_PURGE_AUDIT_DO, "DELETE FROM audit WHERE " AUDIT_DUE("audit")
	    BOUNDED("audit") },
	/* Whose rows a step takes: each may be left with nothing. */
	{ STMT_PURGE_TASKS_CALLERS, CALLERS("tasks", TASKS_DUE("tasks")) },
	{ STMT_PURGE_OUTBOUND_CALLERS, CALLERS("outbound",
	    OUTBOUND_DUE("outbound")) },
	{ STMT_PURGE_INBOUND_CALLERS, CALLERS("inbound",
	    INBOUND_DUE("inbound")) },
	{ STMT_PURGE_SESSIONS_CALLERS, CALLERS("sessions",
	    SESSIONS_DUE("sessions")) },
	/* Anything of the caller's still sealed under their key (opt-outs
	 * and do-not-contact marks hold only the pseudonym). */
	{ STMT_PURGE_CALLER_KEPT, "SELECT EXISTS (SELECT 1 FROM tasks WHERE "
	    "caller = ?1) OR EXISTS (SELECT 1 FROM inbound WHERE caller = ?1) "
	    "OR EXISTS (SELECT 1 FROM outbound WHERE caller = ?1) OR EXISTS "
	    "(SELECT 1 FROM sessions WHERE caller = ?1)" },

	/* Erasure: ?1 the caller's pseudonym. */
	{ STMT_ERASE_WAS, "SELECT EXISTS (SELECT 1 FROM audit WHERE action = "
	    "'caller.erased' AND detail = ?1)" },
	{ STMT_ERASE_LEASES, "SELECT count(*) FROM tasks WHERE caller = ?1 "
	    "AND status = 'claimed' AND lease_expires_at > " NOW },
	{ STMT_ERASE_CLOSE, "UPDATE tasks SET status = 'closed', outcome = "
	    "'erased', closed_at = " NOW ", lease_expires_at = NULL, "
	    "retry_at = NULL, updated_at = " NOW " WHERE caller = ?1 AND "
	    "status != 'closed'" },
	{ STMT_ERASE_NOTES, "DELETE FROM task_notes WHERE task_id IN (SELECT "
	    "id FROM tasks WHERE caller = ?1)" },
	/* Failed: the outbox sends only pending rows, and no recovery
	 * makes a failed row pending again. */
	{ STMT_ERASE_OUT_CANCEL, "UPDATE outbound SET status = 'failed', "
	    "last_error = 'erased', msisdn = '', caller = '', body = '', "
	    "updated_at = " NOW " WHERE caller = ?1 AND status = 'pending'" },
	{ STMT_ERASE_OUT_CLEAR, "UPDATE outbound SET msisdn = '', caller = "
	    "'', body = '' WHERE caller = ?1 AND status NOT IN ('pending', "
	    "'sending')" },
	/* A row being sent keeps what the send (and, after a crash, the
	 * recovery's resend) needs. */
	{ STMT_ERASE_OUT_FLIGHT, "SELECT count(*) FROM outbound WHERE "
	    "caller = ?1 AND status = 'sending'" },
	/* Marked processed: an empty message must not reach the menu. */
	{ STMT_ERASE_INBOUND, "UPDATE inbound SET msisdn = '', caller = '', "
	    "body = '', processed_at = COALESCE(processed_at, " NOW ") WHERE "
	    "caller = ?1" },
	/* An SMS session's id is made of the pseudonym. */
	{ STMT_ERASE_SESSIONS, "UPDATE sessions SET msisdn = '', caller = '', "
	    "node = '', state = NULL, session_id = 'erased:' || id, ended_at "
	    "= COALESCE(ended_at, " NOW ") WHERE caller = ?1" },
	/* The opt-out stays: it holds only the pseudonym, and an erased
	 * caller who said STOP is still never texted. */
	{ STMT_ERASE_OPTOUTS, "SELECT count(*) FROM optouts WHERE "
	    "caller = ?1" },
	/* Last: the steps above find the caller's rows through it. */
	{ STMT_ERASE_TASKS, "UPDATE tasks SET msisdn = '', caller = '', "
	    "preferred_time = NULL, verification = NULL WHERE caller = ?1" },
	/* By day, from what the purge keeps: closed tasks stay (without
	 * the caller), and deleted messages, texts and sessions left their
	 * counts in stats_daily. */
	{ STMT_STATS_DAYS, "SELECT day, what, key, sum(n) FROM ("
	    "SELECT substr(created_at, 1, 10) AS day, 'tasks' AS what, '' AS "
	    "key, count(*) AS n FROM tasks WHERE created_at >= ?1 GROUP BY 1 "
	    "UNION ALL SELECT substr(created_at, 1, 10), 'channel', channel, "
	    "count(*) FROM tasks WHERE created_at >= ?1 GROUP BY 1, 3 "
	    "UNION ALL SELECT substr(created_at, 1, 10), 'topic', "
	    "COALESCE(topic, 'none'), count(*) FROM tasks WHERE created_at >= "
	    "?1 GROUP BY 1, 3 "
	    "UNION ALL SELECT substr(created_at, 1, 10), 'priority', priority, "
	    "count(*) FROM tasks WHERE created_at >= ?1 GROUP BY 1, 3 "
	    "UNION ALL SELECT substr(closed_at, 1, 10), 'outcome', "
	    "COALESCE(outcome, 'none'), count(*) FROM tasks WHERE status = "
	    "'closed' AND closed_at >= ?1 GROUP BY 1, 3 "
	    "UNION ALL SELECT substr(stored_at, 1, 10), 'texts_in', '', "
	    "count(*) FROM inbound WHERE stored_at >= ?1 AND concat_ref IS "
	    "NULL GROUP BY 1 "
	    "UNION ALL SELECT substr(created_at, 1, 10), 'texts_out', '', "
	    "count(*) FROM outbound WHERE created_at >= ?1 GROUP BY 1 "
	    "UNION ALL SELECT substr(created_at, 1, 10), 'sessions', kind, "
	    "count(*) FROM sessions WHERE created_at >= ?1 GROUP BY 1, 3 "
	    "UNION ALL SELECT day, CASE kind WHEN 'inbound' THEN 'texts_in' "
	    "WHEN 'outbound' THEN 'texts_out' ELSE 'sessions' END, CASE kind "
	    "WHEN 'ussd_session' THEN 'ussd' WHEN 'sms_session' THEN 'sms' "
	    "ELSE '' END, count FROM stats_daily WHERE day >= ?1 AND kind IN "
	    "('inbound', 'outbound', 'ussd_session', 'sms_session')"
	    ") GROUP BY 1, 2, 3 "
	    /* The lower median, as STORE_STAT_MEDIAN_FIRST_CALL_SECONDS. */
	    "UNION ALL SELECT day, 'first_call_median', '', s FROM (SELECT "
	    "day, s, row_number() OVER (PARTITION BY day ORDER BY s) AS rn, "
	    "count(*) OVER (PARTITION BY day) AS n FROM (SELECT substr("
	    "created_at, 1, 10) AS day, strftime('%s', first_completed_at) - "
	    "strftime('%s', created_at) AS s FROM tasks WHERE "
	    "first_completed_at IS NOT NULL AND created_at >= ?1)) WHERE rn = "
	    "(n + 1) / 2 ORDER BY 1 DESC, 2, 3" },
	{ STMT_COUNT_, NULL },
};

static const char *const table_names[] = {
	[STORE_PURGE_TASKS] = "tasks",
	[STORE_PURGE_NOTES] = "task_notes",
	[STORE_PURGE_INBOUND] = "inbound",
	[STORE_PURGE_OUTBOUND] = "outbound",
	[STORE_PURGE_SESSIONS] = "sessions",
	[STORE_PURGE_DLR] = "delivery_reports",
	[STORE_PURGE_AUDIT] = "audit",
};

const char *
store_purge_table_name(enum store_purge_table table)
{
	return (unsigned)table < STORE_PURGE_TABLE_COUNT ?
	    table_names[table] : "unknown";
}

/*
 * One table's part of a step, in the order the steps run: outbound
 * before inbound (a message goes once no text names it), every
 * statement bound to the same cutoff and bound.  keep: the counts kept,
 * or STMT_COUNT_ for none; dry_count: what a dry run counts.
 */
static const struct purge_table {
	enum store_purge_table table;
	enum stmt bound, count, dry_count, keep, act;
	enum stmt callers;        /* whose rows go (STMT_COUNT_: no caller) */
	bool audit;               /* the audit window, not retention's */
} purge_tables[] = {
	{ STORE_PURGE_OUTBOUND, STMT_PURGE_OUTBOUND_BOUND,
	    STMT_PURGE_OUTBOUND_COUNT, STMT_PURGE_OUTBOUND_COUNT,
	    STMT_PURGE_OUTBOUND_KEEP, STMT_PURGE_OUTBOUND_DO,
	    STMT_PURGE_OUTBOUND_CALLERS, false },
	{ STORE_PURGE_INBOUND, STMT_PURGE_INBOUND_BOUND,
	    STMT_PURGE_INBOUND_COUNT, STMT_PURGE_INBOUND_COUNT_DRY,
	    STMT_PURGE_INBOUND_KEEP, STMT_PURGE_INBOUND_DO,
	    STMT_PURGE_INBOUND_CALLERS, false },
	{ STORE_PURGE_SESSIONS, STMT_PURGE_SESSIONS_BOUND,
	    STMT_PURGE_SESSIONS_COUNT, STMT_PURGE_SESSIONS_COUNT,
	    STMT_PURGE_SESSIONS_KEEP, STMT_PURGE_SESSIONS_DO,
	    STMT_PURGE_SESSIONS_CALLERS, false },
	{ STORE_PURGE_DLR, STMT_PURGE_DLR_BOUND, STMT_PURGE_DLR_COUNT,
	    STMT_PURGE_DLR_COUNT, STMT_PURGE_DLR_KEEP, STMT_PURGE_DLR_DO,
	    STMT_COUNT_, false },
	{ STORE_PURGE_NOTES, STMT_PURGE_NOTES_BOUND, STMT_PURGE_NOTES_COUNT,
	    STMT_PURGE_NOTES_COUNT, STMT_COUNT_, STMT_PURGE_NOTES_DO,
	    STMT_COUNT_, false },
	{ STORE_PURGE_TASKS, STMT_PURGE_TASKS_BOUND, STMT_PURGE_TASKS_COUNT,
	    STMT_PURGE_TASKS_COUNT, STMT_COUNT_, STMT_PURGE_TASKS_DO,
	    STMT_PURGE_TASKS_CALLERS, false },
	{ STORE_PURGE_AUDIT, STMT_PURGE_AUDIT_BOUND, STMT_PURGE_AUDIT_COUNT,
	    STMT_PURGE_AUDIT_COUNT, STMT_COUNT_, STMT_PURGE_AUDIT_DO,
	    STMT_COUNT_, true },
};

/* The callers a purge step took rows of (malloc'd strings). */
struct caller_list {
	char **v;
	size_t n, cap;
};

static void
caller_list_clear(struct caller_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	*l = (struct caller_list){ 0 };
}

static int
caller_list_add(struct caller_list *l, const char *caller)
{
	char **v;

	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], caller) == 0)
			return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;

		if ((v = realloc(l->v, cap * sizeof(*v))) == NULL)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	if ((l->v[l->n] = strdup(caller)) == NULL)
		return -1;
	l->n++;
	return 0;
}

/* now - days, in the store's time format. */
static int
cutoff(double now, unsigned days, char out[32])
{
	time_t t = (time_t)now - (time_t)days * 86400;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -1;
	return 0;
}

/* Run s with ?1 the cutoff and ?2 the bound (or the cap), reset after. */
static void
bind_window(sqlite3_stmt *s, const char *cut, int64_t second)
{
	sqlite3_bind_text(s, 1, cut, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, second);
}

static int
purge_one(struct store *st, const struct purge_table *p, const char *cut,
    const struct store_purge_policy *pol, struct store_purge_counts *c,
    struct caller_list *callers)
{
	sqlite3_stmt *s;
	int64_t bound = -1, n;
	bool found;

	if (!pol->dry_run && pol->cap > 0) {
		s = st->stmt[p->bound];
		bind_window(s, cut, (int64_t)pol->cap);
		if (db_step_id(s, &bound, &found) < 0)
			return -1;
		if (found)
			c->more = true;
		else
			bound = -1;
	}
	s = st->stmt[pol->dry_run ? p->dry_count : p->count];
	bind_window(s, cut, bound);
	if (db_count(s, &n) < 0)
		return -1;
	c->rows[p->table] += n;
	if (pol->dry_run || n == 0)
		return 0;
	if (p->callers != STMT_COUNT_) {
		int rc;

		s = st->stmt[p->callers];
		bind_window(s, cut, bound);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW)
			if (caller_list_add(callers, db_column_str(s, 0)) < 0) {
				rc = SQLITE_NOMEM;
				break;
			}
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		if (rc != SQLITE_DONE)
			return -1;
	}
	if (p->keep != STMT_COUNT_) {
		bind_window(st->stmt[p->keep], cut, bound);
		if (db_step_done(st, st->stmt[p->keep]) < 0)
			return -1;
	}
	bind_window(st->stmt[p->act], cut, bound);
	if (db_step_done(st, st->stmt[p->act]) < 0)
		return -1;
	/* The count and the change read the same rows in one transaction;
	 * anything else is a broken invariant, and the step is undone. */
	return sqlite3_changes(st->db) == n ? 0 : -1;
}

int
store_purge(struct store *st, const struct store_purge_policy *pol,
    struct store_purge_counts *c, char *err, size_t errlen)
{
	char cut[32], audit_cut[32];
	struct store_purge_counts step = { 0 };
	struct caller_list callers = { 0 };

	if (cutoff(pol->now, pol->retention_days, cut) < 0 ||
	    cutoff(pol->now, pol->audit_days, audit_cut) < 0) {
		snprintf(err, errlen, "cannot compute the retention cutoff");
		return -1;
	}
	if (db_begin(st, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(purge_tables) / sizeof(purge_tables[0]);
	    i++) {
		const struct purge_table *p = &purge_tables[i];

		if (purge_one(st, p, p->audit ? audit_cut : cut, pol,
		    &step, &callers) < 0) {
			snprintf(err, errlen, "purging %s: %s",
			    store_purge_table_name(p->table),
			    sqlite3_errmsg(st->db));
			goto fail;
		}
	}
	/* Crypto-shredding: whoever has nothing left here loses their key,
	 * and with it whatever of theirs older backups hold. */
	for (size_t i = 0; i < callers.n; i++) {
		sqlite3_stmt *s = st->stmt[STMT_PURGE_CALLER_KEPT];
		int64_t kept;

		db_bind_text(s, 1, callers.v[i]);
		if (db_count(s, &kept) < 0) {
			snprintf(err, errlen, "purging keys: %s",
			    sqlite3_errmsg(st->db));
			goto fail;
		}
		if (kept)
			continue;
		if (store_caller_key_destroy(st, callers.v[i]) < 0) {
			snprintf(err, errlen, "purging keys: the key store "
			    "refused");
			goto fail;
		}
		step.keys++;
	}
	caller_list_clear(&callers);
	if (db_commit(st, err, errlen) < 0)
		return -1;
	for (int i = 0; i < STORE_PURGE_TABLE_COUNT; i++)
		c->rows[i] += step.rows[i];
	c->more = c->more || step.more;
	c->keys += step.keys;
	return 0;
fail:
	caller_list_clear(&callers);
	db_rollback(st);
	return -1;
}

int
store_reclaim(struct store *st, int64_t *pages, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int before = 0, after = 0;
	char *msg = NULL;

	*pages = 0;
	if (sqlite3_prepare_v2(st->db, "PRAGMA freelist_count", -1, &s,
	    NULL) != SQLITE_OK) {
		db_error(st, "freelist_count", err, errlen);
		return -1;
	}
	if (sqlite3_step(s) == SQLITE_ROW)
		before = sqlite3_column_int(s, 0);
	sqlite3_reset(s);
	/* sqlite3_exec steps the pragma to its end: each step frees one
	 * page. */
	if (before > 0 && sqlite3_exec(st->db, "PRAGMA incremental_vacuum",
	    NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "incremental_vacuum: %s",
		    msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		sqlite3_finalize(s);
		return -1;
	}
	if (sqlite3_step(s) == SQLITE_ROW)
		after = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	*pages = before > after ? before - after : 0;
	return 0;
}

int
store_checkpoint(struct store *st, bool *complete, char *err, size_t errlen)
{
	int log = 0, done = 0, rc;

	*complete = false;
	rc = sqlite3_wal_checkpoint_v2(st->db, NULL,
	    SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
	if (rc == SQLITE_BUSY || (rc & 0xff) == SQLITE_BUSY)
		return 0;
	if (rc != SQLITE_OK) {
		db_error(st, "checkpoint", err, errlen);
		return -1;
	}
	*complete = true;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Erasure                                                             */

/* Run s bound to the caller: *n its changes (a write) or its count. */
static int
erase_step(struct store *st, enum stmt id, const char *caller, int64_t *n,
    bool count)
{
	sqlite3_stmt *s = st->stmt[id];

	db_bind_text(s, 1, caller);
	if (count)
		return db_count(s, n);
	if (db_step_done(st, s) < 0)
		return -1;
	*n = sqlite3_changes(st->db);
	return 0;
}

enum store_result
store_caller_erase(struct store *st, const char *caller, const char *actor,
    struct store_erase_counts *c)
{
	struct store_erase_counts z = { 0 };
	char why[256];
	int64_t was = 0;
	bool any;

	*c = z;
	if (caller == NULL || caller[0] == '\0')
		return STORE_RESULT_NOT_FOUND;
	if (db_begin(st, why, sizeof(why)) < 0)
		return STORE_RESULT_ERROR;
	/* The order matters: each step finds the caller's rows by the
	 * pseudonym the steps after it clear. */
	if (erase_step(st, STMT_ERASE_LEASES, caller, &c->leases_ended,
	    true) < 0 ||
	    erase_step(st, STMT_ERASE_CLOSE, caller, &c->tasks_closed,
	    false) < 0 ||
	    erase_step(st, STMT_ERASE_NOTES, caller, &c->notes, false) < 0 ||
	    erase_step(st, STMT_ERASE_OUT_FLIGHT, caller, &c->in_flight,
	    true) < 0 ||
	    erase_step(st, STMT_ERASE_OUT_CANCEL, caller,
	    &c->outbound_cancelled, false) < 0 ||
	    erase_step(st, STMT_ERASE_OUT_CLEAR, caller, &c->outbound,
	    false) < 0 ||
	    erase_step(st, STMT_ERASE_INBOUND, caller, &c->inbound,
	    false) < 0 ||
	    erase_step(st, STMT_ERASE_SESSIONS, caller, &c->sessions,
	    false) < 0 ||
	    erase_step(st, STMT_ERASE_OPTOUTS, caller, &c->optouts,
	    true) < 0 ||
	    erase_step(st, STMT_ERASE_TASKS, caller, &c->tasks, false) < 0 ||
	    erase_step(st, STMT_ERASE_WAS, caller, &was, true) < 0)
		goto fail;
	/* A kept opt-out changes nothing: it is not an erasure. */
	any = c->tasks || c->notes || c->inbound || c->outbound_cancelled ||
	    c->outbound || c->sessions;
	if (!any) {
		/* Erased before (a text then in flight may be left: in_flight
		 * says so), or never known. */
		db_rollback(st);
		if (was == 0 && c->in_flight == 0)
			return STORE_RESULT_NOT_FOUND;
		return STORE_RESULT_OK;
	}
	/* One row per erasure that erased something: a caller who comes
	 * back after an erasure and is erased again gets a second. */
	if (store_caller_key_destroy(st, caller) < 0 ||
	    store_audit_write(st, actor, "caller.erased", 0, caller) < 0)
		goto fail;
	if (db_commit(st, why, sizeof(why)) < 0) {
		*c = z;
		return STORE_RESULT_ERROR;
	}
	return STORE_RESULT_OK;
fail:
	db_rollback(st);
	*c = z;
	return STORE_RESULT_ERROR;
}

int
store_stats_days(struct store *st, const char *since, store_day_cb cb,
    void *arg)
{
	sqlite3_stmt *s = st->stmt[STMT_STATS_DAYS];
	int rc, ret = 0;

	db_bind_text(s, 1, since);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = cb(db_column_str(s, 0), db_column_str(s, 1),
		    db_column_str(s, 2), sqlite3_column_int64(s, 3),
		    arg)) != 0)
			break;
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -1;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return ret;
}
