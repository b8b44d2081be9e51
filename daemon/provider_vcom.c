/*
 * V-COM short-code MO push, reference/aggregators.md §4.3: a JSON POST
 * {type, client_id, request_id, service_id, command_code, message, telco,
 * phone, time, checksum}, where checksum is Base64(SHA-256(client_id .
 * request_id . phone . secure_key . time)), the raw 32-byte digest, over
 * the values as sent.
 *
 * The checksum joins its fields without separators, so each is held to
 * the form §4.3 gives it before the checksum counts: phone is "84" and 9
 * or 10 digits, the first not 0; time is decimal digits; request_id is a
 * short token.  With phone so fixed, request_id and phone cannot trade
 * characters: a request id's trailing "00" moved onto the number
 * ("0084…") would otherwise make a new request id, for the same caller
 * and the same checksum, with any message.
 *
 * What the checksum does not cover: message, service_id, command_code,
 * type and telco.  V-COM documents no way to sign them, so this is the
 * residual risk: whoever reads one genuine push in transit can resend it
 * with another message (a "STOP" the caller never sent), so the URL must
 * be https, and allow_ips can hold V-COM's addresses.  A resent copy
 * carries the same request_id, the idempotency key, and is dropped as a
 * duplicate when the genuine push came first; a copy that overtakes it
 * would need the request itself, not a re-split.  An MT reply goes to
 * the MO's request_id, which V-COM maps to the phone the checksum
 * covers: an unsigned field cannot steer where it goes.
 *
 * `time` is not compared with our clock: §4.3 states no window, and
 * V-COM retries a push twice, 20 s apart, without saying whether it
 * signs a retry afresh; a window of our own could refuse genuine
 * retries.
 *
 * A MT reply (send-mt) is signed the same way with our mt_code in place
 * of the phone, and can only answer a MO: it names the MO's request_id.
 */
#include "provider.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "config.h"
#include "phone.h"
#include "privacy.h"
#include "smstext.h"

#define VC_JSON "application/json"
#define VC_SEND_BASE "https://sms-api.v-com.vn"
#define VC_SEND_PATH "/api/v2/send-mt"
#define VC_SHA256_LEN 32
/* Base64 of 32 bytes: 44 characters with one '='. */
#define VC_B64_LEN 44
/* The longest request_id taken: ample for V-COM's ten digits, and short
 * enough to be no message. */
#define VC_ID_MAX 64

/* service_id is the short code an MT reply is sent from; an inbound
 * push for another of the account's codes is still taken (its
 * service_id becomes the message's `to`), not refused and lost. */
static const struct provider_key vc_keys[] = {
	{ "client_id", PROVIDER_KEY_STRING, true },
	{ "secure_key", PROVIDER_KEY_SECRET, true },
	{ "service_id", PROVIDER_KEY_STRING, false },
	/* V-COM's own answer 108 ("request from IP is not allowed") shows
	 * the practice: its pushes come from known addresses.  Set, they
	 * narrow who could send a push with an altered, unsigned message. */
	{ "allow_ips", PROVIDER_KEY_ADDRESS_LIST, false },
	{ NULL, PROVIDER_KEY_STRING, false },
};

/*
 * The body as a JSON object.  Returns PROVIDER_OK with *root set (the
 * caller decrefs it), or a verdict with a reason.
 */
static enum provider_verdict
vc_load(const struct provider_input *in, json_t **root, char *err,
    size_t errlen)
{
	json_error_t jerr;

	*root = NULL;
	if (in->method == NULL || strcmp(in->method, "POST") != 0) {
		snprintf(err, errlen, "method must be POST: V-COM pushes MO "
		    "messages as a JSON POST");
		return PROVIDER_BAD_REQUEST;
	}
	if (!provider_content_type_is(in->content_type, VC_JSON)) {
		snprintf(err, errlen, "Content-Type must be " VC_JSON);
		return PROVIDER_UNSUPPORTED;
	}
	if (in->body == NULL || in->body_len == 0) {
		snprintf(err, errlen, "empty body: expected a JSON object");
		return PROVIDER_BAD_REQUEST;
	}
	*root = json_loadb(in->body, in->body_len,
	    JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (*root == NULL) {
		/* Jansson's text may quote the input: never passed on. */
		if (json_error_code(&jerr) == json_error_duplicate_key)
			snprintf(err, errlen, "duplicate key in the JSON body");
		else
			snprintf(err, errlen, "body is not valid JSON "
			    "(line %d, column %d)", jerr.line, jerr.column);
		return PROVIDER_BAD_REQUEST;
	}
	if (!json_is_object(*root)) {
		json_decref(*root);
		*root = NULL;
		snprintf(err, errlen, "body must be a JSON object");
		return PROVIDER_BAD_REQUEST;
	}
	return PROVIDER_OK;
}

/*
 * A bounded, NUL-free, UTF-8-checked copy of one member.  An integer is
 * taken as its decimal digits: the doc writes the checksum input with
 * PHP's `.`, which concatenates an integer that way, and request_id and
 * time look numeric.  null is as good as absent.
 */
static bool
vc_field(const json_t *root, const char *name, char *out, size_t outlen,
    bool required, char *err, size_t errlen)
{
	const json_t *v = json_object_get(root, name);
	const char *s;
	size_t n;
	int w;

	if (v == NULL || json_is_null(v)) {
		if (!required) {
			out[0] = '\0';
			return true;
		}
		snprintf(err, errlen, "missing field %s", name);
		return false;
	}
	if (json_is_integer(v)) {
		w = snprintf(out, outlen, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		if (w < 0 || (size_t)w >= outlen) {
			snprintf(err, errlen, "field %s is longer than %zu "
			    "bytes", name, outlen - 1);
			return false;
		}
		return true;
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
 * Base64(SHA-256(client_id . request_id . third . secure_key . time))
 * into out, where third is the caller's phone in a MO push and our
 * mt_code in a MT.  Returns 0, or -1 when OpenSSL fails.
 */
static int
vc_checksum(const char *client_id, const char *request_id,
    const char *third, const char *secure_key, const char *time_sent,
    char out[VC_B64_LEN + 1])
{
	const char *parts[] = { client_id, request_id, third, secure_key,
	    time_sent };
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	bool ok;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
	for (size_t i = 0; ok && i < sizeof(parts) / sizeof(parts[0]); i++)
		ok = EVP_DigestUpdate(ctx, parts[i], strlen(parts[i])) == 1;
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 &&
	    mdlen == VC_SHA256_LEN;
	EVP_MD_CTX_free(ctx);
	if (ok && EVP_EncodeBlock((unsigned char *)out, md, VC_SHA256_LEN) !=
	    VC_B64_LEN)
		ok = false;
	OPENSSL_cleanse(md, sizeof(md));
	return ok ? 0 : -1;
}

/* V-COM's own ids: a short token, as its example ("1297875832"). */
static bool
vc_token(const char *s, size_t max)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (n == max || !((s[n] >= '0' && s[n] <= '9') ||
		    (s[n] >= 'a' && s[n] <= 'z') ||
		    (s[n] >= 'A' && s[n] <= 'Z') || s[n] == '-' ||
		    s[n] == '_' || s[n] == '.'))
			return false;
	return n > 0;
}

/* §4.3's "84xxxxxxxxx": "84" and 9 or 10 digits (the first not 0) into
 * E.164, else false. */
static bool
vc_phone(const char *phone, char *out, size_t outlen)
{
	return phone_from_intl_digits(phone, "84", 11, 12, out, outlen);
}

/* The fields the checksum joins, each in its documented form; see the
 * top of the file.  false with a reason naming the field. */
static bool
vc_signed_fields_valid(const char *request_id, const char *phone,
    const char *time_sent, char *err, size_t errlen)
{
	char e164[PHONE_E164_SIZE];

	if (!vc_token(request_id, VC_ID_MAX)) {
		snprintf(err, errlen, "field request_id must be 1 to %d "
		    "letters, digits, '-', '_' or '.'", VC_ID_MAX);
		return false;
	}
	if (!vc_phone(phone, e164, sizeof(e164))) {
		snprintf(err, errlen, "field phone must be 84 and 9 or 10 "
		    "digits (84xxxxxxxxx), as V-COM sends it");
		return false;
	}
	for (size_t i = 0; time_sent[i] != '\0'; i++)
		if (time_sent[i] < '0' || time_sent[i] > '9' || i == 11) {
			snprintf(err, errlen, "field time must be unix "
			    "seconds");
			return false;
		}
	if (time_sent[0] == '\0') {
		snprintf(err, errlen, "field time must be unix seconds");
		return false;
	}
	return true;
}

static enum provider_verdict
vc_check(const struct config_channel *ch, const json_t *root, char *err,
    size_t errlen)
{
	const char *secure_key = config_channel_value(ch, "secure_key");
	const char *mine = config_channel_value(ch, "client_id");
	char client_id[128], request_id[128], phone[40], time_sent[40];
	char want[VC_B64_LEN + 1];
	const json_t *given;
	bool match;

	/* An unset key must not become a checksum anyone can compute. */
	if (secure_key == NULL || secure_key[0] == '\0') {
		snprintf(err, errlen, "channel needs a secure_key");
		return PROVIDER_FORBIDDEN;
	}
	if (mine == NULL || mine[0] == '\0') {
		snprintf(err, errlen, "channel needs a client_id");
		return PROVIDER_FORBIDDEN;
	}
	given = json_object_get(root, "checksum");
	if (given == NULL || json_is_null(given)) {
		snprintf(err, errlen, "missing field checksum");
		return PROVIDER_FORBIDDEN;
	}
	if (!json_is_string(given)) {
		snprintf(err, errlen, "field checksum must be a string");
		return PROVIDER_FORBIDDEN;
	}
	if (!vc_field(root, "client_id", client_id, sizeof(client_id), true,
	    err, errlen) ||
	    !vc_field(root, "request_id", request_id, sizeof(request_id),
	    true, err, errlen) ||
	    !vc_field(root, "phone", phone, sizeof(phone), true, err,
	    errlen) ||
	    !vc_field(root, "time", time_sent, sizeof(time_sent), true, err,
	    errlen))
		return PROVIDER_BAD_REQUEST;
	if (strcmp(client_id, mine) != 0) {
		snprintf(err, errlen, "client_id is not this channel's "
		    "client_id");
		return PROVIDER_FORBIDDEN;
	}
	if (!vc_signed_fields_valid(request_id, phone, time_sent, err,
	    errlen))
		return PROVIDER_BAD_REQUEST;
	if (vc_checksum(client_id, request_id, phone, secure_key, time_sent,
	    want) < 0) {
		snprintf(err, errlen, "cannot compute the checksum (out of "
		    "memory)");
		return PROVIDER_FORBIDDEN;
	}
	/* privacy_equal stops at a \u0000: refuse one, or a genuine
	 * checksum with bytes after a NUL would pass. */
	match = strlen(json_string_value(given)) == json_string_length(given) &&
	    privacy_equal(json_string_value(given), want);
	OPENSSL_cleanse(want, sizeof(want));
	if (!match) {
		snprintf(err, errlen, "checksum does not match: check the "
		    "channel's secure_key");
		return PROVIDER_FORBIDDEN;
	}
	return PROVIDER_OK;
}

static enum provider_verdict
vc_verify(const struct config_channel *ch, const struct provider_input *in,
    char *err, size_t errlen)
{
	enum provider_verdict v;
	json_t *root;

	if (!provider_channel_allows(ch, in->peer, err, errlen))
		return PROVIDER_FORBIDDEN;
	if ((v = vc_load(in, &root, err, errlen)) != PROVIDER_OK)
		return v;
	v = vc_check(ch, root, err, errlen);
	json_decref(root);
	return v;
}

/*
 * request_id is the idempotency key (a `recovery` push repeats a `new`
 * one's); phone is 84-prefixed, read as E.164; time is unix seconds,
 * kept as RFC 3339 UTC; service_id is the short code.
 * command_code, telco and type are not needed.
 */
static enum provider_verdict
vc_sms_parse(const struct config_channel *ch, const struct provider_input *in,
    struct sms_message *out, char *err, size_t errlen)
{
	enum provider_verdict v;
	char phone[40], time_sent[40];
	json_t *root;
	bool ok;

	(void)ch;
	memset(out, 0, sizeof(*out));
	if ((v = vc_load(in, &root, err, errlen)) != PROVIDER_OK)
		return v;
	ok = vc_field(root, "request_id", out->id, sizeof(out->id), true,
	    err, errlen) &&
	    vc_field(root, "phone", phone, sizeof(phone), true, err,
	    errlen) &&
	    vc_field(root, "service_id", out->to, sizeof(out->to), false,
	    err, errlen) &&
	    vc_field(root, "message", out->text, sizeof(out->text), true,
	    err, errlen) &&
	    vc_field(root, "time", time_sent, sizeof(time_sent), false, err,
	    errlen);
	json_decref(root);
	if (!ok)
		return PROVIDER_BAD_REQUEST;
	/* The id is the idempotency key; an empty one would merge
	 * messages. */
	if (out->id[0] == '\0') {
		snprintf(err, errlen, "field request_id is empty");
		return PROVIDER_BAD_REQUEST;
	}
	if (phone[0] == '\0') {
		snprintf(err, errlen, "field phone is empty");
		return PROVIDER_BAD_REQUEST;
	}
	/* verify held the signed fields to their forms; the number is
	 * read as E.164 whatever the channel's default country. */
	if (!vc_phone(phone, out->from, sizeof(out->from))) {
		snprintf(err, errlen, "field phone must be 84 and 9 or 10 "
		    "digits (84xxxxxxxxx), as V-COM sends it");
		return PROVIDER_BAD_REQUEST;
	}
	provider_time_unix(time_sent, out->received_at,
	    sizeof(out->received_at));
	return PROVIDER_OK;
}

/* §4.3: HTTP 200 with this body, or V-COM retries twice. */
static int
vc_sms_ack(struct provider_reply *out)
{
	out->content_type = "application/json";
	snprintf(out->body, sizeof(out->body), "{\"data\":{\"code\":200,"
	    "\"status\":\"success\",\"message\":\"\"}}");
	return 0;
}

/*
 * §4.3 send-mt: a MT answers one MO, named by its request_id; request_id
 * and mt_code together are V-COM's dedup key, so a resend with the same
 * send_key is dropped (104).  The checksum covers neither the message
 * nor service_id.
 */
static int
vc_send_build(const struct config_channel *ch, const struct send_request *req,
    struct send_http *out, char *err, size_t errlen)
{
	const char *client_id = config_channel_value(ch, "client_id");
	const char *secure_key = config_channel_value(ch, "secure_key");
	const char *service_id = config_channel_value(ch, "service_id");
	const char *base = ch->send_url != NULL ? ch->send_url : VC_SEND_BASE;
	char time_sent[32], checksum[VC_B64_LEN + 1];
	json_t *root = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (req->reply_to == NULL || req->reply_to[0] == '\0') {
		snprintf(err, errlen, "V-COM sends only in answer to a "
		    "caller's message (no MO request_id)");
		return -1;
	}
	if (client_id == NULL || client_id[0] == '\0' || secure_key == NULL ||
	    secure_key[0] == '\0') {
		snprintf(err, errlen, "channel needs a client_id and a "
		    "secure_key to send");
		return -1;
	}
	if (req->send_key == NULL || req->send_key[0] == '\0') {
		snprintf(err, errlen, "no send_key: V-COM could not drop a "
		    "resend");
		return -1;
	}
	if (!provider_url_join(out->url, sizeof(out->url), base,
	    VC_SEND_PATH)) {
		snprintf(err, errlen, "send_url is too long");
		return -1;
	}
	out->content_type = VC_JSON;
	snprintf(out->headers[0], sizeof(out->headers[0]),
	    "Accept: " VC_JSON);
	out->nheaders = 1;
	/* The checksum takes time as PHP's `.` writes an integer. */
	snprintf(time_sent, sizeof(time_sent), "%lld", (long long)req->now);
	if (vc_checksum(client_id, req->reply_to, req->send_key, secure_key,
	    time_sent, checksum) < 0) {
		snprintf(err, errlen, "cannot compute the checksum (out of "
		    "memory)");
		goto done;
	}
	/* is_charged 0: a helpline must never cost the caller. */
	root = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:s}",
	    "client_id", client_id,
	    "request_id", req->reply_to,
	    "service_id", service_id != NULL ? service_id : "",
	    "command_code", req->reply_keyword != NULL ?
	    req->reply_keyword : "",
	    "mt_code", req->send_key,
	    "message", req->text,
	    "is_charged", 0,
	    "time", (json_int_t)req->now,
	    "checksum", checksum);
	if (root == NULL ||
	    (out->body = json_dumps(root, JSON_COMPACT |
	    JSON_PRESERVE_ORDER)) == NULL) {
		snprintf(err, errlen, "cannot build the request body (out of "
		    "memory, or a value that is not UTF-8)");
		goto done;
	}
	out->body_len = strlen(out->body);
	rc = 0;
done:
	json_decref(root);
	if (rc < 0)
		provider_send_http_clear(out);
	return rc;
}

/* The answer's code, at the top level, under "data" or under "errors".
 * Its message is never read: it may quote what we sent.  false when
 * there is no code. */
static bool
vc_answer_code(const json_t *root, char *code, size_t codelen)
{
	const json_t *data = json_object_get(root, "data");
	const json_t *errors = json_object_get(root, "errors");
	const json_t *v;
	int w;

	/* V-COM's examples put an answer under "data" and an error under
	 * "errors" (§4.3). */
	v = json_object_get(root, "code");
	if (v == NULL && json_is_object(data))
		v = json_object_get(data, "code");
	if (v == NULL && json_is_object(errors))
		v = json_object_get(errors, "code");
	if (json_is_integer(v)) {
		w = snprintf(code, codelen, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		if (w < 0 || (size_t)w >= codelen)
			return false;
	} else if (json_is_string(v) && json_string_length(v) < codelen &&
	    strlen(json_string_value(v)) == json_string_length(v))
		memcpy(code, json_string_value(v), json_string_length(v) + 1);
	else
		return false;
	return true;
}

/*
 * 200 taken; 104 "request already exists": an earlier attempt with this
 * mt_code got through.  106 (bad parameters or checksum) and 108 (our IP
 * not allowed) will not change on a resend.  V-COM returns no id of its
 * own: the outbox keeps the send_key.
 */
static void
vc_send_parse(const struct config_channel *ch, long status, const char *body,
    size_t body_len, struct send_answer *out)
{
	json_t *root = NULL;
	char code[32];

	(void)ch;
	memset(out, 0, sizeof(*out));
	if (status >= 400 && status < 500) {
		out->verdict = SEND_REJECTED;
		root = body != NULL ? json_loadb(body, body_len,
		    JSON_ALLOW_NUL, NULL) : NULL;
		provider_send_reason(out, status, json_is_object(root) &&
		    vc_answer_code(root, code, sizeof(code)) ? code : NULL);
		json_decref(root);
		return;
	}
	if (status < 200 || status >= 300) {
		out->verdict = SEND_UNKNOWN;
		provider_send_reason(out, status, NULL);
		return;
	}
	if (body == NULL || (root = json_loadb(body, body_len,
	    JSON_ALLOW_NUL, NULL)) == NULL || !json_is_object(root) ||
	    !vc_answer_code(root, code, sizeof(code))) {
		out->verdict = SEND_UNKNOWN;
		snprintf(out->reason, sizeof(out->reason), "HTTP %ld, no code "
		    "in the answer", status);
		json_decref(root);
		return;
	}
	if (strcmp(code, "200") == 0)
		out->verdict = SEND_ACCEPTED;
	else if (strcmp(code, "104") == 0) {
		out->verdict = SEND_ACCEPTED;
		provider_send_reason(out, status, code);
	} else {
		out->verdict = strcmp(code, "106") == 0 ||
		    strcmp(code, "108") == 0 ? SEND_REJECTED : SEND_RETRY;
		provider_send_reason(out, status, code);
	}
	json_decref(root);
}

const struct provider provider_vcom = {
	.name = "vcom",
	.keys = vc_keys,
	.verify = vc_verify,
	.ussd_parse = NULL,
	.ussd_format = NULL,
	.sms_parse = vc_sms_parse,
	.sms_ack = vc_sms_ack,
	.dlr_parse = NULL,
	.send_build = vc_send_build,
	.send_parse = vc_send_parse,
	.send_idempotent = true,
	.default_rate_per_second = 10,
};
