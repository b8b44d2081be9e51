/*
 * store_token: counsellor API tokens (only a hash of each is kept).
 */
#include "store.h"
#include "store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "privacy.h"

const struct store_sql store_token_sql[] = {
	{ STMT_TOKEN_ADD, "INSERT INTO tokens(name, role, hash, created_at) "
	    "VALUES (?1, ?2, ?3, " NOW ") ON CONFLICT DO NOTHING" },
	{ STMT_TOKEN_REVOKE, "UPDATE tokens SET revoked_at = " NOW " WHERE "
	    "name = ?1 AND revoked_at IS NULL" },
	{ STMT_TOKEN_FIND, "SELECT name, role, hash FROM tokens WHERE "
	    "hash = ?1 AND revoked_at IS NULL" },
	{ STMT_TOKEN_LIST, "SELECT name, role, created_at, revoked_at FROM "
	    "tokens ORDER BY revoked_at IS NOT NULL, name, id" },
	{ STMT_COUNT_, NULL },
};

/* ------------------------------------------------------------------ */
/* Counsellor API: tokens                                              */

enum store_result
store_token_add(struct store *st, const char *name, const char *role,
    const char *hash)
{
	sqlite3_stmt *s = st->stmt[STMT_TOKEN_ADD];

	db_bind_text(s, 1, name);
	db_bind_text(s, 2, role);
	db_bind_text(s, 3, hash);
	if (db_step_done(st, s) < 0)
		return STORE_RESULT_ERROR;
	return sqlite3_changes(st->db) > 0 ? STORE_RESULT_OK :
	    STORE_RESULT_CONFLICT;
}

enum store_result
store_token_revoke(struct store *st, const char *name)
{
	sqlite3_stmt *s = st->stmt[STMT_TOKEN_REVOKE];

	db_bind_text(s, 1, name);
	if (db_step_done(st, s) < 0)
		return STORE_RESULT_ERROR;
	return sqlite3_changes(st->db) > 0 ? STORE_RESULT_OK :
	    STORE_RESULT_NOT_FOUND;
}

enum store_result
store_token_find(struct store *st, const char *hash, char *name,
    size_t namelen, char *role, size_t rolelen)
{
	sqlite3_stmt *s = st->stmt[STMT_TOKEN_FIND];
	enum store_result r = STORE_RESULT_NOT_FOUND;
	int rc;

	db_bind_text(s, 1, hash);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(s, 2);

		/* Found by its index; compared again in constant time. */
		if (h != NULL && privacy_equal(hash, h)) {
			snprintf(name, namelen, "%s",
			    (const char *)sqlite3_column_text(s, 0));
			snprintf(role, rolelen, "%s",
			    (const char *)sqlite3_column_text(s, 1));
			r = STORE_RESULT_OK;
		}
		rc = sqlite3_step(s);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? r : STORE_RESULT_ERROR;
}

int
store_token_list(struct store *st, store_token_cb cb, void *arg)
{
	sqlite3_stmt *s = st->stmt[STMT_TOKEN_LIST];
	int rc, ret = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = cb(db_column_str(s, 0), db_column_str(s, 1),
		    db_column_str(s, 2), db_column_str(s, 3), arg)) != 0)
			break;
	if (ret == 0 && rc != SQLITE_DONE)
		ret = -1;
	sqlite3_reset(s);
	return ret;
}
