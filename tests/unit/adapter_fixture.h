/*
 * channel_fixture: a configured channel on the stack for adapter unit
 * tests, shared so each test file need not write it again.  Include
 * after cmocka.h.
 */
#ifndef HOTLINE_TEST_CHANNEL_FIXTURE_H
#define HOTLINE_TEST_CHANNEL_FIXTURE_H

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

#endif
