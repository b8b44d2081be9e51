#include "form.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
form_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode one component in place; returns its new length or -1. */
static long
decode_in_place(char *s, size_t len, char *err, size_t errlen)
{
	size_t r = 0, w = 0;

	while (r < len) {
		if (s[r] == '+') {
			s[w++] = ' ';
			r++;
		} else if (s[r] == '%') {
			int hi, lo;

			if (r + 2 >= len) {
				snprintf(err, errlen, "truncated %%-escape");
				return -1;
			}
			hi = form_hex_digit((unsigned char)s[r + 1]);
			lo = form_hex_digit((unsigned char)s[r + 2]);
			if (hi < 0 || lo < 0) {
				snprintf(err, errlen, "invalid %%-escape");
				return -1;
			}
			if (hi == 0 && lo == 0) {
				snprintf(err, errlen, "encoded NUL byte");
				return -1;
			}
			s[w++] = (char)(hi * 16 + lo);
			r += 3;
		} else
			s[w++] = s[r++];
	}
	s[w] = '\0';
	return (long)w;
}

int
form_parse(struct form *form, const char *s, size_t len, char *err,
    size_t errlen)
{
	char *p, *end;

	memset(form, 0, sizeof(*form));
	if (memchr(s, '\0', len) != NULL) {
		snprintf(err, errlen, "NUL byte in form data");
		return -1;
	}
	if ((form->storage = malloc(len + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(form->storage, s, len);
	form->storage[len] = '\0';

	p = form->storage;
	end = p + len;
	while (p < end) {
		char *amp = memchr(p, '&', (size_t)(end - p));
		char *stop = amp ? amp : end;
		char *eq;

		if (stop == p) {	/* "a=1&&b=2": tolerate empty pairs */
			p++;
			continue;
		}
		if (form->count == FORM_MAX_FIELDS) {
			snprintf(err, errlen, "more than %d fields",
			    FORM_MAX_FIELDS);
			goto fail;
		}
		*stop = '\0';
		eq = memchr(p, '=', (size_t)(stop - p));
		if (eq != NULL)
			*eq = '\0';
		if (decode_in_place(p, strlen(p), err, errlen) < 0)
			goto fail;
		if (eq != NULL && decode_in_place(eq + 1, strlen(eq + 1), err,
		    errlen) < 0)
			goto fail;
		form->fields[form->count].name = p;
		form->fields[form->count].value = eq ? eq + 1 : "";
		form->count++;
		p = stop + 1;
	}
	return 0;
fail:
	form_clear(form);
	return -1;
}

void
form_clear(struct form *form)
{
	free(form->storage);
	memset(form, 0, sizeof(*form));
}

const char *
form_get(const struct form *form, const char *name)
{
	for (size_t i = 0; i < form->count; i++)
		if (strcmp(form->fields[i].name, name) == 0)
			return form->fields[i].value;
	return NULL;
}

static bool
form_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

char *
form_encode(const char *const *pairs, size_t npairs, size_t *len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, need = 1, used = 0;
	const char *s;
	char *out;

	for (i = 0; i < 2 * npairs; i += 2)
		if (pairs[i + 1] != NULL)
			need += 3 * (strlen(pairs[i]) +
			    strlen(pairs[i + 1])) + 2;
	if ((out = malloc(need)) == NULL)
		return NULL;
	for (i = 0; i < 2 * npairs; i += 2) {
		if (pairs[i + 1] == NULL)
			continue;
		if (used > 0)
			out[used++] = '&';
		for (int part = 0; part < 2; part++) {
			if (part == 1)
				out[used++] = '=';
			for (s = pairs[i + part]; *s != '\0'; s++) {
				unsigned char c = (unsigned char)*s;

				if (form_unreserved(c))
					out[used++] = (char)c;
				else if (c == ' ')
					out[used++] = '+';
				else {
					out[used++] = '%';
					out[used++] = hex[c >> 4];
					out[used++] = hex[c & 15];
				}
			}
		}
	}
	out[used] = '\0';
	if (len != NULL)
		*len = used;
	return out;
}
