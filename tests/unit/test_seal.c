/*
 * seal: a sealed value opens only with its key and its caller, never
 * after a byte changed or was cut; nonces differ; keys parse and wrap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/wait.h>

#include <cmocka.h>

#include "seal.h"

/* See key_id_is_stable_short_and_per_key. */
#define KEY_A_ID "af2901230c6147f4"

static const unsigned char KEY_A[SEAL_KEY_SIZE] = { 1, 2, 3, 4, 5, 6, 7, 8,
	9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,
	27, 28, 29, 30, 31, 32 };
static const unsigned char KEY_B[SEAL_KEY_SIZE] = { 32, 31, 30 };

static void
value_round_trip_keeps_every_byte(void **state)
{
	static const char *const plains[] = { "+84912345678", "",
	    "Tôi cần giúp đỡ, xin gọi lại sau 8 giờ tối",
	    "{\"node\":\"when\",\"answers\":{\"topic\":\"urgent\"}}" };
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(plains) / sizeof(plains[0]); i++) {
		char *s = seal_value(KEY_A, "c_0123456789ab", plains[i],
		    strlen(plains[i]));
		char *p;

		assert_non_null(s);
		assert_true(seal_is_sealed(s));
		assert_memory_equal(s, SEAL_PREFIX, 3);
		/* The plaintext is nowhere in the sealed text. */
		if (plains[i][0] != '\0')
			assert_null(strstr(s, plains[i]));
		p = seal_open(KEY_A, "c_0123456789ab", s, &len);
		assert_non_null(p);
		assert_int_equal(len, strlen(plains[i]));
		assert_string_equal(p, plains[i]);
		seal_free(p, len);
		free(s);
	}
}

static void
value_opens_only_with_its_key_and_caller(void **state)
{
	char *s = seal_value(KEY_A, "c_0123456789ab", "+84912345678", 12);

	(void)state;
	assert_non_null(s);
	assert_null(seal_open(KEY_B, "c_0123456789ab", s, NULL));
	assert_null(seal_open(KEY_A, "c_0123456789ac", s, NULL));
	assert_null(seal_open(KEY_A, "", s, NULL));
	assert_null(seal_open(KEY_A, NULL, s, NULL));
	free(s);
}

static void
value_with_any_byte_changed_does_not_open(void **state)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *s = seal_value(KEY_A, "c_1", "a message body", 14);
	size_t n;

	(void)state;
	assert_non_null(s);
	n = strlen(s);
	for (size_t i = 0; i < n; i++) {
		char keep = s[i];

		if (keep == '=')
			continue;
		/* Another base64 digit in the same place, with the top of
		 * its six bits flipped: a bit that always counts, even in
		 * the digit before the padding. */
		s[i] = b64[(strchr(b64, keep) - b64 + 32) % 64];
		if (i < 3)
			s[i] = 'x';
		if (seal_open(KEY_A, "c_1", s, NULL) != NULL)
			fail_msg("opened with byte %zu changed", i);
		s[i] = keep;
	}
	free(s);
}

static void
truncated_or_foreign_input_fails_cleanly(void **state)
{
	char *s = seal_value(KEY_A, "c_1", "+84912345678", 12);
	char cut[256];
	size_t n;

	(void)state;
	assert_non_null(s);
	n = strlen(s);
	for (size_t keep = 0; keep < n; keep++) {
		snprintf(cut, sizeof(cut), "%.*s", (int)keep, s);
		if (seal_open(KEY_A, "c_1", cut, NULL) != NULL)
			fail_msg("opened cut to %zu characters", keep);
	}
	assert_null(seal_open(KEY_A, "c_1", NULL, NULL));
	assert_null(seal_open(KEY_A, "c_1", "+84912345678", NULL));
	assert_null(seal_open(KEY_A, "c_1", "s1.", NULL));
	assert_null(seal_open(KEY_A, "c_1", "s1.!!!!", NULL));
	assert_null(seal_open(KEY_A, "c_1", "s1.AAAA", NULL));
	assert_false(seal_is_sealed("+84912345678"));
	assert_false(seal_is_sealed(NULL));
	free(s);
}

static void
nonces_differ_between_seals_of_one_value(void **state)
{
	char *a = seal_value(KEY_A, "c_1", "same", 4);
	char *b = seal_value(KEY_A, "c_1", "same", 4);

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	assert_string_not_equal(a, b);
	/* The first 12 bytes after the prefix are the nonce: 16 base64
	 * digits. */
	assert_memory_not_equal(a + 3, b + 3, 16);
	free(a);
	free(b);
}

static int
compare_nonce(const void *a, const void *b)
{
	return memcmp(*(char *const *)a + 3, *(char *const *)b + 3, 16);
}

/* Nonces come from a pool refilled every 256: across refills, and in a
 * parent and the child it forked with the pool part used (both sealing
 * on), still never one twice. */
static void
nonces_never_repeat_across_refills_or_a_fork(void **state)
{
	enum { BEFORE = 1000, AFTER = 500, ALL = BEFORE + 2 * AFTER };
	static char *seen[ALL];
	int fd[2], status, n = 0;
	pid_t pid;

	(void)state;
	for (; n < BEFORE; n++)
		assert_non_null(seen[n] = seal_value(KEY_A, "c_1", "same", 4));
	assert_int_equal(pipe(fd), 0);
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		for (int i = 0; i < AFTER; i++) {
			char *v = seal_value(KEY_A, "c_1", "same", 4);

			if (v == NULL || write(fd[1], v + 3, 16) != 16)
				_exit(1);
			free(v);
		}
		_exit(0);
	}
	close(fd[1]);
	for (int i = 0; i < AFTER; i++, n++)
		assert_non_null(seen[n] = seal_value(KEY_A, "c_1", "same", 4));
	for (int i = 0; i < AFTER; i++, n++) {
		assert_non_null(seen[n] = calloc(1, 3 + 16 + 1));
		assert_int_equal(read(fd[0], seen[n] + 3, 16), 16);
	}
	close(fd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(status, 0);
	qsort(seen, ALL, sizeof(seen[0]), compare_nonce);
	for (int i = 1; i < ALL; i++)
		assert_true(compare_nonce(&seen[i - 1], &seen[i]) != 0);
	for (int i = 0; i < ALL; i++)
		free(seen[i]);
}

static void
wrapped_key_opens_only_under_its_kek_and_owner(void **state)
{
	unsigned char key[SEAL_KEY_SIZE], back[SEAL_KEY_SIZE];
	char *w, *v;

	(void)state;
	assert_int_equal(seal_key_new(key), 0);
	assert_non_null(w = seal_wrap(KEY_A, "c_1", key));
	assert_memory_equal(w, SEAL_WRAP_PREFIX, 3);
	assert_int_equal(seal_unwrap(KEY_A, "c_1", w, back), 0);
	assert_memory_equal(key, back, SEAL_KEY_SIZE);
	assert_int_equal(seal_unwrap(KEY_B, "c_1", w, back), -1);
	assert_int_equal(seal_unwrap(KEY_A, "c_2", w, back), -1);
	/* A wrapped key is no value, and a value no wrapped key, even with
	 * the prefix swapped. */
	assert_null(seal_open(KEY_A, "c_1", w, NULL));
	w[0] = 's';
	assert_null(seal_open(KEY_A, "c_1", w, NULL));
	assert_non_null(v = seal_value(KEY_A, "c_1", (const char *)key,
	    SEAL_KEY_SIZE));
	v[0] = 'w';
	assert_int_equal(seal_unwrap(KEY_A, "c_1", v, back), -1);
	free(w);
	free(v);
}

static void
key_parses_from_hex_or_base64_only(void **state)
{
	unsigned char key[SEAL_KEY_SIZE], back[SEAL_KEY_SIZE];
	char hex[SEAL_KEY_HEX_SIZE], line[80];

	(void)state;
	seal_key_hex(KEY_A, hex);
	assert_string_equal(hex, "0102030405060708090a0b0c0d0e0f10"
	    "1112131415161718191a1b1c1d1e1f20");
	assert_int_equal(seal_key_parse(hex, key), 0);
	assert_memory_equal(key, KEY_A, SEAL_KEY_SIZE);
	snprintf(line, sizeof(line), "  %s\n", hex);
	assert_int_equal(seal_key_parse(line, back), 0);
	assert_memory_equal(back, KEY_A, SEAL_KEY_SIZE);
	/* base64 of the same 32 bytes (python3 -c "import base64;
	 * print(base64.b64encode(bytes(range(1,33))).decode())") */
	assert_int_equal(seal_key_parse(
	    "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=", back), 0);
	assert_memory_equal(back, KEY_A, SEAL_KEY_SIZE);
	assert_int_equal(seal_key_parse("", key), -1);
	assert_int_equal(seal_key_parse(NULL, key), -1);
	assert_int_equal(seal_key_parse("0102", key), -1);
	hex[5] = 'g';
	assert_int_equal(seal_key_parse(hex, key), -1);
	/* base64 of 31 bytes, padded to 44 characters, is no key. */
	assert_int_equal(seal_key_parse(
	    "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHw==", key), -1);
	assert_int_equal(seal_key_parse("integration-test-pseudonym-key-0123",
	    key), -1);
}

static void
key_id_is_stable_short_and_per_key(void **state)
{
	char a[SEAL_KEY_ID_SIZE], a2[SEAL_KEY_ID_SIZE], b[SEAL_KEY_ID_SIZE];

	(void)state;
	assert_int_equal(seal_key_id(KEY_A, a), 0);
	assert_int_equal(seal_key_id(KEY_A, a2), 0);
	assert_int_equal(seal_key_id(KEY_B, b), 0);
	assert_int_equal(strlen(a), 16);
	assert_string_equal(a, a2);
	assert_string_not_equal(a, b);
	/* python3 -c "import hmac,hashlib;print(hmac.new(bytes(range(1,33)),
	 * b'hotline key id',hashlib.sha256).hexdigest()[:16])" */
	assert_string_equal(a, KEY_A_ID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(value_round_trip_keeps_every_byte),
		cmocka_unit_test(value_opens_only_with_its_key_and_caller),
		cmocka_unit_test(value_with_any_byte_changed_does_not_open),
		cmocka_unit_test(truncated_or_foreign_input_fails_cleanly),
		cmocka_unit_test(nonces_differ_between_seals_of_one_value),
		cmocka_unit_test(
		    nonces_never_repeat_across_refills_or_a_fork),
		cmocka_unit_test(wrapped_key_opens_only_under_its_kek_and_owner),
		cmocka_unit_test(key_parses_from_hex_or_base64_only),
		cmocka_unit_test(key_id_is_stable_short_and_per_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
