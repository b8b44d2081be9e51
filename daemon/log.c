#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

static FILE *log_out;
static enum log_level log_min = LOG_INFO;

void
log_init(FILE *out, enum log_level min)
{
	log_out = out;
	log_min = min;
}

void
log_set_level(enum log_level min)
{
	log_min = min;
}

static const char *const level_names[] = {
	[LOG_DEBUG] = "debug",
	[LOG_INFO] = "info",
	[LOG_WARN] = "warn",
	[LOG_ERROR] = "error",
};

int
log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
	    i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	return level_names[level];
}

static bool
needs_quotes(const char *v)
{
	if (*v == '\0')
		return true;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' ||
		    *p == 0x7f)
			return true;
	return false;
}

/* Control characters are written as \xNN so a value cannot start a new
 * line or smuggle terminal escapes into an operator's screen. */
static void
write_value(FILE *out, const char *v)
{
	if (!needs_quotes(v)) {
		fputs(v, out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p == '"' || *p == '\\') {
			fputc('\\', out);
			fputc(*p, out);
		} else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

void
log_event(enum log_level level, const char *event, ...)
{
	FILE *out = log_out ? log_out : stderr;
	struct timespec ts;
	struct tm tm;
	char when[32];
	va_list ap;
	const char *key, *value;

	if (level < log_min)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);

	flockfile(out);
	fprintf(out, "ts=%s.%03ldZ level=%s event=", when,
	    ts.tv_nsec / 1000000, level_names[level]);
	write_value(out, event);
	va_start(ap, event);
	while ((key = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		fprintf(out, " %s=", key);
		write_value(out, value ? value : "");
	}
	va_end(ap);
	fputc('\n', out);
	fflush(out);
	funlockfile(out);
}

static void
libevent_log_cb(int severity, const char *msg)
{
	enum log_level level;

	switch (severity) {
	case EVENT_LOG_DEBUG:
		level = LOG_DEBUG;
		break;
	case EVENT_LOG_MSG:
		level = LOG_INFO;
		break;
	case EVENT_LOG_WARN:
		level = LOG_WARN;
		break;
	default:
		level = LOG_ERROR;
		break;
	}
	log_event(level, "libevent", "msg", msg, NULL);
}

void
log_capture_libevent(void)
{
	event_set_log_callback(libevent_log_cb);
}

/* Monotonic seconds, never 0 (which marks a throttle not running). */
static time_t
throttle_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1;
}

bool
log_throttle_hit(struct log_throttle *t, unsigned interval_seconds,
    unsigned long *summary)
{
	time_t now = throttle_now();

	*summary = 0;
	if (t->since != 0 && now - t->since < (time_t)interval_seconds) {
		t->count++;
		return false;
	}
	*summary = t->count;
	t->since = now;
	t->count = 0;
	return true;
}

bool
log_throttle_end(struct log_throttle *t, unsigned interval_seconds,
    bool all, unsigned long *summary)
{
	*summary = 0;
	if (t->since == 0 || (!all && throttle_now() - t->since <
	    (time_t)interval_seconds))
		return false;
	*summary = t->count;
	t->since = 0;
	t->count = 0;
	return true;
}
