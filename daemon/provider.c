#include "provider.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config.h"
#include "form.h"
#include "rfc3339.h"
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
provider_channel_allows(const struct config_channel *ch, const char *peer,
    char *err, size_t errlen)
{
	size_t n;
	char *const *ips = config_channel_list(ch, "allow_ips", &n);

	if (ips == NULL || provider_peer_allowed(peer, ips, n))
		return true;
	snprintf(err, errlen, "source address is not in this channel's "
	    "allow_ips");
	return false;
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

bool
provider_code_valid(const char *code)
{
	size_t n, digits = 0;

	if (code == NULL)
		return false;
	for (n = 0; code[n] != '\0'; n++) {
		char c = code[n];

		if (n == PROVIDER_CODE_MAX)
			return false;
		/* Counted in all, not in a run: "090.123.4567" is a
		 * number whatever separates its digits. */
		if (c >= '0' && c <= '9') {
			if (++digits >= 6)
				return false;
			continue;
		}
		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    c != '_' && c != '.' && c != '-')
			return false;
	}
	return n > 0;
}

void
provider_reason_set(char *reason, size_t len, const char *code)
{
	size_t n;

	if (len == 0)
		return;
	if (!provider_code_valid(code) || (n = strlen(code)) >= len) {
		reason[0] = '\0';
		return;
	}
	/* code may be reason itself: an adapter filtering what it read. */
	memmove(reason, code, n + 1);
}

void
provider_send_reason(struct send_answer *out, long status, const char *code)
{
	if (provider_code_valid(code))
		snprintf(out->reason, sizeof(out->reason), "HTTP %ld %s",
		    status, code);
	else
		snprintf(out->reason, sizeof(out->reason), "HTTP %ld", status);
}

/* "YYYY-MM-DDTHH:MM:SS" + zone, checked by rfc3339_to_utc, into out. */
static void
time_put(const char *date, const char *zone, char *out, size_t outlen)
{
	char buf[64], utc[RFC3339_UTC_SIZE];
	int n;

	if (outlen > 0)
		out[0] = '\0';
	n = snprintf(buf, sizeof(buf), "%s%s", date, zone);
	if (n < 0 || (size_t)n >= sizeof(buf) || !rfc3339_to_utc(buf, utc))
		return;
	snprintf(out, outlen, "%s", utc);
}

void
provider_time_space(const char *s, const char *zone, char *out,
    size_t outlen)
{
	char utc[RFC3339_UTC_SIZE], date[20];
	size_t n = s != NULL ? strlen(s) : 0;

	if (outlen > 0)
		out[0] = '\0';
	if (n == 0)
		return;
	if (rfc3339_to_utc(s, utc)) {
		snprintf(out, outlen, "%s", utc);
		return;
	}
	/* "2017-05-03 06:04:45": RFC 3339 with a space for the T and no
	 * zone; rfc3339_to_utc checks every field. */
	if (n != 19 || s[10] != ' ')
		return;
	memcpy(date, s, 19);
	date[10] = 'T';
	date[19] = '\0';
	time_put(date, zone, out, outlen);
}

void
provider_time_compact(const char *s, const char *zone, char *out,
    size_t outlen)
{
	char date[20];

	if (outlen > 0)
		out[0] = '\0';
	if (s == NULL || strlen(s) != 14)
		return;
	for (size_t i = 0; i < 14; i++)
		if (s[i] < '0' || s[i] > '9')
			return;
	/* yyyyMMddHHmmss -> yyyy-MM-ddTHH:mm:ss */
	memcpy(date, s, 4);
	date[4] = '-';
	memcpy(date + 5, s + 4, 2);
	date[7] = '-';
	memcpy(date + 8, s + 6, 2);
	date[10] = 'T';
	memcpy(date + 11, s + 8, 2);
	date[13] = ':';
	memcpy(date + 14, s + 10, 2);
	date[16] = ':';
	memcpy(date + 17, s + 12, 2);
	date[19] = '\0';
	time_put(date, zone, out, outlen);
}

void
provider_time_unix(const char *s, char *out, size_t outlen)
{
	long long t = 0;
	struct tm tm;
	time_t tt;
	size_t n;

	if (outlen > 0)
		out[0] = '\0';
	/* Up to 11 digits: until the year 5138, and far from overflow. */
	for (n = 0; s != NULL && s[n] >= '0' && s[n] <= '9' && n < 12; n++)
		t = t * 10 + (s[n] - '0');
	if (s == NULL || n == 0 || n > 11 || s[n] != '\0')
		return;
	tt = (time_t)t;
	if (gmtime_r(&tt, &tm) == NULL || outlen < RFC3339_UTC_SIZE)
		return;
	if (strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0';
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
