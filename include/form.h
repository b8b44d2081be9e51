/*
 * form: application/x-www-form-urlencoded and query-string decoding.
 *
 * '+' is a space and %XX a byte; names and values are NUL-terminated, so
 * an encoded NUL (%00) is refused rather than silently truncating a field.
 * Bounded: at most FORM_MAX_FIELDS pairs.
 */
#ifndef HOTLINE_FORM_H
#define HOTLINE_FORM_H

#include <stddef.h>

#define FORM_MAX_FIELDS 128

struct form_field {
	const char *name;
	const char *value;
};

/* Embedded in the caller; form_clear releases what form_parse allocated. */
struct form {
	struct form_field fields[FORM_MAX_FIELDS];
	size_t count;
	char *storage;
};

/* Decode s[0..len).  Returns 0, or -1 with a reason in err (bad escape,
 * %00, too many fields, no memory); the form is then empty. */
int form_parse(struct form *form, const char *s, size_t len, char *err,
    size_t errlen);
void form_clear(struct form *form);

/* First value named `name`, borrowed from the form; NULL when absent. */
const char *form_get(const struct form *form, const char *name);

#endif
