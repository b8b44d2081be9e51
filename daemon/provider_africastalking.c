/*
 * Africa's Talking.  AT signs nothing (reference/aggregators.md §1.6), so
 * a callback proves itself with the channel's secret `callback_token` in
 * the URL query, compared in constant time, and optionally by coming from
 * an allowed address.
 */
#include "provider.h"

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "form.h"
#include "privacy.h"
#include "smstext.h"

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
	char *const *ips;
	size_t nips;
	bool ok;

	ips = config_channel_list(ch, "allow_ips", &nips);
	if (ips != NULL && !provider_peer_allowed(in->peer, ips, nips)) {
		snprintf(err, errlen, "source address is not in this "
		    "channel's allow_ips");
		return PROVIDER_FORBIDDEN;
	}
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

/* Inbound SMS (§1.3): from, to, text, date, id, linkId, networkCode. */
static enum provider_verdict
at_sms_parse(const struct config_channel *ch, const struct provider_input *in,
    struct sms_message *out, char *err, size_t errlen)
{
	enum provider_verdict v;
	struct form f;
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
	    err, errlen) &&
	    provider_form_copy(&f, "date", out->received_at,
	    sizeof(out->received_at), false, err, errlen);
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

const struct provider provider_africastalking = {
	.name = "africastalking",
	.keys = at_keys,
	.verify = at_verify,
	.ussd_parse = at_ussd_parse,
	.ussd_format = at_ussd_format,
	.sms_parse = at_sms_parse,
	.sms_ack = at_sms_ack,
	.dlr_parse = at_dlr_parse,
};
