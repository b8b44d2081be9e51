/*
 * phone: E.164 normalisation of the numbers aggregators hand us.
 * Pure; no I/O.
 */
#ifndef HOTLINE_PHONE_H
#define HOTLINE_PHONE_H

#include <stdbool.h>
#include <stddef.h>

/* Longest E.164 number is 15 digits; plus '+' and NUL. */
#define PHONE_E164_SIZE 17

/*
 * Normalise `in` to E.164 ("+84912345678") into out[outlen].
 * default_cc is the country calling code without '+' ("84"), used for
 * national numbers with a trunk prefix ("0912 345 678").  Accepted:
 * "+CC...", "00CC...", "0NNN..." (national), and bare digits that already
 * start with default_cc ("84912...", as Vietnamese aggregators send).
 * Spaces, dots, dashes and parentheses are ignored.  Returns 0, or -1 when
 * `in` is not a plausible number (letters, too short/long, empty).
 */
int phone_normalize(const char *in, const char *default_cc, char *out,
    size_t outlen);

/* Is s an E.164 number as stored: "+" and 1 to 15 digits? */
bool phone_is_e164(const char *s);

/*
 * A number a provider documents as international digits without '+'
 * ("84901234567", "2349067554729") as E.164 into out[outlen].  prefix, when not NULL, is a country code the digits must
 * start with (V-COM and eSMS send only "84…").  Nothing else is read: no
 * "00", no national "0…", no separators; those are not what such a
 * provider sends, and a signature over a concatenation that let them
 * through could be re-split (a request id's trailing "00" moved onto the
 * number).  false when `digits` is not such a number.
 */
bool phone_from_intl_digits(const char *digits, const char *prefix,
    size_t min_digits, size_t max_digits, char *out, size_t outlen);

/* Is s "+" then 8 to 15 digits, the first not 0?
 * (Africa's Talking's and Twilio's numbers as they send them.) */
bool phone_is_e164_as_sent(const char *s);

#endif
