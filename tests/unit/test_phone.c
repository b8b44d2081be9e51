/*
 * phone: every spelling aggregators use for one subscriber becomes the
 * same E.164 string; anything else is refused, not guessed at.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "phone.h"

#define NROWS(a) (sizeof(a) / sizeof((a)[0]))

struct accept_case {
	const char *name;
	const char *in;
	const char *cc;
	const char *want;
};

static const struct accept_case accept_cases[] = {
	{ "national with trunk 0", "0912345678", "84", "+84912345678" },
	{ "national with spaces", "0912 345 678", "84", "+84912345678" },
	{ "national with dots and dashes", "0912.345-678", "84",
	    "+84912345678" },
	{ "national with parentheses", "(091) 234-5678", "84",
	    "+84912345678" },
	{ "plus form", "+84912345678", "84", "+84912345678" },
	{ "plus form with spaces", "+84 912 345 678", "84",
	    "+84912345678" },
	{ "leading space before plus", " +84912345678", "84",
	    "+84912345678" },
	{ "00 international prefix", "0084912345678", "84",
	    "+84912345678" },
	{ "00 prefix with spaces", "00 84 912 345 678", "84",
	    "+84912345678" },
	{ "bare digits starting with our code", "84912345678", "84",
	    "+84912345678" },
	{ "foreign plus number kept", "+254711000222", "84",
	    "+254711000222" },
	{ "foreign 00 number kept", "00254711000222", "84",
	    "+254711000222" },
	{ "kenyan national with kenyan default", "0711000222", "254",
	    "+254711000222" },
	{ "hanoi landline, ten national digits", "024 3825 1234", "84",
	    "+842438251234" },
	{ "plus form needs no default code", "+84912345678", NULL,
	    "+84912345678" },
	{ "fifteen digits is the E.164 maximum", "+123456789012345", "84",
	    "+123456789012345" },
	{ "eight digits is the minimum", "+12345678", "84", "+12345678" },
};

static void
normalize_accepts_every_spelling(void **state)
{
	const struct accept_case *c;
	char out[PHONE_E164_SIZE];
	size_t i;

	(void)state;
	for (i = 0; i < NROWS(accept_cases); i++) {
		c = &accept_cases[i];
		memset(out, 'X', sizeof(out));
		if (phone_normalize(c->in, c->cc, out, sizeof(out)) != 0)
			fail_msg("%s: \"%s\" was rejected", c->name, c->in);
		if (strcmp(out, c->want) != 0)
			fail_msg("%s: expected %s, got %s", c->name, c->want,
			    out);
	}
}

struct reject_case {
	const char *name;
	const char *in;
	const char *cc;
};

static const struct reject_case reject_cases[] = {
	{ "empty", "", "84" },
	{ "only separators", " ( ) - . ", "84" },
	{ "letters", "abc", "84" },
	{ "lone plus", "+", "84" },
	{ "two digits", "12", "84" },
	{ "letter in the middle", "0912x45678", "84" },
	{ "double plus", "++84912345678", "84" },
	{ "plus after digits", "84+912345678", "84" },
	{ "plus in the middle", "+84 912+345678", "84" },
	{ "twenty digits", "+12345678901234567890", "84" },
	{ "twenty digits national", "01234567890123456789", "84" },
	{ "sixteen digits", "+1234567890123456", "84" },
	{ "seven digits", "+1234567", "84" },
	{ "00 with nothing after", "00", "84" },
	{ "lone trunk 0", "0", "84" },
	{ "country code starting 0", "+0912345678", "84" },
	{ "000 prefix", "000912345678", "84" },
	{ "bare digits not our code", "912345678", "84" },
	{ "bare foreign digits", "254711000222", "84" },
	{ "national without a default code", "0912345678", NULL },
	{ "bare digits without a default code", "84912345678", NULL },
	{ "bare digits with empty default code", "84912345678", "" },
	{ "national with empty default code", "0912345678", "" },
	{ "national with non-digit default code", "0912345678", "8x" },
	{ "national with four-digit default code", "0912345678", "8400" },
	{ "tab is not a separator", "0912\t345678", "84" },
	{ "star and hash", "*384*2024#", "84" },
	{ "non-ascii digits", "\xd9\xa0\xd9\xa9\x31\x32\x33\x34\x35\x36\x37\x38",
	    "84" },
	{ "fullwidth digits", "\xef\xbc\x90\xef\xbc\x99\x31\x32\x33\x34\x35"
	    "\x36\x37\x38", "84" },
};

static void
normalize_rejects_junk(void **state)
{
	const struct reject_case *c;
	char out[64];	/* roomy: rejection must not hinge on outlen */
	size_t i;

	(void)state;
	for (i = 0; i < NROWS(reject_cases); i++) {
		c = &reject_cases[i];
		memset(out, 'X', sizeof(out));
		if (phone_normalize(c->in, c->cc, out, sizeof(out)) != -1)
			fail_msg("%s: \"%s\" was accepted as %s", c->name,
			    c->in, out);
		if (out[0] != '\0')
			fail_msg("%s: output not cleared on failure",
			    c->name);
	}
}

static void
normalize_rejects_output_too_small(void **state)
{
	char out[PHONE_E164_SIZE];
	size_t need = strlen("+84912345678") + 1, len;

	(void)state;
	for (len = 1; len < need; len++) {
		memset(out, 'X', sizeof(out));
		if (phone_normalize("0912345678", "84", out, len) != -1)
			fail_msg("outlen %zu accepted", len);
		if (out[0] != '\0')
			fail_msg("outlen %zu: output not cleared", len);
		/* Nothing past outlen was touched. */
		if (len + 1 < sizeof(out) && out[len] != 'X')
			fail_msg("outlen %zu: wrote past the end", len);
	}
	assert_int_equal(phone_normalize("0912345678", "84", out, need), 0);
	assert_string_equal(out, "+84912345678");
	assert_int_equal(phone_normalize("0912345678", "84", out, 0), -1);
	assert_int_equal(out[0], '+');	/* outlen 0: out untouched */
}

static void
normalize_rejects_null_arguments(void **state)
{
	char out[PHONE_E164_SIZE];

	(void)state;
	assert_int_equal(phone_normalize(NULL, "84", out, sizeof(out)), -1);
	assert_int_equal(phone_normalize("0912345678", "84", NULL, 17), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(normalize_accepts_every_spelling),
		cmocka_unit_test(normalize_rejects_junk),
		cmocka_unit_test(normalize_rejects_output_too_small),
		cmocka_unit_test(normalize_rejects_null_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
