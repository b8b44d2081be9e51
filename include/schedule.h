/*
 * schedule: when the outbox may try again.  Pure functions: the caller
 * supplies the clock and the randomness, so tests can pin both.
 */
#ifndef HOTLINE_SCHEDULE_H
#define HOTLINE_SCHEDULE_H

#include <stdbool.h>
#include <time.h>

/*
 * Seconds to wait before the next try after `attempts` failed tries
 * (1: the first failed): exponential backoff with full jitter, uniformly
 * in (0, min(cap, 2^(attempts-1))] (random01 in [0, 1) picks where), so
 * the first retry comes within about a second and retries of many rows
 * spread out.  A server's Retry-After (seconds, -1 when absent) is a
 * floor.
 */
double schedule_backoff(unsigned attempts, double cap, double random01,
    long retry_after);

/* Is local time t (the process's TZ) inside [start, end) minutes after
 * midnight?  end < start wraps midnight. */
bool schedule_in_window(unsigned start_min, unsigned end_min, time_t t);

/* The first moment at or after now inside the window: now itself when
 * inside, else the window's next opening in local time. */
time_t schedule_window_next(unsigned start_min, unsigned end_min,
    time_t now);

#endif
