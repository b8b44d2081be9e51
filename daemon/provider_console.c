/*
 * console: the development channel.  It speaks Africa's Talking's USSD
 * and SMS form posts without a token, but only from loopback, so `make run`
 * works with no aggregator account and no way in from the network.
 *
 * A reverse proxy on the same host makes every request loopback, and
 * nginx's plain proxy_pass adds no header to tell: so the config refuses
 * a console channel unless it says "development": true, and here any
 * header a proxy adds refuses the request.
 */
#include "provider.h"

#include <stdio.h>

static enum provider_verdict
console_verify(const struct config_channel *ch,
    const struct provider_input *in, char *err, size_t errlen)
{
	(void)ch;
	/* Behind a local reverse proxy every peer is loopback: a request
	 * the proxy forwarded comes from the network, not from this host.
	 * in->forwarded is any of Via, Forwarded, X-Forwarded-*, X-Real-IP,
	 * X-Client-IP, True-Client-IP, CF-Connecting-IP. */
	if (in->forwarded) {
		snprintf(err, errlen, "the console channel does not accept "
		    "requests forwarded by a proxy");
		return PROVIDER_FORBIDDEN;
	}
	if (!provider_peer_is_loopback(in->peer)) {
		snprintf(err, errlen, "the console channel only accepts "
		    "requests from loopback");
		return PROVIDER_FORBIDDEN;
	}
	return PROVIDER_OK;
}

static enum provider_verdict
console_ussd_parse(const struct provider_input *in, struct ussd_request *out,
    char *err, size_t errlen)
{
	return provider_africastalking.ussd_parse(in, out, err, errlen);
}

static int
console_ussd_format(bool end, const char *text, struct provider_reply *out)
{
	return provider_africastalking.ussd_format(end, text, out);
}

static enum provider_verdict
console_sms_parse(const struct config_channel *ch,
    const struct provider_input *in, struct sms_message *out, char *err,
    size_t errlen)
{
	return provider_africastalking.sms_parse(ch, in, out, err, errlen);
}

static int
console_sms_ack(struct provider_reply *out)
{
	return provider_africastalking.sms_ack(out);
}

static enum provider_verdict
console_dlr_parse(const struct config_channel *ch,
    const struct provider_input *in, struct dlr_report *out, char *err,
    size_t errlen)
{
	return provider_africastalking.dlr_parse(ch, in, out, err, errlen);
}

static const struct provider_key console_keys[] = {
	{ NULL, PROVIDER_KEY_STRING, false },
};

const struct provider provider_console = {
	.name = "console",
	.keys = console_keys,
	.verify = console_verify,
	.ussd_parse = console_ussd_parse,
	.ussd_format = console_ussd_format,
	.sms_parse = console_sms_parse,
	.sms_ack = console_sms_ack,
	.dlr_parse = console_dlr_parse,
	.default_rate_per_second = 0,
};
