/*
 * The generic JSON provider (DESIGN.md "Config"): for a gateway we write
 * ourselves, or a small aggregator bridged by a script.  Requests are
 * signed X-Hotline-Signature: t=UNIX,v1=HEX, HEX the lowercase hex of
 * HMAC-SHA256(secret, t + "." + raw body).  Signing the timestamp lets a
 * receiver refuse replays older than five minutes, which Twilio's scheme
 * cannot (reference/reliability.md §3.3).
 */
#include "provider.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "config.h"
#include "smstext.h"

#define JS_TYPE "application/json"
/* How far t may be from our clock, either way. */
#define JS_SKEW_SECONDS 300
/* Enough for any date until the year 33658; keeps t far from overflow. */
#define JS_T_DIGITS_MAX 12
#define JS_SHA256_LEN 32
#define JS_HEX_LEN (2 * JS_SHA256_LEN)

/* from: the sender a send names (a short code, a SIM's number), for a
 * gateway with more than one. */
static const struct provider_key js_keys[] = {
	{ "secret", PROVIDER_KEY_SECRET, true },
	{ "from", PROVIDER_KEY_STRING, false },
	{ NULL, PROVIDER_KEY_STRING, false },
};

/* The fields of an inbound SMS, for naming a duplicate key. */
static const char *const js_sms_fields[] = {
	"id", "from", "to", "text", "received_at",
};

struct js_signature {
	long long t;
	/* The digits as sent: they, not t, are what was signed. */
	char t_text[JS_T_DIGITS_MAX + 1];
	char v1[JS_HEX_LEN + 1];
};

/*
 * Exactly "t=DIGITS,v1=HEX": 1 to 12 decimal digits, 64 lowercase hex
 * digits, in that order, nothing else.  A strict grammar leaves no room
 * for two parsers (ours and a proxy's) to read one header two ways.
 * Returns 0 or -1.
 */
static int
js_signature_parse(const char *h, struct js_signature *sig)
{
	size_t n = 0;

	if (strncmp(h, "t=", 2) != 0)
		return -1;
	h += 2;
	sig->t = 0;
	while (h[n] >= '0' && h[n] <= '9') {
		if (n == JS_T_DIGITS_MAX)
			return -1;
		sig->t = sig->t * 10 + (h[n] - '0');
		n++;
	}
	if (n == 0)
		return -1;
	memcpy(sig->t_text, h, n);
	sig->t_text[n] = '\0';
	h += n;
	if (strncmp(h, ",v1=", 4) != 0)
		return -1;
	h += 4;
	/* Stops at the NUL of a short header before reading past it. */
	for (n = 0; n < JS_HEX_LEN; n++)
		if (!((h[n] >= '0' && h[n] <= '9') ||
		    (h[n] >= 'a' && h[n] <= 'f')))
			return -1;
	if (h[JS_HEX_LEN] != '\0')
		return -1;
	memcpy(sig->v1, h, JS_HEX_LEN + 1);
	return 0;
}

/*
 * Lowercase hex of HMAC-SHA256(secret, t + "." + body) into out (65
 * bytes).  Returns 0, or -1 when out of memory or OpenSSL fails.
 */
static int
js_sign(const char *secret, const char *t, const char *body, size_t body_len,
    char out[JS_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t tlen = strlen(t);
	char *buf;
	int rc = -1;

	if (strlen(secret) > INT_MAX || body_len > SIZE_MAX - tlen - 2 ||
	    (buf = malloc(tlen + 1 + body_len + 1)) == NULL)
		return -1;
	memcpy(buf, t, tlen);
	buf[tlen] = '.';
	if (body_len > 0)
		memcpy(buf + tlen + 1, body, body_len);
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret),
	    (unsigned char *)buf, tlen + 1 + body_len, mac, &maclen) ==
	    NULL || maclen != JS_SHA256_LEN)
		goto done;
	for (size_t i = 0; i < JS_SHA256_LEN; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 0xf];
	}
	out[JS_HEX_LEN] = '\0';
	rc = 0;
done:
	OPENSSL_cleanse(mac, sizeof(mac));
	free(buf);
	return rc;
}

static enum provider_verdict
js_verify(const struct config_channel *ch, const struct provider_input *in,
    char *err, size_t errlen)
{
	const char *secret = config_channel_value(ch, "secret");
	const char *header;
	struct js_signature sig;
	char want[JS_HEX_LEN + 1];
	long long now = in->now;
	bool match;

	/* An unset secret must not become an HMAC key anyone knows. */
	if (secret == NULL || secret[0] == '\0') {
		snprintf(err, errlen, "channel needs a secret");
		return PROVIDER_FORBIDDEN;
	}
	if (!provider_content_type_is(in->content_type, JS_TYPE)) {
		snprintf(err, errlen, "Content-Type must be " JS_TYPE);
		return PROVIDER_UNSUPPORTED;
	}
	header = in->header != NULL ?
	    in->header(in->header_ctx, "X-Hotline-Signature") : NULL;
	if (header == NULL) {
		snprintf(err, errlen, "missing X-Hotline-Signature header "
		    "(t=UNIX,v1=HEX)");
		return PROVIDER_FORBIDDEN;
	}
	if (js_signature_parse(header, &sig) < 0) {
		snprintf(err, errlen, "malformed X-Hotline-Signature: expected "
		    "t=<unix seconds>,v1=<64 lowercase hex digits>");
		return PROVIDER_FORBIDDEN;
	}
	if (js_sign(secret, sig.t_text, in->body, in->body != NULL ?
	    in->body_len : 0, want) < 0) {
		snprintf(err, errlen, "cannot compute the signature (out of "
		    "memory)");
		return PROVIDER_FORBIDDEN;
	}
	match = CRYPTO_memcmp(sig.v1, want, JS_HEX_LEN) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	if (!match) {
		snprintf(err, errlen, "X-Hotline-Signature does not match: "
		    "check the channel's secret, and that the raw body is "
		    "signed as sent");
		return PROVIDER_FORBIDDEN;
	}
	/* Checked after the MAC so that only a genuine sender hears about
	 * the clocks.  t is at most 12 digits; a clock before 1970 is
	 * broken and reads as "t in the future". */
	if (now >= sig.t && now - sig.t > JS_SKEW_SECONDS) {
		snprintf(err, errlen, "X-Hotline-Signature timestamp is more "
		    "than %d s old: a replay, or check the sender's and this "
		    "host's clocks", JS_SKEW_SECONDS);
		return PROVIDER_FORBIDDEN;
	}
	if (now < sig.t && (now < 0 || sig.t - now > JS_SKEW_SECONDS)) {
		snprintf(err, errlen, "X-Hotline-Signature timestamp is more "
		    "than %d s in the future: check the sender's and this "
		    "host's clocks", JS_SKEW_SECONDS);
		return PROVIDER_FORBIDDEN;
	}
	return PROVIDER_OK;
}

/*
 * Jansson's message may quote the input (message text, a number), so it
 * is never passed on; a duplicate key is named only when it is one of
 * ours.
 */
static void
js_load_error(const json_error_t *jerr, char *err, size_t errlen)
{
	char quoted[32];
	size_t tl = strlen(jerr->text), ql;

	if (json_error_code(jerr) != json_error_duplicate_key) {
		snprintf(err, errlen, "body is not valid JSON (line %d, column "
		    "%d)", jerr->line, jerr->column);
		return;
	}
	for (size_t i = 0; i < sizeof(js_sms_fields) /
	    sizeof(js_sms_fields[0]); i++) {
		/* Jansson ends it with: near '"KEY"' */
		snprintf(quoted, sizeof(quoted), "'\"%s\"'", js_sms_fields[i]);
		ql = strlen(quoted);
		if (tl >= ql && strcmp(jerr->text + tl - ql, quoted) == 0) {
			snprintf(err, errlen, "duplicate key \"%s\" in the "
			    "JSON body", js_sms_fields[i]);
			return;
		}
	}
	snprintf(err, errlen, "duplicate key in the JSON body");
}

/* A bounded, NUL-free, UTF-8-checked copy of one string member. */
static bool
js_copy(const json_t *obj, const char *name, char *out, size_t outlen,
    bool required, char *err, size_t errlen)
{
	const json_t *v = json_object_get(obj, name);
	const char *s;
	size_t n;

	if (v == NULL) {
		if (!required) {
			out[0] = '\0';
			return true;
		}
		snprintf(err, errlen, "missing field %s", name);
		return false;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "field %s must be a string", name);
		return false;
	}
	s = json_string_value(v);
	n = json_string_length(v);
	/* Loaded with JSON_ALLOW_NUL so that this, not Jansson, refuses a
	 * \u0000 and can name the field. */
	if (strlen(s) != n) {
		snprintf(err, errlen, "field %s contains a NUL character",
		    name);
		return false;
	}
	if (n >= outlen) {
		snprintf(err, errlen, "field %s is longer than %zu bytes",
		    name, outlen - 1);
		return false;
	}
	if (!smstext_utf8_valid(s, n)) {
		snprintf(err, errlen, "field %s is not valid UTF-8", name);
		return false;
	}
	memcpy(out, s, n + 1);
	return true;
}

/*
 * {"id", "from", "to"?, "text", "received_at"?}.  Other keys are ignored,
 * so a sender may add fields before we read them.
 */
static enum provider_verdict
js_sms_parse(const struct config_channel *ch, const struct provider_input *in,
    struct sms_message *out, char *err, size_t errlen)
{
	json_error_t jerr;
	char stamp[40];
	json_t *root;
	bool ok;

	(void)ch;
	memset(out, 0, sizeof(*out));
	if (!provider_content_type_is(in->content_type, JS_TYPE)) {
		snprintf(err, errlen, "Content-Type must be " JS_TYPE);
		return PROVIDER_UNSUPPORTED;
	}
	if (in->body == NULL) {
		snprintf(err, errlen, "empty body: expected a JSON object");
		return PROVIDER_BAD_REQUEST;
	}
	root = json_loadb(in->body, in->body_len,
	    JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (root == NULL) {
		js_load_error(&jerr, err, errlen);
		return PROVIDER_BAD_REQUEST;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "body must be a JSON object");
		json_decref(root);
		return PROVIDER_BAD_REQUEST;
	}
	ok = js_copy(root, "id", out->id, sizeof(out->id), true, err,
	    errlen) &&
	    js_copy(root, "from", out->from, sizeof(out->from), true, err,
	    errlen) &&
	    js_copy(root, "to", out->to, sizeof(out->to), false, err,
	    errlen) &&
	    js_copy(root, "text", out->text, sizeof(out->text), true, err,
	    errlen) &&
	    js_copy(root, "received_at", stamp, sizeof(stamp), false, err,
	    errlen);
	json_decref(root);
	if (!ok)
		return PROVIDER_BAD_REQUEST;
	/* Kept as RFC 3339 UTC, or "" when it is not one. */
	provider_time_space(stamp, "+00:00", out->received_at,
	    sizeof(out->received_at));
	/* The id is the idempotency key; an empty one would merge
	 * messages. */
	if (out->id[0] == '\0') {
		snprintf(err, errlen, "field id is empty");
		return PROVIDER_BAD_REQUEST;
	}
	if (out->from[0] == '\0') {
		snprintf(err, errlen, "field from is empty");
		return PROVIDER_BAD_REQUEST;
	}
	return PROVIDER_OK;
}

/* A delivery report: {"id", "status": "sent|delivered|failed",
 * "reason"?}, signed like a message. */
static enum provider_verdict
js_dlr_parse(const struct config_channel *ch, const struct provider_input *in,
    struct dlr_report *out, char *err, size_t errlen)
{
	static const char *const names[] = { "sent", "delivered", "failed" };
	static const enum dlr_status statuses[] = { DLR_SENT, DLR_DELIVERED,
	    DLR_FAILED };
	json_error_t jerr;
	json_t *root;
	char status[16];
	bool ok;

	(void)ch;
	memset(out, 0, sizeof(*out));
	if (!provider_content_type_is(in->content_type, JS_TYPE)) {
		snprintf(err, errlen, "Content-Type must be " JS_TYPE);
		return PROVIDER_UNSUPPORTED;
	}
	root = in->body == NULL ? NULL : json_loadb(in->body, in->body_len,
	    JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (root == NULL || !json_is_object(root)) {
		if (root == NULL && in->body != NULL)
			js_load_error(&jerr, err, errlen);
		else
			snprintf(err, errlen, "body must be a JSON object");
		json_decref(root);
		return PROVIDER_BAD_REQUEST;
	}
	ok = js_copy(root, "id", out->provider_ref, sizeof(out->provider_ref),
	    true, err, errlen) &&
	    js_copy(root, "status", status, sizeof(status), true, err,
	    errlen) &&
	    js_copy(root, "reason", out->reason, sizeof(out->reason), false,
	    err, errlen);
	json_decref(root);
	if (!ok)
		return PROVIDER_BAD_REQUEST;
	/* A code is kept, never words: a reason is logged and stored. */
	provider_reason_set(out->reason, sizeof(out->reason), out->reason);
	if (out->provider_ref[0] == '\0') {
		snprintf(err, errlen, "field id is empty");
		return PROVIDER_BAD_REQUEST;
	}
	/* The id of a report is the one we sent: our send_key.  One too
	 * long to be ours is matched by provider_ref alone. */
	if (strlen(out->provider_ref) < sizeof(out->send_key))
		memcpy(out->send_key, out->provider_ref,
		    strlen(out->provider_ref) + 1);
	for (size_t i = 0; i < 3; i++)
		if (strcmp(status, names[i]) == 0) {
			out->status = statuses[i];
			return PROVIDER_OK;
		}
	snprintf(err, errlen, "field status must be sent, delivered or "
	    "failed");
	return PROVIDER_BAD_REQUEST;
}

static int
js_sms_ack(struct provider_reply *out)
{
	out->content_type = "application/json";
	snprintf(out->body, sizeof(out->body), "{\"status\":\"stored\"}");
	return 0;
}

/*
 * POST send_url {"id", "to", "from", "text"}, signed as we check inbound
 * requests.  id is our send_key: the receiver drops a second copy, and
 * reports on the message by it.
 */
static int
js_send_build(const struct config_channel *ch, const struct send_request *req,
    struct send_http *out, char *err, size_t errlen)
{
	const char *secret = config_channel_value(ch, "secret");
	const char *from = config_channel_value(ch, "from");
	char t[32], v1[JS_HEX_LEN + 1];
	json_t *root = NULL;
	int rc = -1, w;

	memset(out, 0, sizeof(*out));
	if (ch->send_url == NULL || ch->send_url[0] == '\0') {
		snprintf(err, errlen, "a json channel needs send_url to send");
		return -1;
	}
	if (secret == NULL || secret[0] == '\0') {
		snprintf(err, errlen, "channel needs a secret to sign with");
		return -1;
	}
	if (req->send_key == NULL || req->send_key[0] == '\0') {
		snprintf(err, errlen, "no send_key: the receiver could not "
		    "drop a resend");
		return -1;
	}
	w = snprintf(out->url, sizeof(out->url), "%s", ch->send_url);
	if (w < 0 || (size_t)w >= sizeof(out->url)) {
		snprintf(err, errlen, "send_url is too long");
		return -1;
	}
	out->content_type = JS_TYPE;
	root = json_pack("{s:s, s:s, s:s, s:s}",
	    "id", req->send_key,
	    "to", req->to,
	    "from", from != NULL ? from : "",
	    "text", req->text);
	if (root == NULL ||
	    (out->body = json_dumps(root, JSON_COMPACT |
	    JSON_PRESERVE_ORDER)) == NULL) {
		snprintf(err, errlen, "cannot build the request body (out of "
		    "memory, or a value that is not UTF-8)");
		goto done;
	}
	out->body_len = strlen(out->body);
	snprintf(t, sizeof(t), "%lld", (long long)req->now);
	if (js_sign(secret, t, out->body, out->body_len, v1) < 0) {
		snprintf(err, errlen, "cannot compute the signature (out of "
		    "memory)");
		goto done;
	}
	snprintf(out->headers[0], sizeof(out->headers[0]),
	    "X-Hotline-Signature: t=%s,v1=%s", t, v1);
	out->nheaders = 1;
	rc = 0;
done:
	json_decref(root);
	if (rc < 0)
		provider_send_http_clear(out);
	return rc;
}

/*
 * 2xx: taken, with the receiver's own "id" when it gives one.  4xx: the
 * receiver refused it, {"error":{"code","message"}} saying why; only the
 * code is kept, as the message may quote what we sent.
 */
static void
js_send_parse(const struct config_channel *ch, long status, const char *body,
    size_t body_len, struct send_answer *out)
{
	const json_t *id, *error;
	json_t *root = NULL;

	(void)ch;
	memset(out, 0, sizeof(*out));
	if (body != NULL)
		root = json_loadb(body, body_len, JSON_ALLOW_NUL, NULL);
	if (status >= 200 && status < 300) {
		out->verdict = SEND_ACCEPTED;
		id = json_object_get(root, "id");
		if (json_is_string(id) &&
		    json_string_length(id) < sizeof(out->provider_ref) &&
		    strlen(json_string_value(id)) == json_string_length(id))
			memcpy(out->provider_ref, json_string_value(id),
			    json_string_length(id) + 1);
	} else if (status >= 400 && status < 500) {
		out->verdict = SEND_REJECTED;
		error = json_object_get(root, "error");
		provider_send_reason(out, status, json_string_value(
		    json_object_get(error, "code")));
	} else {
		out->verdict = SEND_UNKNOWN;
		provider_send_reason(out, status, NULL);
	}
	json_decref(root);
}

const struct provider provider_json = {
	.name = "json",
	.keys = js_keys,
	.verify = js_verify,
	.ussd_parse = NULL,
	.ussd_format = NULL,
	.sms_parse = js_sms_parse,
	.sms_ack = js_sms_ack,
	.dlr_parse = js_dlr_parse,
	.send_build = js_send_build,
	.send_parse = js_send_parse,
	.send_idempotent = true,
	.default_rate_per_second = 10,
};
