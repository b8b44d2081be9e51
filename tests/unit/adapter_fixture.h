/*
 * adapter_fixture: what the adapter unit tests share, so each test file
 * need not write it again: a configured channel on the stack, and the
 * wire-format fixtures in tests/fixtures/.  Include after cmocka.h.
 */
#ifndef HOTLINE_TEST_ADAPTER_FIXTURE_H
#define HOTLINE_TEST_ADAPTER_FIXTURE_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "provider.h"

/* Up to five keys, values copied into it. */
struct test_channel {
	char name[16];
	char val[5][128];
	struct config_value values[5];
	struct config_channel ch;
};

/* Names and values alternate, ending with NULL. */
static inline void
channel_init(struct test_channel *t, const struct provider *p, ...)
{
	const char *name;
	va_list ap;
	size_t n = 0;

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", p->name);
	va_start(ap, p);
	while ((name = va_arg(ap, const char *)) != NULL) {
		assert_true(n < 5);
		snprintf(t->val[n], sizeof(t->val[n]), "%s",
		    va_arg(ap, const char *));
		t->values[n] = (struct config_value){ .name = name,
		    .value = t->val[n] };
		n++;
	}
	va_end(ap);
	t->ch = (struct config_channel){ .name = t->name, .provider = p,
	    .values = t->values, .nvalues = n };
}

/* tests/fixtures/NAME into buf, NUL-terminated; the tests run from the
 * repository root (the Makefile does). */
static inline char *
fixture(const char *name, char *buf, size_t len)
{
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "tests/fixtures/%s", name);
	assert_non_null(f = fopen(path, "rb"));
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	assert_true(n < len - 1);	/* the buffer held all of it */
	buf[n] = '\0';
	return buf;
}

#endif
