/*
 * seal: encryption at rest of one stored value, and the wrapping of the
 * keys that seal values.  AES-256-GCM (OpenSSL libcrypto), a fresh
 * random 12-byte nonce per call.  Pure: no files, no globals, no clock;
 * its only outside input is the random generator.
 *
 * A sealed value is text, so it fits the TEXT columns it replaces:
 *
 *     "s1." base64(nonce[12] | ciphertext | tag[16])
 *
 * Its associated data names the caller (pseudonym) it belongs to: a
 * value copied into another caller's row does not open.  A wrapped key
 * is the same shape with the prefix "w1." and associated data of its
 * own domain, so neither kind opens as the other.
 *
 * Results that hold secrets (opened values, keys) are the caller's to
 * wipe: seal_free() wipes and frees.
 */
#ifndef HOTLINE_SEAL_H
#define HOTLINE_SEAL_H

#include <stdbool.h>
#include <stddef.h>

#define SEAL_KEY_SIZE 32
#define SEAL_PREFIX "s1."
#define SEAL_WRAP_PREFIX "w1."
/* A key id: 16 lowercase hex digits + NUL. */
#define SEAL_KEY_ID_SIZE 17
/* A key written out as hex: 64 digits + NUL. */
#define SEAL_KEY_HEX_SIZE 65

/* A fresh random key.  0, or -1 when the generator fails. */
int seal_key_new(unsigned char key[SEAL_KEY_SIZE]);

/* A key's text form (a credential file's content): 64 hex digits, or the
 * base64 of 32 bytes; surrounding whitespace is ignored.  0, or -1 when
 * text is neither. */
int seal_key_parse(const char *text, unsigned char key[SEAL_KEY_SIZE]);
void seal_key_hex(const unsigned char key[SEAL_KEY_SIZE],
    char out[SEAL_KEY_HEX_SIZE]);

/* A short fingerprint of key that reveals nothing of it:
 * HMAC-SHA256(key, "hotline key id"), first 8 bytes in hex.  0 or -1. */
int seal_key_id(const unsigned char key[SEAL_KEY_SIZE],
    char out[SEAL_KEY_ID_SIZE]);

/* Seal len bytes of plain under key for caller (plain may hold any
 * bytes; len 0 is a value too).  A malloc'd text the caller frees (it
 * holds nothing secret), or NULL on failure. */
char *seal_value(const unsigned char key[SEAL_KEY_SIZE], const char *caller,
    const char *plain, size_t len);

/* Open a sealed value: a malloc'd, NUL-terminated copy of the plaintext
 * (*len its length when len is not NULL) for seal_free, or NULL when it
 * does not open: another key or caller, a changed byte, cut short, or
 * not a sealed value at all. */
char *seal_open(const unsigned char key[SEAL_KEY_SIZE], const char *caller,
    const char *sealed, size_t *len);

/* Does value look sealed (its prefix; says nothing of whether it
 * opens)?  False for NULL. */
bool seal_is_sealed(const char *value);

/* Wrap a data key under a key-encryption key, bound to owner (a caller
 * pseudonym, or a fixed name): a malloc'd text, or NULL. */
char *seal_wrap(const unsigned char kek[SEAL_KEY_SIZE], const char *owner,
    const unsigned char key[SEAL_KEY_SIZE]);
/* 0 with key filled, or -1 (key zeroed) when it does not open. */
int seal_unwrap(const unsigned char kek[SEAL_KEY_SIZE], const char *owner,
    const char *wrapped, unsigned char key[SEAL_KEY_SIZE]);

/* Wipe len bytes (or the string's length when len is 0) and free; NULL
 * is a no-op. */
void seal_free(char *secret, size_t len);

#endif
