/*
 * db_fixture: reading a database the way an operator would, on a second
 * connection of its own.  Include after cmocka.h.
 */
#ifndef HOTLINE_DB_FIXTURE_H
#define HOTLINE_DB_FIXTURE_H

#include <sqlite3.h>

/* The first column of the first row sql gives on the database at path;
 * -1 when there is no row. */
static inline long long
fixture_query_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	long long v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL),
	    SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

#endif
