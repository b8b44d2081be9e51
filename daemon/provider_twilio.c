/*
 * Twilio Programmable Messaging (reference/aggregators.md §2).  Twilio
 * signs every webhook: X-Twilio-Signature is Base64(HMAC-SHA1(auth_token,
 * URL + the POST parameters sorted by name)), §2.3.  The URL is rebuilt
 * from the channel's public_url, never from Host or X-Forwarded-*, which
 * whoever sends the request chooses.
 *
 * The signature carries no timestamp, so a captured request verifies
 * forever; replays are made harmless by storing MessageSid idempotently
 * (reference/reliability.md §3.3), not here.
 *
 * The signed string joins names and values without separators, so one
 * value can swallow the next pair: MessageSid "SM…" + "NumMedia0" signs
 * like MessageSid "SM…NumMedia0" with no NumMedia, a new id for the
 * same request.  So before the signature counts, every parameter whose
 * form Twilio documents is held to it (tw_fields_valid: the sids as
 * two letters and 32 hex digits, numbers in E.164, counts in digits), no
 * name may come twice, and a POST's names are Twilio's PascalCase.  The
 * residual risk: a sender who writes name-like text in a Body and then
 * captures the signed request could still re-split it into unknown
 * names that Twilio may add without notice (so they cannot be refused);
 * that needs the request itself, which only TLS protects.
 */
#include "provider.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "config.h"
#include "form.h"
#include "phone.h"
#include "smstext.h"

#define TW_FORM "application/x-www-form-urlencoded"
#define TW_SHA1_LEN 20
/* Base64 of a SHA-1 MAC: 28 characters with one '='. */
#define TW_SIG_LEN 28
#define TW_API "https://api.twilio.com"
/* Twilio's "too many requests": not processed, safe to send again. */
#define TW_CODE_THROTTLED 20429

static const struct provider_key tw_keys[] = {
	{ "account_sid", PROVIDER_KEY_STRING, true },
	{ "auth_token", PROVIDER_KEY_SECRET, true },
	{ "from", PROVIDER_KEY_STRING, false },
	{ "public_url", PROVIDER_KEY_STRING, true },
	{ NULL, PROVIDER_KEY_STRING, false },
};

static bool
tw_is_get(const struct provider_input *in)
{
	return in->method != NULL && strcmp(in->method, "GET") == 0;
}

/*
 * Where Twilio put its parameters: the form body of a POST, the query of
 * a GET (§2.1: the number's webhook may be set to either).
 */
static enum provider_verdict
tw_source(const struct provider_input *in, const char **s, size_t *len,
    char *err, size_t errlen)
{
	if (tw_is_get(in)) {
		*s = in->query != NULL ? in->query : "";
		*len = strlen(*s);
		return PROVIDER_OK;
	}
	if (in->method == NULL || strcmp(in->method, "POST") != 0) {
		snprintf(err, errlen, "method must be POST or GET, as set for "
		    "the webhook at Twilio");
		return PROVIDER_BAD_REQUEST;
	}
	if (!provider_content_type_is(in->content_type, TW_FORM)) {
		snprintf(err, errlen, "Content-Type must be " TW_FORM);
		return PROVIDER_UNSUPPORTED;
	}
	*s = in->body != NULL ? in->body : "";
	*len = in->body != NULL ? in->body_len : 0;
	return PROVIDER_OK;
}

static enum provider_verdict
tw_params(const struct provider_input *in, struct form *f, char *err,
    size_t errlen)
{
	enum provider_verdict v;
	const char *s;
	size_t len;
	char why[128];

	if ((v = tw_source(in, &s, &len, err, errlen)) != PROVIDER_OK)
		return v;
	if (form_parse(f, s, len, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "malformed %s: %s",
		    tw_is_get(in) ? "query string" : "form body", why);
		return PROVIDER_BAD_REQUEST;
	}
	return PROVIDER_OK;
}

/*
 * By name, then by value: twilio-python sorts the values of a repeated
 * name the same way (§2.3, vector C).  Byte order, as strcmp compares
 * unsigned chars.
 */
static int
tw_field_cmp(const void *a, const void *b)
{
	const struct form_field *x = *(const struct form_field *const *)a;
	const struct form_field *y = *(const struct form_field *const *)b;
	int c;

	if ((c = strcmp(x->name, y->name)) != 0)
		return c;
	return strcmp(x->value, y->value);
}

/*
 * Writes Base64(HMAC-SHA1(token, base + path + ["?" + query] + for a POST
 * every parameter sorted, as name then decoded value)) and a NUL to out.
 * `params` is NULL for a GET: its parameters are already in the query.
 * Repeated parameters are all kept, exact duplicates included, where
 * twilio-python drops exact duplicates: Twilio's messaging webhooks never
 * repeat a name, and keeping them means no byte of a request goes
 * unsigned.  Returns 0, or -1 when out of memory or OpenSSL fails.
 */
static int
tw_sign(const char *token, const char *base, const struct provider_input *in,
    const struct form *params, char out[TW_SIG_LEN + 1])
{
	const struct form_field *sorted[FORM_MAX_FIELDS];
	const char *path = in->path != NULL ? in->path : "";
	const char *query = in->query != NULL ? in->query : "";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t baselen, pathlen, querylen, len, used, n = 0;
	char *buf;
	int rc = -1;

	baselen = strlen(base);
	pathlen = strlen(path);
	querylen = strlen(query);
	/* public_url "https://h.example/" and path "/v1/sms/tw": one '/'. */
	if (baselen > 0 && base[baselen - 1] == '/' && path[0] == '/')
		baselen--;
	len = baselen + pathlen + (querylen > 0 ? 1 + querylen : 0);
	if (params != NULL) {
		n = params->count;
		for (size_t i = 0; i < n; i++) {
			sorted[i] = &params->fields[i];
			len += strlen(sorted[i]->name) +
			    strlen(sorted[i]->value);
		}
		qsort(sorted, n, sizeof(sorted[0]), tw_field_cmp);
	}
	if (strlen(token) > INT_MAX || (buf = malloc(len + 1)) == NULL)
		return -1;
	memcpy(buf, base, baselen);
	used = baselen;
	memcpy(buf + used, path, pathlen);
	used += pathlen;
	if (querylen > 0) {
		buf[used++] = '?';
		memcpy(buf + used, query, querylen);
		used += querylen;
	}
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(sorted[i]->name);
		size_t vl = strlen(sorted[i]->value);

		memcpy(buf + used, sorted[i]->name, nl);
		used += nl;
		memcpy(buf + used, sorted[i]->value, vl);
		used += vl;
	}
	if (HMAC(EVP_sha1(), token, (int)strlen(token), (unsigned char *)buf,
	    used, mac, &maclen) == NULL || maclen != TW_SHA1_LEN)
		goto done;
	if (EVP_EncodeBlock((unsigned char *)out, mac, TW_SHA1_LEN) !=
	    TW_SIG_LEN)
		goto done;
	rc = 0;
done:
	OPENSSL_cleanse(mac, sizeof(mac));
	free(buf);
	return rc;
}

/* prefix then 32 lowercase hex digits: a Twilio sid. */
static bool
tw_sid(const char *s, const char *const *prefixes, size_t nprefixes)
{
	bool ok = false;

	for (size_t i = 0; i < nprefixes; i++)
		if (strncmp(s, prefixes[i], 2) == 0)
			ok = true;
	if (!ok || strlen(s) != 34)
		return false;
	for (size_t i = 2; i < 34; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool
tw_charset(const char *s, const char *extra, size_t min, size_t max)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (n == max || !((s[n] >= '0' && s[n] <= '9') ||
		    (extra != NULL && strchr(extra, s[n]) != NULL)))
			return false;
	return n >= min;
}

/*
 * Each parameter in the form §2.1 and §2.5 give it, when present, and
 * no name twice.  A POST's names must be PascalCase ASCII (Twilio's
 * style; a name is part of the signed string too).  false with a reason
 * naming the field, never its value.
 */
/* The forms §2.1 and §2.5 give Twilio's own parameters. */
enum tw_form {
	TW_MESSAGE_SID,		/* SM or MM and 32 hex digits */
	TW_ACCOUNT_SID,		/* AC and 32 hex digits */
	TW_SERVICE_SID,		/* MG and 32 hex digits */
	TW_COUNT,		/* 1 to 6 digits */
	TW_ERROR_CODE,		/* 0 to 6 digits */
	TW_STATUS,		/* a lowercase word */
	TW_API_VERSION,		/* YYYY-MM-DD */
};

static bool
tw_form_ok(enum tw_form form, const char *v)
{
	static const char *const msg[] = { "SM", "MM" };
	static const char *const ac[] = { "AC" };
	static const char *const mg[] = { "MG" };

	switch (form) {
	case TW_MESSAGE_SID:
		return tw_sid(v, msg, 2);
	case TW_ACCOUNT_SID:
		return tw_sid(v, ac, 1);
	case TW_SERVICE_SID:
		return tw_sid(v, mg, 1);
	case TW_COUNT:
		return tw_charset(v, NULL, 1, 6);
	case TW_ERROR_CODE:
		return tw_charset(v, NULL, 0, 6);
	case TW_STATUS:
		return v[0] != '\0' && strlen(v) <= 32 &&
		    strspn(v, "abcdefghijklmnopqrstuvwxyz_") == strlen(v);
	case TW_API_VERSION:
		return tw_charset(v, "-", 10, 10) && v[4] == '-' &&
		    v[7] == '-';
	}
	return false;
}

/*
 * Each parameter in the form §2.1 and §2.5 give it, when present, and
 * no name twice.  A POST's names must be PascalCase ASCII (Twilio's
 * style; a name is part of the signed string too).  false with a reason
 * naming the field, never its value.
 */
static bool
tw_fields_valid(const struct form *f, bool post, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		enum tw_form form;
	} rules[] = {
		{ "MessageSid", TW_MESSAGE_SID }, { "SmsSid", TW_MESSAGE_SID },
		{ "SmsMessageSid", TW_MESSAGE_SID },
		{ "AccountSid", TW_ACCOUNT_SID },
		{ "MessagingServiceSid", TW_SERVICE_SID },
		{ "NumMedia", TW_COUNT }, { "NumSegments", TW_COUNT },
		{ "ErrorCode", TW_ERROR_CODE }, { "SmsStatus", TW_STATUS },
		{ "MessageStatus", TW_STATUS }, { "ApiVersion", TW_API_VERSION },
	};

	for (size_t i = 0; i < f->count; i++) {
		const char *name = f->fields[i].name;
		const char *v = f->fields[i].value;

		for (size_t j = i + 1; j < f->count; j++)
			if (strcmp(name, f->fields[j].name) == 0) {
				snprintf(err, errlen, "a parameter appears "
				    "more than once");
				return false;
			}
		if (post && (name[0] < 'A' || name[0] > 'Z' ||
		    !tw_charset(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz", 1, 64))) {
			snprintf(err, errlen, "a parameter name is not one "
			    "Twilio would send (PascalCase letters and "
			    "digits)");
			return false;
		}
		for (size_t k = 0; k < sizeof(rules) / sizeof(rules[0]); k++)
			if (strcmp(name, rules[k].name) == 0 &&
			    !tw_form_ok(rules[k].form, v)) {
				snprintf(err, errlen, "field %s is not in the "
				    "form Twilio sends it", rules[k].name);
				return false;
			}
	}
	return true;
}

static enum provider_verdict
tw_verify(const struct config_channel *ch, const struct provider_input *in,
    char *err, size_t errlen)
{
	const char *token = config_channel_value(ch, "auth_token");
	const char *sid = config_channel_value(ch, "account_sid");
	const char *base = config_channel_value(ch, "public_url");
	const char *given, *account, *s;
	char want[TW_SIG_LEN + 1];
	enum provider_verdict v;
	struct form f;
	size_t len;

	/* The config loader requires these; an unset key must not turn
	 * into an HMAC with an empty key that anyone can compute. */
	if (token == NULL || token[0] == '\0' || sid == NULL ||
	    base == NULL) {
		snprintf(err, errlen, "channel needs account_sid, auth_token "
		    "and public_url");
		return PROVIDER_FORBIDDEN;
	}
	if ((v = tw_source(in, &s, &len, err, errlen)) != PROVIDER_OK)
		return v;
	given = in->header != NULL ?
	    in->header(in->header_ctx, "X-Twilio-Signature") : NULL;
	if (given == NULL) {
		snprintf(err, errlen, "missing X-Twilio-Signature header");
		return PROVIDER_FORBIDDEN;
	}
	if ((v = tw_params(in, &f, err, errlen)) != PROVIDER_OK)
		return v;
	if (tw_sign(token, base, in, tw_is_get(in) ? NULL : &f, want) < 0) {
		snprintf(err, errlen, "cannot compute the signature (out of "
		    "memory)");
		v = PROVIDER_FORBIDDEN;
		goto done;
	}
	/* Lengths are public (always 28); the contents are compared in
	 * constant time. */
	if (strlen(given) != TW_SIG_LEN ||
	    CRYPTO_memcmp(given, want, TW_SIG_LEN) != 0) {
		snprintf(err, errlen, "X-Twilio-Signature does not match: "
		    "check the channel's auth_token, and that public_url plus "
		    "this path is the URL configured at Twilio");
		v = PROVIDER_FORBIDDEN;
		goto done;
	}
	/* Before the signature counts: see the top of the file. */
	if (!tw_fields_valid(&f, !tw_is_get(in), err, errlen)) {
		v = PROVIDER_BAD_REQUEST;
		goto done;
	}
	/* A valid signature from another account of ours (same token
	 * reused) must not land in this channel. */
	account = form_get(&f, "AccountSid");
	if (account == NULL || strcmp(account, sid) != 0) {
		snprintf(err, errlen, "AccountSid is missing or is not this "
		    "channel's account_sid");
		v = PROVIDER_FORBIDDEN;
		goto done;
	}
	v = PROVIDER_OK;
done:
	OPENSSL_cleanse(want, sizeof(want));
	form_clear(&f);
	return v;
}

/* §2.1: MessageSid, From, To, Body; old docs say a GET may lack Body. */
static enum provider_verdict
tw_sms_parse(const struct config_channel *ch, const struct provider_input *in,
    struct sms_message *out, char *err, size_t errlen)
{
	enum provider_verdict v;
	struct form f;
	bool ok;

	(void)ch;
	memset(out, 0, sizeof(*out));
	if ((v = tw_params(in, &f, err, errlen)) != PROVIDER_OK)
		return v;
	ok = provider_form_copy(&f, "MessageSid", out->id, sizeof(out->id),
	    true, err, errlen) &&
	    provider_form_copy(&f, "From", out->from, sizeof(out->from), true,
	    err, errlen) &&
	    provider_form_copy(&f, "To", out->to, sizeof(out->to), true, err,
	    errlen) &&
	    provider_form_copy(&f, "Body", out->text, sizeof(out->text),
	    !tw_is_get(in), err, errlen);
	form_clear(&f);
	if (!ok)
		return PROVIDER_BAD_REQUEST;
	/* The id is the idempotency key; an empty one would merge
	 * messages. */
	if (out->id[0] == '\0') {
		snprintf(err, errlen, "field MessageSid is empty");
		return PROVIDER_BAD_REQUEST;
	}
	if (out->from[0] == '\0') {
		snprintf(err, errlen, "field From is empty");
		return PROVIDER_BAD_REQUEST;
	}
	/* §2.1: From is E.164; To is our number or short code.  Both are
	 * in the signed string: held to that form, neither can swallow
	 * its neighbour. */
	if (!phone_is_e164_as_sent(out->from)) {
		snprintf(err, errlen, "field From is not an E.164 number");
		return PROVIDER_BAD_REQUEST;
	}
	if (!phone_is_e164_as_sent(out->to) && !tw_charset(out->to, NULL, 3,
	    8)) {
		snprintf(err, errlen, "field To is neither an E.164 number nor "
		    "a short code");
		return PROVIDER_BAD_REQUEST;
	}
	return PROVIDER_OK;
}

/*
 * Our send_key from the ?ref= we put in the StatusCallback URL, which the
 * signature covers.  A ref that cannot be one of ours is left out (""),
 * not refused: the status it reports still matches by MessageSid.
 */
static void
tw_send_key(const char *query, char *out, size_t outlen)
{
	const char *ref;
	struct form q;
	char why[128];
	size_t n;

	out[0] = '\0';
	if (query == NULL || form_parse(&q, query, strlen(query), why,
	    sizeof(why)) < 0)
		return;
	if ((ref = form_get(&q, "ref")) != NULL &&
	    (n = strlen(ref)) < outlen && smstext_utf8_valid(ref, n))
		memcpy(out, ref, n + 1);
	form_clear(&q);
}

/* StatusCallback: MessageSid, MessageStatus, ErrorCode, and our ?ref=
 * in the URL.  Twilio's states before the network has it all count as
 * sent: a status only moves forward, so nothing is lost by the coarser
 * word. */
static enum provider_verdict
tw_dlr_parse(const struct config_channel *ch, const struct provider_input *in,
    struct dlr_report *out, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		enum dlr_status status;
	} statuses[] = {
		{ "queued", DLR_SENT }, { "accepted", DLR_SENT },
		{ "scheduled", DLR_SENT }, { "sending", DLR_SENT },
		{ "sent", DLR_SENT }, { "delivered", DLR_DELIVERED },
		{ "read", DLR_DELIVERED }, { "undelivered", DLR_FAILED },
		{ "failed", DLR_FAILED }, { "canceled", DLR_FAILED },
	};
	enum provider_verdict v;
	char status[32];
	struct form f;
	bool ok;

	(void)ch;
	memset(out, 0, sizeof(*out));
	if ((v = tw_params(in, &f, err, errlen)) != PROVIDER_OK)
		return v;
	ok = provider_form_copy(&f, "MessageSid", out->provider_ref,
	    sizeof(out->provider_ref), true, err, errlen) &&
	    provider_form_copy(&f, "MessageStatus", status, sizeof(status),
	    true, err, errlen) &&
	    provider_form_copy(&f, "ErrorCode", out->reason,
	    sizeof(out->reason), false, err, errlen);
	form_clear(&f);
	if (!ok)
		return PROVIDER_BAD_REQUEST;
	/* A code is kept, never words: a reason is logged and stored. */
	provider_reason_set(out->reason, sizeof(out->reason), out->reason);
	tw_send_key(in->query, out->send_key, sizeof(out->send_key));
	if (out->provider_ref[0] == '\0') {
		snprintf(err, errlen, "field MessageSid is empty");
		return PROVIDER_BAD_REQUEST;
	}
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (strcmp(status, statuses[i].name) == 0) {
			out->status = statuses[i].status;
			return PROVIDER_OK;
		}
	snprintf(err, errlen, "field MessageStatus is not a Twilio message "
	    "status");
	return PROVIDER_BAD_REQUEST;
}

/* An empty TwiML response: store, answer nothing to the sender (§2.2). */
static int
tw_sms_ack(struct provider_reply *out)
{
	static const char twiml[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

	out->content_type = "text/xml";
	snprintf(out->body, sizeof(out->body), "%s", twiml);
	return 0;
}

/* Letters, digits and "-._~": what goes into a URL as it is. */
static bool
tw_url_safe(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && strchr("-._~", *s) == NULL)
			return false;
	return true;
}

/* The length of a URL base without one trailing '/'. */
static size_t
tw_base_len(const char *base)
{
	size_t n = strlen(base);

	return n > 0 && base[n - 1] == '/' ? n - 1 : n;
}

/*
 * Send (§2.4): a form post to the account's Messages resource under the
 * channel's send_url (the API base), else api.twilio.com, with HTTP Basic
 * auth.  The StatusCallback URL carries our send_key as ?ref=, so a
 * report matches the send even when Twilio's answer to it was lost; the
 * URL is public_url plus the path tw_verify signs, so the report
 * verifies.
 */
static int
tw_send_build(const struct config_channel *ch, const struct send_request *req,
    struct send_http *out, char *err, size_t errlen)
{
	const char *sid = config_channel_value(ch, "account_sid");
	const char *token = config_channel_value(ch, "auth_token");
	const char *pub = config_channel_value(ch, "public_url");
	const char *base = ch->send_url != NULL ? ch->send_url : TW_API;
	char callback[1024];
	const char *pairs[] = {
		"To", req->to,
		"From", config_channel_value(ch, "from"),
		"Body", req->text,
		"StatusCallback", callback,
	};
	size_t baselen, publen;
	int n;

	memset(out, 0, sizeof(*out));
	if (sid == NULL || token == NULL || pub == NULL) {
		snprintf(err, errlen, "channel needs account_sid, auth_token "
		    "and public_url to send");
		goto fail;
	}
	/* These three go into URLs as they are. */
	if (!tw_url_safe(sid)) {
		snprintf(err, errlen, "account_sid must be letters and digits "
		    "(AC followed by 32 hex digits)");
		goto fail;
	}
	if (!tw_url_safe(req->channel) || !tw_url_safe(req->send_key)) {
		snprintf(err, errlen, "channel name and send_key must be "
		    "letters, digits, '-', '.', '_' or '~'");
		goto fail;
	}
	if (!phone_is_e164(req->to)) {
		snprintf(err, errlen, "recipient is not an E.164 number");
		goto fail;
	}
	if ((baselen = tw_base_len(base)) >= sizeof(out->url) ||
	    (publen = tw_base_len(pub)) >= sizeof(callback)) {
		snprintf(err, errlen, "send_url or public_url is longer than "
		    "%zu bytes", sizeof(out->url) - 1);
		goto fail;
	}
	n = snprintf(out->url, sizeof(out->url),
	    "%.*s/2010-04-01/Accounts/%s/Messages.json", (int)baselen, base,
	    sid);
	if (n < 0 || (size_t)n >= sizeof(out->url)) {
		snprintf(err, errlen, "the send URL does not fit in %zu bytes: "
		    "check send_url", sizeof(out->url) - 1);
		goto fail;
	}
	n = snprintf(callback, sizeof(callback), "%.*s/v1/dlr/%s?ref=%s",
	    (int)publen, pub, req->channel, req->send_key);
	if (n < 0 || (size_t)n >= sizeof(callback)) {
		snprintf(err, errlen, "the StatusCallback URL does not fit in "
		    "%zu bytes: check public_url", sizeof(callback) - 1);
		goto fail;
	}
	n = snprintf(out->userpwd, sizeof(out->userpwd), "%s:%s", sid, token);
	if (n < 0 || (size_t)n >= sizeof(out->userpwd)) {
		snprintf(err, errlen, "account_sid:auth_token does not fit "
		    "in %zu bytes", sizeof(out->userpwd) - 1);
		goto fail;
	}
	snprintf(out->headers[0], sizeof(out->headers[0]),
	    "Accept: application/json");
	out->nheaders = 1;
	out->content_type = TW_FORM;
	out->body = form_encode(pairs, sizeof(pairs) / sizeof(pairs[0]) / 2,
	    &out->body_len);
	if (out->body == NULL) {
		snprintf(err, errlen, "out of memory framing the send");
		goto fail;
	}
	return 0;
fail:
	/* Leave no half-framed request, and no token, behind. */
	provider_send_http_clear(out);
	return -1;
}

/*
 * Twilio's answer (§2.4): the new Message with its sid, or an error
 * {"code": 21211, "message": "…", "more_info": …, "status": 400}.
 */
static void
tw_send_parse(const struct config_channel *ch, long status, const char *body,
    size_t body_len, struct send_answer *out)
{
	const json_t *code;
	const char *sid;
	json_int_t c;
	char num[24];
	json_t *root;

	(void)ch;
	memset(out, 0, sizeof(*out));
	root = body != NULL ? json_loadb(body, body_len, 0, NULL) : NULL;
	if (status >= 200 && status <= 299) {
		sid = json_string_value(json_object_get(root, "sid"));
		if (sid == NULL || sid[0] == '\0' ||
		    strlen(sid) >= sizeof(out->provider_ref)) {
			out->verdict = SEND_UNKNOWN;
			snprintf(out->reason, sizeof(out->reason),
			    "unreadable answer: no message sid");
		} else {
			out->verdict = SEND_ACCEPTED;
			memcpy(out->provider_ref, sid, strlen(sid) + 1);
		}
		goto done;
	}
	/* 429 and 5xx are the outbox's to retry; should one reach here, it
	 * is still not a refusal. */
	out->verdict = status == 429 || status >= 500 ? SEND_RETRY :
	    SEND_REJECTED;
	code = json_object_get(root, "code");
	if (!json_is_integer(code)) {
		provider_send_reason(out, status, NULL);
		goto done;
	}
	if ((c = json_integer_value(code)) == TW_CODE_THROTTLED)
		out->verdict = SEND_RETRY;
	/* The code only: Twilio's "message" may quote the number. */
	snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, c);
	provider_send_reason(out, status, num);
done:
	json_decref(root);
}

const struct provider provider_twilio = {
	.name = "twilio",
	.keys = tw_keys,
	.verify = tw_verify,
	.ussd_parse = NULL,
	.ussd_format = NULL,
	.sms_parse = tw_sms_parse,
	.sms_ack = tw_sms_ack,
	.dlr_parse = tw_dlr_parse,
	.send_build = tw_send_build,
	.send_parse = tw_send_parse,
	.send_idempotent = false,
	.default_rate_per_second = 100,
};
