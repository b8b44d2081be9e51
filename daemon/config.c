#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <jansson.h>

#include "http.h"
#include "menu.h"
#include "provider.h"
#include "seal.h"
#include "smstext.h"

/* A menu file larger than this is a mistake, not a menu. */
#define MENU_FILE_MAX (1024 * 1024)
#define SECRET_FILE_MAX (64 * 1024)
#define PSEUDONYM_KEY_MIN 16
/* A secret of ours (one we choose and give an aggregator, or that signs
 * what we send) is at least this long: 128 bits of a random token. */
#define SECRET_MIN 16
/* Defaults under "http"; they stay well below the usual 1,024 open
 * files, which the daemon raises to the hard limit at start. */
#define HTTP_MAX_CONNECTIONS 512
#define HTTP_MAX_CONNECTIONS_PER_PEER 64
#define HTTP_REQUEST_DEADLINE 20

/* Loading state: where problems are collected, and what relative paths
 * resolve against. */
struct load {
	char *err;
	size_t errlen;
	size_t used;
	int problems;
	bool skip_secrets;
	char dir[PATH_MAX];
};

static void problem(struct load *, const char *, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
problem(struct load *ld, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n;

	ld->problems++;
	if (ld->errlen == 0 || ld->used >= ld->errlen - 1)
		return;
	n = snprintf(ld->err + ld->used, ld->errlen - ld->used, "%s%s: ",
	    ld->used ? "\n" : "", path);
	if (n < 0 || (size_t)n >= ld->errlen - ld->used) {
		ld->used = ld->errlen - 1;
		return;
	}
	ld->used += (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(ld->err + ld->used, ld->errlen - ld->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= ld->errlen - ld->used)
		ld->used = ld->errlen - 1;
	else
		ld->used += (size_t)n;
}

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL) {
		fprintf(stderr, "hotlined: out of memory\n");
		abort();
	}
	return d;
}

static const char *
type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "?";
}

static void
join_path(char *out, size_t outlen, const char *parent, const char *key)
{
	if (*parent == '\0')
		snprintf(out, outlen, "%s", key);
	else
		snprintf(out, outlen, "%s.%s", parent, key);
}

/* Refuse keys not in `allowed` (NULL-terminated). */
static void
check_keys(struct load *ld, const char *path, json_t *obj,
    const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		bool ok = false;
		char p[256];

		for (size_t i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				ok = true;
		if (!ok) {
			join_path(p, sizeof(p), path, key);
			problem(ld, p, "unknown key");
		}
	}
}

static const char *
get_string(struct load *ld, const char *path, json_t *obj, const char *key,
    bool required)
{
	json_t *v = json_object_get(obj, key);
	char p[256];

	join_path(p, sizeof(p), path, key);
	if (v == NULL) {
		if (required)
			problem(ld, p, "missing (required)");
		return NULL;
	}
	if (!json_is_string(v)) {
		problem(ld, p, "must be a string, not %s", type_name(v));
		return NULL;
	}
	if (json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		problem(ld, p, "must be a non-empty string without NUL");
		return NULL;
	}
	return json_string_value(v);
}

static bool
get_uint(struct load *ld, const char *path, json_t *obj, const char *key,
    unsigned min, unsigned max, unsigned *out)
{
	json_t *v = json_object_get(obj, key);
	char p[256];

	if (v == NULL)
		return true;
	join_path(p, sizeof(p), path, key);
	if (!json_is_integer(v)) {
		problem(ld, p, "must be an integer, not %s", type_name(v));
		return false;
	}
	if (json_integer_value(v) < (json_int_t)min ||
	    json_integer_value(v) > (json_int_t)max) {
		problem(ld, p, "must be between %u and %u", min, max);
		return false;
	}
	*out = (unsigned)json_integer_value(v);
	return true;
}

static void
resolve_path(const char *base, const char *p, char *out, size_t outlen)
{
	if (p[0] == '/' || base[0] == '\0')
		snprintf(out, outlen, "%s", p);
	else
		snprintf(out, outlen, "%s/%s", base, p);
}

/* Read a small file into a NUL-terminated buffer; caller frees. */
static char *
read_file(const char *path, size_t max, size_t *lenp, char *why,
    size_t whylen)
{
	FILE *f;
	char *buf;
	size_t len;

	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(why, whylen, "cannot read %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	if ((buf = malloc(max + 1)) == NULL) {
		fclose(f);
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	len = fread(buf, 1, max + 1, f);
	if (ferror(f) || len > max) {
		snprintf(why, whylen, ferror(f) ? "cannot read %s" :
		    "%s is larger than allowed", path);
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[len] = '\0';
	if (lenp)
		*lenp = len;
	return buf;
}

/*
 * A secret is {"env": "NAME"} or {"file": "path"}; a plain string is
 * refused so that nobody commits a token in the config.  File contents
 * lose one trailing newline.
 */
static char *
get_secret_raw(struct load *ld, const char *path, json_t *v)
{
	const char *env, *file;
	char why[PATH_MAX + 64], full[PATH_MAX];
	char *val;
	size_t len;

	if (!json_is_object(v) || json_object_size(v) != 1) {
		problem(ld, path, "a secret must be {\"env\": \"NAME\"} or "
		    "{\"file\": \"path\"}; secrets are never written in the "
		    "config file");
		return NULL;
	}
	if (ld->skip_secrets) {
		if (get_string(ld, path, v, "env", false) == NULL &&
		    get_string(ld, path, v, "file", false) == NULL &&
		    json_object_get(v, "env") == NULL &&
		    json_object_get(v, "file") == NULL)
			problem(ld, path, "a secret must be {\"env\": \"NAME\"} "
			    "or {\"file\": \"path\"}");
		return NULL;
	}
	if ((env = get_string(ld, path, v, "env", false)) != NULL) {
		const char *e = getenv(env);

		if (e == NULL || *e == '\0') {
			problem(ld, path, "environment variable %s is not set",
			    env);
			return NULL;
		}
		return xstrdup(e);
	}
	if ((file = get_string(ld, path, v, "file", false)) != NULL) {
		const char *creds = getenv("CREDENTIALS_DIRECTORY");

		resolve_path(creds && *creds ? creds : ld->dir, file, full,
		    sizeof(full));
		if ((val = read_file(full, SECRET_FILE_MAX, &len, why,
		    sizeof(why))) == NULL) {
			problem(ld, path, "%s", why);
			return NULL;
		}
		if (len > 0 && val[len - 1] == '\n')
			val[--len] = '\0';
		if (len > 0 && val[len - 1] == '\r')
			val[--len] = '\0';
		if (len == 0 || strlen(val) != len) {
			problem(ld, path, "secret file %s is empty or binary",
			    full);
			free(val);
			return NULL;
		}
		return val;
	}
	if (json_object_get(v, "env") == NULL &&
	    json_object_get(v, "file") == NULL)
		problem(ld, path, "a secret must be {\"env\": \"NAME\"} or "
		    "{\"file\": \"path\"}");
	return NULL;
}

/* A secret value; min > 0: one of ours, which must be at least that
 * long.  Whitespace alone is no secret (an empty line in a file). */
static char *
get_secret_min(struct load *ld, const char *path, json_t *v, size_t min)
{
	char *val = get_secret_raw(ld, path, v);
	size_t len;

	if (val == NULL)
		return NULL;
	len = strlen(val);
	if (strspn(val, " \t\r\n\v\f") == len) {
		problem(ld, path, "the secret is only whitespace; put the "
		    "value itself in it");
		goto refused;
	}
	if (len < min) {
		problem(ld, path, "the secret is %zu bytes; use at least %zu "
		    "random bytes (e.g. `openssl rand -hex 32`)", len, min);
		goto refused;
	}
	return val;
refused:
	explicit_bzero(val, len);
	free(val);
	return NULL;
}

/*
 * Which provider secrets are ours.  A token we put in the callback URL
 * and a key we share with a relay are chosen by the operator: a weak one
 * works with the real aggregator and goes unnoticed, so it is refused.
 * Credentials an aggregator issues (API keys, Twilio's auth token,
 * Vonage's secrets, eSMS's and VCOM's keys) come in the aggregator's own
 * shape, and a wrong one fails against the aggregator itself: only
 * whitespace is refused.
 */
static size_t
secret_min(const struct provider *p, const char *key)
{
	static const struct {
		const char *provider, *key;
	} ours[] = {
		{ "africastalking", "callback_token" },
		{ "esms", "callback_token" },
		{ "json", "secret" },
	};

	for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
		if (strcmp(p->name, ours[i].provider) == 0 &&
		    strcmp(key, ours[i].key) == 0)
			return SECRET_MIN;
	return 0;
}

int
config_parse_listen(const char *s, char *host, size_t hostlen,
    unsigned short *port, char *err, size_t errlen)
{
	const char *colon, *h = s;
	size_t hl;
	char *end;
	unsigned long p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':') {
			snprintf(err, errlen, "\"%s\" is not HOST:PORT "
			    "(IPv6 as [::1]:8080)", s);
			return -1;
		}
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || strchr(s, ':') != colon) {
			snprintf(err, errlen, "\"%s\" is not HOST:PORT, e.g. "
			    "127.0.0.1:8080", s);
			return -1;
		}
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen) {
		snprintf(err, errlen, "\"%s\": host is empty or too long", s);
		return -1;
	}
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || p > 65535 ||
	    colon[1] == '-' || colon[1] == '+') {
		snprintf(err, errlen, "\"%s\": port must be 0-65535", s);
		return -1;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	{
		struct in_addr a4;
		struct in6_addr a6;

		/* An address, not a name: a name that does not resolve would
		 * pass --check-config and then fail to bind at start. */
		if (inet_pton(AF_INET, host, &a4) != 1 &&
		    inet_pton(AF_INET6, host, &a6) != 1) {
			snprintf(err, errlen, "\"%s\": host must be an IP "
			    "address such as 127.0.0.1 or [::1]", s);
			return -1;
		}
	}
	*port = (unsigned short)p;
	return 0;
}

static bool
host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, host, &a6) == 1 &&
	    IN6_IS_ADDR_LOOPBACK(&a6);
}

/*
 * Outbound URLs must be https; plain http only to this host (tests and
 * local bridges).  The host is parsed out, not prefix-matched, so that
 * http://127.0.0.1.evil.example is not mistaken for loopback.
 */
static bool
url_allowed(const char *url)
{
	char host[256];
	const char *h, *end;
	size_t n;

	if (strncmp(url, "https://", 8) == 0)
		return url[8] != '\0' && url[8] != '/';
	if (strncmp(url, "http://", 7) != 0)
		return false;
	h = url + 7;
	if (*h == '[') {
		h++;
		if ((end = strchr(h, ']')) == NULL)
			return false;
		if (end[1] != '\0' && end[1] != ':' && end[1] != '/')
			return false;
	} else
		end = h + strcspn(h, ":/?#");
	n = (size_t)(end - h);
	if (n == 0 || n >= sizeof(host) || memchr(h, '@', n) != NULL)
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	return host_is_loopback(host);
}

static bool
valid_channel_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    *s == '_' || *s == '-'))
			return false;
	return true;
}

static bool
valid_calling_code(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 3 || s[0] == '0')
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static const char *const channel_common_keys[] = {
	"name", "provider", "send_url", "fold_vietnamese", "language",
	"rate_limit_per_second", "default_country",
};

static void
load_channel_values(struct load *ld, const char *path, json_t *obj,
    struct config_channel *ch)
{
	const struct provider_key *k;
	const char *key;
	json_t *v;
	size_t n = 0;

	for (k = ch->provider->keys; k && k->name; k++)
		n++;
	ch->values = calloc(n ? n : 1, sizeof(*ch->values));
	if (ch->values == NULL)
		abort();

	json_object_foreach(obj, key, v) {
		bool known = false;
		char p[256];

		for (size_t i = 0; i < sizeof(channel_common_keys) /
		    sizeof(channel_common_keys[0]); i++)
			if (strcmp(key, channel_common_keys[i]) == 0)
				known = true;
		for (k = ch->provider->keys; k && k->name; k++)
			if (strcmp(key, k->name) == 0)
				known = true;
		if (!known) {
			join_path(p, sizeof(p), path, key);
			problem(ld, p, "unknown key for provider \"%s\"",
			    ch->provider->name);
		}
	}

	for (k = ch->provider->keys; k && k->name; k++) {
		struct config_value *cv = &ch->values[ch->nvalues];
		char p[256];

		join_path(p, sizeof(p), path, k->name);
		v = json_object_get(obj, k->name);
		if (v == NULL) {
			if (k->required)
				problem(ld, p, "missing (required by provider "
				    "\"%s\")", ch->provider->name);
			continue;
		}
		cv->name = k->name;
		switch (k->type) {
		case PROVIDER_KEY_STRING: {
			const char *s = get_string(ld, path, obj, k->name,
			    true);

			if (s == NULL)
				continue;
			cv->value = xstrdup(s);
			break;
		}
		case PROVIDER_KEY_SECRET:
			if ((cv->value = get_secret_min(ld, p, v,
			    secret_min(ch->provider, k->name))) == NULL)
				continue;
			break;
		case PROVIDER_KEY_STRING_LIST:
		case PROVIDER_KEY_ADDRESS_LIST: {
			size_t i;
			json_t *item;

			if (!json_is_array(v)) {
				problem(ld, p, "must be an array of strings, "
				    "not %s", type_name(v));
				continue;
			}
			cv->list = calloc(json_array_size(v) + 1,
			    sizeof(char *));
			if (cv->list == NULL)
				abort();
			json_array_foreach(v, i, item) {
				char ip[280];

				snprintf(ip, sizeof(ip), "%s[%zu]", p, i);
				if (!json_is_string(item)) {
					problem(ld, ip, "must be a string");
					continue;
				}
				if (k->type == PROVIDER_KEY_ADDRESS_LIST &&
				    !provider_address_valid(
				    json_string_value(item))) {
					problem(ld, ip, "\"%s\" is not an IP "
					    "address or IPv4 CIDR like "
					    "\"203.0.113.0/24\"",
					    json_string_value(item));
					continue;
				}
				cv->list[cv->count++] =
				    xstrdup(json_string_value(item));
			}
			break;
		}
		}
		ch->nvalues++;
	}
}

static void
load_channel(struct load *ld, struct config *cfg, size_t idx, json_t *obj)
{
	struct config_channel *ch = &cfg->channels[cfg->nchannels];
	char path[64];
	const char *name, *prov, *s;
	json_t *v;

	snprintf(path, sizeof(path), "channels[%zu]", idx);
	if (!json_is_object(obj)) {
		problem(ld, path, "must be an object, not %s", type_name(obj));
		return;
	}
	name = get_string(ld, path, obj, "name", true);
	prov = get_string(ld, path, obj, "provider", true);
	if (name != NULL && !valid_channel_name(name)) {
		problem(ld, path, "name \"%s\" must be 1-32 of [a-z0-9_-] "
		    "(it is part of the webhook URL)", name);
		name = NULL;
	}
	if (name != NULL)
		for (size_t i = 0; i < cfg->nchannels; i++)
			if (strcmp(cfg->channels[i].name, name) == 0) {
				char p[128];

				snprintf(p, sizeof(p), "%s.name", path);
				problem(ld, p, "duplicate channel name \"%s\"",
				    name);
				name = NULL;
				break;
			}
	if (prov != NULL && (ch->provider = provider_find(prov)) == NULL) {
		char p[128];

		snprintf(p, sizeof(p), "%s.provider", path);
		problem(ld, p, "unknown provider \"%s\" (one of: %s)", prov,
		    provider_names());
	}
	if (name == NULL || ch->provider == NULL)
		return;

	ch->name = xstrdup(name);
	ch->fold_vietnamese = false;
	/* Unset: the provider's documented throughput (console: none). */
	ch->rate_limit_per_second = ch->provider->default_rate_per_second;
	ch->default_country = xstrdup("84");
	cfg->nchannels++;

	if ((v = json_object_get(obj, "fold_vietnamese")) != NULL) {
		if (!json_is_boolean(v)) {
			char p[128];

			snprintf(p, sizeof(p), "%s.fold_vietnamese", path);
			problem(ld, p, "must be true or false, not %s",
			    type_name(v));
		} else
			ch->fold_vietnamese = json_is_true(v);
	}
	if ((s = get_string(ld, path, obj, "language", false)) != NULL)
		ch->language = xstrdup(s);
	if ((s = get_string(ld, path, obj, "send_url", false)) != NULL) {
		if (!url_allowed(s)) {
			char p[128];

			snprintf(p, sizeof(p), "%s.send_url", path);
			problem(ld, p, "must be an https:// URL (plain http "
			    "only for loopback)");
		} else
			ch->send_url = xstrdup(s);
	}
	if ((s = get_string(ld, path, obj, "default_country", false)) !=
	    NULL) {
		if (!valid_calling_code(s)) {
			char p[128];

			snprintf(p, sizeof(p), "%s.default_country", path);
			problem(ld, p, "must be a calling code without '+', "
			    "e.g. \"84\"");
		} else {
			free(ch->default_country);
			ch->default_country = xstrdup(s);
		}
	}
	if ((v = json_object_get(obj, "rate_limit_per_second")) != NULL) {
		if (!json_is_number(v) || json_number_value(v) <= 0 ||
		    json_number_value(v) > 10000) {
			char p[128];

			snprintf(p, sizeof(p), "%s.rate_limit_per_second",
			    path);
			problem(ld, p, "must be a number above 0");
		} else
			ch->rate_limit_per_second = json_number_value(v);
	}
	load_channel_values(ld, path, obj, ch);
}

static void
load_menu(struct load *ld, struct config *cfg)
{
	char why[PATH_MAX + 64];
	char *text;
	size_t len;

	if ((text = read_file(cfg->menu_path, MENU_FILE_MAX, &len, why,
	    sizeof(why))) == NULL) {
		problem(ld, "menu", "%s", why);
		return;
	}
	char merr[4096];

	cfg->menu = menu_parse(text, len, merr, sizeof(merr));
	free(text);
	if (cfg->menu == NULL) {
		/* Each menu problem on its own line, prefixed with the file. */
		char *line = merr, *nl;

		do {
			nl = strchr(line, '\n');
			if (nl)
				*nl = '\0';
			problem(ld, cfg->menu_path, "%s", line);
			line = nl ? nl + 1 : NULL;
		} while (line && *line);
		return;
	}
	if (cfg->ussd_resume_seconds > 0 && !menu_offers_resume(cfg->menu))
		problem(ld, "ussd.resume_seconds", "the menu has no "
		    "strings.resume_offer, resume_continue and resume_restart "
		    "to offer a resumed session with (add them, as in the "
		    "shipped config/menu.json, or set 0)");
	for (size_t i = 0; i < cfg->nchannels; i++) {
		const char *lang = cfg->channels[i].language;

		if (lang && !menu_has_language(cfg->menu, lang)) {
			char p[128];

			snprintf(p, sizeof(p), "channels[%zu].language", i);
			problem(ld, p, "\"%s\" is not a language of the menu",
			    lang);
		}
	}
}

static void
load_timezone(struct load *ld, struct config *cfg, const char *tz)
{
	char zpath[PATH_MAX];
	struct stat st;

	if (strstr(tz, "..") != NULL || tz[0] == '/') {
		problem(ld, "timezone", "\"%s\" is not a zone name like "
		    "\"Asia/Ho_Chi_Minh\"", tz);
		return;
	}
	/* Only check against the zone database when the machine has one. */
	if (stat("/usr/share/zoneinfo", &st) == 0) {
		snprintf(zpath, sizeof(zpath), "/usr/share/zoneinfo/%s", tz);
		if (stat(zpath, &st) != 0 || !S_ISREG(st.st_mode)) {
			problem(ld, "timezone", "unknown time zone \"%s\"", tz);
			return;
		}
	}
	cfg->timezone = xstrdup(tz);
}

static void
load_http(struct load *ld, struct config *cfg, json_t *obj)
{
	static const char *const keys[] = { "max_connections",
	    "max_connections_per_peer", "request_deadline_seconds",
	    "trusted_proxies", NULL };
	json_t *v, *item;
	size_t i;

	cfg->http_max_connections = HTTP_MAX_CONNECTIONS;
	cfg->http_max_connections_per_peer = HTTP_MAX_CONNECTIONS_PER_PEER;
	cfg->http_request_deadline = HTTP_REQUEST_DEADLINE;
	if (obj == NULL)
		return;
	if (!json_is_object(obj)) {
		problem(ld, "http", "must be an object");
		return;
	}
	check_keys(ld, "http", obj, keys);
	get_uint(ld, "http", obj, "max_connections", 1, 1000000,
	    &cfg->http_max_connections);
	get_uint(ld, "http", obj, "max_connections_per_peer", 1, 1000000,
	    &cfg->http_max_connections_per_peer);
	get_uint(ld, "http", obj, "request_deadline_seconds", 1, 300,
	    &cfg->http_request_deadline);
	if ((v = json_object_get(obj, "trusted_proxies")) == NULL)
		return;
	if (!json_is_array(v) ||
	    json_array_size(v) > HTTP_MAX_TRUSTED_PROXIES) {
		problem(ld, "http.trusted_proxies", "must be an array of at "
		    "most %d addresses or CIDRs", HTTP_MAX_TRUSTED_PROXIES);
		return;
	}
	if ((cfg->http_trusted_proxies = calloc(json_array_size(v) + 1,
	    sizeof(char *))) == NULL)
		abort();
	json_array_foreach(v, i, item) {
		char p[64];

		snprintf(p, sizeof(p), "http.trusted_proxies[%zu]", i);
		if (!json_is_string(item) ||
		    !http_address_valid(json_string_value(item))) {
			problem(ld, p, "must be an IP address or CIDR like "
			    "\"127.0.0.1\" or \"10.0.0.0/8\"");
			continue;
		}
		cfg->http_trusted_proxies[cfg->http_ntrusted_proxies++] =
		    xstrdup(json_string_value(item));
	}
}

/* An array of E.164 numbers at path (alerts.sms, alerts.supervisors)
 * into *list (NULL-terminated, owned by cfg) and *n. */
static void
load_numbers(struct load *ld, const char *path, json_t *arr, char ***list,
    size_t *n)
{
	json_t *item;
	size_t i;

	if (!json_is_array(arr)) {
		problem(ld, path, "must be an array of E.164 numbers");
		return;
	}
	if ((*list = calloc(json_array_size(arr) + 1, sizeof(char *))) ==
	    NULL)
		abort();
	json_array_foreach(arr, i, item) {
		const char *num = json_string_value(item);

		if (num == NULL || num[0] != '+' || strlen(num) < 8 ||
		    strspn(num + 1, "0123456789") != strlen(num + 1)) {
			char p[64];

			snprintf(p, sizeof(p), "%s[%zu]", path, i);
			problem(ld, p, "must be an E.164 number (\"+84…\")");
			continue;
		}
		(*list)[(*n)++] = xstrdup(num);
	}
}

static void
load_alerts(struct load *ld, struct config *cfg, json_t *alerts)
{
	static const char *const keys[] = { "sms", "channel", "url", "secret",
	    "console_url", "supervisors", "escalate_after_seconds", NULL };
	json_t *sms, *secret;
	const char *url, *s;

	if (!json_is_object(alerts)) {
		problem(ld, "alerts", "must be an object");
		return;
	}
	check_keys(ld, "alerts", alerts, keys);
	if ((sms = json_object_get(alerts, "sms")) != NULL)
		load_numbers(ld, "alerts.sms", sms, &cfg->alert_sms,
		    &cfg->nalert_sms);
	if ((sms = json_object_get(alerts, "supervisors")) != NULL)
		load_numbers(ld, "alerts.supervisors", sms,
		    &cfg->alert_supervisors, &cfg->nalert_supervisors);
	get_uint(ld, "alerts", alerts, "escalate_after_seconds", 0, 7 * 86400,
	    &cfg->alert_escalate_after);
	if ((s = get_string(ld, "alerts", alerts, "channel", false)) != NULL)
		cfg->alert_channel = xstrdup(s);
	if ((url = get_string(ld, "alerts", alerts, "url", false)) != NULL) {
		if (!url_allowed(url))
			problem(ld, "alerts.url", "must be an https:// URL "
			    "(plain http only for loopback)");
		else
			cfg->alert_url = xstrdup(url);
		if ((secret = json_object_get(alerts, "secret")) == NULL)
			problem(ld, "alerts.secret", "missing (required with "
			    "alerts.url: the alert is signed with it)");
		else
			cfg->alert_secret = get_secret_min(ld,
			    "alerts.secret", secret, SECRET_MIN);
	} else if (json_object_get(alerts, "secret") != NULL)
		problem(ld, "alerts.secret", "set without alerts.url");
	if ((s = get_string(ld, "alerts", alerts, "console_url", false))) {
		if (!url_allowed(s))
			problem(ld, "alerts.console_url", "must be an https:// "
			    "URL (plain http only for loopback)");
		else
			cfg->alert_link = xstrdup(s);
	}
}

/* health: what makes /readyz answer 503, and how often a degraded
 * condition is logged again. */
static void
load_health(struct load *ld, struct config *cfg, json_t *obj)
{
	static const char *const keys[] = { "min_free_mb",
	    "outbox_stall_seconds", "interval_seconds", NULL };

	/* SQLite needs room for the WAL and a checkpoint; 100 MB is hours
	 * of a busy day's rows, time to act before writes fail. */
	cfg->health_min_free_mb = 100;
	/* Longer than the outbox's longest wait between retries (10
	 * minutes by default) would miss nothing; as long is enough to
	 * say an aggregator has been failing for a while. */
	cfg->health_outbox_stall = 600;
	cfg->health_interval = 60;
	if (obj == NULL)
		return;
	if (!json_is_object(obj)) {
		problem(ld, "health", "must be an object");
		return;
	}
	check_keys(ld, "health", obj, keys);
	get_uint(ld, "health", obj, "min_free_mb", 0, 1000000000,
	    &cfg->health_min_free_mb);
	get_uint(ld, "health", obj, "outbox_stall_seconds", 0, 7 * 86400,
	    &cfg->health_outbox_stall);
	get_uint(ld, "health", obj, "interval_seconds", 1, 3600,
	    &cfg->health_interval);
}

/* "HH:MM-HH:MM" into minutes after midnight. */
static bool
parse_window(const char *s, unsigned *start, unsigned *end)
{
	unsigned h1, m1, h2, m2;
	int n = 0;

	if (sscanf(s, "%2u:%2u-%2u:%2u%n", &h1, &m1, &h2, &m2, &n) != 4 ||
	    s[n] != '\0' || strlen(s) != 11 || h1 > 24 || h2 > 24 ||
	    m1 > 59 || m2 > 59 || (h1 == 24 && m1 != 0) ||
	    (h2 == 24 && m2 != 0))
		return false;
	*start = h1 * 60 + m1;
	*end = h2 * 60 + m2;
	return *start != *end;
}

static void
load_windows(struct load *ld, struct config *cfg, json_t *obj)
{
	/* Defaults for the menu's answers; "now" and no answer get the
	 * daytime default, since "now" said nothing about later. */
	static const char *const defaults[][2] = {
		{ "default", "08:00-20:00" },
		{ "morning", "07:00-11:00" },
		{ "afternoon", "12:00-17:00" },
		{ "evening", "18:00-21:00" },
	};
	const size_t ndefaults = sizeof(defaults) / sizeof(defaults[0]);
	const char *key;
	json_t *v;
	size_t i, max = ndefaults + (obj ? json_object_size(obj) : 0);

	cfg->windows = calloc(max, sizeof(*cfg->windows));
	if (cfg->windows == NULL)
		abort();
	for (i = 0; i < ndefaults; i++) {
		struct config_window *w = &cfg->windows[cfg->nwindows++];

		w->name = xstrdup(defaults[i][0]);
		parse_window(defaults[i][1], &w->start_min, &w->end_min);
	}
	if (obj == NULL)
		return;
	if (!json_is_object(obj)) {
		problem(ld, "outbox.contact_windows", "must be an object of "
		    "\"answer\": \"HH:MM-HH:MM\"");
		return;
	}
	json_object_foreach(obj, key, v) {
		struct config_window *w = NULL;
		char p[128];

		snprintf(p, sizeof(p), "outbox.contact_windows.%s", key);
		for (i = 0; i < cfg->nwindows; i++)
			if (strcmp(cfg->windows[i].name, key) == 0)
				w = &cfg->windows[i];
		if (w == NULL) {
			w = &cfg->windows[cfg->nwindows++];
			w->name = xstrdup(key);
		}
		if (!json_is_string(v) || !parse_window(json_string_value(v),
		    &w->start_min, &w->end_min))
			problem(ld, p, "must be \"HH:MM-HH:MM\" in the "
			    "hotline's time zone (e.g. \"08:00-20:00\"; an end "
			    "before the start wraps midnight)");
	}
}

/* Words a text seen over a survivor's shoulder must not carry. */
static const char *
sensitive_word(const char *text)
{
	static const char *const words[] = { "traffick", "abuse", "police",
	    "exploit", "violence", "buon nguoi", "mua ban nguoi", "lam dung",
	    "cong an", "bao luc", "boc lot", NULL };
	char *folded = smstext_fold_vietnamese(text);
	const char *hit = NULL;

	if (folded == NULL)
		return NULL;
	for (char *c = folded; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	for (size_t i = 0; words[i] != NULL && hit == NULL; i++)
		if (strstr(folded, words[i]) != NULL)
			hit = words[i];
	free(folded);
	return hit;
}

/* The templates the daemon uses, with discreet defaults. */
static const struct {
	const char *name;
	const char *vi;
	const char *en;
} template_defaults[] = {
	/* To the counsellors on call; {task} and {link} only, never the
	 * caller's number. */
	{ "urgent_alert", "Yêu cầu khẩn #{task}. {link}",
	    "Urgent callback request #{task}. {link}" },
	/* To a caller a counsellor could not reach. */
	/* To a caller a counsellor could not reach: whoever holds the
	 * phone may read it, so it names no request, no task and nothing
	 * the caller said ("again", "your request" would). */
	{ "missed_call", "Chúng tôi đã gọi cho bạn. Chúng tôi sẽ gọi sau.",
	    "We tried to call you. We will call later." },
	/* To the counsellors on call: a token reached its reveal limit;
	 * {token} is its name, never a caller. */
	{ "security_alert", "Cảnh báo bảo mật: mã {token} đã xem quá nhiều "
	    "số. {link}", "Security: token {token} hit its limit of numbers "
	    "seen. {link}" },
	/* To the counsellors on call and the supervisors: an urgent
	 * request still unclaimed (alerts.escalate_after_seconds); {task}
	 * and {link} only, never the caller's number. */
	{ "urgent_escalation", "Nhắc lại: yêu cầu khẩn #{task} chưa có ai "
	    "nhận. {link}", "Reminder: urgent callback request #{task} is "
	    "still unclaimed. {link}" },
};

static void
template_put(struct config_template *t, const char *lang, const char *text)
{
	for (size_t i = 0; i < t->count; i++)
		if (strcmp(t->language[i], lang) == 0) {
			free(t->text[i]);
			t->text[i] = xstrdup(text);
			return;
		}
	if (t->count < CONFIG_TEMPLATE_LANGUAGES) {
		t->language[t->count] = xstrdup(lang);
		t->text[t->count++] = xstrdup(text);
	}
}

static void
load_templates(struct load *ld, struct config *cfg, json_t *obj,
    bool discreet)
{
	const size_t n = sizeof(template_defaults) /
	    sizeof(template_defaults[0]);
	const char *key, *lang, *w;
	json_t *v, *text;
	size_t i;

	cfg->templates = calloc(n, sizeof(*cfg->templates));
	if (cfg->templates == NULL)
		abort();
	cfg->ntemplates = n;
	for (i = 0; i < n; i++) {
		cfg->templates[i].name = template_defaults[i].name;
		template_put(&cfg->templates[i], "vi", template_defaults[i].vi);
		template_put(&cfg->templates[i], "en", template_defaults[i].en);
	}
	if (obj != NULL && !json_is_object(obj)) {
		problem(ld, "outbox.templates", "must be an object");
		return;
	}
	json_object_foreach(obj, key, v) {
		struct config_template *t = NULL;
		char p[160];

		snprintf(p, sizeof(p), "outbox.templates.%s", key);
		for (i = 0; i < n; i++)
			if (strcmp(cfg->templates[i].name, key) == 0)
				t = &cfg->templates[i];
		if (t == NULL) {
			problem(ld, p, "unknown template (known: urgent_alert, "
			    "missed_call, security_alert, urgent_escalation)");
			continue;
		}
		if (!json_is_object(v)) {
			problem(ld, p, "must be an object of \"language\": "
			    "\"text\"");
			continue;
		}
		json_object_foreach(v, lang, text) {
			const char *s = json_string_value(text);

			snprintf(p, sizeof(p), "outbox.templates.%s.%s", key,
			    lang);
			if (s == NULL || s[0] == '\0' ||
			    !smstext_utf8_valid(s, strlen(s)) ||
			    strlen(s) > 1000)
				problem(ld, p, "must be a non-empty string of "
				    "at most 1000 bytes");
			else if (strcmp(key, "missed_call") == 0 &&
			    strchr(s, '{') != NULL)
				problem(ld, p, "a caller's text takes no "
				    "placeholder: {task} or {link} would tell "
				    "whoever reads their phone about a request");
			else if (t->count == CONFIG_TEMPLATE_LANGUAGES)
				problem(ld, p, "too many languages (at most "
				    "%d)", CONFIG_TEMPLATE_LANGUAGES);
			else
				template_put(t, lang, s);
		}
	}
	for (i = 0; discreet && i < n; i++)
		for (size_t j = 0; j < cfg->templates[i].count; j++)
			if ((w = sensitive_word(cfg->templates[i].text[j]))) {
				char p[160];

				snprintf(p, sizeof(p), "outbox.templates.%s.%s",
				    cfg->templates[i].name,
				    cfg->templates[i].language[j]);
				problem(ld, p, "mentions \"%s\": a text read "
				    "over a caller's shoulder must be discreet "
				    "(set outbox.discreet to false to allow "
				    "it)",
				    w);
			}
}

static void
load_outbox(struct load *ld, struct config *cfg, json_t *obj)
{
	static const char *const keys[] = { "max_attempts",
	    "max_delay_seconds", "max_in_flight", "connect_timeout_seconds",
	    "timeout_seconds", "conversation_seconds", "contact_windows",
	    "templates", "discreet", NULL };
	json_t *v;
	bool discreet = true;

	/* An aggregator down for an hour delays texts: 25 tries with waits
	 * doubling to 10 minutes span about an hour and a half. */
	cfg->outbox_max_attempts = 25;
	cfg->outbox_max_delay = 600;
	cfg->outbox_max_in_flight = 4;
	/* Within the 10 s a stopping daemon gives sends in flight. */
	cfg->outbox_connect_timeout = 3;
	cfg->outbox_timeout = 8;
	cfg->outbox_conversation = 300;
	if (obj != NULL && !json_is_object(obj)) {
		problem(ld, "outbox", "must be an object");
		obj = NULL;
	}
	if (obj != NULL) {
		check_keys(ld, "outbox", obj, keys);
		get_uint(ld, "outbox", obj, "max_attempts", 1, 100,
		    &cfg->outbox_max_attempts);
		get_uint(ld, "outbox", obj, "max_delay_seconds", 1, 86400,
		    &cfg->outbox_max_delay);
		get_uint(ld, "outbox", obj, "max_in_flight", 1, 64,
		    &cfg->outbox_max_in_flight);
		get_uint(ld, "outbox", obj, "connect_timeout_seconds", 1, 60,
		    &cfg->outbox_connect_timeout);
		get_uint(ld, "outbox", obj, "timeout_seconds", 1, 300,
		    &cfg->outbox_timeout);
		get_uint(ld, "outbox", obj, "conversation_seconds", 0, 86400,
		    &cfg->outbox_conversation);
		if ((v = json_object_get(obj, "discreet")) != NULL) {
			if (!json_is_boolean(v))
				problem(ld, "outbox.discreet", "must be true "
				    "or false, not %s", type_name(v));
			else
				discreet = json_is_true(v);
		}
	}
	load_windows(ld, cfg, obj ? json_object_get(obj, "contact_windows") :
	    NULL);
	load_templates(ld, cfg, obj ? json_object_get(obj, "templates") :
	    NULL, discreet);
}

static void
load_metrics(struct load *ld, struct config *cfg, json_t *obj)
{
	static const char *const keys[] = { "allow_loopback", NULL };
	json_t *v;

	cfg->metrics_allow_loopback = true;
	if (obj == NULL)
		return;
	if (!json_is_object(obj)) {
		problem(ld, "metrics", "must be an object");
		return;
	}
	check_keys(ld, "metrics", obj, keys);
	if ((v = json_object_get(obj, "allow_loopback")) == NULL)
		return;
	if (!json_is_boolean(v))
		problem(ld, "metrics.allow_loopback", "must be true or false, "
		    "not %s", type_name(v));
	else
		cfg->metrics_allow_loopback = json_is_true(v);
}

/* How privacy.data_key's text is to be read, in words for errors. */
#define DATA_KEY_FORM "32 random bytes written as 64 hex digits (or " \
	"base64), e.g. `openssl rand -hex 32`"

/*
 * privacy.data_key (required: every number and text is sealed under
 * it) and privacy.key_store.  Where the key comes from is kept, so the
 * CLI, which skips secrets, can read this one when a command needs it.
 */
static void
load_data_key(struct load *ld, struct config *cfg, json_t *privacy)
{
	json_t *key = json_object_get(privacy, "data_key");
	const char *s;
	char *text;

	if ((s = get_string(ld, "privacy", privacy, "key_store", false)) !=
	    NULL) {
		if (*s == '\0')
			problem(ld, "privacy.key_store", "must be a file path");
		else
			cfg->key_store = xstrdup(s);
	}
	if (key == NULL) {
		problem(ld, "privacy.data_key", "missing (required: the master "
		    "key of encryption at rest, %s)", DATA_KEY_FORM);
		return;
	}
	if (json_is_object(key) && json_object_size(key) == 1) {
		const char *env = json_string_value(json_object_get(key, "env"));
		const char *file = json_string_value(json_object_get(key,
		    "file"));
		const char *creds = getenv("CREDENTIALS_DIRECTORY");
		char full[PATH_MAX];

		if (env != NULL)
			cfg->data_key_env = xstrdup(env);
		else if (file != NULL) {
			resolve_path(creds && *creds ? creds : ld->dir, file,
			    full, sizeof(full));
			cfg->data_key_file = xstrdup(full);
		}
	}
	if ((text = get_secret_min(ld, "privacy.data_key", key, 0)) == NULL)
		return;
	if (seal_key_parse(text, cfg->data_key) < 0)
		problem(ld, "privacy.data_key", "must be %s", DATA_KEY_FORM);
	else
		cfg->has_data_key = true;
	explicit_bzero(text, strlen(text));
	free(text);
}

int
config_data_key(const struct config *cfg, unsigned char key[32], char *err,
    size_t errlen)
{
	char why[PATH_MAX + 64], *text = NULL;
	size_t len = 0;
	int rc = -1;

	if (cfg->has_data_key) {
		memcpy(key, cfg->data_key, 32);
		return 0;
	}
	if (cfg->data_key_env != NULL) {
		const char *e = getenv(cfg->data_key_env);

		if (e == NULL || *e == '\0') {
			snprintf(err, errlen, "privacy.data_key: environment "
			    "variable %s is not set", cfg->data_key_env);
			return -1;
		}
		if (seal_key_parse(e, key) == 0)
			return 0;
		snprintf(err, errlen, "privacy.data_key: must be %s",
		    DATA_KEY_FORM);
		return -1;
	}
	if (cfg->data_key_file == NULL) {
		snprintf(err, errlen, "privacy.data_key: not set");
		return -1;
	}
	if ((text = read_file(cfg->data_key_file, SECRET_FILE_MAX, &len, why,
	    sizeof(why))) == NULL) {
		snprintf(err, errlen, "privacy.data_key: %s (numbers and texts "
		    "are sealed under it: run this as a user who can read it)",
		    why);
		return -1;
	}
	if (seal_key_parse(text, key) == 0)
		rc = 0;
	else
		snprintf(err, errlen, "privacy.data_key: %s must hold %s",
		    cfg->data_key_file, DATA_KEY_FORM);
	explicit_bzero(text, len);
	free(text);
	return rc;
}

/* The pseudonym key, read even by a tool that reads no other secret
 * when it asked for it (hotlinectl erase --number). */
static char *
pseudonym_key(struct load *ld, json_t *key, const struct config_overrides *ov)
{
	bool skip = ld->skip_secrets;
	char *s;

	if (ov != NULL && ov->pseudonym_key)
		ld->skip_secrets = false;
	s = get_secret_min(ld, "privacy.pseudonym_key", key, 0);
	ld->skip_secrets = skip;
	return s;
}

static void
load_root(struct load *ld, struct config *cfg, json_t *root,
    const struct config_overrides *ov)
{
	static const char *const root_keys[] = { "listen", "database",
	    "menu", "timezone", "log", "channels", "queue", "privacy",
	    "alerts", "sms", "outbox", "http", "development", "metrics",
	    "health", "ussd", NULL };
	static const char *const sms_keys[] = { "session_idle_seconds",
	    "auto_reply_interval_seconds", NULL };
	static const char *const ussd_keys[] = { "resume_seconds", NULL };
	static const char *const log_keys[] = { "level", "format", NULL };
	static const char *const queue_keys[] = { "lease_seconds",
	    "max_attempts", "max_reveals_per_hour",
	    "supervisor_max_reveals_per_hour", NULL };
	static const char *const privacy_keys[] = { "retention_days",
	    "audit_retention_days", "purge_interval_seconds",
	    "pseudonym_key", "data_key", "key_store", NULL };
	char host[256], why[256];
	const char *s;
	json_t *v;

	check_keys(ld, "", root, root_keys);

	s = ov && ov->listen ? ov->listen :
	    get_string(ld, "", root, "listen", true);
	if (s != NULL) {
		if (config_parse_listen(s, host, sizeof(host),
		    &cfg->listen_port, why, sizeof(why)) < 0)
			problem(ld, ov && ov->listen ? "--listen" : "listen",
			    "%s", why);
		else
			cfg->listen_host = xstrdup(host);
	}
	s = ov && ov->database ? ov->database :
	    get_string(ld, "", root, "database", true);
	if (s != NULL)
		cfg->database = xstrdup(s);
	if ((s = get_string(ld, "", root, "menu", true)) != NULL) {
		char full[PATH_MAX];

		resolve_path(ld->dir, s, full, sizeof(full));
		cfg->menu_path = xstrdup(full);
	}
	s = get_string(ld, "", root, "timezone", false);
	load_timezone(ld, cfg, s ? s : "Asia/Ho_Chi_Minh");

	cfg->log_level = LOG_INFO;
	if ((v = json_object_get(root, "log")) != NULL) {
		if (!json_is_object(v))
			problem(ld, "log", "must be an object");
		else {
			check_keys(ld, "log", v, log_keys);
			if ((s = get_string(ld, "log", v, "level", false))) {
				int l = log_level_parse(s);

				if (l < 0)
					problem(ld, "log.level", "\"%s\" is not "
					    "debug, info, warn or error", s);
				else
					cfg->log_level = (enum log_level)l;
			}
			if ((s = get_string(ld, "log", v, "format", false)) &&
			    strcmp(s, "logfmt") != 0)
				problem(ld, "log.format", "\"%s\" is not "
				    "supported (only \"logfmt\")", s);
		}
	}

	cfg->lease_seconds = 900;
	cfg->max_attempts = 5;
	cfg->max_reveals_per_hour = 12;
	cfg->supervisor_max_reveals_per_hour = 120;
	if ((v = json_object_get(root, "queue")) != NULL) {
		if (!json_is_object(v))
			problem(ld, "queue", "must be an object");
		else {
			check_keys(ld, "queue", v, queue_keys);
			get_uint(ld, "queue", v, "lease_seconds", 30, 86400,
			    &cfg->lease_seconds);
			get_uint(ld, "queue", v, "max_attempts", 1, 100,
			    &cfg->max_attempts);
			get_uint(ld, "queue", v, "max_reveals_per_hour", 1,
			    1000, &cfg->max_reveals_per_hour);
			get_uint(ld, "queue", v,
			    "supervisor_max_reveals_per_hour", 1, 10000,
			    &cfg->supervisor_max_reveals_per_hour);
		}
	}

	cfg->sms_idle_seconds = 30 * 60;
	cfg->sms_reply_interval = 10 * 60;
	if ((v = json_object_get(root, "sms")) != NULL) {
		if (!json_is_object(v))
			problem(ld, "sms", "must be an object");
		else {
			check_keys(ld, "sms", v, sms_keys);
			get_uint(ld, "sms", v, "session_idle_seconds", 1,
			    7 * 86400, &cfg->sms_idle_seconds);
			get_uint(ld, "sms", v, "auto_reply_interval_seconds", 0,
			    86400, &cfg->sms_reply_interval);
		}
	}

	cfg->ussd_resume_seconds = 600;
	if ((v = json_object_get(root, "ussd")) != NULL) {
		if (!json_is_object(v))
			problem(ld, "ussd", "must be an object");
		else {
			check_keys(ld, "ussd", v, ussd_keys);
			get_uint(ld, "ussd", v, "resume_seconds", 0, 86400,
			    &cfg->ussd_resume_seconds);
		}
	}

	cfg->retention_days = 90;
	cfg->audit_retention_days = 365;
	cfg->purge_interval = 3600;
	if ((v = json_object_get(root, "privacy")) == NULL)
		problem(ld, "privacy", "missing (privacy.pseudonym_key is "
		    "required)");
	else if (!json_is_object(v))
		problem(ld, "privacy", "must be an object");
	else {
		json_t *key = json_object_get(v, "pseudonym_key");

		check_keys(ld, "privacy", v, privacy_keys);
		get_uint(ld, "privacy", v, "retention_days", 1, 3650,
		    &cfg->retention_days);
		get_uint(ld, "privacy", v, "audit_retention_days", 1, 36500,
		    &cfg->audit_retention_days);
		get_uint(ld, "privacy", v, "purge_interval_seconds", 1, 86400,
		    &cfg->purge_interval);
		/* The trail of who saw and erased what must outlive what it
		 * is about. */
		if (cfg->audit_retention_days < cfg->retention_days)
			problem(ld, "privacy.audit_retention_days", "must be at "
			    "least privacy.retention_days (%u): the audit trail "
			    "is kept at least as long as the data it is about; "
			    "raise it or lower retention_days",
			    cfg->retention_days);
		if (key == NULL)
			problem(ld, "privacy.pseudonym_key", "missing "
			    "(required)");
		else if ((s = pseudonym_key(ld, key, ov))) {
			cfg->pseudonym_key = (unsigned char *)s;
			cfg->pseudonym_key_len = strlen(s);
			if (cfg->pseudonym_key_len < PSEUDONYM_KEY_MIN)
				problem(ld, "privacy.pseudonym_key", "must be "
				    "at least %d bytes", PSEUDONYM_KEY_MIN);
		}
		load_data_key(ld, cfg, v);
	}

	if ((v = json_object_get(root, "channels")) == NULL)
		problem(ld, "channels", "missing (at least one channel)");
	else if (!json_is_array(v) || json_array_size(v) == 0)
		problem(ld, "channels", "must be a non-empty array");
	else {
		size_t i;
		json_t *item;

		cfg->channels = calloc(json_array_size(v),
		    sizeof(*cfg->channels));
		if (cfg->channels == NULL)
			abort();
		json_array_foreach(v, i, item)
			load_channel(ld, cfg, i, item);
	}

	cfg->alert_escalate_after = 300;
	if ((v = json_object_get(root, "alerts")) != NULL)
		load_alerts(ld, cfg, v);
	load_health(ld, cfg, json_object_get(root, "health"));
	if (cfg->alert_channel != NULL &&
	    config_channel_find(cfg, cfg->alert_channel) == NULL)
		problem(ld, "alerts.channel", "\"%s\" is not a channel in "
		    "channels", cfg->alert_channel);
	load_outbox(ld, cfg, json_object_get(root, "outbox"));

	load_http(ld, cfg, json_object_get(root, "http"));
	load_metrics(ld, cfg, json_object_get(root, "metrics"));
	if ((v = json_object_get(root, "development")) != NULL) {
		if (!json_is_boolean(v))
			problem(ld, "development", "must be true or false, not "
			    "%s", type_name(v));
		else
			cfg->development = json_is_true(v);
	}
	/* The console channel takes unauthenticated requests from
	 * loopback, and a reverse proxy on this host that adds no header
	 * makes every request loopback: only where that is meant. */
	for (size_t i = 0; i < cfg->nchannels; i++)
		if (cfg->channels[i].provider == &provider_console &&
		    !cfg->development) {
			char p[64];

			snprintf(p, sizeof(p), "channels[%zu].provider", i);
			problem(ld, p, "the console channel takes requests "
			    "without authentication, for development only; "
			    "set \"development\": true at the top level to "
			    "allow it, never in production");
		}
	/* The console channel trusts loopback peers; listening elsewhere
	 * would let the network reach it. */
	for (size_t i = 0; cfg->listen_host != NULL && i < cfg->nchannels; i++)
		if (cfg->channels[i].provider == &provider_console &&
		    !host_is_loopback(cfg->listen_host)) {
			char p[64];

			snprintf(p, sizeof(p), "channels[%zu].provider", i);
			problem(ld, p, "the console channel needs a loopback "
			    "listen address (127.0.0.1 or ::1), not %s",
			    cfg->listen_host);
		}

	if (cfg->menu_path != NULL)
		load_menu(ld, cfg);
}

struct config *
config_load(const char *path, const struct config_overrides *overrides,
    char *err, size_t errlen)
{
	struct load ld = { .err = err, .errlen = errlen,
	    .skip_secrets = overrides != NULL && overrides->skip_secrets };
	struct config *cfg;
	json_error_t jerr;
	json_t *root;
	const char *slash;

	if (errlen)
		err[0] = '\0';
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		abort();
	slash = strrchr(path, '/');
	if (slash != NULL)
		snprintf(ld.dir, sizeof(ld.dir), "%.*s",
		    (int)(slash - path), path);
	if (slash == path)
		snprintf(ld.dir, sizeof(ld.dir), "/");

	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		if (jerr.line > 0)
			problem(&ld, path, "line %d column %d: %s", jerr.line,
			    jerr.column, jerr.text);
		else
			problem(&ld, path, "%s", jerr.text);
		goto fail;
	}
	if (!json_is_object(root)) {
		problem(&ld, path, "the top level must be an object");
		json_decref(root);
		goto fail;
	}
	load_root(&ld, cfg, root, overrides);
	json_decref(root);
	/* The key store sits beside the database unless told otherwise
	 * (after --database, which moves both). */
	if (ld.problems == 0 && cfg->key_store == NULL &&
	    cfg->database != NULL) {
		size_t n = strlen(cfg->database) + sizeof(".keys");

		if ((cfg->key_store = malloc(n)) == NULL)
			abort();
		snprintf(cfg->key_store, n, "%s.keys", cfg->database);
	}
	if (ld.problems == 0)
		return cfg;
fail:
	config_free(cfg);
	return NULL;
}

static void
channel_clear(struct config_channel *ch)
{
	free(ch->name);
	free(ch->language);
	free(ch->default_country);
	free(ch->send_url);
	for (size_t i = 0; i < ch->nvalues; i++) {
		struct config_value *cv = &ch->values[i];

		if (cv->value) {
			/* Secrets do not linger in freed memory. */
			explicit_bzero(cv->value, strlen(cv->value));
			free(cv->value);
		}
		for (size_t j = 0; j < cv->count; j++)
			free(cv->list[j]);
		free(cv->list);
	}
	free(ch->values);
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->nchannels; i++)
		channel_clear(&cfg->channels[i]);
	free(cfg->channels);
	free(cfg->listen_host);
	free(cfg->database);
	free(cfg->menu_path);
	menu_free(cfg->menu);
	free(cfg->timezone);
	if (cfg->pseudonym_key) {
		explicit_bzero(cfg->pseudonym_key, cfg->pseudonym_key_len);
		free(cfg->pseudonym_key);
	}
	explicit_bzero(cfg->data_key, sizeof(cfg->data_key));
	free(cfg->data_key_file);
	free(cfg->data_key_env);
	free(cfg->key_store);
	for (size_t i = 0; i < cfg->nalert_sms; i++)
		free(cfg->alert_sms[i]);
	free(cfg->alert_sms);
	for (size_t i = 0; i < cfg->nalert_supervisors; i++)
		free(cfg->alert_supervisors[i]);
	free(cfg->alert_supervisors);
	free(cfg->alert_url);
	free(cfg->alert_channel);
	if (cfg->alert_secret != NULL) {
		explicit_bzero(cfg->alert_secret, strlen(cfg->alert_secret));
		free(cfg->alert_secret);
	}
	free(cfg->alert_link);
	for (size_t i = 0; i < cfg->http_ntrusted_proxies; i++)
		free(cfg->http_trusted_proxies[i]);
	free(cfg->http_trusted_proxies);
	for (size_t i = 0; i < cfg->nwindows; i++)
		free(cfg->windows[i].name);
	free(cfg->windows);
	for (size_t i = 0; i < cfg->ntemplates; i++)
		for (size_t j = 0; j < cfg->templates[i].count; j++) {
			free(cfg->templates[i].language[j]);
			free(cfg->templates[i].text[j]);
		}
	free(cfg->templates);
	free(cfg);
}

const struct config_channel *
config_channel_find(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nchannels; i++)
		if (strcmp(cfg->channels[i].name, name) == 0)
			return &cfg->channels[i];
	return NULL;
}

const struct config_window *
config_window_for(const struct config *cfg, const char *preferred_time)
{
	const struct config_window *def = NULL;

	for (size_t i = 0; i < cfg->nwindows; i++) {
		if (preferred_time != NULL &&
		    strcmp(cfg->windows[i].name, preferred_time) == 0)
			return &cfg->windows[i];
		if (strcmp(cfg->windows[i].name, "default") == 0)
			def = &cfg->windows[i];
	}
	return def;
}

const char *
config_template(const struct config *cfg, const char *name,
    const char *language)
{
	const char *fallback = cfg->menu ?
	    menu_default_language(cfg->menu) : "vi";

	for (size_t i = 0; i < cfg->ntemplates; i++) {
		const struct config_template *t = &cfg->templates[i];

		if (strcmp(t->name, name) != 0)
			continue;
		for (int pass = 0; pass < 2; pass++)
			for (size_t j = 0; j < t->count; j++)
				if (strcmp(t->language[j], pass == 0 &&
				    language ? language : fallback) == 0)
					return t->text[j];
		return t->count > 0 ? t->text[0] : NULL;
	}
	return NULL;
}

const char *
config_channel_value(const struct config_channel *ch, const char *key)
{
	for (size_t i = 0; i < ch->nvalues; i++)
		if (strcmp(ch->values[i].name, key) == 0)
			return ch->values[i].value;
	return NULL;
}

char *const *
config_channel_list(const struct config_channel *ch, const char *key,
    size_t *count)
{
	for (size_t i = 0; i < ch->nvalues; i++)
		if (strcmp(ch->values[i].name, key) == 0 &&
		    ch->values[i].list) {
			*count = ch->values[i].count;
			return ch->values[i].list;
		}
	*count = 0;
	return NULL;
}
