/*
 * The key store (store_keys.c): what the store writes is sealed, in the
 * database and its key store alike; a destroyed key leaves its caller's
 * rows unreadable, here and in a copy taken before, and every other
 * caller readable; keys are durable with the data or not at all; the
 * wrong master key, a missing or foreign key store are refused; rekey
 * rewraps, and the old master opens nothing after it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "keys_fixture.h"

#define ALICE "+84912345678"
#define BOB "+84987654321"
#define ALICE_C "c_aaaaaaaaaaaa"
#define BOB_C "c_bbbbbbbbbbbb"
#define SECRET_TEXT "toi can giup do ngay"

static char dir[PATH_MAX];
static char dbpath[PATH_MAX + 32];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/hotline-test-keystore-XXXXXX");
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

static struct store *
open_db(const char *name, const unsigned char *master)
{
	static char keys_path[PATH_MAX + 64];
	struct store_keys k;
	char err[512];
	struct store *st;

	snprintf(dbpath, sizeof(dbpath), "%s/%s", dir, name);
	snprintf(keys_path, sizeof(keys_path), "%s.keys", dbpath);
	k.path = keys_path;
	k.master = master;
	st = store_open(dbpath, STORE_OPEN_CREATE, &k, err, sizeof(err));
	if (st == NULL)
		print_error("store_open: %s\n", err);
	return st;
}

/* Does the file at path (and its -wal) hold needle anywhere? */
static bool
file_holds(const char *path, const char *needle)
{
	char p[PATH_MAX + 64];
	size_t n = strlen(needle);

	for (int side = 0; side < 2; side++) {
		FILE *f;
		char *buf;
		long len;
		bool found = false;

		snprintf(p, sizeof(p), "%s%s", path, side ? "-wal" : "");
		if ((f = fopen(p, "rb")) == NULL)
			continue;
		fseek(f, 0, SEEK_END);
		len = ftell(f);
		fseek(f, 0, SEEK_SET);
		buf = malloc((size_t)len + 1);
		assert_non_null(buf);
		assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
		fclose(f);
		for (long i = 0; i + (long)n <= len && !found; i++)
			found = memcmp(buf + i, needle, n) == 0;
		free(buf);
		if (found)
			return true;
	}
	return false;
}

static struct store_task_request
request(const char *caller, const char *msisdn)
{
	return (struct store_task_request){
		.channel = "console", .caller = caller, .msisdn = msisdn,
		.language = "vi", .topic = "counselling",
		.safe_to_call = STORE_ANSWER_YES,
		.safe_to_sms = STORE_ANSWER_YES,
	};
}

/* A task, a note and a message for caller, in one batch. */
static int64_t
add_caller(struct store *st, const char *caller, const char *msisdn)
{
	struct store_task_request r = request(caller, msisdn);
	struct store_inbound m = { .channel = "console",
	    .provider_msg_id = caller, .caller = caller, .msisdn = msisdn,
	    .body = SECRET_TEXT, .received_at = "" };
	enum store_inbound_result res;
	enum store_task_change change;
	int64_t id, note;
	char err[256];

	assert_int_equal(store_batch_begin(st, err, sizeof(err)), 0);
	assert_int_equal(store_task_save(st, &r, &id, &change), 0);
	assert_int_equal(store_task_note_add(st, id, "alice", "note " SECRET_TEXT,
	    &note), 0);
	assert_int_equal(store_batch_commit(st, err, sizeof(err)), 0);
	assert_int_equal(store_inbound_batch(st, &m, 1, &res, err,
	    sizeof(err)), 0);
	return id;
}

struct seen {
	char msisdn[32];
	bool erased;
	char message[64];
	char note[64];
};

static int
task_cb(const struct store_task *t, void *arg)
{
	struct seen *s = arg;

	s->erased = t->msisdn == NULL;
	snprintf(s->msisdn, sizeof(s->msisdn), "%s", t->msisdn ? t->msisdn :
	    "");
	return 0;
}

static int
message_cb(const char *direction, const char *text, const char *at,
    const char *status, void *arg)
{
	struct seen *s = arg;

	(void)direction;
	(void)at;
	(void)status;
	snprintf(s->message, sizeof(s->message), "%s", text);
	return 0;
}

static int
note_cb(int64_t id, const char *author, const char *text,
    const char *created_at, void *arg)
{
	struct seen *s = arg;

	(void)id;
	(void)author;
	(void)created_at;
	snprintf(s->note, sizeof(s->note), "%s", text);
	return 0;
}

static struct seen
read_back(struct store *st, int64_t id, const char *caller)
{
	struct seen s = { "" };

	assert_int_equal(store_task_get(st, id, task_cb, &s),
	    STORE_RESULT_OK);
	assert_int_equal(store_caller_messages(st, caller, message_cb, &s),
	    0);
	assert_int_equal(store_task_notes(st, id, note_cb, &s), 0);
	return s;
}

static void
values_are_sealed_in_both_files_and_read_back_clear(void **state)
{
	struct store *st = open_db("sealed.db", fixture_master);
	char keys[PATH_MAX + 64];
	int64_t id;
	struct seen s;

	(void)state;
	assert_non_null(st);
	id = add_caller(st, ALICE_C, ALICE);
	s = read_back(st, id, ALICE_C);
	assert_string_equal(s.msisdn, ALICE);
	assert_string_equal(s.message, SECRET_TEXT);
	assert_string_equal(s.note, "note " SECRET_TEXT);
	snprintf(keys, sizeof(keys), "%s.keys", dbpath);
	/* E.164, without '+', the national form. */
	assert_false(file_holds(dbpath, ALICE));
	assert_false(file_holds(dbpath, ALICE + 1));
	assert_false(file_holds(dbpath, "0912345678"));
	assert_false(file_holds(dbpath, SECRET_TEXT));
	assert_false(file_holds(keys, ALICE + 1));
	assert_false(file_holds(keys, "0912345678"));
	assert_false(file_holds(keys, SECRET_TEXT));
	store_close(st);
}

static void
destroyed_key_erases_one_caller_here_and_in_an_older_copy(void **state)
{
	struct store *st = open_db("shred.db", fixture_master);
	struct store_copy_info info;
	char copy[PATH_MAX + 64], err[512];
	int64_t a, b;
	struct seen s;
	bool exists;

	(void)state;
	assert_non_null(st);
	a = add_caller(st, ALICE_C, ALICE);
	b = add_caller(st, BOB_C, BOB);
	snprintf(copy, sizeof(copy), "%s/copy.db", dir);
	assert_int_equal(store_backup(st, copy, false, &info, err,
	    sizeof(err)), 0);

	assert_int_equal(store_caller_key_destroy(st, ALICE_C), 0);
	assert_int_equal(store_caller_key_exists(st, ALICE_C, &exists), 0);
	assert_false(exists);
	s = read_back(st, a, ALICE_C);
	assert_true(s.erased);
	assert_string_equal(s.message, "");
	assert_string_equal(s.note, "");
	s = read_back(st, b, BOB_C);
	assert_string_equal(s.msisdn, BOB);
	assert_string_equal(s.note, "note " SECRET_TEXT);
	store_close(st);

	/* The copy, opened with the same key store (a restore swaps only
	 * the database): Alice is gone from it too, Bob is not. */
	{
		const struct store_keys *k;
		char keys[PATH_MAX + 64];
		struct store_keys kk;

		snprintf(keys, sizeof(keys), "%s/shred.db.keys", dir);
		k = fixture_keys(copy);
		kk = *k;
		kk.path = keys;
		assert_non_null(st = store_open(copy, STORE_OPEN_CREATE, &kk,
		    err, sizeof(err)));
	}
	s = read_back(st, a, ALICE_C);
	assert_true(s.erased);
	s = read_back(st, b, BOB_C);
	assert_string_equal(s.msisdn, BOB);
	store_close(st);
}

/*
 * The writer keeps the keys it opened while a batch is open: a key
 * destroyed in the batch, or by another connection between batches, is
 * never used again; what is sealed afterwards gets a new key and opens.
 */
static void
a_destroyed_key_is_never_reused_from_the_batch_cache(void **state)
{
	struct store *st = open_db("cache.db", fixture_master), *other;
	struct store_task_request r = request(ALICE_C, ALICE);
	enum store_task_change change;
	char err[256];
	int64_t id, note;
	struct seen s;

	(void)state;
	assert_non_null(st);
	assert_non_null(other = open_db("cache.db", fixture_master));
	/* Destroyed in the batch that had just used it. */
	assert_int_equal(store_batch_begin(st, err, sizeof(err)), 0);
	assert_int_equal(store_task_save(st, &r, &id, &change), 0);
	assert_int_equal(store_caller_key_destroy(st, ALICE_C), 0);
	assert_int_equal(store_task_note_add(st, id, "alice", "first",
	    &note), 0);
	assert_int_equal(store_batch_commit(st, err, sizeof(err)), 0);
	s = read_back(st, id, ALICE_C);
	assert_true(s.erased);            /* sealed under the old key */
	assert_string_equal(s.note, "first");
	/* Destroyed by another connection between two batches. */
	assert_int_equal(store_caller_key_destroy(other, ALICE_C), 0);
	assert_int_equal(store_batch_begin(st, err, sizeof(err)), 0);
	assert_int_equal(store_task_note_add(st, id, "alice", "second",
	    &note), 0);
	assert_int_equal(store_batch_commit(st, err, sizeof(err)), 0);
	s = read_back(st, id, ALICE_C);
	assert_string_equal(s.note, "second");
	store_close(other);
	store_close(st);
}

static void
a_key_made_in_a_batch_rolled_back_is_not_kept(void **state)
{
	struct store *st = open_db("rollback.db", fixture_master);
	struct store_task_request r = request(ALICE_C, ALICE);
	enum store_task_change change;
	char err[256];
	int64_t id;
	bool exists;

	(void)state;
	assert_non_null(st);
	assert_int_equal(store_batch_begin(st, err, sizeof(err)), 0);
	assert_int_equal(store_task_save(st, &r, &id, &change), 0);
	store_batch_rollback(st);
	assert_int_equal(store_caller_key_exists(st, ALICE_C, &exists), 0);
	assert_false(exists);
	/* And one committed is there, with its row. */
	assert_int_equal(store_batch_begin(st, err, sizeof(err)), 0);
	assert_int_equal(store_task_save(st, &r, &id, &change), 0);
	assert_int_equal(store_batch_commit(st, err, sizeof(err)), 0);
	assert_int_equal(store_caller_key_exists(st, ALICE_C, &exists), 0);
	assert_true(exists);
	store_close(st);
}

static void
wrong_master_missing_or_foreign_key_store_are_refused(void **state)
{
	static const unsigned char other[STORE_KEY_SIZE] = { 9, 9, 9 };
	struct store *st = open_db("refuse.db", fixture_master);
	char keys[PATH_MAX + 64], moved[PATH_MAX + 128], err[512];
	struct store_keys k;

	(void)state;
	assert_non_null(st);
	add_caller(st, ALICE_C, ALICE);
	store_close(st);
	snprintf(keys, sizeof(keys), "%s.keys", dbpath);
	k.path = keys;
	k.master = other;
	assert_null(store_open(dbpath, STORE_OPEN_CREATE, &k, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "privacy.data_key is key"));

	/* Moved away: refused, never silently replaced by a new one. */
	snprintf(moved, sizeof(moved), "%s.moved", keys);
	assert_int_equal(rename(keys, moved), 0);
	k.master = fixture_master;
	assert_null(store_open(dbpath, STORE_OPEN_CREATE, &k, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "is missing"));
	assert_int_equal(access(keys, F_OK), -1);

	/* Another database's key store. */
	st = open_db("foreign.db", fixture_master);
	assert_non_null(st);
	store_close(st);
	snprintf(keys, sizeof(keys), "%s.keys", dbpath);
	k.path = moved;
	assert_null(store_open(dbpath, STORE_OPEN_CREATE, &k, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "another database"));
}

static void
rekey_rewraps_and_the_old_master_opens_nothing(void **state)
{
	static const unsigned char fresh[STORE_KEY_SIZE] = { 1, 2, 3, 4, 5 };
	static const unsigned char other[STORE_KEY_SIZE] = { 7 };
	struct store *st = open_db("rekey.db", fixture_master), *live;
	char keys[PATH_MAX + 64], err[512], old_id[17], new_id[17];
	char master_id[17], want[17];
	struct store_keys k;
	int64_t id, n;
	bool changed;
	struct seen s;

	(void)state;
	assert_non_null(st);
	id = add_caller(st, ALICE_C, ALICE);
	snprintf(keys, sizeof(keys), "%s.keys", dbpath);
	/* A connection open across the rekey (the daemon) goes on. */
	live = st;
	assert_int_equal(store_rekey(keys, fixture_master, fresh, &changed,
	    old_id, new_id, err, sizeof(err)), 0);
	assert_true(changed);
	assert_string_not_equal(old_id, new_id);
	snprintf(want, sizeof(want), "%s", new_id);
	assert_int_equal(store_key_store_info(keys, master_id, &n, err,
	    sizeof(err)), 0);
	assert_string_equal(master_id, new_id);
	assert_int_equal(n, 1);
	s = read_back(live, id, ALICE_C);
	assert_string_equal(s.msisdn, ALICE);
	add_caller(live, BOB_C, BOB);
	store_close(live);

	/* Again with the same new key: nothing to do (a rekey whose key
	 * file was not yet moved into place is finished this way). */
	assert_int_equal(store_rekey(keys, fixture_master, fresh, &changed,
	    old_id, new_id, err, sizeof(err)), 0);
	assert_false(changed);
	/* The old master opens nothing now. */
	k.path = keys;
	k.master = fixture_master;
	assert_null(store_open(dbpath, STORE_OPEN_CREATE, &k, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "privacy.data_key is key"));
	/* The new one opens every row, old and new. */
	k.master = fresh;
	assert_non_null(st = store_open(dbpath, STORE_OPEN_CREATE, &k, err,
	    sizeof(err)));
	s = read_back(st, id, ALICE_C);
	assert_string_equal(s.msisdn, ALICE);
	assert_string_equal(s.note, "note " SECRET_TEXT);
	store_close(st);
	/* A rekey from a key it is not under changes nothing. */
	assert_int_equal(store_rekey(keys, other, fixture_master, &changed,
	    old_id, new_id, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not under privacy.data_key"));
	assert_int_equal(store_key_store_info(keys, master_id, &n, err,
	    sizeof(err)), 0);
	assert_string_equal(master_id, want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    values_are_sealed_in_both_files_and_read_back_clear),
		cmocka_unit_test(
		    destroyed_key_erases_one_caller_here_and_in_an_older_copy),
		cmocka_unit_test(a_key_made_in_a_batch_rolled_back_is_not_kept),
		cmocka_unit_test(
		    a_destroyed_key_is_never_reused_from_the_batch_cache),
		cmocka_unit_test(
		    wrong_master_missing_or_foreign_key_store_are_refused),
		cmocka_unit_test(rekey_rewraps_and_the_old_master_opens_nothing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
