/*
 * fuzz: what the libFuzzer targets in tests/fuzz/ share.
 *
 * Each target checks a property and calls fuzz_fail (abort) when it does
 * not hold, so libFuzzer records the input as a crash.  A request-shaped
 * input is a block of "name: value" lines, a blank line, then the body;
 * names starting with ':' are the harness's own (":method", ":query",
 * ":now", ...), the others request headers.  Without a blank line the
 * whole input is the body.
 */
#ifndef HOTLINE_FUZZ_H
#define HOTLINE_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FUZZ_MAX_HEADERS 32

struct fuzz_request {
	const char *names[FUZZ_MAX_HEADERS];
	const char *values[FUZZ_MAX_HEADERS];
	size_t count;
	char *body;               /* NUL-terminated copy, body_len bytes */
	size_t body_len;
	char *storage;
};

/* Split data as above; free with fuzz_request_clear. */
void fuzz_request_parse(struct fuzz_request *r, const uint8_t *data,
    size_t size);
void fuzz_request_clear(struct fuzz_request *r);

/* The value of line `name` (case-insensitive), or NULL. */
const char *fuzz_request_get(const struct fuzz_request *r, const char *name);
/* For provider_input.header. */
const char *fuzz_request_header(const void *ctx, const char *name);

/* An independent UTF-8 check (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF, no NUL) to hold the daemon's own against. */
bool fuzz_utf8_valid(const char *s, size_t len);

/* Print what failed (never the input: the crash file holds it) and
 * abort. */
void fuzz_fail(const char *what) __attribute__((noreturn));

/* buf[0..size) holds a NUL, and what precedes it is valid UTF-8. */
void fuzz_check_text(const char *what, const char *buf, size_t size);
/* buf[0..size) holds a NUL (any bytes before it). */
void fuzz_check_terminated(const char *what, const char *buf, size_t size);
#define FUZZ_CHECK_TEXT(field) \
	fuzz_check_text(#field, (field), sizeof(field))

/* Does s hold a run of at least n ASCII digits that also occurs in
 * data[0..size)?  (A phone number quoted back from the input.) */
bool fuzz_quotes_digits(const char *s, const uint8_t *data, size_t size,
    size_t n);
/* The same, but digits that also occur in allowed[0..allowed_size) may
 * be quoted. */
bool fuzz_quotes_digits_except(const char *s, const uint8_t *data,
    size_t size, size_t n, const uint8_t *allowed, size_t allowed_size);

/* A scratch directory "hotline-fuzz-NAME.PID" under /dev/shm (else
 * /tmp) into out, removed with what it holds at exit.  libFuzzer leaves
 * some runs without running atexit handlers, so the directories of
 * processes that are gone are swept first. */
void fuzz_scratch_dir(const char *name, char *out, size_t outlen);

/* Silence the daemon's log (it goes to /dev/null). */
void fuzz_quiet_log(void);

#endif
