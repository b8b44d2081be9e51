/*
 * privacy: caller pseudonyms are stable, keyed and carry no digits of
 * the number; secret comparison is exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <string.h>

#include <cmocka.h>

#include "privacy.h"

#define NROWS(a) (sizeof(a) / sizeof((a)[0]))

#define KEY(s) (const unsigned char *)(s), sizeof(s) - 1

static const char *const numbers[] = {
	"+84912345678",
	"+84912345679",
	"+254711000222",
	"+842438251234",
	"+12345678",
	"",
};

static void
pseudonym_is_c_underscore_and_12_lowercase_hex(void **state)
{
	char out[PRIVACY_PSEUDONYM_SIZE];
	size_t i, j;

	(void)state;
	for (i = 0; i < NROWS(numbers); i++) {
		memset(out, 'X', sizeof(out));
		assert_int_equal(privacy_pseudonym(KEY("key"), numbers[i],
		    out), 0);
		if (strlen(out) != PRIVACY_PSEUDONYM_SIZE - 1 ||
		    out[0] != 'c' || out[1] != '_')
			fail_msg("number %zu: bad shape \"%s\"", i, out);
		for (j = 2; j < PRIVACY_PSEUDONYM_SIZE - 1; j++)
			if (!((out[j] >= '0' && out[j] <= '9') ||
			    (out[j] >= 'a' && out[j] <= 'f')))
				fail_msg("number %zu: \"%s\" is not lowercase "
				    "hex at %zu", i, out, j);
	}
}

/*
 * Known answers, computed independently of OpenSSL with Python's hmac
 * module, one command per row:
 *   python3 -c "import hmac,hashlib;print(hmac.new(b'key',b'+84912345678',hashlib.sha256).hexdigest()[:12])"
 *   python3 -c "import hmac,hashlib;print(hmac.new(b'key',b'+254711000222',hashlib.sha256).hexdigest()[:12])"
 *   python3 -c "import hmac,hashlib;print(hmac.new(b'another key',b'+84912345678',hashlib.sha256).hexdigest()[:12])"
 * printing 59c0a3f40ed5, 7047cae5878c and c05a0a607b79.
 */
#define K10 "kkkkkkkkkk"
#define K100 K10 K10 K10 K10 K10 K10 K10 K10 K10 K10
#define LONG_KEY K100 K100 K100

struct kat_case {
	const char *key;
	const char *e164;
	const char *want;
};

static const struct kat_case kat_cases[] = {
	{ "key", "+84912345678", "c_59c0a3f40ed5" },
	{ "key", "+254711000222", "c_7047cae5878c" },
	{ "another key", "+84912345678", "c_c05a0a607b79" },
	/* Back to a key used before: the kept state must follow. */
	{ "key", "+84987654321", "c_c183d10b7c0a" },
	/* 300 bytes: longer than the state kept per thread. */
	{ LONG_KEY, "+84912345678", "c_932097c19472" },
};

static void
pseudonym_matches_hmac_sha256_known_answer(void **state)
{
	const struct kat_case *c;
	char out[PRIVACY_PSEUDONYM_SIZE];
	size_t i;

	(void)state;
	for (i = 0; i < NROWS(kat_cases); i++) {
		c = &kat_cases[i];
		assert_int_equal(privacy_pseudonym(
		    (const unsigned char *)c->key, strlen(c->key), c->e164,
		    out), 0);
		if (strcmp(out, c->want) != 0)
			fail_msg("key \"%s\": expected %s, got %s", c->key,
			    c->want, out);
	}
}

static void *
pseudonym_in_thread(void *arg)
{
	char *out = arg;

	if (privacy_pseudonym(KEY("key"), "+84912345678", out) < 0)
		out[0] = '\0';
	return NULL;
}

/* A thread that ends frees its keyed state (LeakSanitizer, which the
 * tests run under, fails the binary at exit otherwise). */
static void
pseudonym_in_a_thread_that_ends(void **state)
{
	char out[PRIVACY_PSEUDONYM_SIZE] = "";
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, pseudonym_in_thread, out),
	    0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_string_equal(out, "c_59c0a3f40ed5");
}

static void
pseudonym_is_deterministic(void **state)
{
	char a[PRIVACY_PSEUDONYM_SIZE], b[PRIVACY_PSEUDONYM_SIZE];
	size_t i;

	(void)state;
	for (i = 0; i < NROWS(numbers); i++) {
		assert_int_equal(privacy_pseudonym(KEY("key"), numbers[i], a),
		    0);
		assert_int_equal(privacy_pseudonym(KEY("key"), numbers[i], b),
		    0);
		assert_string_equal(a, b);
	}
}

static void
pseudonym_differs_by_number(void **state)
{
	char a[PRIVACY_PSEUDONYM_SIZE], b[PRIVACY_PSEUDONYM_SIZE];
	size_t i, j;

	(void)state;
	for (i = 0; i < NROWS(numbers); i++)
		for (j = i + 1; j < NROWS(numbers); j++) {
			assert_int_equal(privacy_pseudonym(KEY("key"),
			    numbers[i], a), 0);
			assert_int_equal(privacy_pseudonym(KEY("key"),
			    numbers[j], b), 0);
			if (strcmp(a, b) == 0)
				fail_msg("numbers %zu and %zu share %s", i, j,
				    a);
		}
}

static void
pseudonym_differs_by_key(void **state)
{
	char a[PRIVACY_PSEUDONYM_SIZE], b[PRIVACY_PSEUDONYM_SIZE];
	/* Keys that differ only in their last byte, or only in length. */
	static const char *const keys[] = { "key", "kez", "key2", "k" };
	size_t i, j;

	(void)state;
	for (i = 0; i < NROWS(keys); i++)
		for (j = i + 1; j < NROWS(keys); j++) {
			assert_int_equal(privacy_pseudonym(
			    (const unsigned char *)keys[i], strlen(keys[i]),
			    "+84912345678", a), 0);
			assert_int_equal(privacy_pseudonym(
			    (const unsigned char *)keys[j], strlen(keys[j]),
			    "+84912345678", b), 0);
			if (strcmp(a, b) == 0)
				fail_msg("keys %s and %s share %s", keys[i],
				    keys[j], a);
		}
}

/*
 * The pseudonym must not carry the number, whole or in part.  Hex output
 * holds digit runs by chance, so a run of four would trip over honest
 * HMACs; a run of six of the number's own digits does not (about one
 * chance in 400 over these numbers, and the answer is fixed by the
 * key), while any scheme that embeds the number or a masked tail of it
 * fails at once.
 */
static void
pseudonym_never_contains_the_number(void **state)
{
	char e164[32], out[PRIVACY_PSEUDONYM_SIZE], run[7];
	size_t k, n, at;
	int r;

	(void)state;
	for (k = 0; k < 1000; k++) {
		r = snprintf(e164, sizeof(e164), "+849%08zu",
		    k * 48271 % 100000000);
		assert_true(r > 0 && (size_t)r < sizeof(e164));
		n = (size_t)r;
		assert_int_equal(privacy_pseudonym(KEY("key"), e164, out), 0);
		for (at = 1; at + 6 <= n; at++) {
			memcpy(run, e164 + at, 6);
			run[6] = '\0';
			if (strstr(out, run) != NULL)
				fail_msg("%s contains \"%s\" of its number",
				    out, run);
		}
	}
}

static void
pseudonym_refuses_empty_key_and_clears_output(void **state)
{
	char out[PRIVACY_PSEUDONYM_SIZE];

	(void)state;
	memset(out, 'X', sizeof(out));
	assert_int_equal(privacy_pseudonym((const unsigned char *)"", 0,
	    "+84912345678", out), -1);
	assert_int_equal(out[0], '\0');
	memset(out, 'X', sizeof(out));
	assert_int_equal(privacy_pseudonym(NULL, 3, "+84912345678", out), -1);
	assert_int_equal(out[0], '\0');
	memset(out, 'X', sizeof(out));
	assert_int_equal(privacy_pseudonym(KEY("key"), NULL, out), -1);
	assert_int_equal(out[0], '\0');
}

struct equal_case {
	const char *name;
	const char *given;
	const char *expected;
	bool equal;
};

static const struct equal_case equal_cases[] = {
	{ "same token", "s3cret-token", "s3cret-token", true },
	{ "single byte", "x", "x", true },
	{ "differs in first byte", "S3cret-token", "s3cret-token", false },
	{ "differs in last byte", "s3cret-tokeN", "s3cret-token", false },
	{ "given is a prefix", "s3cret", "s3cret-token", false },
	{ "given extends expected", "s3cret-token2", "s3cret-token", false },
	{ "given much longer", "s3cret-tokens3cret-tokens3cret-token",
	    "s3cret-token", false },
	{ "given empty", "", "s3cret-token", false },
	{ "expected empty", "s3cret-token", "", false },
	{ "both empty: an unset secret matches nothing", "", "", false },
	{ "case matters", "TOKEN", "token", false },
};

static void
equal_is_exact_string_equality(void **state)
{
	const struct equal_case *c;
	size_t i;

	(void)state;
	for (i = 0; i < NROWS(equal_cases); i++) {
		c = &equal_cases[i];
		if (privacy_equal(c->given, c->expected) != c->equal)
			fail_msg("%s: expected %s", c->name,
			    c->equal ? "equal" : "different");
	}
	assert_false(privacy_equal(NULL, "token"));
	assert_false(privacy_equal("token", NULL));
	assert_false(privacy_equal(NULL, NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    pseudonym_is_c_underscore_and_12_lowercase_hex),
		cmocka_unit_test(pseudonym_matches_hmac_sha256_known_answer),
		cmocka_unit_test(pseudonym_in_a_thread_that_ends),
		cmocka_unit_test(pseudonym_is_deterministic),
		cmocka_unit_test(pseudonym_differs_by_number),
		cmocka_unit_test(pseudonym_differs_by_key),
		cmocka_unit_test(pseudonym_never_contains_the_number),
		cmocka_unit_test(pseudonym_refuses_empty_key_and_clears_output),
		cmocka_unit_test(equal_is_exact_string_equality),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
