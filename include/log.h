/*
 * log: one logfmt line per event on stderr.
 *
 *   ts=2026-11-29T03:00:00.123Z level=info event=ussd.hop channel=at caller=c_3fa9b1...
 *
 * Values are passed as key/value string pairs ending in NULL and escaped
 * here (quotes, backslashes, control characters), so an untrusted string
 * can never forge a field or a line.  Callers pass pseudonyms, never phone
 * numbers, and never message text (at most its length).
 */
#ifndef HOTLINE_LOG_H
#define HOTLINE_LOG_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

enum log_level {
	LOG_DEBUG,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR,
};

/* Where lines go (default stderr) and the lowest level written.  The
 * stream is borrowed; it must outlive logging. */
void log_init(FILE *out, enum log_level min);
void log_set_level(enum log_level min);

/* "debug" etc. to a level; -1 when unknown. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);

/* log_event(LOG_INFO, "ussd.hop", "channel", name, "caller", pseud, NULL)
 * Keys must be literal identifiers; values may be NULL (written as ""). */
void log_event(enum log_level level, const char *event, ...)
    __attribute__((sentinel));

/*
 * An event repeated by every client (a refused connection, a failed
 * authentication) is logged once per interval: the first occurrence in
 * full, the rest counted into one summary line.  Embedded in the owner,
 * zero-initialised; the owner writes the lines.
 */
struct log_throttle {
	time_t since;             /* monotonic seconds; 0: not running */
	unsigned long count;      /* occurrences not yet logged */
};

/* true when this occurrence is to be logged in full, the first of an
 * interval; false when it is only counted.  *summary gets the count of
 * the interval that just ended (log it first), or 0. */
bool log_throttle_hit(struct log_throttle *t, unsigned interval_seconds,
    unsigned long *summary);

/* For a periodic flush: true when the interval has ended (or `all`),
 * with the count not yet logged in *summary and t reset to not running;
 * false while it runs. */
bool log_throttle_end(struct log_throttle *t, unsigned interval_seconds,
    bool all, unsigned long *summary);

/* Route libevent's own diagnostics into this log. */
void log_capture_libevent(void);

#endif
