/*
 * store_keys: the key store, a SQLite file of its own beside the
 * database, holding each caller's data key wrapped under the KEK, and the
 * KEK wrapped under the master key; and the sealing of values on their
 * way into the database and their opening on the way out (store.h's
 * "Encryption at rest").
 *
 * Why a separate file: a backup of the database (hotlinectl backup, or
 * any copy of it) holds sealed values only; once a caller's key is
 * deleted here, their data in every such copy stays sealed for good.
 * Why a KEK between the master key and the data keys: rotating the
 * master rewraps one row, and a running daemon, which holds the KEK,
 * never needs the new master until it starts again.
 *
 * Durability: a data key is committed here before the main transaction
 * whose rows it sealed (keys_commit runs just before the main COMMIT);
 * a crash between the two leaves a key with no data, never data with no
 * key.
 */
#include "store.h"
#include "store_private.h"
#include "seal.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include <openssl/crypto.h>

_Static_assert(STORE_KEY_SIZE == SEAL_KEY_SIZE, "key sizes differ");
_Static_assert(sizeof(((struct store_keyring *)0)->kek_id) ==
    SEAL_KEY_ID_SIZE, "key id sizes differ");

/* The owner the KEK is wrapped for: no caller pseudonym looks like it. */
#define KEK_OWNER "hotline kek"
#define KEY_STORE_VERSION 1

static const char KEY_STORE_SCHEMA[] =
	"CREATE TABLE IF NOT EXISTS meta ("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL"
	");"
	/* One data key per caller, wrapped under the KEK named by kek_id. */
	"CREATE TABLE IF NOT EXISTS keys ("
	"  caller TEXT PRIMARY KEY,"
	"  kek_id TEXT NOT NULL,"
	"  wrapped TEXT NOT NULL,"
	"  created_at TEXT NOT NULL"
	");";

/* One text value of a meta table ("" when absent). */
static int
meta_get(sqlite3 *db, const char *key, char *out, size_t len)
{
	sqlite3_stmt *s;
	int rc;

	out[0] = '\0';
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1",
	    -1, &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL)
		snprintf(out, len, "%s", (const char *)sqlite3_column_text(s,
		    0));
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int
meta_put(sqlite3 *db, const char *key, const char *value)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(db, "INSERT INTO meta(key, value) VALUES "
	    "(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	    -1, &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Open the key store file: WAL, synchronous=FULL (a key is durable
 * before the data it seals), secure_delete (a destroyed key's bytes are
 * overwritten, not left in a free page). */
static sqlite3 *
key_store_connect(const char *path, bool create, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s;
	bool wal;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0), NULL) !=
	    SQLITE_OK || db_register_now(db) < 0) {
		snprintf(err, errlen, "key store %s: cannot open: %s", path,
		    db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_extended_result_codes(db, 1);
	if (sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &s,
	    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "key store %s: %s", path,
		    sqlite3_errmsg(db));
		sqlite3_close(db);
		return NULL;
	}
	wal = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) &&
	    strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
	sqlite3_finalize(s);
	if (!wal || db_raw_exec(db, "PRAGMA synchronous = FULL; "
	    "PRAGMA secure_delete = ON", err, errlen) < 0) {
		if (!wal)
			snprintf(err, errlen, "key store %s: refused WAL mode "
			    "(is it on a local file system?)", path);
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/* A new key store's tables and its KEK, wrapped under master. */
static int
key_store_init(sqlite3 *db, const unsigned char *master, char *err,
    size_t errlen)
{
	unsigned char kek[SEAL_KEY_SIZE], id[SEAL_KEY_SIZE];
	char store_id[17], master_id[SEAL_KEY_ID_SIZE], have[64];
	char *wrapped = NULL;
	int rc = -1;

	if (db_raw_exec(db, "BEGIN IMMEDIATE", err, errlen) < 0)
		return -1;
	if (db_raw_exec(db, KEY_STORE_SCHEMA, err, errlen) < 0 ||
	    meta_get(db, "kek", have, sizeof(have)) < 0)
		goto out;
	if (have[0] != '\0') {
		rc = 0;         /* made by another connection meanwhile */
		goto out;
	}
	if (seal_key_new(kek) < 0 || seal_key_new(id) < 0 ||
	    seal_key_id(master, master_id) < 0 ||
	    (wrapped = seal_wrap(master, KEK_OWNER, kek)) == NULL) {
		snprintf(err, errlen, "cannot make the key store's keys");
		goto out;
	}
	snprintf(store_id, sizeof(store_id), "%02x%02x%02x%02x%02x%02x%02x"
	    "%02x", id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7]);
	if (meta_put(db, "store_id", store_id) < 0 ||
	    meta_put(db, "kek", wrapped) < 0 ||
	    meta_put(db, "master_id", master_id) < 0 ||
	    db_raw_exec(db, "PRAGMA user_version = 1", err, errlen) < 0) {
		snprintf(err, errlen, "cannot write the key store: %s",
		    sqlite3_errmsg(db));
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(kek, sizeof(kek));
	free(wrapped);
	if (rc == 0 && db_raw_exec(db, "COMMIT", err, errlen) == 0)
		return 0;
	db_raw_exec(db, "ROLLBACK", have, sizeof(have));
	return -1;
}

/* Unwrap the KEK of an open key store with master into kek. */
static int
key_store_kek(sqlite3 *db, const char *path, const unsigned char *master,
    unsigned char *kek, char *store_id, size_t idlen, char *err,
    size_t errlen)
{
	char wrapped[256], master_id[SEAL_KEY_ID_SIZE], ours[SEAL_KEY_ID_SIZE];

	if (meta_get(db, "kek", wrapped, sizeof(wrapped)) < 0 ||
	    meta_get(db, "master_id", master_id, sizeof(master_id)) < 0 ||
	    meta_get(db, "store_id", store_id, idlen) < 0) {
		snprintf(err, errlen, "key store %s: cannot read it: %s", path,
		    sqlite3_errmsg(db));
		return -1;
	}
	if (wrapped[0] == '\0') {
		snprintf(err, errlen, "key store %s: not a hotline key store "
		    "(no key in it)", path);
		return -1;
	}
	if (seal_key_id(master, ours) < 0)
		return -1;
	if (strcmp(ours, master_id) != 0) {
		snprintf(err, errlen, "key store %s is wrapped under master "
		    "key %s, but privacy.data_key is key %s: the wrong key, "
		    "or a `hotlinectl rekey` whose new key was not put in "
		    "place (run it again to finish, or see the README: "
		    "\"Encryption at rest\")", path, master_id, ours);
		return -1;
	}
	if (seal_unwrap(master, KEK_OWNER, wrapped, kek) < 0) {
		snprintf(err, errlen, "key store %s: its key does not open "
		    "with privacy.data_key (damaged?)", path);
		return -1;
	}
	return 0;
}

int
store_key_store_default(const char *database, char *out, size_t len)
{
	int n = snprintf(out, len, "%s.keys", database);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int
keys_open(struct store *st, enum store_open_mode mode,
    const struct store_keys *keys, char *err, size_t errlen)
{
	struct store_keyring *k = &st->keys;
	char recorded[64], store_id[64];
	struct stat sb;
	bool exists;

	memset(k, 0, sizeof(*k));
	if (keys == NULL)
		return 0;
	if (keys->path == NULL || keys->master == NULL) {
		snprintf(err, errlen, "no key store or no master key given");
		return -1;
	}
	/* The main database's record of its key store. */
	if (meta_get(st->db, "key_store_id", recorded, sizeof(recorded)) <
	    0) {
		db_error(st, "reading the database's key store id", err,
		    errlen);
		return -1;
	}
	if (stat(keys->path, &sb) == 0)
		exists = true;
	else if (errno == ENOENT)
		exists = false;
	else {
		snprintf(err, errlen, "key store %s: %s", keys->path,
		    strerror(errno));
		return -1;
	}
	if (!exists && recorded[0] != '\0') {
		snprintf(err, errlen, "key store %s is missing, and this "
		    "database's data keys are in it: check privacy.key_store, "
		    "or restore the key store from its own copy (without it "
		    "every number and text is unreadable; README: "
		    "\"Encryption at rest\")", keys->path);
		return -1;
	}
	if (!exists && mode != STORE_OPEN_CREATE) {
		snprintf(err, errlen, "no key store at %s (the daemon creates "
		    "it at its first start; check privacy.key_store)",
		    keys->path);
		return -1;
	}
	if ((k->db = key_store_connect(keys->path, !exists, err, errlen)) ==
	    NULL)
		return -1;
	if ((!exists && key_store_init(k->db, keys->master, err, errlen) <
	    0) || key_store_kek(k->db, keys->path, keys->master, k->kek,
	    store_id, sizeof(store_id), err, errlen) < 0)
		goto fail;
	if (recorded[0] != '\0' && strcmp(recorded, store_id) != 0) {
		snprintf(err, errlen, "key store %s belongs to another "
		    "database (key store %s, the database expects %s): check "
		    "privacy.key_store", keys->path, store_id, recorded);
		goto fail;
	}
	/* A database meets its key store: from now on it needs that one. */
	if (recorded[0] == '\0' && meta_put(st->db, "key_store_id",
	    store_id) < 0) {
		db_error(st, "recording the key store", err, errlen);
		goto fail;
	}
	if (seal_key_id(k->kek, k->kek_id) < 0 ||
	    sqlite3_prepare_v2(k->db, "SELECT kek_id, wrapped FROM keys "
	    "WHERE caller = ?1", -1, &k->get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(k->db, "INSERT INTO keys(caller, kek_id, "
	    "wrapped, created_at) VALUES (?1, ?2, ?3, " NOW ")", -1, &k->put,
	    NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(k->db, "DELETE FROM keys WHERE caller = ?1",
	    -1, &k->del, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(k->db, "PRAGMA data_version", -1, &k->version,
	    NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(k->db, "BEGIN IMMEDIATE", -1, &k->begin,
	    NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(k->db, "COMMIT", -1, &k->commit, NULL) !=
	    SQLITE_OK ||
	    sqlite3_prepare_v2(k->db, "ROLLBACK", -1, &k->rollback, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "key store %s: %s", keys->path,
		    sqlite3_errmsg(k->db));
		goto fail;
	}
	return 0;
fail:
	keys_close(st);
	return -1;
}

static void
cache_wipe(struct store_keyring *k)
{
	if (k->cache != NULL)
		OPENSSL_cleanse(k->cache, KEYS_CACHE_SLOTS *
		    sizeof(*k->cache));
}

void
keys_close(struct store *st)
{
	struct store_keyring *k = &st->keys;

	if (k->db == NULL)
		return;
	cache_wipe(k);
	free(k->cache);
	if (k->txn)
		keys_rollback(st);
	sqlite3_finalize(k->version);
	sqlite3_finalize(k->get);
	sqlite3_finalize(k->put);
	sqlite3_finalize(k->del);
	sqlite3_finalize(k->begin);
	sqlite3_finalize(k->commit);
	sqlite3_finalize(k->rollback);
	sqlite3_close(k->db);
	OPENSSL_cleanse(k, sizeof(*k));
}

int
keys_read_only(struct store *st, char *err, size_t errlen)
{
	if (st->keys.db == NULL)
		return 0;
	st->keys.read_only = true;
	return db_raw_exec(st->keys.db, "PRAGMA query_only = ON", err, errlen);
}

static int
kstep(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Open a key-store transaction if none is: the main one is open (or
 * about to be written in autocommit) and commits after it. */
static int
keys_begin(struct store_keyring *k)
{
	if (k->txn)
		return 0;
	if (kstep(k->begin) < 0)
		return -1;
	k->txn = true;
	return 0;
}

int
keys_commit(struct store *st, char *err, size_t errlen)
{
	struct store_keyring *k = &st->keys;

	if (k->db == NULL || !k->txn)
		return 0;
	k->txn = false;
	if (kstep(k->commit) < 0) {
		snprintf(err, errlen, "key store commit: %s",
		    sqlite3_errmsg(k->db));
		kstep(k->rollback);
		k->destroyed = false;
		return -1;
	}
	/* A destroyed key's old page stays in the WAL until a checkpoint
	 * writes the page over and the WAL is cut back: do it now, while
	 * it is cheap (best effort: a reader in the way leaves it to the
	 * next one). */
	if (k->destroyed)
		sqlite3_wal_checkpoint_v2(k->db, NULL,
		    SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	k->destroyed = false;
	return 0;
}

void
keys_rollback(struct store *st)
{
	struct store_keyring *k = &st->keys;

	if (k->db == NULL || !k->txn)
		return;
	kstep(k->rollback);
	k->txn = false;
	k->destroyed = false;
}

/* The main connection outside any transaction: a key made for its next
 * statement is committed at once (still before that statement). */
static int
keys_settle(struct store *st)
{
	char why[256];

	if (sqlite3_get_autocommit(st->db) == 0)
		return 0;
	return keys_commit(st, why, sizeof(why));
}

void
keys_cache_start(struct store *st)
{
	struct store_keyring *k = &st->keys;
	int64_t version = -1;

	k->caching = false;
	if (k->db == NULL)
		return;
	if (sqlite3_step(k->version) == SQLITE_ROW)
		version = sqlite3_column_int64(k->version, 0);
	sqlite3_reset(k->version);
	if (k->cache == NULL &&
	    (k->cache = calloc(KEYS_CACHE_SLOTS, sizeof(*k->cache))) == NULL)
		return;
	/* Another connection committed to the key store (a key destroyed,
	 * the store rekeyed): nothing kept may still be true. */
	if (version < 0 || version != k->cache_version)
		cache_wipe(k);
	k->cache_version = version;
	k->caching = version >= 0;
}

void
keys_cache_stop(struct store *st, bool keep)
{
	struct store_keyring *k = &st->keys;

	k->caching = false;
	if (!keep)
		cache_wipe(k);
}

static struct keys_cache_slot *
cache_slot(struct store_keyring *k, const char *caller)
{
	uint32_t h = 2166136261u;   /* FNV-1a */

	for (const char *p = caller; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return &k->cache[h % KEYS_CACHE_SLOTS];
}

static bool
cache_get(struct store_keyring *k, const char *caller,
    unsigned char key[SEAL_KEY_SIZE])
{
	struct keys_cache_slot *c;

	if (!k->caching)
		return false;
	c = cache_slot(k, caller);
	if (strcmp(c->caller, caller) != 0)
		return false;
	memcpy(key, c->key, SEAL_KEY_SIZE);
	return true;
}

static void
cache_put(struct store_keyring *k, const char *caller,
    const unsigned char key[SEAL_KEY_SIZE])
{
	struct keys_cache_slot *c;

	if (!k->caching || strlen(caller) >= sizeof(c->caller))
		return;
	c = cache_slot(k, caller);
	snprintf(c->caller, sizeof(c->caller), "%s", caller);
	memcpy(c->key, key, SEAL_KEY_SIZE);
}

static void
cache_forget(struct store_keyring *k, const char *caller)
{
	struct keys_cache_slot *c;

	if (k->cache == NULL)
		return;
	c = cache_slot(k, caller);
	if (strcmp(c->caller, caller) == 0)
		OPENSSL_cleanse(c, sizeof(*c));
}

/* Look a caller's key up: 0 found, 1 none. */
static int
key_lookup(struct store_keyring *k, const char *caller,
    unsigned char key[SEAL_KEY_SIZE])
{
	sqlite3_stmt *s = k->get;
	int rc, ret = -1;

	sqlite3_bind_text(s, 1, caller, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		ret = 1;
	else if (rc == SQLITE_ROW) {
		const char *kid = (const char *)sqlite3_column_text(s, 0);
		const char *w = (const char *)sqlite3_column_text(s, 1);

		/* One KEK per key store: another id is damage. */
		if (kid != NULL && strcmp(kid, k->kek_id) == 0 &&
		    seal_unwrap(k->kek, caller, w, key) == 0)
			ret = 0;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return ret;
}

/* Caller's data key: 0, 1 when they have none (and create is false, or
 * the connection cannot make one), -1 on error. */
static int
key_get(struct store *st, const char *caller, bool create,
    unsigned char key[SEAL_KEY_SIZE])
{
	struct store_keyring *k = &st->keys;
	char *wrapped;
	int rc;

	if (k->db == NULL || caller == NULL || *caller == '\0')
		return -1;
	if (cache_get(k, caller, key))
		return 0;
	if ((rc = key_lookup(k, caller, key)) == 0)
		cache_put(k, caller, key);
	if (rc != 1 || !create)
		return rc;
	if (k->read_only)
		return -1;
	/* Looked up again inside the write transaction: another process
	 * (hotlinectl) may have made it meanwhile. */
	if (keys_begin(k) < 0 || (rc = key_lookup(k, caller, key)) < 0)
		return -1;
	if (rc == 0) {
		cache_put(k, caller, key);
		return keys_settle(st);
	}
	if (seal_key_new(key) < 0 ||
	    (wrapped = seal_wrap(k->kek, caller, key)) == NULL)
		return -1;
	sqlite3_bind_text(k->put, 1, caller, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(k->put, 2, k->kek_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(k->put, 3, wrapped, -1, SQLITE_TRANSIENT);
	rc = kstep(k->put);
	free(wrapped);
	if (rc < 0)
		return -1;
	cache_put(k, caller, key);
	return keys_settle(st);
}

char *
db_seal(struct store *st, const char *caller, const char *plain)
{
	unsigned char key[SEAL_KEY_SIZE];
	char *sealed;

	if (plain == NULL || key_get(st, caller, true, key) != 0)
		return NULL;
	sealed = seal_value(key, caller, plain, strlen(plain));
	OPENSSL_cleanse(key, sizeof(key));
	return sealed;
}

int
db_bind_sealed(struct store *st, sqlite3_stmt *s, int i, const char *caller,
    const char *plain)
{
	char *sealed;

	if (plain == NULL) {
		sqlite3_bind_null(s, i);
		return 0;
	}
	if ((sealed = db_seal(st, caller, plain)) == NULL)
		return -1;
	sqlite3_bind_text(s, i, sealed, -1, SQLITE_TRANSIENT);
	free(sealed);
	return 0;
}

char *
db_open_text(struct store *st, const char *caller, const char *v)
{
	unsigned char key[SEAL_KEY_SIZE];
	char *plain;

	if (v == NULL)
		return NULL;
	/* A value from before encryption, not yet sealed (the daemon seals
	 * them when it opens the database). */
	if (!seal_is_sealed(v))
		return strdup(v);
	if (key_get(st, caller, false, key) != 0)
		return NULL;
	plain = seal_open(key, caller, v, NULL);
	OPENSSL_cleanse(key, sizeof(key));
	return plain;
}

char *
db_column_open(struct store *st, sqlite3_stmt *s, int i, const char *caller)
{
	return db_open_text(st, caller, (const char *)sqlite3_column_text(s,
	    i));
}

int
db_first_opened(struct store *st, sqlite3_stmt *s, const char *caller,
    char **out)
{
	int rc = sqlite3_step(s);

	*out = NULL;
	if (rc == SQLITE_ROW) {
		*out = db_column_open(st, s, 0, caller);
		rc = SQLITE_DONE;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
store_caller_key_destroy(struct store *st, const char *caller)
{
	struct store_keyring *k = &st->keys;

	if (k->db == NULL || k->read_only || caller == NULL)
		return -1;
	cache_forget(k, caller);
	if (keys_begin(k) < 0)
		return -1;
	sqlite3_bind_text(k->del, 1, caller, -1, SQLITE_TRANSIENT);
	if (kstep(k->del) < 0)
		return -1;
	if (sqlite3_changes(k->db) > 0)
		k->destroyed = true;
	return keys_settle(st);
}

int
store_caller_key_exists(struct store *st, const char *caller, bool *exists)
{
	unsigned char key[SEAL_KEY_SIZE];
	int rc = key_get(st, caller, false, key);

	OPENSSL_cleanse(key, sizeof(key));
	*exists = rc == 0;
	return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Sealing a database from before encryption                           */

/*
 * Every column that holds a caller's number or words, with the caller
 * it belongs to.  A value not starting with the seal prefix is clear;
 * "" is what erasure and retention leave, and stays as it is.
 */
static const struct clear_column {
	const char *select;       /* id, caller, value */
	const char *update;       /* ?1 id, ?2 sealed */
} clear_columns[] = {
#define CLEAR(col) "substr(" col ", 1, 3) IS NOT 's1.' AND " col \
	" IS NOT NULL AND " col " != ''"
	{ "SELECT id, caller, msisdn FROM tasks WHERE " CLEAR("msisdn"),
	  "UPDATE tasks SET msisdn = ?2 WHERE id = ?1" },
	{ "SELECT id, caller, msisdn FROM sessions WHERE " CLEAR("msisdn"),
	  "UPDATE sessions SET msisdn = ?2 WHERE id = ?1" },
	{ "SELECT id, caller, state FROM sessions WHERE " CLEAR("state"),
	  "UPDATE sessions SET state = ?2 WHERE id = ?1" },
	{ "SELECT id, caller, msisdn FROM inbound WHERE " CLEAR("msisdn"),
	  "UPDATE inbound SET msisdn = ?2 WHERE id = ?1" },
	{ "SELECT id, caller, body FROM inbound WHERE " CLEAR("body"),
	  "UPDATE inbound SET body = ?2 WHERE id = ?1" },
	{ "SELECT id, caller, msisdn FROM outbound WHERE " CLEAR("msisdn"),
	  "UPDATE outbound SET msisdn = ?2 WHERE id = ?1" },
	{ "SELECT id, caller, body FROM outbound WHERE " CLEAR("body"),
	  "UPDATE outbound SET body = ?2 WHERE id = ?1" },
	{ "SELECT id, caller, verification FROM tasks WHERE "
	  CLEAR("verification"),
	  "UPDATE tasks SET verification = ?2 WHERE id = ?1" },
	{ "SELECT n.id, t.caller, n.text FROM task_notes n JOIN tasks t ON "
	  "t.id = n.task_id WHERE " CLEAR("n.text"),
	  "UPDATE task_notes SET text = ?2 WHERE id = ?1" },
#undef CLEAR
};

static int
seal_column(struct store *st, const struct clear_column *c)
{
	sqlite3_stmt *sel = NULL, *upd = NULL;
	int rc;

	if (sqlite3_prepare_v2(st->db, c->select, -1, &sel, NULL) !=
	    SQLITE_OK || sqlite3_prepare_v2(st->db, c->update, -1, &upd,
	    NULL) != SQLITE_OK) {
		sqlite3_finalize(sel);
		return -1;
	}
	/* Updating the rows a SELECT walks is allowed in SQLite; a sealed
	 * value no longer matches the WHERE, so no row comes twice. */
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		const char *caller = (const char *)sqlite3_column_text(sel, 1);
		const char *v = (const char *)sqlite3_column_text(sel, 2);

		sqlite3_bind_int64(upd, 1, sqlite3_column_int64(sel, 0));
		if (db_bind_sealed(st, upd, 2, caller, v) < 0 ||
		    kstep(upd) < 0) {
			rc = SQLITE_ERROR;
			break;
		}
	}
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * meta values_sealed: absent before encryption, "1" once every value is
 * sealed, "2" once the file was rebuilt (VACUUM) so that no freed page
 * still holds a value written in clear before; a failed VACUUM (a full
 * disk) is tried again at the next open.
 */
int
keys_seal_existing(struct store *st, char *err, size_t errlen)
{
	char done[8];

	if (st->keys.db == NULL)
		return 0;
	if (meta_get(st->db, "values_sealed", done, sizeof(done)) < 0) {
		db_error(st, "reading meta", err, errlen);
		return -1;
	}
	if (strcmp(done, "2") == 0)
		return 0;
	if (strcmp(done, "1") != 0) {
		/* Overwritten, not just replaced: secure_delete zeroes what
		 * the updates free. */
		if (db_raw_exec(st->db, "PRAGMA secure_delete = ON", err, errlen) <
		    0 || db_begin(st, err, errlen) < 0)
			return -1;
		for (size_t i = 0; i < sizeof(clear_columns) /
		    sizeof(clear_columns[0]); i++)
			if (seal_column(st, &clear_columns[i]) < 0) {
				db_error(st, "sealing stored values", err,
				    errlen);
				db_rollback(st);
				return -1;
			}
		if (meta_put(st->db, "values_sealed", "1") < 0) {
			db_error(st, "sealing stored values", err, errlen);
			db_rollback(st);
			return -1;
		}
		if (db_commit(st, err, errlen) < 0)
			return -1;
	}
	/* Pages freed before encryption may still hold clear values: the
	 * file is rebuilt once, and the WAL cut back. */
	if (db_raw_exec(st->db, "VACUUM", err, errlen) < 0) {
		size_t n = strnlen(err, errlen);

		snprintf(err + n, errlen - n, " (rebuilding the database "
		    "after sealing it: is the disk full?)");
		return -1;
	}
	if (meta_put(st->db, "values_sealed", "2") < 0) {
		db_error(st, "recording the rebuild", err, errlen);
		return -1;
	}
	sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
	    NULL, NULL);
	return 0;
}

/* ------------------------------------------------------------------ */
/* hotlinectl rekey                                                    */

int
store_rekey(const char *path, const unsigned char *old_master,
    const unsigned char *new_master, bool *changed, char *old_id,
    char *new_id, char *err, size_t errlen)
{
	unsigned char kek[SEAL_KEY_SIZE];
	char have[SEAL_KEY_ID_SIZE], wrapped[256], why[256];
	char *rewrapped = NULL;
	sqlite3 *db;
	struct stat sb;
	int rc = -1;

	*changed = false;
	if (seal_key_id(old_master, old_id) < 0 ||
	    seal_key_id(new_master, new_id) < 0)
		return -1;
	if (stat(path, &sb) < 0) {
		snprintf(err, errlen, "key store %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if ((db = key_store_connect(path, false, err, errlen)) == NULL)
		return -1;
	if (db_raw_exec(db, "BEGIN IMMEDIATE", err, errlen) < 0)
		goto out;
	if (meta_get(db, "master_id", have, sizeof(have)) < 0 ||
	    meta_get(db, "kek", wrapped, sizeof(wrapped)) < 0) {
		snprintf(err, errlen, "key store %s: %s", path,
		    sqlite3_errmsg(db));
		goto out;
	}
	if (strcmp(have, new_id) == 0) {
		rc = 0;         /* done before: only the key file was left */
		goto out;
	}
	if (strcmp(have, old_id) != 0) {
		snprintf(err, errlen, "key store %s is wrapped under key %s, "
		    "not under privacy.data_key (key %s): nothing changed",
		    path, have, old_id);
		goto out;
	}
	if (seal_unwrap(old_master, KEK_OWNER, wrapped, kek) < 0) {
		snprintf(err, errlen, "key store %s: its key does not open "
		    "with privacy.data_key", path);
		goto out;
	}
	if ((rewrapped = seal_wrap(new_master, KEK_OWNER, kek)) == NULL ||
	    meta_put(db, "kek", rewrapped) < 0 ||
	    meta_put(db, "master_id", new_id) < 0) {
		snprintf(err, errlen, "key store %s: cannot rewrap: %s", path,
		    sqlite3_errmsg(db));
		goto out;
	}
	if (db_raw_exec(db, "COMMIT", err, errlen) < 0)
		goto out;
	*changed = true;
	rc = 0;
	/* The KEK wrapped under the old master must not stay in the WAL. */
	sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
	    NULL);
out:
	if (!sqlite3_get_autocommit(db))
		db_raw_exec(db, rc == 0 ? "COMMIT" : "ROLLBACK", why, sizeof(why));
	OPENSSL_cleanse(kek, sizeof(kek));
	free(rewrapped);
	sqlite3_close(db);
	return rc;
}

int
store_key_store_info(const char *path, char *master_id, int64_t *keys,
    char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s;
	int rc = -1;

	*keys = 0;
	master_id[0] = '\0';
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "key store %s: cannot open", path);
		goto out;
	}
	if (meta_get(db, "master_id", master_id, SEAL_KEY_ID_SIZE) < 0 ||
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM keys", -1, &s,
	    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "key store %s: %s", path,
		    sqlite3_errmsg(db));
		goto out;
	}
	if (sqlite3_step(s) == SQLITE_ROW) {
		*keys = sqlite3_column_int64(s, 0);
		rc = 0;
	}
	sqlite3_finalize(s);
out:
	sqlite3_close(db);
	return rc;
}
