#include "privacy.h"

#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* 12 hex digits = 48 bits: collisions stay unlikely across the callers
 * of one deployment, while the pseudonym stays short in log lines. */
#define PSEUDONYM_BYTES 6
_Static_assert(2 + 2 * PSEUDONYM_BYTES + 1 == PRIVACY_PSEUDONYM_SIZE,
    "PRIVACY_PSEUDONYM_SIZE does not match the digits written");

int
privacy_pseudonym(const unsigned char *key, size_t keylen, const char *e164,
    char out[PRIVACY_PSEUDONYM_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t i;

	if (out == NULL)
		return -1;
	/* Never leave a previous caller's pseudonym behind on failure. */
	out[0] = '\0';
	/* An empty key would make the pseudonym a plain hash of the number,
	 * which anyone can reverse by hashing every number in the plan. */
	if (key == NULL || keylen == 0 || keylen > INT_MAX || e164 == NULL)
		return -1;
	if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)e164,
		strlen(e164), md, &mdlen) == NULL ||
	    mdlen < PSEUDONYM_BYTES) {
		OPENSSL_cleanse(md, sizeof(md));
		return -1;
	}
	out[0] = 'c';
	out[1] = '_';
	for (i = 0; i < PSEUDONYM_BYTES; i++) {
		out[2 + 2 * i] = hex[md[i] >> 4];
		out[2 + 2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[2 + 2 * PSEUDONYM_BYTES] = '\0';
	/* The full MAC is a stronger handle on the caller than the 48 bits
	 * we publish; do not leave it on the stack. */
	OPENSSL_cleanse(md, sizeof(md));
	return 0;
}

bool
privacy_equal(const char *given, const char *expected)
{
	size_t elen, glen;
	const char *cmp;
	int diff;

	if (given == NULL || expected == NULL)
		return false;
	elen = strlen(expected);
	/* Bounded by the secret's length, so a huge given costs no more
	 * time than one byte too many. */
	glen = strnlen(given, elen + 1);
	/* On a length mismatch compare the secret with itself: the same
	 * work, and never a read past the end of given. */
	cmp = glen == elen ? given : expected;
	diff = CRYPTO_memcmp(cmp, expected, elen);
	/* An unset secret must not be satisfied by an empty answer. */
	return (glen == elen) & (diff == 0) & (elen != 0);
}
