/*
 * eSMS.vn (VIHAT) short-code MO, reference/aggregators.md §4.1: an HTTP
 * GET ?sender=&content=&serviceNumber=&keyword=&sign=&cpid=&smsid=
 * &receiverTime=, signed with sign = MD5(cpid + smsid + content +
 * receiverTime + private_key) over the decoded values.
 *
 * The form of sign: the doc's prose says MD5, its sample code
 * Base64-encodes the raw 16-byte digest (24 characters).  Both the Base64
 * form and the 32-digit hex form are accepted, hex in either case: "MD5"
 * alone usually means hex, and a .NET sender (eSMS's API is WCF) writes
 * hex as "x2" or "X2".  The two cannot be confused (24 and 32
 * characters), and a second candidate gives a forger nothing usable.
 * A Base64 '+' sent without %-escaping reaches us as a space after
 * query decoding; Base64 has no spaces, so a space is read back as '+'.
 *
 * The sign joins cpid, smsid, content and receiverTime without
 * separators, so each is held to its documented form before the sign
 * counts: cpid is the channel's; smsid is "a string eSMS provides, the
 * unique number of a message" (the doc calls it both), so letters,
 * digits, '-' and '_'; content is not empty and does not start with a
 * digit (on a short code it starts with the service's keyword);
 * receiverTime is yyyyMMddHHmmss, 14 digits.  A genuine message whose
 * text starts with a digit is refused: eSMS routes by keyword, so such
 * a message should not reach us.  Since smsid may end in a letter, a
 * letter could still move between it and content; so the idempotency
 * key is not smsid alone but a hash of the whole signed string, which
 * every re-split of one genuine request shares: a re-split copy is a
 * duplicate, stored never.
 *
 * The sign covers neither sender nor serviceNumber, and eSMS documents
 * no way to sign them: the residual risk.  sender must be "84" and 9 or
 * 10 digits as §4.1 gives it, and a copy of a genuine request with
 * another sender keeps its smsid, the idempotency key, so it is dropped
 * as a duplicate once the genuine one is stored; only a copy that
 * overtakes the genuine request in transit could name another number,
 * so the URL must be https, and allow_ips can hold eSMS's addresses.
 * receiverTime is not compared with our clock: §4.1 states no window.
 */
#include "provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "config.h"
#include "form.h"
#include "phone.h"
#include "privacy.h"
#include "smstext.h"

#define ES_MD5_LEN 16
/* Base64 of 16 bytes: 24 characters with "==". */
#define ES_B64_LEN 24
#define ES_HEX_LEN (2 * ES_MD5_LEN)
/* The longest smsid taken. */
#define ES_SMSID_MAX 64
/* receiverTime carries no zone; eSMS is a Vietnamese service and §4.1
 * gives none, so it is read as Viet Nam's time (UTC+7, no DST). */
#define ES_ZONE "+07:00"
#define ES_SEND_BASE "https://rest.esms.vn"
#define ES_SEND_PATH "/MainService.svc/json/SendMultipleMessage_V4_post_json/"

/* api_key, secret_key and brandname are for sending; cpid and
 * private_key for checking what eSMS sends us. */
static const struct provider_key es_keys[] = {
	{ "api_key", PROVIDER_KEY_SECRET, true },
	{ "secret_key", PROVIDER_KEY_SECRET, true },
	{ "brandname", PROVIDER_KEY_STRING, false },
	{ "cpid", PROVIDER_KEY_STRING, true },
	{ "private_key", PROVIDER_KEY_SECRET, true },
	/* eSMS signs no delivery callback, so its URL carries a secret of
	 * ours (?token=), as with Africa's Talking. */
	{ "callback_token", PROVIDER_KEY_SECRET, false },
	/* The base URL eSMS reaches us at; with callback_token set, each
	 * send asks for a delivery report at its /v1/dlr/CHANNEL. */
	{ "public_url", PROVIDER_KEY_STRING, false },
	/* eSMS's API checks our address (code 140); set, this checks
	 * theirs, narrowing who could send an MO with an altered, unsigned
	 * sender. */
	{ "allow_ips", PROVIDER_KEY_ADDRESS_LIST, false },
	{ NULL, PROVIDER_KEY_STRING, false },
};

/* The names eSMS sends: an error may name these, never another. */
static const char *const es_names[] = {
	"sender", "content", "serviceNumber", "keyword", "sign", "cpid",
	"smsid", "receiverTime",
	/* delivery callbacks (§4.1) */
	"SMSID", "SendFailed", "SendStatus", "SendSuccess", "TotalPrice",
	"TotalReceiver", "TotalSent", "RequestId", "TypeId", "telcoid",
	"phonenumber", "token",
};

/*
 * The query string.  A name given twice is refused: the sign and the
 * parser could otherwise read different values.  On success the caller
 * clears f.
 */
static enum provider_verdict
es_query(const struct provider_input *in, struct form *f, char *err,
    size_t errlen)
{
	const char *q = in->query != NULL ? in->query : "";
	char why[128];

	if (in->method != NULL && strcmp(in->method, "POST") == 0) {
		snprintf(err, errlen, "eSMS sends MO messages as a GET with a "
		    "query string, not a request body");
		return PROVIDER_UNSUPPORTED;
	}
	if (in->method == NULL || strcmp(in->method, "GET") != 0) {
		snprintf(err, errlen, "method must be GET");
		return PROVIDER_BAD_REQUEST;
	}
	if (form_parse(f, q, strlen(q), why, sizeof(why)) < 0) {
		snprintf(err, errlen, "malformed query string: %s", why);
		return PROVIDER_BAD_REQUEST;
	}
	for (size_t i = 0; i < f->count; i++)
		for (size_t j = i + 1; j < f->count; j++) {
			const char *name = f->fields[i].name;
			const char *known = "(unknown)";

			if (strcmp(name, f->fields[j].name) != 0)
				continue;
			for (size_t k = 0; k < sizeof(es_names) /
			    sizeof(es_names[0]); k++)
				if (strcmp(name, es_names[k]) == 0)
					known = es_names[k];
			snprintf(err, errlen, "parameter %s appears more than "
			    "once", known);
			form_clear(f);
			return PROVIDER_BAD_REQUEST;
		}
	return PROVIDER_OK;
}

static const char *
es_required(const struct form *f, const char *name, char *err, size_t errlen)
{
	const char *v = form_get(f, name);

	if (v == NULL)
		snprintf(err, errlen, "missing field %s", name);
	return v;
}

/*
 * MD5(cpid + smsid + content + receiverTime + private_key) as Base64 and
 * as lowercase hex.  Returns 0, or -1 when OpenSSL fails.
 */
static int
es_sign(const char *const parts[5], char b64[ES_B64_LEN + 1],
    char hex[ES_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	bool ok;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1;
	for (size_t i = 0; ok && i < 5; i++)
		ok = EVP_DigestUpdate(ctx, parts[i], strlen(parts[i])) == 1;
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 &&
	    mdlen == ES_MD5_LEN;
	EVP_MD_CTX_free(ctx);
	if (ok && EVP_EncodeBlock((unsigned char *)b64, md, ES_MD5_LEN) !=
	    ES_B64_LEN)
		ok = false;
	if (ok) {
		for (size_t i = 0; i < ES_MD5_LEN; i++) {
			hex[2 * i] = digits[md[i] >> 4];
			hex[2 * i + 1] = digits[md[i] & 0xf];
		}
		hex[ES_HEX_LEN] = '\0';
	}
	OPENSSL_cleanse(md, sizeof(md));
	return ok ? 0 : -1;
}

static bool
es_all_digits(const char *s, size_t min, size_t max)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (s[n] < '0' || s[n] > '9' || n == max)
			return false;
	return n >= min;
}

/* The fields the sign joins, in their documented forms (see the top of
 * the file).  false with a reason naming the field. */
static bool
es_signed_fields_valid(const char *smsid, const char *content,
    const char *when, char *err, size_t errlen)
{
	size_t n = strlen(smsid);

	if (n == 0 || n > ES_SMSID_MAX || strspn(smsid, "0123456789"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_") != n) {
		snprintf(err, errlen, "field smsid must be 1 to %d letters, "
		    "digits, '-' or '_'", ES_SMSID_MAX);
		return false;
	}
	if (content[0] == '\0' || (content[0] >= '0' && content[0] <= '9')) {
		snprintf(err, errlen, "field content must not be empty or "
		    "start with a digit: the sign could not tell it from "
		    "smsid");
		return false;
	}
	if (!es_all_digits(when, 14, 14)) {
		snprintf(err, errlen, "field receiverTime must be "
		    "yyyyMMddHHmmss");
		return false;
	}
	return true;
}

/* §4.1: sender is "84…"; as E.164, else false. */
static bool
es_sender(const char *sender, char *out, size_t outlen)
{
	return phone_from_intl_digits(sender, "84", 11, 12, out, outlen);
}

static enum provider_verdict
es_check(const struct config_channel *ch, const struct form *f, char *err,
    size_t errlen)
{
	const char *key = config_channel_value(ch, "private_key");
	const char *mine = config_channel_value(ch, "cpid");
	const char *sign, *cpid, *smsid, *content, *when;
	char b64[ES_B64_LEN + 1], hex[ES_HEX_LEN + 1];
	char as_b64[ES_HEX_LEN + 1], as_hex[ES_HEX_LEN + 1];
	size_t n;
	bool match;

	/* An unset key must not become a sign anyone can compute. */
	if (key == NULL || key[0] == '\0') {
		snprintf(err, errlen, "channel needs a private_key");
		return PROVIDER_FORBIDDEN;
	}
	if (mine == NULL || mine[0] == '\0') {
		snprintf(err, errlen, "channel needs a cpid");
		return PROVIDER_FORBIDDEN;
	}
	if ((sign = form_get(f, "sign")) == NULL) {
		snprintf(err, errlen, "missing field sign");
		return PROVIDER_FORBIDDEN;
	}
	if ((cpid = es_required(f, "cpid", err, errlen)) == NULL ||
	    (smsid = es_required(f, "smsid", err, errlen)) == NULL ||
	    (content = es_required(f, "content", err, errlen)) == NULL ||
	    (when = es_required(f, "receiverTime", err, errlen)) == NULL)
		return PROVIDER_BAD_REQUEST;
	if (strcmp(cpid, mine) != 0) {
		snprintf(err, errlen, "cpid is not this channel's cpid");
		return PROVIDER_FORBIDDEN;
	}
	/* Longer than either form: compared as "", which never matches. */
	n = strnlen(sign, ES_HEX_LEN + 1);
	if (n > ES_HEX_LEN)
		n = 0;
	for (size_t i = 0; i < n; i++) {
		as_b64[i] = sign[i] == ' ' ? '+' : sign[i];
		as_hex[i] = sign[i] >= 'A' && sign[i] <= 'F' ?
		    (char)(sign[i] - 'A' + 'a') : sign[i];
	}
	as_b64[n] = as_hex[n] = '\0';
	if (es_sign((const char *const[]){ cpid, smsid, content, when, key },
	    b64, hex) < 0) {
		snprintf(err, errlen, "cannot compute the sign (out of "
		    "memory)");
		return PROVIDER_FORBIDDEN;
	}
	match = (int)privacy_equal(as_b64, b64) |
	    (int)privacy_equal(as_hex, hex);
	OPENSSL_cleanse(b64, sizeof(b64));
	OPENSSL_cleanse(hex, sizeof(hex));
	if (!match) {
		snprintf(err, errlen, "sign does not match: check the "
		    "channel's private_key");
		return PROVIDER_FORBIDDEN;
	}
	/* Before the sign counts: see the top of the file. */
	if (!es_signed_fields_valid(smsid, content, when, err, errlen))
		return PROVIDER_BAD_REQUEST;
	return PROVIDER_OK;
}

static enum provider_verdict
es_verify(const struct config_channel *ch, const struct provider_input *in,
    char *err, size_t errlen)
{
	enum provider_verdict v;
	struct form f;

	if (!provider_channel_allows(ch, in->peer, err, errlen))
		return PROVIDER_FORBIDDEN;
	if ((v = es_query(in, &f, err, errlen)) != PROVIDER_OK)
		return v;
	v = es_check(ch, &f, err, errlen);
	form_clear(&f);
	return v;
}

/* The idempotency key: "s" and 32 hex digits of SHA-256 over the signed
 * string (cpid + smsid + content + receiverTime), the same for a retry
 * and for any re-split of it (see the top of the file).  0 or -1. */
static int
es_message_key(const struct form *f, char *out, size_t outlen)
{
	static const char *const names[] = { "cpid", "smsid", "content",
	    "receiverTime" };
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	int ok;

	if (outlen < 34 || (ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
	for (size_t i = 0; ok && i < sizeof(names) / sizeof(names[0]); i++) {
		/* verify required them all; absent, they add nothing. */
		const char *v = form_get(f, names[i]);

		ok = v == NULL || EVP_DigestUpdate(ctx, v, strlen(v)) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen >= 16;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	out[0] = 's';
	for (size_t i = 0; i < 16; i++) {
		out[1 + 2 * i] = hex[md[i] >> 4];
		out[2 + 2 * i] = hex[md[i] & 0x0f];
	}
	out[33] = '\0';
	return 0;
}

/* sender is 84-prefixed, read as E.164;
 * receiverTime is yyyyMMddhhmmss, kept as RFC 3339 UTC.  keyword is not
 * needed. */
static enum provider_verdict
es_sms_parse(const struct config_channel *ch, const struct provider_input *in,
    struct sms_message *out, char *err, size_t errlen)
{
	enum provider_verdict v;
	char sender[40], when[40];
	struct form f;
	bool ok;

	(void)ch;
	memset(out, 0, sizeof(*out));
	if ((v = es_query(in, &f, err, errlen)) != PROVIDER_OK)
		return v;
	ok = provider_form_copy(&f, "smsid", out->id, sizeof(out->id), true,
	    err, errlen) &&
	    provider_form_copy(&f, "sender", sender, sizeof(sender), true,
	    err, errlen) &&
	    provider_form_copy(&f, "serviceNumber", out->to, sizeof(out->to),
	    false, err, errlen) &&
	    provider_form_copy(&f, "content", out->text, sizeof(out->text),
	    true, err, errlen) &&
	    provider_form_copy(&f, "receiverTime", when, sizeof(when), false,
	    err, errlen);
	if (ok && out->id[0] != '\0' &&
	    es_message_key(&f, out->id, sizeof(out->id)) < 0) {
		snprintf(err, errlen, "cannot compute the message key");
		ok = false;
	}
	form_clear(&f);
	if (!ok)
		return PROVIDER_BAD_REQUEST;
	/* The id is the idempotency key; an empty one would merge
	 * messages. */
	if (out->id[0] == '\0') {
		snprintf(err, errlen, "field smsid is empty");
		return PROVIDER_BAD_REQUEST;
	}
	if (sender[0] == '\0') {
		snprintf(err, errlen, "field sender is empty");
		return PROVIDER_BAD_REQUEST;
	}
	/* verify held the signed fields to their forms; sender, which
	 * the sign does not cover, is held to §4.1's here. */
	if (!es_sender(sender, out->from, sizeof(out->from))) {
		snprintf(err, errlen, "field sender must be 84 and 9 or 10 "
		    "digits, as eSMS sends it");
		return PROVIDER_BAD_REQUEST;
	}
	provider_time_compact(when, ES_ZONE, out->received_at,
	    sizeof(out->received_at));
	return PROVIDER_OK;
}

/*
 * §4.1 shows <ClientResponse><Message>reply</Message><Smsid>…</Smsid>
 * <Receiver>…</Receiver></ClientResponse>.  sms_ack sees no message, so
 * Smsid and Receiver cannot be filled in; they are left out rather than
 * sent empty or wrong.  The Message is empty: no reply text rides on
 * the acknowledgement; any answer goes out later as its own MT.
 */
static int
es_sms_ack(struct provider_reply *out)
{
	out->content_type = "text/xml";
	snprintf(out->body, sizeof(out->body),
	    "<ClientResponse><Message></Message></ClientResponse>");
	return 0;
}

/* The delivery callback is unsigned: the channel's callback_token must
 * be in its query, compared in constant time.  Without one configured,
 * reports are refused rather than taken from anyone. */
static enum provider_verdict
es_dlr_verify(const struct config_channel *ch,
    const struct provider_input *in, char *err, size_t errlen)
{
	const char *expected = config_channel_value(ch, "callback_token");
	enum provider_verdict v;
	const char *token;
	struct form f;
	bool ok;

	if (expected == NULL) {
		snprintf(err, errlen, "set callback_token on this channel and "
		    "add ?token= to eSMS's CallbackUrl to take its reports");
		return PROVIDER_FORBIDDEN;
	}
	if ((v = es_query(in, &f, err, errlen)) != PROVIDER_OK)
		return v;
	token = form_get(&f, "token");
	ok = token != NULL && privacy_equal(token, expected);
	form_clear(&f);
	if (!ok) {
		snprintf(err, errlen, "wrong or missing ?token= for this "
		    "channel");
		return PROVIDER_FORBIDDEN;
	}
	return PROVIDER_OK;
}

/* SendStatus: 1 pending approval, 2 waiting, 7 at the telco -> sent;
 * 5 sent OK -> delivered; 4 rejected -> failed.  SendFailed > 0 on a
 * single recipient is a failure whatever the status says. */
static enum provider_verdict
es_dlr_parse(const struct config_channel *ch, const struct provider_input *in,
    struct dlr_report *out, char *err, size_t errlen)
{
	enum provider_verdict v;
	char status[8], failed[16];
	struct form f;
	bool ok;

	(void)ch;
	memset(out, 0, sizeof(*out));
	if ((v = es_query(in, &f, err, errlen)) != PROVIDER_OK)
		return v;
	/* RequestId is at most 50 characters at eSMS: it fits, ours or
	 * not. */
	ok = provider_form_copy(&f, "SMSID", out->provider_ref,
	    sizeof(out->provider_ref), true, err, errlen) &&
	    provider_form_copy(&f, "SendStatus", status, sizeof(status), true,
	    err, errlen) &&
	    provider_form_copy(&f, "SendFailed", failed, sizeof(failed), false,
	    err, errlen) &&
	    provider_form_copy(&f, "RequestId", out->send_key,
	    sizeof(out->send_key), false, err, errlen);
	form_clear(&f);
	if (!ok)
		return PROVIDER_BAD_REQUEST;
	if (out->provider_ref[0] == '\0') {
		snprintf(err, errlen, "field SMSID is empty");
		return PROVIDER_BAD_REQUEST;
	}
	if (strcmp(status, "1") == 0 || strcmp(status, "2") == 0 ||
	    strcmp(status, "7") == 0)
		out->status = DLR_SENT;
	else if (strcmp(status, "5") == 0)
		out->status = DLR_DELIVERED;
	else if (strcmp(status, "4") == 0)
		out->status = DLR_FAILED;
	else {
		snprintf(err, errlen, "field SendStatus must be 1, 2, 4, 5 or "
		    "7");
		return PROVIDER_BAD_REQUEST;
	}
	if (failed[0] != '\0' && strcmp(failed, "0") != 0)
		out->status = DLR_FAILED;
	snprintf(out->reason, sizeof(out->reason), "SendStatus %s", status);
	return PROVIDER_OK;
}

/*
 * CallbackUrl: public_url + "/v1/dlr/" + channel + "?token=" + the token,
 * %-escaped as es_dlr_verify will decode it.  NULL (no report asked for)
 * when either key is unset; *failed when it cannot be made.  The caller
 * frees.
 */
static char *
es_callback_url(const struct config_channel *ch, const char *channel,
    bool *failed)
{
	const char *base = config_channel_value(ch, "public_url");
	const char *token = config_channel_value(ch, "callback_token");
	const char *pair[] = { "token", token };
	char path[1024], *query, *url = NULL;
	size_t len;
	int w;

	*failed = false;
	if (base == NULL || base[0] == '\0' || token == NULL ||
	    token[0] == '\0')
		return NULL;
	*failed = true;
	if ((query = form_encode(pair, 1, NULL)) == NULL)
		return NULL;
	w = snprintf(path, sizeof(path), "/v1/dlr/%s?%s", channel, query);
	if (w >= 0 && (size_t)w < sizeof(path)) {
		len = strlen(base) + strlen(path) + 1;
		if ((url = malloc(len)) != NULL && !provider_url_join(url, len, base,
		    path)) {
			free(url);
			url = NULL;
		}
	}
	OPENSSL_cleanse(path, sizeof(path));
	OPENSSL_cleanse(query, strlen(query));
	free(query);
	if (url != NULL)
		*failed = false;
	return url;
}

/*
 * §4.1 SendMultipleMessage_V4_post_json, SmsType 2 (customer care: the
 * text must match a template registered with eSMS, or code 146).  Keys
 * travel in the body; RequestId makes a resend within 24 h a no-op.
 */
static int
es_send_build(const struct config_channel *ch, const struct send_request *req,
    struct send_http *out, char *err, size_t errlen)
{
	const char *api_key = config_channel_value(ch, "api_key");
	const char *secret_key = config_channel_value(ch, "secret_key");
	const char *brandname = config_channel_value(ch, "brandname");
	const char *to = req->to;
	char *callback = NULL;
	json_t *root = NULL;
	bool failed;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (api_key == NULL || api_key[0] == '\0' || secret_key == NULL ||
	    secret_key[0] == '\0') {
		snprintf(err, errlen, "channel needs an api_key and a "
		    "secret_key to send");
		return -1;
	}
	if (req->send_key == NULL || req->send_key[0] == '\0') {
		snprintf(err, errlen, "no send_key: eSMS could not drop a "
		    "resend");
		return -1;
	}
	if (!provider_url_join(out->url, sizeof(out->url), ch->send_url != NULL ?
	    ch->send_url : ES_SEND_BASE, ES_SEND_PATH)) {
		snprintf(err, errlen, "send_url is too long");
		return -1;
	}
	out->content_type = "application/json";
	snprintf(out->headers[0], sizeof(out->headers[0]),
	    "Accept: application/json");
	out->nheaders = 1;
	callback = es_callback_url(ch, req->channel != NULL ? req->channel :
	    ch->name, &failed);
	if (failed) {
		snprintf(err, errlen, "cannot build the CallbackUrl: "
		    "public_url is too long, or out of memory");
		goto done;
	}
	/* eSMS wants 84…, not +84…. */
	if (to[0] == '+')
		to++;
	/* "s*" leaves a key out when its value is NULL.  An empty
	 * brandname would be refused (104): left out too. */
	root = json_pack("{s:s, s:s, s:s, s:s, s:s*, s:s, s:s, s:s, s:s*}",
	    "ApiKey", api_key,
	    "SecretKey", secret_key,
	    "Phone", to,
	    "Content", req->text,
	    "Brandname", brandname != NULL && brandname[0] != '\0' ?
	    brandname : NULL,
	    "SmsType", "2",
	    "IsUnicode", req->unicode ? "1" : "0",
	    "RequestId", req->send_key,
	    "CallbackUrl", callback);
	if (root == NULL ||
	    (out->body = json_dumps(root, JSON_COMPACT |
	    JSON_PRESERVE_ORDER)) == NULL) {
		snprintf(err, errlen, "cannot build the request body (out of "
		    "memory, or a channel key that is not UTF-8)");
		goto done;
	}
	out->body_len = strlen(out->body);
	rc = 0;
done:
	/* The CallbackUrl holds our token. */
	if (callback != NULL) {
		OPENSSL_cleanse(callback, strlen(callback));
		free(callback);
	}
	json_decref(root);
	if (rc < 0)
		provider_send_http_clear(out);
	return rc;
}

/* A code or an id as eSMS writes it, string or integer, into out; false
 * when it is neither or does not fit. */
static bool
es_answer_text(const json_t *v, char *out, size_t outlen)
{
	int w;

	if (json_is_integer(v)) {
		w = snprintf(out, outlen, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return w >= 0 && (size_t)w < outlen;
	}
	if (!json_is_string(v) || json_string_length(v) >= outlen ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return false;
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return true;
}

/*
 * {"CodeResult":"100","SMSID":"…"} when taken.  The codes §4.1 names as
 * the caller's fault are final; any other code is retried, which is safe
 * because RequestId makes a second copy a no-op (124).
 */
static void
es_send_parse(const struct config_channel *ch, long status, const char *body,
    size_t body_len, struct send_answer *out)
{
	static const char *const permanent[] = {
		"99",   /* the number is blocked */
		"101",  /* wrong ApiKey or SecretKey */
		"103",  /* no balance */
		"104",  /* brandname not registered */
		"108",  /* phone number format */
		"140",  /* our IP is not on the account's list */
		"146",  /* text matches no registered template */
	};
	json_t *root = NULL;
	char code[32];

	(void)ch;
	memset(out, 0, sizeof(*out));
	if (status >= 400 && status < 500) {
		out->verdict = SEND_REJECTED;
		root = body != NULL ? json_loadb(body, body_len,
		    JSON_ALLOW_NUL, NULL) : NULL;
		provider_send_reason(out, status, json_is_object(root) &&
		    es_answer_text(json_object_get(root, "CodeResult"), code,
		    sizeof(code)) ? code : NULL);
		json_decref(root);
		return;
	}
	if (status < 200 || status >= 300) {
		out->verdict = SEND_UNKNOWN;
		provider_send_reason(out, status, NULL);
		return;
	}
	if (body == NULL || (root = json_loadb(body, body_len,
	    JSON_ALLOW_NUL, NULL)) == NULL ||
	    !json_is_object(root) ||
	    !es_answer_text(json_object_get(root, "CodeResult"), code,
	    sizeof(code))) {
		out->verdict = SEND_UNKNOWN;
		snprintf(out->reason, sizeof(out->reason), "HTTP %ld, no "
		    "CodeResult in the answer", status);
		json_decref(root);
		return;
	}
	if (strcmp(code, "100") == 0) {
		out->verdict = SEND_ACCEPTED;
		/* Taken without an SMSID: the report's RequestId still
		 * finds the message. */
		if (!es_answer_text(json_object_get(root, "SMSID"),
		    out->provider_ref, sizeof(out->provider_ref)))
			out->provider_ref[0] = '\0';
		json_decref(root);
		return;
	}
	if (strcmp(code, "124") == 0) {
		/* An earlier attempt got through; its answer was lost. */
		out->verdict = SEND_ACCEPTED;
		provider_send_reason(out, status, code);
		json_decref(root);
		return;
	}
	out->verdict = SEND_RETRY;
	for (size_t i = 0; i < sizeof(permanent) / sizeof(permanent[0]); i++)
		if (strcmp(code, permanent[i]) == 0)
			out->verdict = SEND_REJECTED;
	/* The code only: ErrorMessage may quote the number or the text. */
	provider_send_reason(out, status, code);
	json_decref(root);
}

const struct provider provider_esms = {
	.name = "esms",
	.keys = es_keys,
	.verify = es_verify,
	.ussd_parse = NULL,
	.ussd_format = NULL,
	.sms_parse = es_sms_parse,
	.sms_ack = es_sms_ack,
	.dlr_parse = es_dlr_parse,
	.dlr_verify = es_dlr_verify,
	.send_build = es_send_build,
	.send_parse = es_send_parse,
	.send_idempotent = true,
	.default_rate_per_second = 10,
};
