/*
 * Africa's Talking.  AT signs nothing (reference/aggregators.md §1.6), so
 * a callback proves itself with the channel's secret `callback_token` in
 * the URL query, compared in constant time, and optionally by coming from
 * an allowed address.
 */
#include "provider.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "form.h"
#include "phone.h"
#include "privacy.h"
#include "smstext.h"

#define AT_FORM "application/x-www-form-urlencoded"
#define AT_LIVE "https://api.africastalking.com"
#define AT_SANDBOX "https://api.sandbox.africastalking.com"
#define AT_SEND_PATH "/version1/messaging"

static const struct provider_key at_keys[] = {
	{ "username", PROVIDER_KEY_STRING, true },
	{ "api_key", PROVIDER_KEY_SECRET, true },
	{ "short_code", PROVIDER_KEY_STRING, false },
	{ "callback_token", PROVIDER_KEY_SECRET, true },
	{ "allow_ips", PROVIDER_KEY_ADDRESS_LIST, false },
	{ NULL, PROVIDER_KEY_STRING, false },
};

static enum provider_verdict
at_verify(const struct config_channel *ch, const struct provider_input *in,
    char *err, size_t errlen)
{
	const char *expected = config_channel_value(ch, "callback_token");
	const char *token;
	struct form q;
	char why[128];
	bool ok;

	if (!provider_channel_allows(ch, in->peer, err, errlen))
		return PROVIDER_FORBIDDEN;
	if (in->query == NULL || form_parse(&q, in->query, strlen(in->query),
	    why, sizeof(why)) < 0) {
		snprintf(err, errlen, "missing ?token= (the channel's "
		    "callback_token) in the callback URL");
		return PROVIDER_FORBIDDEN;
	}
	token = form_get(&q, "token");
	ok = token != NULL && expected != NULL &&
	    privacy_equal(token, expected);
	form_clear(&q);
	if (!ok) {
		snprintf(err, errlen, "wrong or missing ?token= for this "
		    "channel");
		return PROVIDER_FORBIDDEN;
	}
	return PROVIDER_OK;
}

/* Every AT callback is a form post. */
static enum provider_verdict
form_body(const struct provider_input *in, struct form *f, char *err,
    size_t errlen)
{
	char why[128];

	if (!provider_content_type_is(in->content_type,
	    "application/x-www-form-urlencoded")) {
		snprintf(err, errlen, "Content-Type must be "
		    "application/x-www-form-urlencoded");
		return PROVIDER_UNSUPPORTED;
	}
	if (form_parse(f, in->body, in->body_len, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "malformed form body: %s", why);
		return PROVIDER_BAD_REQUEST;
	}
	return PROVIDER_OK;
}

static enum provider_verdict
at_ussd_parse(const struct provider_input *in, struct ussd_request *out,
    char *err, size_t errlen)
{
	enum provider_verdict v;
	struct form f;
	bool ok;

	if ((v = form_body(in, &f, err, errlen)) != PROVIDER_OK)
		return v;
	ok = provider_form_copy(&f, "sessionId", out->session_id,
	    sizeof(out->session_id), true, err, errlen) &&
	    provider_form_copy(&f, "serviceCode", out->service_code,
	    sizeof(out->service_code), true, err, errlen) &&
	    provider_form_copy(&f, "phoneNumber", out->phone,
	    sizeof(out->phone), true, err, errlen) &&
	    provider_form_copy(&f, "networkCode", out->network_code,
	    sizeof(out->network_code), false, err, errlen) &&
	    provider_form_copy(&f, "text", out->text, sizeof(out->text), true,
	    err, errlen);
	form_clear(&f);
	if (ok && out->session_id[0] == '\0') {
		snprintf(err, errlen, "field sessionId is empty");
		ok = false;
	}
	return ok ? PROVIDER_OK : PROVIDER_BAD_REQUEST;
}

/*
 * Inbound SMS (§1.3): from, to, text, date, id, linkId, networkCode.
 * date comes as "2017-05-03T06:04:45Z", "2018-03-19T08:34:18.445Z" or
 * "2017-05-03 06:04:45"; AT states no zone for the last, which is read
 * as UTC, as the others are.  It is kept as RFC 3339 UTC, or "" when it
 * cannot be read: a message is never refused for its date.
 */
static enum provider_verdict
at_sms_parse(const struct config_channel *ch, const struct provider_input *in,
    struct sms_message *out, char *err, size_t errlen)
{
	enum provider_verdict v;
	struct form f;
	char date[64];
	bool ok;

	(void)ch;
	if ((v = form_body(in, &f, err, errlen)) != PROVIDER_OK)
		return v;
	ok = provider_form_copy(&f, "id", out->id, sizeof(out->id), true, err,
	    errlen) &&
	    provider_form_copy(&f, "from", out->from, sizeof(out->from), true,
	    err, errlen) &&
	    provider_form_copy(&f, "to", out->to, sizeof(out->to), false, err,
	    errlen) &&
	    provider_form_copy(&f, "text", out->text, sizeof(out->text), true,
	    err, errlen);
	/* Not through provider_form_copy: an over-long or broken date
	 * must not refuse the message. */
	snprintf(date, sizeof(date), "%s", form_get(&f, "date") != NULL ?
	    form_get(&f, "date") : "");
	provider_time_space(date, "+00:00", out->received_at,
	    sizeof(out->received_at));
	form_clear(&f);
	if (ok && out->id[0] == '\0') {
		snprintf(err, errlen, "field id is empty");
		ok = false;
	}
	return ok ? PROVIDER_OK : PROVIDER_BAD_REQUEST;
}

/* Delivery report (§1.4): id, status, failureReason. */
static enum provider_verdict
at_dlr_parse(const struct config_channel *ch, const struct provider_input *in,
    struct dlr_report *out, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		enum dlr_status status;
	} statuses[] = {
		{ "Sent", DLR_SENT }, { "Submitted", DLR_SENT },
		{ "Buffered", DLR_SENT }, { "Success", DLR_DELIVERED },
		{ "Rejected", DLR_FAILED }, { "Failed", DLR_FAILED },
		{ "AbsentSubscriber", DLR_FAILED }, { "Expired", DLR_FAILED },
	};
	char status[32];
	enum provider_verdict v;
	struct form f;
	bool ok;

	(void)ch;
	/* AT's report carries no key of ours: it matches by id alone. */
	out->send_key[0] = '\0';
	if ((v = form_body(in, &f, err, errlen)) != PROVIDER_OK)
		return v;
	ok = provider_form_copy(&f, "id", out->provider_ref,
	    sizeof(out->provider_ref), true, err, errlen) &&
	    provider_form_copy(&f, "status", status, sizeof(status), true, err,
	    errlen) &&
	    provider_form_copy(&f, "failureReason", out->reason,
	    sizeof(out->reason), false, err, errlen);
	form_clear(&f);
	if (!ok)
		return PROVIDER_BAD_REQUEST;
	/* A code is kept, never words: a reason is logged and stored. */
	provider_reason_set(out->reason, sizeof(out->reason), out->reason);
	if (out->provider_ref[0] == '\0') {
		snprintf(err, errlen, "field id is empty");
		return PROVIDER_BAD_REQUEST;
	}
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (strcmp(status, statuses[i].name) == 0) {
			out->status = statuses[i].status;
			return PROVIDER_OK;
		}
	snprintf(err, errlen, "field status is not one Africa's Talking "
	    "sends (Sent, Submitted, Buffered, Success, Rejected, Failed, "
	    "AbsentSubscriber, Expired)");
	return PROVIDER_BAD_REQUEST;
}

/* AT asks for nothing but a 2xx. */
static int
at_sms_ack(struct provider_reply *out)
{
	out->content_type = "text/plain; charset=utf-8";
	snprintf(out->body, sizeof(out->body), "OK");
	return 0;
}

/* AT reads "CON " or "END " then the page (§1.1). */
static int
at_ussd_format(bool end, const char *text, struct provider_reply *out)
{
	int n;

	out->content_type = "text/plain; charset=utf-8";
	n = snprintf(out->body, sizeof(out->body), "%s %s",
	    end ? "END" : "CON", text);
	return n < 0 || (size_t)n >= sizeof(out->body) ? -1 : 0;
}

/*
 * Send (§1.5): a form post to the channel's send_url (the API base), else
 * to AT's live API or, for the username "sandbox", its sandbox.  One
 * recipient; bulkSMSMode and enqueue stay at AT's defaults.
 */
static int
at_send_build(const struct config_channel *ch, const struct send_request *req,
    struct send_http *out, char *err, size_t errlen)
{
	const char *user = config_channel_value(ch, "username");
	const char *key = config_channel_value(ch, "api_key");
	const char *base = ch->send_url;
	const char *pairs[] = {
		"username", user,
		"to", req->to,
		"message", req->text,
		"from", config_channel_value(ch, "short_code"),
	};
	int n;

	memset(out, 0, sizeof(*out));
	if (user == NULL || key == NULL) {
		snprintf(err, errlen, "channel needs username and api_key to "
		    "send");
		goto fail;
	}
	if (!phone_is_e164(req->to)) {
		snprintf(err, errlen, "recipient is not an E.164 number");
		goto fail;
	}
	if (base == NULL)
		base = strcmp(user, "sandbox") == 0 ? AT_SANDBOX : AT_LIVE;
	if (!provider_url_join(out->url, sizeof(out->url), base,
	    AT_SEND_PATH)) {
		snprintf(err, errlen, "send_url is too long: the send URL "
		    "holds at most %zu bytes", sizeof(out->url) - 1);
		goto fail;
	}
	/* A CR or LF would end the header and start another. */
	for (const char *c = key; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			snprintf(err, errlen, "api_key contains a control "
			    "character");
			goto fail;
		}
	n = snprintf(out->headers[0], sizeof(out->headers[0]), "apiKey: %s",
	    key);
	if (n < 0 || (size_t)n >= sizeof(out->headers[0])) {
		snprintf(err, errlen, "api_key is too long for a header (at "
		    "most %zu bytes)", sizeof(out->headers[0]) - 9);
		goto fail;
	}
	snprintf(out->headers[1], sizeof(out->headers[1]),
	    "Accept: application/json");
	out->nheaders = 2;
	out->content_type = AT_FORM;
	out->body = form_encode(pairs, sizeof(pairs) / sizeof(pairs[0]) / 2,
	    &out->body_len);
	if (out->body == NULL) {
		snprintf(err, errlen, "out of memory framing the send");
		goto fail;
	}
	return 0;
fail:
	/* Leave no half-framed request, and no key, behind. */
	provider_send_http_clear(out);
	return -1;
}

/* AT answers an error before the recipients (bad key, bad username…)
 * as plain text.  Only a first line that is a bare code
 * ("InvalidSenderId") is kept: a sentence may quote the message. */
static void
at_send_http_error(long status, const char *body, size_t body_len,
    struct send_answer *out)
{
	char line[PROVIDER_CODE_MAX + 2];
	size_t i = 0, n = 0;

	while (body != NULL && i < body_len && (body[i] == ' ' ||
	    body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
		i++;
	for (; body != NULL && i < body_len && n < sizeof(line) - 1; i++) {
		if (body[i] == '\0' || body[i] == '\r' || body[i] == '\n')
			break;
		line[n++] = body[i];
	}
	line[n] = '\0';
	/* The outbox retries these itself; should one reach here, it is
	 * still not a refusal. */
	out->verdict = status == 429 || status >= 500 ? SEND_RETRY :
	    SEND_REJECTED;
	provider_send_reason(out, status, line);
}

/*
 * SMSMessageData.Recipients[0] of a 2xx answer (§1.5).  statusCode 100
 * Processed, 101 Sent and 102 Queued are taken; 405 InsufficientBalance,
 * 500 InternalServerError and 501 GatewayError may pass later; the rest
 * (RiskHold, InvalidPhoneNumber, UserInBlacklist…) will not.  The reason
 * keeps the status word when it is a bare code, else the number.
 */
static void
at_send_recipient(const json_t *root, long status, struct send_answer *out)
{
	const json_t *data = json_object_get(root, "SMSMessageData");
	const json_t *list = json_object_get(data, "Recipients");
	const json_t *r = json_array_get(list, 0);
	const json_t *code = json_object_get(r, "statusCode");
	const char *msg, *id, *word;
	char num[24];

	/* A request refused as a whole names no recipient, only why:
	 * {"Message":"InvalidSenderId","Recipients":[]}.  Nothing was
	 * sent. */
	msg = json_string_value(json_object_get(data, "Message"));
	if (json_is_array(list) && json_array_size(list) == 0 &&
	    msg != NULL && msg[0] != '\0') {
		out->verdict = strcmp(msg, "InsufficientBalance") == 0 ?
		    SEND_RETRY : SEND_REJECTED;
		provider_send_reason(out, status, msg);
		return;
	}
	if (!json_is_integer(code)) {
		out->verdict = SEND_UNKNOWN;
		snprintf(out->reason, sizeof(out->reason), "unreadable answer: "
		    "no SMSMessageData.Recipients[0].statusCode");
		return;
	}
	switch (json_integer_value(code)) {
	case 100:
	case 101:
	case 102:
		id = json_string_value(json_object_get(r, "messageId"));
		if (id == NULL || id[0] == '\0' ||
		    strlen(id) >= sizeof(out->provider_ref)) {
			out->verdict = SEND_UNKNOWN;
			snprintf(out->reason, sizeof(out->reason),
			    "unreadable answer: accepted without a usable "
			    "messageId");
			return;
		}
		out->verdict = SEND_ACCEPTED;
		memcpy(out->provider_ref, id, strlen(id) + 1);
		return;
	case 405:
	case 500:
	case 501:
		out->verdict = SEND_RETRY;
		break;
	default:
		out->verdict = SEND_REJECTED;
		break;
	}
	word = json_string_value(json_object_get(r, "status"));
	snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
	    json_integer_value(code));
	provider_send_reason(out, status, provider_code_valid(word) ? word :
	    num);
}

static void
at_send_parse(const struct config_channel *ch, long status, const char *body,
    size_t body_len, struct send_answer *out)
{
	json_t *root;

	(void)ch;
	memset(out, 0, sizeof(*out));
	if (status < 200 || status > 299) {
		at_send_http_error(status, body, body_len, out);
		return;
	}
	root = body != NULL ? json_loadb(body, body_len, 0, NULL) : NULL;
	at_send_recipient(root, status, out);
	json_decref(root);
}

const struct provider provider_africastalking = {
	.name = "africastalking",
	.keys = at_keys,
	.verify = at_verify,
	.ussd_parse = at_ussd_parse,
	.ussd_format = at_ussd_format,
	.sms_parse = at_sms_parse,
	.sms_ack = at_sms_ack,
	.dlr_parse = at_dlr_parse,
	.send_build = at_send_build,
	.send_parse = at_send_parse,
	.send_idempotent = false,
	.default_rate_per_second = 10,
};
