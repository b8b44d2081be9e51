/* log: logfmt lines, escaped values, levels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "privacy.h"

static char *buf;
static size_t buflen;
static FILE *mem;

static int
setup(void **state)
{
	(void)state;
	mem = open_memstream(&buf, &buflen);
	assert_non_null(mem);
	log_init(mem, LOG_DEBUG);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	fclose(mem);
	free(buf);
	log_init(stderr, LOG_INFO);
	return 0;
}

static const char *
output(void)
{
	fflush(mem);
	return buf;
}

static void
line_is_logfmt_with_time_level_and_event(void **state)
{
	const char *out;

	(void)state;
	log_event(LOG_INFO, "ussd.hop", "channel", "console", "node", "need",
	    NULL);
	out = output();
	assert_true(strncmp(out, "ts=", 3) == 0);
	assert_non_null(strstr(out, "Z level=info event=ussd.hop "
	    "channel=console node=need\n"));
	assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out));
	/* ts=YYYY-MM-DDTHH:MM:SS.mmmZ */
	assert_int_equal(strchr(out, ' ') - out, 27);
	for (int i = 3; i < 26; i++)
		if (i != 7 && i != 10 && i != 13 && i != 16 && i != 19 &&
		    i != 22)
			assert_true(out[i] >= '0' && out[i] <= '9');
	assert_int_equal(out[22], '.');
}

/* A value longer than the line buffer is written whole, in order. */
static void
long_values_are_written_whole(void **state)
{
	static char value[5000];
	const char *out, *v;

	(void)state;
	for (size_t i = 0; i < sizeof(value) - 1; i++)
		value[i] = (char)('a' + i % 26);
	log_event(LOG_INFO, "long", "v", value, "after", "x", NULL);
	out = output();
	assert_non_null(v = strstr(out, " v="));
	assert_memory_equal(v + 3, value, sizeof(value) - 1);
	assert_string_equal(v + 3 + sizeof(value) - 1, " after=x\n");
}

static void
untrusted_values_cannot_forge_fields_or_lines(void **state)
{
	const char *out;

	(void)state;
	log_event(LOG_WARN, "ussd.refused", "reason",
	    "bad\nts=x level=error event=forged \"q\" \\", "empty", "",
	    "null", NULL, NULL);
	out = output();
	assert_non_null(strstr(out, "reason=\"bad\\x0ats=x level=error "
	    "event=forged \\\"q\\\" \\\\\""));
	assert_non_null(strstr(out, "empty=\"\""));
	assert_non_null(strstr(out, "null=\"\""));
	/* Exactly one line. */
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
}

static void
levels_below_the_minimum_are_dropped(void **state)
{
	(void)state;
	log_set_level(LOG_WARN);
	log_event(LOG_INFO, "quiet", NULL);
	log_event(LOG_DEBUG, "quieter", NULL);
	log_event(LOG_ERROR, "loud", NULL);
	assert_null(strstr(output(), "quiet"));
	assert_non_null(strstr(output(), "event=loud"));
	log_set_level(LOG_DEBUG);
	assert_int_equal(log_level_parse("warn"), LOG_WARN);
	assert_int_equal(log_level_parse("verbose"), -1);
}

/* A hop is logged the way ussd.c logs it: by pseudonym.  Nothing of the
 * number survives into the line. */
static void
hop_log_carries_a_pseudonym_never_the_number(void **state)
{
	static const unsigned char key[] = "unit-test-pseudonym-key";
	char caller[PRIVACY_PSEUDONYM_SIZE];
	const char *out;

	(void)state;
	assert_int_equal(privacy_pseudonym(key, sizeof(key) - 1,
	    "+84912345678", caller), 0);
	log_event(LOG_INFO, "ussd.hop", "channel", "console", "caller", caller,
	    NULL);
	out = output();
	assert_non_null(strstr(out, caller));
	assert_null(strstr(out, "912345678"));
	assert_null(strstr(out, "0912345678"));
	assert_null(strstr(out, "84912"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    line_is_logfmt_with_time_level_and_event, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    long_values_are_written_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    untrusted_values_cannot_forge_fields_or_lines, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    levels_below_the_minimum_are_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    hop_log_carries_a_pseudonym_never_the_number, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
