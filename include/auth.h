/*
 * auth: counsellor API tokens and roles.
 *
 * A token is "hl_" and 43 base64url characters: 256 bits from the
 * kernel's random source, shown once.  Only its SHA-256 (hex) is
 * stored.  Failed attempts are limited per source address, in memory.
 */
#ifndef HOTLINE_AUTH_H
#define HOTLINE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_TOKEN_SIZE 47        /* "hl_" + 43 + NUL */
#define AUTH_HASH_SIZE 65         /* 64 hex digits + NUL */

/* In order: each role may do what the ones before it may. */
enum auth_role {
	AUTH_NONE,
	AUTH_METRICS,             /* GET /metrics only */
	AUTH_COUNSELLOR,
	AUTH_SUPERVISOR,
	AUTH_ADMIN,
};

/* A new token into out.  0, or -1 when the random source fails. */
int auth_token_new(char out[AUTH_TOKEN_SIZE]);

/* Lowercase hex SHA-256 of token. */
void auth_token_hash(const char *token, char out[AUTH_HASH_SIZE]);

/* Does s have a token's form?  (Checked before hashing, so garbage is
 * refused without a database lookup.) */
bool auth_token_well_formed(const char *s);

/* "metrics", "counsellor", "supervisor", "admin"; AUTH_NONE for
 * anything else. */
enum auth_role auth_role_parse(const char *name);
const char *auth_role_name(enum auth_role role);

/* Failed attempts per source address.  The caller owns the result. */
struct auth_limiter;
struct auth_limiter *auth_limiter_new(void);
void auth_limiter_free(struct auth_limiter *limiter);
/* Is peer blocked at time now?  *retry_after seconds when it is. */
bool auth_limiter_blocked(struct auth_limiter *limiter, const char *peer,
    double now, unsigned *retry_after);
void auth_limiter_failed(struct auth_limiter *limiter, const char *peer,
    double now);

/* Failures allowed per address before it is blocked, and for how long. */
#define AUTH_FAILURES_ALLOWED 10
#define AUTH_BLOCK_SECONDS 60

#endif
