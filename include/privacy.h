/*
 * privacy: keyed pseudonyms for callers, constant-time comparison.
 *
 * A caller is named in logs and lists by "c_" + the first 12 hex digits of
 * HMAC-SHA256(pseudonym_key, E.164), so an operator can follow one caller
 * without seeing who it is.  No shared state: each thread keeps the
 * keyed state of the last key it used.
 */
#ifndef HOTLINE_PRIVACY_H
#define HOTLINE_PRIVACY_H

#include <stdbool.h>
#include <stddef.h>

/* "c_" + 12 hex + NUL */
#define PRIVACY_PSEUDONYM_SIZE 15

/* Writes the pseudonym of e164 into out.  Returns 0, -1 on a crypto
 * failure or an empty key. */
int privacy_pseudonym(const unsigned char *key, size_t keylen,
    const char *e164, char out[PRIVACY_PSEUDONYM_SIZE]);

/* Is s a pseudonym as privacy_pseudonym writes them ("c_" and 12
 * lowercase hex digits)? */
bool privacy_pseudonym_valid(const char *s);

/* Constant-time equality of two strings; the time depends only on the
 * length of `expected` (a secret), never on where they differ.  False
 * when either is NULL, and when `expected` is empty: an unset secret is
 * never matched, not even by an empty `given`. */
bool privacy_equal(const char *given, const char *expected);

#endif
