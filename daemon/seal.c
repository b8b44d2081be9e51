/*
 * seal: AES-256-GCM for values at rest and for wrapped keys, each as a
 * prefixed base64 text (seal.h).  Nothing here knows where values are
 * stored or where keys come from.
 */
#include "seal.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define NONCE_SIZE 12
#define TAG_SIZE 16
#define PREFIX_LEN 3
/* A value larger than this is refused, so the sizes below never
 * overflow an int (OpenSSL's lengths). */
#define VALUE_MAX (16u * 1024 * 1024)

/* The associated data's first part: which kind of text this is, so a
 * wrapped key never opens as a value nor a value as a key. */
static const char DOMAIN_VALUE[] = "hotline value";
static const char DOMAIN_KEY[] = "hotline key";

/*
 * AES-256-GCM, fetched from the provider once: EVP_aes_256_gcm() makes
 * OpenSSL 3 look the algorithm up again at every init, which cost more
 * than the cipher itself on a short value.  Never freed: one for the
 * life of the process, shared by every thread (read-only once fetched).
 */
static EVP_CIPHER *gcm_fetched;
static pthread_once_t gcm_once = PTHREAD_ONCE_INIT;

static void
gcm_fetch(void)
{
	gcm_fetched = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

static const EVP_CIPHER *
gcm(void)
{
	pthread_once(&gcm_once, gcm_fetch);
	return gcm_fetched;
}

int
seal_key_new(unsigned char key[SEAL_KEY_SIZE])
{
	return RAND_bytes(key, SEAL_KEY_SIZE) == 1 ? 0 : -1;
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode base64 text of exactly n characters into out (room for
 * n / 4 * 3); the decoded length, or -1. */
static int
b64_decode(const char *in, size_t n, unsigned char *out)
{
	int len, pad = 0;

	if (n == 0 || n % 4 != 0 || n > INT_MAX)
		return -1;
	if (in[n - 1] == '=')
		pad++;
	if (in[n - 2] == '=')
		pad++;
	/* EVP_DecodeBlock skips surrounding blanks; there must be none. */
	for (size_t i = 0; i < n; i++)
		if (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' ||
		    in[i] == '\n' || in[i] == '\f' || in[i] == '\v')
			return -1;
	if ((len = EVP_DecodeBlock(out, (const unsigned char *)in,
	    (int)n)) < 0)
		return -1;
	/* Padding comes back as zero bytes. */
	return len - pad;
}

int
seal_key_parse(const char *text, unsigned char key[SEAL_KEY_SIZE])
{
	unsigned char buf[48];
	size_t start = 0, end;
	int n;

	if (text == NULL)
		return -1;
	end = strlen(text);
	while (start < end && strchr(" \t\r\n", text[start]) != NULL)
		start++;
	while (end > start && strchr(" \t\r\n", text[end - 1]) != NULL)
		end--;
	if (end - start == 2 * SEAL_KEY_SIZE) {
		for (size_t i = 0; i < SEAL_KEY_SIZE; i++) {
			int hi = hex_digit(text[start + 2 * i]);
			int lo = hex_digit(text[start + 2 * i + 1]);

			if (hi < 0 || lo < 0) {
				OPENSSL_cleanse(key, SEAL_KEY_SIZE);
				return -1;
			}
			key[i] = (unsigned char)(hi << 4 | lo);
		}
		return 0;
	}
	if (end - start == 44 && (n = b64_decode(text + start, 44, buf)) ==
	    SEAL_KEY_SIZE) {
		memcpy(key, buf, SEAL_KEY_SIZE);
		OPENSSL_cleanse(buf, sizeof(buf));
		return 0;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return -1;
}

void
seal_key_hex(const unsigned char key[SEAL_KEY_SIZE],
    char out[SEAL_KEY_HEX_SIZE])
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < SEAL_KEY_SIZE; i++) {
		out[2 * i] = hex[key[i] >> 4];
		out[2 * i + 1] = hex[key[i] & 0x0f];
	}
	out[2 * SEAL_KEY_SIZE] = '\0';
}

int
seal_key_id(const unsigned char key[SEAL_KEY_SIZE],
    char out[SEAL_KEY_ID_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	static const char label[] = "hotline key id";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	out[0] = '\0';
	if (HMAC(EVP_sha256(), key, SEAL_KEY_SIZE,
	    (const unsigned char *)label, sizeof(label) - 1, md, &mdlen) ==
	    NULL || mdlen < 8)
		return -1;
	for (size_t i = 0; i < 8; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[16] = '\0';
	return 0;
}

/* Feed the associated data: the domain, a NUL, the owner. */
static int
add_aad(EVP_CIPHER_CTX *ctx, bool encrypt, const char *domain,
    const char *owner)
{
	int n;
	size_t olen = strlen(owner);

	if (olen > INT_MAX)
		return -1;
	if (encrypt)
		return EVP_EncryptUpdate(ctx, NULL, &n,
		    (const unsigned char *)domain, (int)strlen(domain) + 1) &&
		    EVP_EncryptUpdate(ctx, NULL, &n,
		    (const unsigned char *)owner, (int)olen) ? 0 : -1;
	return EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)domain,
	    (int)strlen(domain) + 1) && EVP_DecryptUpdate(ctx, NULL, &n,
	    (const unsigned char *)owner, (int)olen) ? 0 : -1;
}

/* prefix + base64(nonce | AES-256-GCM(plain) | tag), or NULL. */
/*
 * A fresh random nonce, from a per-thread pool that RAND_bytes fills a
 * few hundred at a time: one call per value cost as much as the
 * encryption itself.  Still every nonce random (nothing counted, so two
 * processes sealing for one caller cannot collide by construction).  A
 * nonce is public (stored with its value), so the pool is not secret; a
 * forked child never takes its parent's (the pool knows its pid).
 */
static int
fresh_nonce(unsigned char nonce[NONCE_SIZE])
{
	static _Thread_local unsigned char pool[NONCE_SIZE * 256];
	static _Thread_local size_t left;
	static _Thread_local pid_t owner;

	if (left == 0 || owner != getpid()) {
		if (RAND_bytes(pool, (int)sizeof(pool)) != 1)
			return -1;
		left = sizeof(pool) / NONCE_SIZE;
		owner = getpid();
	}
	left--;
	memcpy(nonce, pool + left * NONCE_SIZE, NONCE_SIZE);
	/* Never handed out twice. */
	memset(pool + left * NONCE_SIZE, 0, NONCE_SIZE);
	return 0;
}

static char *
encrypt_text(const unsigned char key[SEAL_KEY_SIZE], const char *prefix,
    const char *domain, const char *owner, const unsigned char *plain,
    size_t len)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *raw = NULL;
	char *out = NULL;
	size_t rawlen;
	int n = 0, fin = 0;

	if (owner == NULL || len > VALUE_MAX)
		return NULL;
	rawlen = NONCE_SIZE + len + TAG_SIZE;
	if ((raw = malloc(rawlen)) == NULL ||
	    (out = malloc(PREFIX_LEN + (rawlen + 2) / 3 * 4 + 1)) == NULL ||
	    fresh_nonce(raw) < 0 ||
	    (ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    gcm() == NULL ||
	    !EVP_EncryptInit_ex(ctx, gcm(), NULL, NULL, NULL) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_SIZE,
	    NULL) ||
	    !EVP_EncryptInit_ex(ctx, NULL, NULL, key, raw) ||
	    add_aad(ctx, true, domain, owner) < 0 ||
	    (len > 0 && !EVP_EncryptUpdate(ctx, raw + NONCE_SIZE, &n, plain,
	    (int)len)) ||
	    !EVP_EncryptFinal_ex(ctx, raw + NONCE_SIZE + n, &fin) ||
	    (size_t)(n + fin) != len ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_SIZE,
	    raw + NONCE_SIZE + len))
		goto fail;
	memcpy(out, prefix, PREFIX_LEN);
	EVP_EncodeBlock((unsigned char *)out + PREFIX_LEN, raw, (int)rawlen);
	EVP_CIPHER_CTX_free(ctx);
	free(raw);
	return out;
fail:
	EVP_CIPHER_CTX_free(ctx);
	free(raw);
	free(out);
	return NULL;
}

/* The plaintext of prefix + base64(...), malloc'd with a NUL after it,
 * or NULL. */
static unsigned char *
decrypt_text(const unsigned char key[SEAL_KEY_SIZE], const char *prefix,
    const char *domain, const char *owner, const char *text, size_t *lenp)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *raw = NULL, *plain = NULL;
	size_t tlen, len;
	int rawlen, n = 0, fin = 0;

	if (owner == NULL || text == NULL ||
	    strncmp(text, prefix, PREFIX_LEN) != 0)
		return NULL;
	text += PREFIX_LEN;
	tlen = strlen(text);
	if (tlen > (VALUE_MAX + NONCE_SIZE + TAG_SIZE + 2) / 3 * 4 ||
	    (raw = malloc(tlen / 4 * 3 + 3)) == NULL)
		return NULL;
	if ((rawlen = b64_decode(text, tlen, raw)) < NONCE_SIZE + TAG_SIZE)
		goto fail;
	len = (size_t)rawlen - NONCE_SIZE - TAG_SIZE;
	if ((plain = malloc(len + 1)) == NULL ||
	    (ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    gcm() == NULL ||
	    !EVP_DecryptInit_ex(ctx, gcm(), NULL, NULL, NULL) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_SIZE,
	    NULL) ||
	    !EVP_DecryptInit_ex(ctx, NULL, NULL, key, raw) ||
	    add_aad(ctx, false, domain, owner) < 0 ||
	    (len > 0 && !EVP_DecryptUpdate(ctx, plain, &n, raw + NONCE_SIZE,
	    (int)len)) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_SIZE,
	    raw + NONCE_SIZE + len) ||
	    EVP_DecryptFinal_ex(ctx, plain + n, &fin) <= 0 ||
	    (size_t)(n + fin) != len)
		goto fail;
	plain[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	EVP_CIPHER_CTX_free(ctx);
	free(raw);
	return plain;
fail:
	EVP_CIPHER_CTX_free(ctx);
	free(raw);
	/* A failed tag check may have left unauthenticated plaintext. */
	if (plain != NULL)
		OPENSSL_clear_free(plain, len + 1);
	return NULL;
}

char *
seal_value(const unsigned char key[SEAL_KEY_SIZE], const char *caller,
    const char *plain, size_t len)
{
	if (plain == NULL && len > 0)
		return NULL;
	return encrypt_text(key, SEAL_PREFIX, DOMAIN_VALUE, caller,
	    (const unsigned char *)(plain ? plain : ""), len);
}

char *
seal_open(const unsigned char key[SEAL_KEY_SIZE], const char *caller,
    const char *sealed, size_t *len)
{
	return (char *)decrypt_text(key, SEAL_PREFIX, DOMAIN_VALUE, caller,
	    sealed, len);
}

bool
seal_is_sealed(const char *value)
{
	return value != NULL && strncmp(value, SEAL_PREFIX, PREFIX_LEN) == 0;
}

char *
seal_wrap(const unsigned char kek[SEAL_KEY_SIZE], const char *owner,
    const unsigned char key[SEAL_KEY_SIZE])
{
	return encrypt_text(kek, SEAL_WRAP_PREFIX, DOMAIN_KEY, owner, key,
	    SEAL_KEY_SIZE);
}

int
seal_unwrap(const unsigned char kek[SEAL_KEY_SIZE], const char *owner,
    const char *wrapped, unsigned char key[SEAL_KEY_SIZE])
{
	size_t len = 0;
	unsigned char *k = decrypt_text(kek, SEAL_WRAP_PREFIX, DOMAIN_KEY,
	    owner, wrapped, &len);

	if (k == NULL || len != SEAL_KEY_SIZE) {
		if (k != NULL)
			OPENSSL_clear_free(k, len + 1);
		OPENSSL_cleanse(key, SEAL_KEY_SIZE);
		return -1;
	}
	memcpy(key, k, SEAL_KEY_SIZE);
	OPENSSL_clear_free(k, len + 1);
	return 0;
}

void
seal_free(char *secret, size_t len)
{
	if (secret == NULL)
		return;
	OPENSSL_clear_free(secret, (len ? len : strlen(secret)) + 1);
}
