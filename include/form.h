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

/* The value of one hex digit (either case), or -1. */
int form_hex_digit(int c);

/* Decode s[0..len).  Returns 0, or -1 with a reason in err (bad escape,
 * %00, too many fields, no memory); the form is then empty. */
int form_parse(struct form *form, const char *s, size_t len, char *err,
    size_t errlen);
void form_clear(struct form *form);

/* First value named `name`, borrowed from the form; NULL when absent. */
const char *form_get(const struct form *form, const char *name);

/*
 * Encode npairs name/value pairs (pairs[2i], pairs[2i+1]) as
 * application/x-www-form-urlencoded: unreserved characters as they are, a
 * space as '+', every other byte %XX (uppercase hex).  A NULL value skips
 * its pair.  Returns a malloc'd string the caller frees (length in *len
 * when len is not NULL), or NULL when out of memory.
 */
char *form_encode(const char *const *pairs, size_t npairs, size_t *len);

#endif
