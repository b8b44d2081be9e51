/*
 * fuzz_provider: one aggregator adapter (FUZZ_PROVIDER, set by the
 * Makefile: fuzz_provider_twilio, ...) fed a whole request.
 *
 * Input (see fuzz.h): header lines, a blank line, the body.  The
 * harness's lines: ":method" (POST), ":path" (/v1/sms/fuzz), ":query"
 * (none), ":peer" (203.0.113.9), ":forwarded" (no), ":now" (0),
 * ":status" (the HTTP status of a send answer, 200), ":reply-to" and
 * ":reply-keyword" (V-COM's MO being answered), ":end" (USSD END), and
 * ":cfg-KEY" to set a channel key (":cfg-allow_ips: a,b" for a list;
 * ":unset: KEY" to leave one out).  The channel's defaults are the
 * secrets the unit tests sign their fixtures with, so a seed built from
 * a signed fixture passes verify.  Content-Type is the header of that
 * name.
 *
 * Every entry point of the adapter runs on the same request: verify,
 * dlr_verify, the USSD, SMS and DLR parsers, the send-answer parser on
 * the body, and ussd_format / send_build with the body as text.  What
 * each gives back is NUL-terminated within its buffer and valid UTF-8,
 * its verdict one of the enum's, and no error or reason quotes a phone
 * number from the input.  Output structs start as their callers hand
 * them over: the USSD request uninitialised (ussd.c), the SMS and the
 * report zeroed (sms.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "provider.h"

#ifndef FUZZ_PROVIDER
#error "build with -DFUZZ_PROVIDER=provider_NAME"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The unit tests' secrets and names (tests/unit/test_provider*.c). */
static const struct {
	const char *key, *value;
} defaults[] = {
	{ "account_sid", "AC0123456789abcdef0123456789abcdef" },
	{ "auth_token", "tw-auth-token-0123" },
	{ "public_url", "https://hotline.example.org" },
	{ "secret", "json-secret-0123" },
	{ "signature_secret", "vonage-sig-secret-0123" },
	{ "api_key", "k" },
	{ "api_secret", "s" },
	{ "secret_key", "sk" },
	{ "cpid", "CP0001" },
	{ "private_key", "demo_private_key_123" },
	{ "client_id", "demo" },
	{ "secure_key", "demo_secure_key" },
	{ "service_id", "7068" },
	{ "username", "hotline_app" },
	{ "callback_token", "t0k3n-secret" },
	{ "short_code", "1567" },
	{ "from", "HOTLINE" },
	{ "brandname", "HOTLINE" },
};

#define LIST_MAX 8

struct channel {
	struct config_channel ch;
	struct config_value values[32];
	char *lists[32][LIST_MAX];
	char list_storage[32][256];
};

/* The channel the request's ":cfg-" lines describe. */
static void
channel_build(struct channel *c, const struct fuzz_request *r)
{
	const struct provider *p = &FUZZ_PROVIDER;
	char name[80];
	size_t n = 0;

	memset(c, 0, sizeof(*c));
	c->ch.name = (char *)"fuzz";
	c->ch.provider = p;
	c->ch.default_country = (char *)"84";
	for (const struct provider_key *k = p->keys; k->name != NULL &&
	    n < 32; k++) {
		struct config_value *v = &c->values[n];
		const char *val = NULL, *unset = fuzz_request_get(r, ":unset");

		if (unset != NULL && strcmp(unset, k->name) == 0)
			continue;
		snprintf(name, sizeof(name), ":cfg-%s", k->name);
		/* Config values come through Jansson: valid UTF-8. */
		if ((val = fuzz_request_get(r, name)) != NULL &&
		    !fuzz_utf8_valid(val, strlen(val)))
			val = NULL;
		for (size_t i = 0; val == NULL && i < sizeof(defaults) /
		    sizeof(defaults[0]); i++)
			if (strcmp(defaults[i].key, k->name) == 0)
				val = defaults[i].value;
		if (val == NULL)
			continue;
		v->name = k->name;
		if (k->type == PROVIDER_KEY_STRING_LIST ||
		    k->type == PROVIDER_KEY_ADDRESS_LIST) {
			char *s = c->list_storage[n], *comma;

			snprintf(s, sizeof(c->list_storage[n]), "%s", val);
			v->list = c->lists[n];
			while (v->count < LIST_MAX) {
				v->list[v->count++] = s;
				if ((comma = strchr(s, ',')) == NULL)
					break;
				*comma = '\0';
				s = comma + 1;
			}
		} else
			v->value = (char *)val;
		n++;
	}
	c->ch.values = c->values;
	c->ch.nvalues = n;
}

static const char *
get_or(const struct fuzz_request *r, const char *name, const char *dflt)
{
	const char *v = fuzz_request_get(r, name);

	return v != NULL ? v : dflt;
}

/* A line standing for a value the daemon stored, so valid UTF-8. */
static const char *
get_text(const struct fuzz_request *r, const char *name)
{
	const char *v = fuzz_request_get(r, name);

	return v != NULL && fuzz_utf8_valid(v, strlen(v)) ? v : NULL;
}

/* err after a call: terminated, valid UTF-8, quoting no number. */
static void
check_err(const char *what, const char *err, size_t len, const uint8_t *data,
    size_t size)
{
	fuzz_check_text(what, err, len);
	if (fuzz_quotes_digits(err, data, size, 8)) {
		fprintf(stderr, "fuzz: %s quotes digits of the input\n", what);
		abort();
	}
}

static void
check_verdict(enum provider_verdict v)
{
	switch (v) {
	case PROVIDER_OK:
	case PROVIDER_BAD_REQUEST:
	case PROVIDER_FORBIDDEN:
	case PROVIDER_UNSUPPORTED:
		return;
	}
	fuzz_fail("a verdict outside the enum");
}

/* FUZZ_VERBOSE=1 prints each verdict: how to see what a seed reaches. */
#define CALL(what, v, call) do { \
	memset(err, 0x55, sizeof(err)); \
	err[0] = '\0'; \
	check_verdict(v = call); \
	check_err(what, err, sizeof(err), data, size); \
	if (getenv("FUZZ_VERBOSE") != NULL) \
		fprintf(stderr, "%s: verdict %d: %s\n", what, (int)v, err); \
} while (0)

static void
run_parsers(const struct provider *p, const struct config_channel *ch,
    const struct provider_input *in, const uint8_t *data, size_t size)
{
	char err[256];
	enum provider_verdict v;

	CALL("verify err", v, p->verify(ch, in, err, sizeof(err)));
	if (p->dlr_verify != NULL)
		CALL("dlr_verify err", v, p->dlr_verify(ch, in, err,
		    sizeof(err)));
	if (p->ussd_parse != NULL) {
		struct ussd_request u;

		/* Uninitialised, as in ussd.c. */
		memset(&u, 0x55, sizeof(u));
		CALL("ussd_parse err", v, p->ussd_parse(in, &u, err,
		    sizeof(err)));
		if (v == PROVIDER_OK) {
			FUZZ_CHECK_TEXT(u.session_id);
			FUZZ_CHECK_TEXT(u.service_code);
			FUZZ_CHECK_TEXT(u.phone);
			FUZZ_CHECK_TEXT(u.network_code);
			FUZZ_CHECK_TEXT(u.text);
		}
	}
	if (p->sms_parse != NULL) {
		/* Zeroed, as sms.c hands it over (Africa's Talking leaves
		 * the concat fields as they were). */
		struct sms_message *m = calloc(1, sizeof(*m));

		if (m == NULL)
			abort();
		CALL("sms_parse err", v, p->sms_parse(ch, in, m, err,
		    sizeof(err)));
		if (v == PROVIDER_OK) {
			FUZZ_CHECK_TEXT(m->id);
			FUZZ_CHECK_TEXT(m->from);
			FUZZ_CHECK_TEXT(m->to);
			FUZZ_CHECK_TEXT(m->text);
			FUZZ_CHECK_TEXT(m->received_at);
			FUZZ_CHECK_TEXT(m->concat_ref);
			if (m->concat_total != 0 && (m->concat_part < 1 ||
			    m->concat_part > m->concat_total))
				fuzz_fail("sms_parse: concat_part out of "
				    "1..concat_total");
		}
		free(m);
	}
	if (p->dlr_parse != NULL) {
		struct dlr_report d = { 0 };	/* as sms.c has it */
		CALL("dlr_parse err", v, p->dlr_parse(ch, in, &d, err,
		    sizeof(err)));
		if (v == PROVIDER_OK) {
			FUZZ_CHECK_TEXT(d.provider_ref);
			FUZZ_CHECK_TEXT(d.reason);
			FUZZ_CHECK_TEXT(d.send_key);
			FUZZ_CHECK_TEXT(d.status_code);
			if (d.status != DLR_SENT && d.status != DLR_DELIVERED &&
			    d.status != DLR_FAILED && d.status != DLR_UNKNOWN)
				fuzz_fail("dlr_parse: status outside the "
				    "enum");
		}
	}
	if (p->sms_ack != NULL) {
		struct provider_reply rep;

		memset(&rep, 0x55, sizeof(rep));
		if (p->sms_ack(&rep) == 0)
			FUZZ_CHECK_TEXT(rep.body);
	}
}

/* A run of 6 or more digits: what provider_reason_set replaces. */
static bool
has_digit_run(const char *s)
{
	size_t run = 0;

	for (; *s != '\0'; s++)
		if ((run = *s >= '0' && *s <= '9' ? run + 1 : 0) >= 6)
			return true;
	return false;
}

static void
run_send(const struct provider *p, const struct config_channel *ch,
    const struct fuzz_request *r, time_t now)
{
	const char *body = r->body;
	bool text_ok = fuzz_utf8_valid(body, r->body_len);

	if (p->send_parse != NULL) {
		struct send_answer a;
		long status = strtol(get_or(r, ":status", "200"), NULL, 10);

		/* What curl hands the outbox: three digits. */
		if (status < 100 || status > 599)
			status = 200;

		memset(&a, 0x55, sizeof(a));
		p->send_parse(ch, status, body, r->body_len, &a);
		switch (a.verdict) {
		case SEND_ACCEPTED:
		case SEND_RETRY:
		case SEND_REJECTED:
		case SEND_UNKNOWN:
			break;
		default:
			fuzz_fail("send_parse: verdict outside the enum");
		}
		FUZZ_CHECK_TEXT(a.reason);
		if (has_digit_run(a.reason))
			fuzz_fail("send_parse: a reason with 6 digits in a "
			    "row (a phone number?)");
		if (a.verdict == SEND_ACCEPTED)
			FUZZ_CHECK_TEXT(a.provider_ref);
	}
	if (!text_ok)
		return;
	if (p->ussd_format != NULL) {
		struct provider_reply rep;

		memset(&rep, 0x55, sizeof(rep));
		if (p->ussd_format(fuzz_request_get(r, ":end") != NULL, body,
		    &rep) == 0)
			FUZZ_CHECK_TEXT(rep.body);
	}
	if (p->send_build != NULL) {
		struct send_http h;
		struct send_request req = {
			.channel = "fuzz",
			.to = "+84901234567",
			.text = body,
			.unicode = fuzz_request_get(r, ":unicode") != NULL,
			.send_key = "0123456789abcdef",
			.reply_to = get_text(r, ":reply-to"),
			.reply_keyword = get_text(r, ":reply-keyword"),
			.now = now,
		};
		char err[256];

		memset(&h, 0x55, sizeof(h));
		h.body = NULL;
		memset(err, 0x55, sizeof(err));
		err[0] = '\0';
		if (p->send_build(ch, &req, &h, err, sizeof(err)) == 0) {
			FUZZ_CHECK_TEXT(h.url);
			FUZZ_CHECK_TEXT(h.userpwd);
			if (h.nheaders > PROVIDER_SEND_HEADERS)
				fuzz_fail("send_build: too many headers");
			for (size_t i = 0; i < h.nheaders; i++)
				FUZZ_CHECK_TEXT(h.headers[i]);
			if (h.body == NULL ||
			    strlen(h.body) != h.body_len)
				fuzz_fail("send_build: body length");
			provider_send_http_clear(&h);
		} else {
			fuzz_check_text("send_build err", err, sizeof(err));
			provider_send_http_clear(&h);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct provider *p = &FUZZ_PROVIDER;
	struct fuzz_request r;
	struct channel *c;
	struct provider_input in;
	const char *ct;

	fuzz_request_parse(&r, data, size);
	if ((c = malloc(sizeof(*c))) == NULL)
		abort();
	channel_build(c, &r);
	ct = fuzz_request_get(&r, "Content-Type");
	in = (struct provider_input){
		.method = get_or(&r, ":method", "POST"),
		.path = get_or(&r, ":path", "/v1/sms/fuzz"),
		.query = fuzz_request_get(&r, ":query"),
		.content_type = ct,
		.body = r.body,
		.body_len = r.body_len,
		.peer = get_or(&r, ":peer", "203.0.113.9"),
		.forwarded = fuzz_request_get(&r, ":forwarded") != NULL,
		.header = fuzz_request_header,
		.header_ctx = &r,
		.now = (time_t)strtoll(get_or(&r, ":now", "0"), NULL, 10),
	};
	run_parsers(p, &c->ch, &in, data, size);
	run_send(p, &c->ch, &r, in.now);
	free(c);
	fuzz_request_clear(&r);
	return 0;
}
