/* schedule: backoff bounds and contact windows in the hotline's zone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <time.h>

#include "schedule.h"

/* 2026-03-01 00:00:00 in Asia/Ho_Chi_Minh (UTC+7, no DST). */
#define MIDNIGHT_HCM ((time_t)1772298000)

static int
setup(void **state)
{
	(void)state;
	setenv("TZ", "Asia/Ho_Chi_Minh", 1);
	tzset();
	return 0;
}

static void
backoff_doubles_up_to_the_cap_with_full_jitter(void **state)
{
	(void)state;
	/* The top of each range: 1, 2, 4, 8 s, then the cap. */
	assert_true(schedule_backoff(1, 60, 0.0, -1) == 1.0);
	assert_true(schedule_backoff(2, 60, 0.0, -1) == 2.0);
	assert_true(schedule_backoff(4, 60, 0.0, -1) == 8.0);
	assert_true(schedule_backoff(9, 60, 0.0, -1) == 60.0);
	assert_true(schedule_backoff(1000, 60, 0.0, -1) == 60.0);
	/* Jitter spreads across the whole range, never to zero. */
	assert_true(schedule_backoff(4, 60, 0.5, -1) == 4.0);
	assert_true(schedule_backoff(4, 60, 0.999999, -1) >= 0.05);
	/* Retry-After is a floor, also above the cap. */
	assert_true(schedule_backoff(1, 60, 0.0, 7) == 7.0);
	assert_true(schedule_backoff(1, 60, 0.0, 120) == 120.0);
}

static void
inside_a_window_is_now(void **state)
{
	time_t t = MIDNIGHT_HCM + 19 * 3600;    /* 19:00 local */

	(void)state;
	assert_true(schedule_in_window(18 * 60, 21 * 60, t));
	assert_true(schedule_window_next(18 * 60, 21 * 60, t) == t);
	/* The end is excluded. */
	assert_false(schedule_in_window(18 * 60, 21 * 60,
	    MIDNIGHT_HCM + 21 * 3600));
}

static void
before_a_window_waits_for_today_after_it_for_tomorrow(void **state)
{
	(void)state;
	/* 06:30 local: the 07:00 opening today. */
	assert_true(schedule_window_next(7 * 60, 11 * 60,
	    MIDNIGHT_HCM + 6 * 3600 + 1800) == MIDNIGHT_HCM + 7 * 3600);
	/* 11:00 local: tomorrow's. */
	assert_true(schedule_window_next(7 * 60, 11 * 60,
	    MIDNIGHT_HCM + 11 * 3600) == MIDNIGHT_HCM + 86400 + 7 * 3600);
}

static void
window_across_midnight(void **state)
{
	(void)state;
	/* 22:00-06:00 holds 23:30 and 05:00, not 12:00. */
	assert_true(schedule_in_window(22 * 60, 6 * 60,
	    MIDNIGHT_HCM + 23 * 3600 + 1800));
	assert_true(schedule_in_window(22 * 60, 6 * 60,
	    MIDNIGHT_HCM + 5 * 3600));
	assert_true(schedule_window_next(22 * 60, 6 * 60,
	    MIDNIGHT_HCM + 12 * 3600) == MIDNIGHT_HCM + 22 * 3600);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(backoff_doubles_up_to_the_cap_with_full_jitter),
		cmocka_unit_test(inside_a_window_is_now),
		cmocka_unit_test(before_a_window_waits_for_today_after_it_for_tomorrow),
		cmocka_unit_test(window_across_midnight),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
