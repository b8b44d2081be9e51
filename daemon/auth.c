#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/sha.h>

/* Addresses remembered at once; the oldest is forgotten first. */
#define LIMITER_SLOTS 256

struct slot {
	char peer[64];
	unsigned failures;
	double first;             /* start of the current window */
};

struct auth_limiter {
	struct slot slots[LIMITER_SLOTS];
};

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
auth_token_new(char out[AUTH_TOKEN_SIZE])
{
	unsigned char raw[33];     /* 32 random bytes, one pad */
	size_t i, n = 0;

	if (getrandom(raw, 32, 0) != 32)
		return -1;
	raw[32] = 0;
	memcpy(out, "hl_", 3);
	n = 3;
	/* 32 bytes: ten 3-byte groups, then 2 bytes as 3 characters. */
	for (i = 0; i < 32; i += 3) {
		unsigned v = (unsigned)raw[i] << 16 |
		    (unsigned)raw[i + 1] << 8 |
		    (i + 2 < 32 ? raw[i + 2] : 0);

		out[n++] = b64url[(v >> 18) & 63];
		out[n++] = b64url[(v >> 12) & 63];
		out[n++] = b64url[(v >> 6) & 63];
		if (i + 2 < 32)
			out[n++] = b64url[v & 63];
	}
	out[n] = '\0';
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

void
auth_token_hash(const char *token, char out[AUTH_HASH_SIZE])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)token, strlen(token), md);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

bool
auth_token_well_formed(const char *s)
{
	if (s == NULL || strncmp(s, "hl_", 3) != 0 ||
	    strlen(s) != AUTH_TOKEN_SIZE - 1)
		return false;
	return strspn(s + 3, b64url) == AUTH_TOKEN_SIZE - 4;
}

enum auth_role
auth_role_parse(const char *name)
{
	if (name == NULL)
		return AUTH_NONE;
	if (strcmp(name, "metrics") == 0)
		return AUTH_METRICS;
	if (strcmp(name, "counsellor") == 0)
		return AUTH_COUNSELLOR;
	if (strcmp(name, "supervisor") == 0)
		return AUTH_SUPERVISOR;
	if (strcmp(name, "admin") == 0)
		return AUTH_ADMIN;
	return AUTH_NONE;
}

const char *
auth_role_name(enum auth_role role)
{
	switch (role) {
	case AUTH_METRICS:
		return "metrics";
	case AUTH_COUNSELLOR:
		return "counsellor";
	case AUTH_SUPERVISOR:
		return "supervisor";
	case AUTH_ADMIN:
		return "admin";
	default:
		return "none";
	}
}

struct auth_limiter *
auth_limiter_new(void)
{
	return calloc(1, sizeof(struct auth_limiter));
}

void
auth_limiter_free(struct auth_limiter *l)
{
	free(l);
}

static struct slot *
slot_find(struct auth_limiter *l, const char *peer, bool create, double now)
{
	struct slot *oldest = &l->slots[0];

	for (size_t i = 0; i < LIMITER_SLOTS; i++) {
		struct slot *s = &l->slots[i];

		if (s->peer[0] != '\0' && strcmp(s->peer, peer) == 0)
			return s;
		if (s->peer[0] == '\0' || s->first < oldest->first)
			oldest = s;
	}
	if (!create)
		return NULL;
	snprintf(oldest->peer, sizeof(oldest->peer), "%s", peer);
	oldest->failures = 0;
	oldest->first = now;
	return oldest;
}

bool
auth_limiter_blocked(struct auth_limiter *l, const char *peer, double now,
    unsigned *retry_after)
{
	struct slot *s = slot_find(l, peer, false, now);

	if (s == NULL)
		return false;
	if (now - s->first >= AUTH_BLOCK_SECONDS) {
		/* A new window: the address starts over. */
		s->failures = 0;
		s->first = now;
		return false;
	}
	if (s->failures < AUTH_FAILURES_ALLOWED)
		return false;
	*retry_after = (unsigned)(AUTH_BLOCK_SECONDS - (now - s->first)) + 1;
	return true;
}

void
auth_limiter_failed(struct auth_limiter *l, const char *peer, double now)
{
	struct slot *s = slot_find(l, peer, true, now);

	if (now - s->first >= AUTH_BLOCK_SECONDS) {
		s->failures = 0;
		s->first = now;
	}
	s->failures++;
}
