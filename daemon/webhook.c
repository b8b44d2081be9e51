#include "webhook.h"

#include <time.h>

#include "http.h"
#include "log.h"
#include "provider.h"

static const char *
header_of(const void *ctx, const char *name)
{
	return http_request_header(ctx, name);
}

void
webhook_input(struct http_request *req, struct provider_input *in)
{
	*in = (struct provider_input){
		.method = http_request_method_name(req),
		.path = http_request_path(req),
		.query = http_request_query(req),
		.content_type = http_request_header(req, "Content-Type"),
		.peer = http_request_peer(req),
		.forwarded = http_request_header(req, "Forwarded") != NULL ||
		    http_request_header(req, "X-Forwarded-For") != NULL ||
		    http_request_header(req, "X-Real-IP") != NULL,
		.header = header_of,
		.header_ctx = req,
		.now = time(NULL),
	};
	in->body = http_request_body(req, &in->body_len);
}

static int
status_of(enum provider_verdict v)
{
	switch (v) {
	case PROVIDER_OK:
		return 200;
	case PROVIDER_BAD_REQUEST:
		return 400;
	case PROVIDER_FORBIDDEN:
		return 403;
	case PROVIDER_UNSUPPORTED:
		return 415;
	}
	return 400;
}

static const char *
code_of(enum provider_verdict v)
{
	switch (v) {
	case PROVIDER_OK:
		return "ok";
	case PROVIDER_BAD_REQUEST:
		return "bad_request";
	case PROVIDER_FORBIDDEN:
		return "forbidden";
	case PROVIDER_UNSUPPORTED:
		return "unsupported_media_type";
	}
	return "bad_request";
}

void
webhook_refuse(struct http_request *req, const char *event,
    const char *channel, enum provider_verdict v, const char *why)
{
	log_event(LOG_WARN, event, "req", http_request_id(req), "channel",
	    channel, "reason", why, NULL);
	http_reply_error(req, status_of(v), code_of(v), why);
}
