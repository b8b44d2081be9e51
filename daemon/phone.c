#include "phone.h"

#include <stdbool.h>
#include <string.h>

/* E.164 allows 15 digits; fewer than 8 is no mobile anywhere we serve
 * and is far more likely a short code or a truncated field. */
#define E164_MIN_DIGITS 8
#define E164_MAX_DIGITS 15

/* "00" + 15 digits is the longest spelling we accept; anything longer
 * is rejected before it can overrun the scratch buffer. */
#define RAW_MAX_DIGITS (2 + E164_MAX_DIGITS)

static bool
is_separator(char c)
{
	return c == ' ' || c == '.' || c == '-' || c == '(' || c == ')';
}

/* Country calling codes are 1 to 3 digits and never start with 0. */
static size_t
cc_length(const char *cc)
{
	size_t n;

	if (cc == NULL || cc[0] < '1' || cc[0] > '9')
		return 0;
	for (n = 0; cc[n] != '\0'; n++)
		if (n == 3 || cc[n] < '0' || cc[n] > '9')
			return 0;
	return n;
}

int
phone_normalize(
    const char *in, const char *default_cc, char *out, size_t outlen)
{
	char raw[RAW_MAX_DIGITS], num[E164_MAX_DIGITS];
	const char *p;
	size_t nraw = 0, nnum, cclen;
	bool plus = false, seen = false;

	/* Callers log or store out even on failure; never leave it stale. */
	if (out != NULL && outlen > 0)
		out[0] = '\0';
	if (in == NULL || out == NULL)
		return -1;

	for (p = in; *p != '\0'; p++) {
		if (is_separator(*p))
			continue;
		if (*p == '+') {
			/* Only as the first thing that is not a separator. */
			if (seen)
				return -1;
			plus = seen = true;
			continue;
		}
		if (*p < '0' || *p > '9')
			return -1;
		if (nraw == sizeof(raw))
			return -1;
		raw[nraw++] = *p;
		seen = true;
	}

	cclen = cc_length(default_cc);
	if (plus) {
		nnum = nraw;
		if (nnum > sizeof(num))
			return -1;
		memcpy(num, raw, nnum);
	} else if (nraw >= 2 && raw[0] == '0' && raw[1] == '0') {
		nnum = nraw - 2;
		if (nnum > sizeof(num))
			return -1;
		memcpy(num, raw + 2, nnum);
	} else if (nraw >= 1 && raw[0] == '0') {
		/* National: the trunk 0 gives way to the country code. */
		if (cclen == 0)
			return -1;
		nnum = cclen + nraw - 1;
		if (nnum > sizeof(num))
			return -1;
		memcpy(num, default_cc, cclen);
		memcpy(num + cclen, raw + 1, nraw - 1);
	} else if (cclen != 0 && nraw >= cclen &&
	    memcmp(raw, default_cc, cclen) == 0) {
		/* Bare international digits, as Vietnamese aggregators send.
		 * Bare digits without our code could be anything; refuse
		 * rather than guess whose subscriber it is. */
		nnum = nraw;
		if (nnum > sizeof(num))
			return -1;
		memcpy(num, raw, nnum);
	} else
		return -1;

	if (nnum < E164_MIN_DIGITS || nnum > E164_MAX_DIGITS)
		return -1;
	if (num[0] == '0')
		return -1; /* no country code starts with 0 */
	if (outlen < 1 + nnum + 1)
		return -1;
	out[0] = '+';
	memcpy(out + 1, num, nnum);
	out[1 + nnum] = '\0';
	return 0;
}

bool
phone_is_e164(const char *s)
{
	size_t n = 0;

	if (*s++ != '+')
		return false;
	for (; *s >= '0' && *s <= '9'; s++)
		n++;
	return *s == '\0' && n >= 1 && n <= 15;
}

bool
phone_from_intl_digits(const char *digits, const char *prefix,
    size_t min_digits, size_t max_digits, char *out, size_t outlen)
{
	size_t n, plen = prefix != NULL ? strlen(prefix) : 0;

	if (outlen > 0)
		out[0] = '\0';
	if (digits == NULL || digits[0] < '1' || digits[0] > '9')
		return false;
	for (n = 0; digits[n] != '\0'; n++)
		if (digits[n] < '0' || digits[n] > '9' ||
		    n == E164_MAX_DIGITS)
			return false;
	if (n < min_digits || n > max_digits ||
	    n < E164_MIN_DIGITS ||
	    strncmp(digits, prefix != NULL ? prefix : "", plen) != 0 ||
	    (plen > 0 && (n == plen || digits[plen] == '0')))
		return false;
	if (outlen < n + 2)
		return false;
	out[0] = '+';
	memcpy(out + 1, digits, n + 1);
	return true;
}

bool
phone_is_e164_as_sent(const char *s)
{
	char tmp[PHONE_E164_SIZE];

	return s != NULL && s[0] == '+' &&
	    phone_from_intl_digits(s + 1, NULL, E164_MIN_DIGITS,
	    E164_MAX_DIGITS, tmp, sizeof(tmp));
}
