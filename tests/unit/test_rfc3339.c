/* rfc3339: strict parsing into the store's UTC form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rfc3339.h"

static void
zones_and_fractions_become_utc(void **state)
{
	char out[RFC3339_UTC_SIZE];

	(void)state;
	assert_true(rfc3339_to_utc("2026-11-29T10:00:00Z", out));
	assert_string_equal(out, "2026-11-29T10:00:00Z");
	assert_true(rfc3339_to_utc("2026-11-29T03:30:00+07:00", out));
	assert_string_equal(out, "2026-11-28T20:30:00Z");
	assert_true(rfc3339_to_utc("2026-12-31T23:00:00.250-02:00", out));
	assert_string_equal(out, "2027-01-01T01:00:00Z");
	assert_true(rfc3339_to_utc("2028-02-29T00:00:00Z", out));
}

static void
anything_else_is_refused(void **state)
{
	static const char *const bad[] = {
		"2026-02-30T10:00:00Z",     /* no such day */
		"2027-02-29T10:00:00Z",     /* not a leap year */
		"2026-1-5T10:00:00Z",       /* one-digit field */
		"2026-11-29T10:00:00",      /* no zone */
		"2026-11-29T10:00:00.Z",    /* a dot without digits */
		"2026-11-29 10:00:00Z",
		"2026-11-29T24:00:00Z",
		"2026-11-29T10:00:00+7:00",
		"2026-11-29T10:00:00Zjunk",
		"",
	};
	char out[RFC3339_UTC_SIZE];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(rfc3339_to_utc(bad[i], out));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(zones_and_fractions_become_utc),
		cmocka_unit_test(anything_else_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
