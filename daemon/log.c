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

/* A log line is built here and written with one call: stderr is
 * unbuffered, and a write per field would cost a system call each and
 * could interleave with other writers between fields. */
struct line {
	FILE *out;
	size_t len;
	char buf[2048];
};

static void
line_flush(struct line *l)
{
	fwrite(l->buf, 1, l->len, l->out);
	l->len = 0;
}

static void
line_add(struct line *l, const char *s, size_t n)
{
	while (n > 0) {
		size_t room = sizeof(l->buf) - l->len;
		size_t take = n < room ? n : room;

		memcpy(l->buf + l->len, s, take);
		l->len += take;
		s += take;
		n -= take;
		if (l->len == sizeof(l->buf))
			line_flush(l);
	}
}

static void
line_str(struct line *l, const char *s)
{
	line_add(l, s, strlen(s));
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
write_value(struct line *l, const char *v)
{
	static const char hex[] = "0123456789abcdef";

	if (!needs_quotes(v)) {
		line_str(l, v);
		return;
	}
	line_add(l, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p == '"' || *p == '\\') {
			char esc[2] = { '\\', (char)*p };

			line_add(l, esc, 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			char esc[4] = { '\\', 'x', hex[*p >> 4],
			    hex[*p & 0x0f] };

			line_add(l, esc, 4);
		} else
			line_add(l, (const char *)p, 1);
	}
	line_add(l, "\"", 1);
}

void
log_event(enum log_level level, const char *event, ...)
{
	struct line l;
	struct timespec ts;
	struct tm tm;
	char when[48];
	va_list ap;
	const char *key, *value;
	size_t n;

	if (level < log_min)
		return;
	l.out = log_out ? log_out : stderr;
	l.len = 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(when, sizeof(when), "ts=%Y-%m-%dT%H:%M:%S", &tm);
	when[n++] = '.';
	when[n++] = (char)('0' + ts.tv_nsec / 100000000);
	when[n++] = (char)('0' + ts.tv_nsec / 10000000 % 10);
	when[n++] = (char)('0' + ts.tv_nsec / 1000000 % 10);
	when[n] = '\0';

	flockfile(l.out);
	line_add(&l, when, n);
	line_str(&l, "Z level=");
	line_str(&l, level_names[level]);
	line_str(&l, " event=");
	write_value(&l, event);
	va_start(ap, event);
	while ((key = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		line_add(&l, " ", 1);
		line_str(&l, key);
		line_add(&l, "=", 1);
		write_value(&l, value ? value : "");
	}
	va_end(ap);
	line_add(&l, "\n", 1);
	line_flush(&l);
	fflush(l.out);
	funlockfile(l.out);
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
