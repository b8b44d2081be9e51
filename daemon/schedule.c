#include "schedule.h"

#include <math.h>

double
schedule_backoff(unsigned attempts, double cap, double random01,
    long retry_after)
{
	double ceiling = ldexp(1.0, attempts > 0 ? (int)attempts - 1 : 0);
	double delay;

	if (attempts > 40 || ceiling > cap)
		ceiling = cap;
	/* Never zero: a retry at once would hammer a provider that just
	 * failed. */
	delay = ceiling * (1.0 - random01);
	if (delay < 0.05)
		delay = 0.05;
	if (retry_after >= 0 && delay < (double)retry_after)
		delay = (double)retry_after;
	return delay;
}

static unsigned
minute_of_day(time_t t)
{
	struct tm tm;

	localtime_r(&t, &tm);
	return (unsigned)(tm.tm_hour * 60 + tm.tm_min);
}

bool
schedule_in_window(unsigned start, unsigned end, time_t t)
{
	unsigned m = minute_of_day(t);

	if (start < end)
		return m >= start && m < end;
	return m >= start || m < end;
}

time_t
schedule_window_next(unsigned start, unsigned end, time_t now)
{
	struct tm tm;
	time_t at;

	if (schedule_in_window(start, end, now))
		return now;
	localtime_r(&now, &tm);
	tm.tm_hour = (int)(start / 60);
	tm.tm_min = (int)(start % 60);
	tm.tm_sec = 0;
	tm.tm_isdst = -1;
	/* mktime normalises tm_mday + 1 across months and DST changes. */
	if ((at = mktime(&tm)) <= now) {
		localtime_r(&now, &tm);
		tm.tm_mday++;
		tm.tm_hour = (int)(start / 60);
		tm.tm_min = (int)(start % 60);
		tm.tm_sec = 0;
		tm.tm_isdst = -1;
		at = mktime(&tm);
	}
	return at;
}
