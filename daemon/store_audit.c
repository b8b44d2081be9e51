/*
 * store_audit: the audit trail, and what it answers (numbers revealed,
 * recent actions).
 */
#include "store.h"
#include "store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

const struct store_sql store_audit_sql[] = {
	{ STMT_AUDIT_ADD, "INSERT INTO audit(at, actor, action, task_id, "
	    "detail) VALUES (" NOW ", ?1, ?2, NULLIF(?3, 0), ?4)" },
	{ STMT_AUDIT_PAGE, "SELECT id, at, actor, action, COALESCE(task_id, "
	    "0), detail FROM audit WHERE ?1 = 0 OR id < ?1 ORDER BY id DESC "
	    "LIMIT ?2" },
	/* Per caller seen (shown or texted) by ?1 in the last ?2 seconds,
	 * the latest time: how many, whether ?3 is one, and when the
	 * earliest of them leaves the window. */
	{ STMT_REVEALS_RECENT, "SELECT count(*), COALESCE(max(caller = ?3), "
	    "0), COALESCE(CAST(strftime('%s', min(last)) AS INTEGER), 0) FROM "
	    "(SELECT t.caller AS caller, max(a.at) AS last FROM audit a JOIN "
	    "tasks t ON t.id = a.task_id WHERE a.action IN "
	    "('number.revealed', 'task.texted') AND a.at > strftime("
	    "'%Y-%m-%dT%H:%M:%SZ', 'now', printf('-%d seconds', ?2)) AND "
	    "a.actor = ?1 GROUP BY t.caller)" },
	{ STMT_AUDIT_RECENT, "SELECT count(*) FROM audit WHERE action = ?2 "
	    "AND at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now', printf('-%d "
	    "seconds', ?3)) AND actor = ?1" },
	{ STMT_COUNT_, NULL },
};

int
store_audit_write(struct store *st, const char *actor, const char *action,
    int64_t task_id, const char *detail)
{
	sqlite3_stmt *s = st->stmt[STMT_AUDIT_ADD];

	db_bind_text(s, 1, actor);
	db_bind_text(s, 2, action);
	sqlite3_bind_int64(s, 3, task_id);
	db_bind_text(s, 4, detail);
	return db_step_done(st, s);
}

int
store_audit_page(struct store *st, int64_t before, size_t limit,
    store_audit_cb cb, void *arg)
{
	sqlite3_stmt *s = st->stmt[STMT_AUDIT_PAGE];
	int rc, ret = 0;

	sqlite3_bind_int64(s, 1, before);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = cb(sqlite3_column_int64(s, 0), db_column_str(s, 1),
		    db_column_str(s, 2), db_column_str(s, 3),
		    sqlite3_column_int64(s, 4), db_column_str(s, 5), arg)) != 0)
			break;
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -1;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return ret;
}

int
store_audit_add(struct store *st, const char *actor, const char *action,
    int64_t task_id, const char *detail)
{
	return store_audit_write(st, actor, action, task_id, detail);
}

int
store_reveals_recent(struct store *st, const char *actor, const char *caller,
    unsigned seconds, struct store_reveals *out)
{
	sqlite3_stmt *s = st->stmt[STMT_REVEALS_RECENT];
	int rc;

	memset(out, 0, sizeof(*out));
	db_bind_text(s, 1, actor);
	sqlite3_bind_int64(s, 2, seconds);
	db_bind_text(s, 3, caller);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		out->distinct = sqlite3_column_int64(s, 0);
		out->includes_caller = sqlite3_column_int(s, 1) != 0;
		out->oldest = sqlite3_column_int64(s, 2);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
store_audit_recent(struct store *st, const char *actor, const char *action,
    unsigned seconds, bool *found)
{
	sqlite3_stmt *s = st->stmt[STMT_AUDIT_RECENT];
	int64_t n;
	bool row;

	db_bind_text(s, 1, actor);
	db_bind_text(s, 2, action);
	sqlite3_bind_int64(s, 3, seconds);
	if (db_step_id(s, &n, &row) < 0 || !row)
		return -1;
	*found = n > 0;
	return 0;
}
