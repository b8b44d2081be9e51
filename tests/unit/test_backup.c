/* store backup and restore: the copy is whole, single-file and 0600; a
 * file that is not a sound hotline database is refused; a database held
 * by another process is not replaced; an older copy is migrated before
 * the swap; the replaced database is kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"
#include "keys_fixture.h"

static char dir[PATH_MAX];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/hotline-test-backup-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
path_of(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

/* A database at name holding count inbound messages. */
static struct store *
with_messages(const char *name, int count)
{
	char path[PATH_MAX + 64], err[512], id[32];
	struct store *st;

	path_of(path, sizeof(path), name);
	st = store_open(path, STORE_OPEN_CREATE,
	    fixture_keys(path), err, sizeof(err));
	if (st == NULL)
		print_error("store_open: %s\n", err);
	assert_non_null(st);
	for (int i = 0; i < count; i++) {
		struct store_inbound m = {
			.channel = "console", .provider_msg_id = id,
			.caller = "c_000000000001", .msisdn = "+84900000001",
			.body = "hello", .received_at = "",
		};
		enum store_inbound_result r;

		snprintf(id, sizeof(id), "%s-%d", name, i);
		assert_int_equal(store_inbound_batch(st, &m, 1, &r, err,
		    sizeof(err)), 0);
	}
	return st;
}

static long long
count_inbound(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	long long v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM "
	    "inbound", -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void
exec_on(const char *path, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void
backup_is_one_checked_private_file(void **state)
{
	struct store *st = with_messages("live.db", 7);
	struct store_copy_info info;
	char dest[PATH_MAX + 64], side[PATH_MAX + 80], err[512];
	struct stat sb;

	(void)state;
	path_of(dest, sizeof(dest), "copy.db");
	assert_int_equal(store_backup(st, dest, false, &info, err,
	    sizeof(err)), 0);
	assert_int_equal(stat(dest, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(info.bytes, (int64_t)sb.st_size);
	assert_int_equal(info.schema_version, STORE_SCHEMA_VERSION);
	assert_int_equal(strlen(info.newest_inbound), 20);
	assert_int_equal(info.newest_inbound[19], 'Z');
	snprintf(side, sizeof(side), "%s-wal", dest);
	assert_int_equal(access(side, F_OK), -1);
	assert_int_equal(count_inbound(dest), 7);

	/* Not over an existing file, unless forced. */
	assert_int_equal(store_backup(st, dest, false, &info, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "--force"));
	assert_int_equal(store_backup(st, dest, true, &info, err,
	    sizeof(err)), 0);
	/* Nor over the live database, even forced. */
	path_of(side, sizeof(side), "live.db");
	assert_int_equal(store_backup(st, side, true, &info, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "live database"));
	store_close(st);
}

static void
restore_check_refuses_what_is_not_a_sound_hotline_database(void **state)
{
	struct store_copy_info info;
	char path[PATH_MAX + 64], err[512];
	FILE *f;

	(void)state;
	path_of(path, sizeof(path), "text.db");
	assert_non_null(f = fopen(path, "w"));
	fputs("not a database at all, just some words in a file\n", f);
	fclose(f);
	assert_int_equal(store_restore_check(path, &info, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "not a hotline database"));

	path_of(path, sizeof(path), "other.db");
	exec_on(path, "CREATE TABLE x (a); PRAGMA user_version = 2;");
	assert_int_equal(store_restore_check(path, &info, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "not a hotline database"));

	store_close(with_messages("newer.db", 1));
	path_of(path, sizeof(path), "newer.db");
	exec_on(path, "PRAGMA user_version = 99;");
	assert_int_equal(store_restore_check(path, &info, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "newer"));

	path_of(path, sizeof(path), "absent.db");
	assert_int_equal(store_restore_check(path, &info, err, sizeof(err)),
	    -1);

	store_close(with_messages("fine.db", 2));
	path_of(path, sizeof(path), "fine.db");
	assert_int_equal(store_restore_check(path, &info, err, sizeof(err)),
	    0);
	assert_int_equal(info.schema_version, STORE_SCHEMA_VERSION);
	assert_true(info.bytes > 0);
}

static void
restore_keeps_the_old_database_and_migrates_an_older_copy(void **state)
{
	struct store_restore_report rep;
	char db[PATH_MAX + 64], src[PATH_MAX + 64], err[512], sql[256];
	struct stat sb;

	(void)state;
	store_close(with_messages("target.db", 3));
	store_close(with_messages("old.db", 5));
	path_of(db, sizeof(db), "target.db");
	path_of(src, sizeof(src), "old.db");
	/* The last migration undone: the copy is one a version older. */
	snprintf(sql, sizeof(sql), "PRAGMA journal_mode = DELETE; ALTER "
	    "TABLE sessions DROP COLUMN offered; PRAGMA user_version = %d;",
	    STORE_SCHEMA_VERSION - 1);
	exec_on(src, sql);
	assert_int_equal(store_restore(db, src, &rep, err, sizeof(err)), 0);
	assert_int_equal(rep.migrated_from, STORE_SCHEMA_VERSION - 1);
	assert_int_equal(rep.copy.schema_version, STORE_SCHEMA_VERSION);
	assert_int_equal(count_inbound(db), 5);
	assert_true(strstr(rep.kept, "target.db.before-restore-") != NULL);
	assert_int_equal(count_inbound(rep.kept), 3);
	assert_int_equal(stat(db, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	/* The source is left as it was. */
	assert_int_equal(count_inbound(src), 5);
}

/* Another process with the database open, as the daemon would be. */
static void
restore_is_refused_while_another_process_holds_the_database(void **state)
{
	struct store_restore_report rep;
	char db[PATH_MAX + 64], src[PATH_MAX + 64], err[512];
	int ready[2], go[2], status;
	long pid = 0;
	pid_t child;
	char c;

	(void)state;
	store_close(with_messages("held.db", 2));
	store_close(with_messages("src.db", 4));
	path_of(db, sizeof(db), "held.db");
	path_of(src, sizeof(src), "src.db");
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	if ((child = fork()) == 0) {
		struct store *st;
		int64_t v;

		/* Gone when the parent is (EOF on go), or in 30 s at most
		 * should the parent fail an assertion and go on. */
		close(go[1]);
		close(ready[0]);
		alarm(30);
		st = store_open(db, STORE_OPEN_EXISTING,
		    fixture_keys(db), err, sizeof(err));

		if (st == NULL || store_data_version(st, &v) < 0)
			_exit(1);
		(void)!write(ready[1], "r", 1);
		(void)!read(go[0], &c, 1);
		store_close(st);
		_exit(0);
	}
	assert_true(child > 0);
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(store_holder(db, &pid, err, sizeof(err)), 1);
	assert_int_equal(pid, (long)child);
	assert_int_equal(store_restore(db, src, &rep, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "in use"));
	assert_int_equal(count_inbound(db), 2);
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(status, 0);
	assert_int_equal(store_holder(db, &pid, err, sizeof(err)), 0);
	assert_int_equal(store_restore(db, src, &rep, err, sizeof(err)), 0);
	assert_int_equal(count_inbound(db), 4);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(backup_is_one_checked_private_file),
		cmocka_unit_test(
		    restore_check_refuses_what_is_not_a_sound_hotline_database),
		cmocka_unit_test(
		    restore_keeps_the_old_database_and_migrates_an_older_copy),
		cmocka_unit_test(
		    restore_is_refused_while_another_process_holds_the_database),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
