/*
 * fuzz_form: form_parse on any bytes (the bodies and query strings of
 * every aggregator but the JSON ones).  Every field is NUL-terminated
 * and at most FORM_MAX_FIELDS; form_encode of what was parsed parses
 * back to the same fields.
 */
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct form f, g;
	const char **pairs;
	char *s, *enc, err[128];
	size_t len, i;

	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	memset(err, 0x55, sizeof(err));
	err[0] = '\0';
	/* Not NUL-terminated at size: the parser must use len. */
	if (form_parse(&f, (const char *)data, size, err, sizeof(err)) < 0) {
		fuzz_check_terminated("form_parse err", err, sizeof(err));
		if (f.count != 0)
			fuzz_fail("a refused form is not empty");
		form_clear(&f);
		free(s);
		return 0;
	}
	if (f.count > FORM_MAX_FIELDS)
		fuzz_fail("more than FORM_MAX_FIELDS fields");
	if ((pairs = calloc(2 * f.count + 1, sizeof(*pairs))) == NULL)
		abort();
	for (i = 0; i < f.count; i++) {
		if (f.fields[i].name == NULL || f.fields[i].value == NULL)
			fuzz_fail("a field without a name or value");
		pairs[2 * i] = f.fields[i].name;
		pairs[2 * i + 1] = f.fields[i].value;
		if (form_get(&f, f.fields[i].name) == NULL)
			fuzz_fail("form_get misses a parsed name");
	}
	if ((enc = form_encode(pairs, f.count, &len)) == NULL)
		abort();
	if (strlen(enc) != len)
		fuzz_fail("form_encode length");
	if (form_parse(&g, enc, len, err, sizeof(err)) < 0)
		fuzz_fail("form_encode's output does not parse");
	/* Empty pairs ("a&&b") may be dropped: compare what remains. */
	if (g.count > f.count)
		fuzz_fail("the round trip grew fields");
	for (i = 0; i < g.count; i++)
		if (strcmp(g.fields[i].name, f.fields[i].name) != 0 ||
		    strcmp(g.fields[i].value, f.fields[i].value) != 0)
			fuzz_fail("form_encode then form_parse changed a "
			    "field");
	form_clear(&g);
	free(enc);
	free(pairs);
	form_clear(&f);
	/* The same bytes as a C string give the same answer. */
	if (memchr(data, '\0', size) == NULL) {
		if (form_parse(&f, s, strlen(s), err, sizeof(err)) < 0)
			fuzz_fail("form_parse differs on a copy");
		form_clear(&f);
	}
	free(s);
	return 0;
}
