#include "provider.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "form.h"
#include "smstext.h"

static const struct provider *const providers[] = {
	&provider_console,
	&provider_africastalking,
	&provider_twilio,
	&provider_vonage,
	&provider_vcom,
	&provider_esms,
	&provider_json,
};

const struct provider *
provider_find(const char *name)
{
	for (size_t i = 0; i < sizeof(providers) / sizeof(providers[0]); i++)
		if (strcmp(providers[i]->name, name) == 0)
			return providers[i];
	return NULL;
}

const char *
provider_names(void)
{
	static char names[256];

	if (names[0] == '\0') {
		size_t used = 0;

		for (size_t i = 0; i < sizeof(providers) / sizeof(providers[0]);
		    i++) {
			int n = snprintf(names + used, sizeof(names) - used,
			    "%s%s", i ? ", " : "", providers[i]->name);

			if (n < 0 || (size_t)n >= sizeof(names) - used)
				break;
			used += (size_t)n;
		}
	}
	return names;
}

bool
provider_form_copy(const struct form *f, const char *name, char *out,
    size_t outlen, bool required, char *err, size_t errlen)
{
	const char *v = form_get(f, name);
	size_t n;

	if (v == NULL) {
		if (!required) {
			out[0] = '\0';
			return true;
		}
		snprintf(err, errlen, "missing field %s", name);
		return false;
	}
	n = strlen(v);
	if (n >= outlen) {
		snprintf(err, errlen, "field %s is longer than %zu bytes",
		    name, outlen - 1);
		return false;
	}
	if (!smstext_utf8_valid(v, n)) {
		snprintf(err, errlen, "field %s is not valid UTF-8", name);
		return false;
	}
	memcpy(out, v, n + 1);
	return true;
}

bool
provider_content_type_is(const char *ct, const char *want)
{
	size_t n = strlen(want);

	if (ct == NULL)
		return false;
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* "a.b.c.d/n" into network and mask; false when it is not one. */
static bool
cidr4_parse(const char *entry, struct in_addr *net, uint32_t *mask)
{
	const char *slash = strchr(entry, '/');
	char addr[INET_ADDRSTRLEN];
	char *end;
	unsigned long bits;

	if (slash == NULL || (size_t)(slash - entry) >= sizeof(addr) ||
	    slash[1] < '0' || slash[1] > '9')
		return false;
	memcpy(addr, entry, (size_t)(slash - entry));
	addr[slash - entry] = '\0';
	bits = strtoul(slash + 1, &end, 10);
	if (*end != '\0' || bits > 32 || inet_pton(AF_INET, addr, net) != 1)
		return false;
	*mask = bits == 0 ? 0 : htonl(~(uint32_t)0 << (32 - bits));
	return true;
}

static bool
cidr4_match(const char *peer, const char *entry)
{
	struct in_addr a, net;
	uint32_t mask;

	return cidr4_parse(entry, &net, &mask) &&
	    inet_pton(AF_INET, peer, &a) == 1 &&
	    (a.s_addr & mask) == (net.s_addr & mask);
}

bool
provider_peer_allowed(const char *peer, char *const *list, size_t count)
{
	if (peer == NULL)
		return false;
	/* A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d. */
	if (strncmp(peer, "::ffff:", 7) == 0 && strchr(peer + 7, ':') == NULL)
		peer += 7;
	for (size_t i = 0; i < count; i++) {
		if (strcmp(peer, list[i]) == 0)
			return true;
		if (strchr(list[i], '/') && cidr4_match(peer, list[i]))
			return true;
	}
	return false;
}

bool
provider_address_valid(const char *entry)
{
	struct in6_addr a6;
	struct in_addr a4;
	uint32_t mask;

	if (strchr(entry, '/') != NULL)
		return cidr4_parse(entry, &a4, &mask);
	return inet_pton(AF_INET, entry, &a4) == 1 ||
	    inet_pton(AF_INET6, entry, &a6) == 1;
}

bool
provider_peer_is_loopback(const char *peer)
{
	struct in_addr a;

	if (peer == NULL)
		return false;
	if (strcmp(peer, "::1") == 0)
		return true;
	if (strncmp(peer, "::ffff:", 7) == 0)
		peer += 7;
	return inet_pton(AF_INET, peer, &a) == 1 &&
	    (ntohl(a.s_addr) >> 24) == 127;
}

void
provider_send_http_clear(struct send_http *http)
{
	free(http->body);
	memset(http, 0, sizeof(*http));
}

void
provider_reason_set(char *reason, size_t len, const char *words)
{
	size_t used = 0, run, end, digits;
	const char *p = words;
	unsigned char c;

	if (len == 0)
		return;
	while (*p != '\0' && used + 1 < len) {
		/* A number as people write it: digits with spaces, dashes,
		 * dots or brackets between them ("+84 91-234 5678"). */
		for (run = end = digits = 0; p[run] != '\0' &&
		    strchr("0123456789 -.()", p[run]) != NULL; run++)
			if (p[run] >= '0' && p[run] <= '9') {
				digits++;
				end = run + 1;
			}
		if (digits >= 6 && p[0] >= '0' && p[0] <= '9') {
			/* "…" is three bytes; stop rather than cut it. */
			if (used + 4 > len)
				break;
			if (used > 0 && reason[used - 1] == '+')
				used--;
			memcpy(reason + used, "\xe2\x80\xa6", 3);
			used += 3;
			p += end;
			continue;
		}
		c = (unsigned char)*p++;
		/* Control characters would break a log line. */
		reason[used++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	/* Cut back to whole characters: a reason is stored, logged and
	 * served as JSON. */
	while (used > 0 && !smstext_utf8_valid(reason, used))
		used--;
	reason[used] = '\0';
}

void
provider_send_reason(struct send_answer *out, const char *words)
{
	provider_reason_set(out->reason, sizeof(out->reason), words);
}

bool
provider_url_join(char *out, size_t outlen, const char *base,
    const char *path)
{
	size_t n = strlen(base);
	int w;

	if (n > 0 && base[n - 1] == '/')
		n--;
	if (n > INT_MAX)
		return false;
	w = snprintf(out, outlen, "%.*s%s", (int)n, base, path);
	return w >= 0 && (size_t)w < outlen;
}
