#include "privacy.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

/* 12 hex digits = 48 bits: collisions stay unlikely across the callers
 * of one deployment, while the pseudonym stays short in log lines. */
#define PSEUDONYM_BYTES 6
_Static_assert(2 + 2 * PSEUDONYM_BYTES + 1 == PRIVACY_PSEUDONYM_SIZE,
    "PRIVACY_PSEUDONYM_SIZE does not match the digits written");

/*
 * The keyed HMAC state of the last key used, per thread.  Set up once,
 * it is re-initialised per number at the cost of copying the key's
 * inner state, where the one-shot HMAC() fetched SHA-256, built a
 * context and hashed the key each time (a fifth of a USSD hop's work on
 * the loop).  Freed when its thread ends (a thread-specific key's
 * destructor).
 */
#define CACHED_KEY_MAX 256

struct keyed_mac {
	EVP_MAC_CTX *ctx;
	size_t keylen;
	unsigned char key[CACHED_KEY_MAX];
};

static _Thread_local struct keyed_mac keyed;
static pthread_once_t keyed_once = PTHREAD_ONCE_INIT;
static pthread_key_t keyed_key;

static void
keyed_free(void *arg)
{
	struct keyed_mac *k = arg;

	EVP_MAC_CTX_free(k->ctx);
	OPENSSL_cleanse(k, sizeof(*k));
}

static void
keyed_key_create(void)
{
	(void)pthread_key_create(&keyed_key, keyed_free);
}

static EVP_MAC_CTX *
keyed_ctx(const unsigned char *key, size_t keylen)
{
	OSSL_PARAM params[2];
	EVP_MAC *mac;

	if (keyed.ctx != NULL && keyed.keylen == keylen &&
	    CRYPTO_memcmp(keyed.key, key, keylen) == 0)
		return EVP_MAC_init(keyed.ctx, NULL, 0, NULL) ? keyed.ctx :
		    NULL;
	EVP_MAC_CTX_free(keyed.ctx);
	OPENSSL_cleanse(&keyed, sizeof(keyed));
	if (keylen > CACHED_KEY_MAX ||
	    (mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return NULL;
	keyed.ctx = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (keyed.ctx == NULL || !EVP_MAC_init(keyed.ctx, key, keylen,
	    params)) {
		EVP_MAC_CTX_free(keyed.ctx);
		keyed.ctx = NULL;
		return NULL;
	}
	memcpy(keyed.key, key, keylen);
	keyed.keylen = keylen;
	/* The destructor runs when this thread exits. */
	pthread_once(&keyed_once, keyed_key_create);
	(void)pthread_setspecific(keyed_key, &keyed);
	return keyed.ctx;
}

static int
mac_number(const unsigned char *key, size_t keylen, const char *e164,
    unsigned char *md, size_t mdsize, size_t *mdlen)
{
	EVP_MAC_CTX *ctx = keyed_ctx(key, keylen);
	unsigned int len = 0;

	if (ctx != NULL)
		return EVP_MAC_update(ctx, (const unsigned char *)e164,
		    strlen(e164)) && EVP_MAC_final(ctx, md, mdlen, mdsize) ?
		    0 : -1;
	/* A key too long to keep: the one-shot way. */
	if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)e164,
	    strlen(e164), md, &len) == NULL)
		return -1;
	*mdlen = len;
	return 0;
}

int
privacy_pseudonym(const unsigned char *key, size_t keylen, const char *e164,
    char out[PRIVACY_PSEUDONYM_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	size_t mdlen = 0;
	size_t i;

	if (out == NULL)
		return -1;
	/* Never leave a previous caller's pseudonym behind on failure. */
	out[0] = '\0';
	/* An empty key would make the pseudonym a plain hash of the number,
	 * which anyone can reverse by hashing every number in the plan. */
	if (key == NULL || keylen == 0 || keylen > INT_MAX || e164 == NULL)
		return -1;
	if (mac_number(key, keylen, e164, md, sizeof(md), &mdlen) < 0 ||
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

bool
privacy_pseudonym_valid(const char *s)
{
	if (s == NULL || strlen(s) != PRIVACY_PSEUDONYM_SIZE - 1 ||
	    s[0] != 'c' || s[1] != '_')
		return false;
	for (s += 2; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}
