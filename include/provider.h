/*
 * provider: the interface every aggregator adapter implements, and the
 * registry that maps a config's provider name to its adapter.
 *
 * Adapters are pure: bytes in, structs out; they verify authenticity,
 * parse, and frame replies, but do no I/O, read no clock and keep no
 * globals.  Each exports one `const struct provider`; adding an
 * aggregator is adding one file and one line in provider.c.
 */
#ifndef HOTLINE_PROVIDER_H
#define HOTLINE_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct config_channel;

enum provider_key_type {
	PROVIDER_KEY_STRING,
	PROVIDER_KEY_SECRET,       /* {"env": …} or {"file": …} only */
	PROVIDER_KEY_STRING_LIST,  /* array of strings */
	PROVIDER_KEY_ADDRESS_LIST, /* array of addresses or IPv4 CIDRs */
};

/* One channel key a provider accepts; tables end with a NULL name. */
struct provider_key {
	const char *name;
	enum provider_key_type type;
	bool required;
};

/* What the HTTP layer hands an adapter: borrowed bytes and names only. */
struct provider_input {
	const char *method;       /* "GET", "POST" */
	const char *path;         /* as requested, without the query */
	const char *query;        /* raw query string, or NULL */
	const char *content_type; /* or NULL */
	const char *body;         /* NUL-terminated, body_len bytes */
	size_t body_len;
	const char *peer;         /* numeric address of the client */
	bool forwarded;           /* came through a proxy (Forwarded,
	                             X-Forwarded-For or X-Real-IP) */
	/* A request header by name (case-insensitive), or NULL. */
	const char *(*header)(const void *ctx, const char *name);
	const void *header_ctx;
	time_t now;               /* the shell's clock, for replay windows */
};

enum provider_verdict {
	PROVIDER_OK,
	PROVIDER_BAD_REQUEST,     /* 400 */
	PROVIDER_FORBIDDEN,       /* 403 */
	PROVIDER_UNSUPPORTED,     /* 415: wrong content type */
};

/* One USSD hop as the aggregator describes it (bounded copies). */
struct ussd_request {
	char session_id[128];
	char service_code[32];
	char phone[40];           /* as sent; normalise with phone.h */
	char network_code[16];
	char text[512];           /* inputs so far, joined by '*' */
};

/* Twilio's Body holds up to 1600 characters: 6400 bytes of UTF-8. */
#define SMS_TEXT_MAX 8192

/* One inbound SMS as the aggregator describes it (bounded copies, all
 * valid UTF-8). */
struct sms_message {
	char id[128];             /* provider message id: idempotency key */
	char from[40];            /* as sent; normalise with phone.h */
	char to[40];
	char text[SMS_TEXT_MAX];
	char received_at[40];     /* as sent; may be empty */
	/* One part of a concatenated SMS the provider did not join
	 * (concat_total 0: a whole message).  Parts share concat_ref. */
	char concat_ref[64];
	unsigned concat_part;     /* 1-based */
	unsigned concat_total;
};

/* The longest provider error or status code kept (provider_code_valid). */
#define PROVIDER_CODE_MAX 32

/* What a delivery report says of an outbound message. */
enum dlr_status {
	DLR_SENT,                 /* accepted by the network, on its way */
	DLR_DELIVERED,            /* on the handset */
	DLR_FAILED,               /* final; reason says why */
	DLR_UNKNOWN,              /* a status the provider does not
	                             document (yet): taken, not refused, so
	                             the provider does not retry it all day;
	                             status_code names it */
};

struct dlr_report {
	char provider_ref[128];   /* the provider's id of our message */
	enum dlr_status status;
	char reason[128];         /* the provider's code (provider_code_valid),
	                             or our own words; may be empty */
	/* Our send_key for the message when the report echoes it (Twilio:
	 * ?ref= in the StatusCallback URL; Vonage: client-ref; eSMS:
	 * RequestId; json: id), else "".  It matches a send whose answer
	 * never came (status unknown). */
	char send_key[64];
	/* DLR_UNKNOWN: the provider's status as it came, when
	 * provider_code_valid, else "". */
	char status_code[PROVIDER_CODE_MAX + 1];
};

/* One outbound text, as the outbox hands it to an adapter to frame. */
struct send_request {
	const char *channel;      /* the channel's name (for DLR URLs) */
	const char *to;           /* E.164, "+84…" */
	const char *text;         /* UTF-8 as it goes on the air (already
	                             folded when the channel folds) */
	bool unicode;             /* the text needs UCS-2 */
	/* Our idempotency key for the row (16 lowercase hex digits), the
	 * same on every attempt: eSMS RequestId, V-COM mt_code, json id,
	 * Vonage client-ref, Twilio ?ref= on the StatusCallback URL. */
	const char *send_key;
	/* V-COM: the request_id and command_code of the caller's MO this MT
	 * answers; NULL when the caller never wrote on this channel. */
	const char *reply_to;
	const char *reply_keyword;
	time_t now;               /* for signatures that carry a time */
};

#define PROVIDER_SEND_HEADERS 6

/* The HTTP request an adapter frames; the outbox sends it. */
struct send_http {
	char url[1024];
	const char *content_type;             /* a static string */
	char headers[PROVIDER_SEND_HEADERS][512];  /* "Name: value" */
	size_t nheaders;
	char userpwd[512];                    /* HTTP Basic "user:pass", or
	                                         "" for none */
	char *body;                           /* malloc'd, NUL-terminated;
	                                         provider_send_http_clear */
	size_t body_len;
};

enum send_verdict {
	SEND_ACCEPTED,            /* taken: provider_ref holds the id */
	SEND_RETRY,               /* not taken, may be later (throttled,
	                             the provider's temporary failure) */
	SEND_REJECTED,            /* not taken and never will be */
	SEND_UNKNOWN,             /* the answer does not say (garbled 2xx):
	                             it may have been taken */
};

struct send_answer {
	enum send_verdict verdict;
	char provider_ref[128];
	/* "HTTP <status> <code>" (provider_send_reason), or our own
	 * words; never the provider's words, which may quote the number or
	 * the text. */
	char reason[128];
};

/* A framed reply; body is NUL-terminated. */
struct provider_reply {
	const char *content_type;
	char body[1024];
};

struct provider {
	const char *name;
	const struct provider_key *keys;
	/* Authenticity, checked before the body is parsed. */
	enum provider_verdict (*verify)(const struct config_channel *channel,
	    const struct provider_input *in, char *err, size_t errlen);
	/* NULL when the provider carries no USSD. */
	enum provider_verdict (*ussd_parse)(const struct provider_input *in,
	    struct ussd_request *out, char *err, size_t errlen);
	/* Frame a USSD page: end closes the session.  -1 if it cannot fit. */
	int (*ussd_format)(bool end, const char *text,
	    struct provider_reply *out);
	/* NULL when the provider carries no inbound SMS.  Parses after
	 * verify accepted the request. */
	enum provider_verdict (*sms_parse)(const struct config_channel *channel,
	    const struct provider_input *in, struct sms_message *out,
	    char *err, size_t errlen);
	/* The acknowledgement the aggregator expects once the message is
	 * stored (answering nothing to the sender); also sent for a
	 * recorded delivery report. */
	int (*sms_ack)(struct provider_reply *out);
	/* NULL when the provider sends no delivery reports we read. */
	enum provider_verdict (*dlr_parse)(const struct config_channel *channel,
	    const struct provider_input *in, struct dlr_report *out,
	    char *err, size_t errlen);
	/* Authenticity of a delivery report when it differs from verify
	 * (eSMS signs messages but not reports); NULL: verify. */
	enum provider_verdict (*dlr_verify)(
	    const struct config_channel *channel,
	    const struct provider_input *in, char *err, size_t errlen);
	/* Frame a send as the provider's API wants it, against the
	 * channel's send_url when set (the API base; json: the full URL),
	 * else the provider's production URL.  NULL when the channel sends
	 * nothing over the network (console).  -1 with a reason when the
	 * text cannot be sent this way (no MO to answer on V-COM). */
	int (*send_build)(const struct config_channel *channel,
	    const struct send_request *req, struct send_http *out,
	    char *err, size_t errlen);
	/* Read the provider's answer to a send.  Called for 2xx and 4xx
	 * answers; the outbox itself retries 429 and 5xx. */
	void (*send_parse)(const struct config_channel *channel, long status,
	    const char *body, size_t body_len, struct send_answer *out);
	/* The provider drops a resend with the same send_key (eSMS
	 * RequestId, V-COM mt_code, json id): an ambiguous failure may then
	 * be retried without the caller getting the text twice. */
	bool send_idempotent;
	/*
	 * Sends a second a channel makes when it sets no
	 * rate_limit_per_second; 0: no limit (console).  The provider's
	 * documented throughput for the sender a hotline uses:
	 * - twilio 100: a short code "may send over 100 message segments
	 *   per second" (a long code 1): twilio.com/docs/api/errors/30001
	 *   and /21611.
	 * - vonage 30: "All API keys are set with 30 API requests per second
	 *   throughput restriction by default": api.support.vonage.com,
	 *   article 203993598.
	 * - africastalking, esms, vcom, json 10: none of them publishes a
	 *   figure (reference/aggregators.md has none; AT leaves it to the
	 *   telcos); 10 is a cautious guess, to be raised to what the
	 *   account manager confirms.
	 */
	double default_rate_per_second;
};

/* The adapters (provider_NAME.c each). */
extern const struct provider provider_africastalking;
extern const struct provider provider_console;
extern const struct provider provider_esms;
extern const struct provider provider_json;
extern const struct provider provider_twilio;
extern const struct provider provider_vcom;
extern const struct provider provider_vonage;

/* The adapter named `name`, or NULL. */
const struct provider *provider_find(const char *name);

/* Names of all providers, comma-separated, for error messages. */
const char *provider_names(void);

/* Shared by adapters: is the content type (parameters ignored) `want`? */
bool provider_content_type_is(const char *content_type, const char *want);

/* Shared by adapters: is `peer` in the list of addresses / IPv4 CIDRs? */
bool provider_peer_allowed(const char *peer, char *const *list,
    size_t count);
/* Shared by adapters: true when the channel sets no allow_ips or the
 * peer is in it; else false with the reason in err. */
bool provider_channel_allows(const struct config_channel *channel,
    const char *peer, char *err, size_t errlen);

struct form;

/* Shared by adapters: copy form field `name` into out[outlen], checked
 * for length and UTF-8; a missing optional field is "".  false with a
 * reason naming the field (never its value) in err. */
bool provider_form_copy(const struct form *form, const char *name,
    char *out, size_t outlen, bool required, char *err, size_t errlen);

/* Is `entry` an IPv4/IPv6 address or an IPv4 CIDR (allow_ips)? */
bool provider_address_valid(const char *entry);

/* Shared by adapters: "base" + "path" into out, one '/' at the end of
 * base dropped (path starts with one).  false when it does not fit. */
bool provider_url_join(char *out, size_t outlen, const char *base,
    const char *path);

/* Free what send_build allocated; the struct may be reused. */
void provider_send_http_clear(struct send_http *http);

/*
 * A provider's error code as we keep it: 1 to 32 of [A-Za-z0-9_.-] and no
 * run of 6 or more digits (a number a provider echoed).  Providers'
 * error *words* are never kept: some quote the text or the number they
 * refused, and a reason is logged, stored and served as JSON.
 */
bool provider_code_valid(const char *code);

/* Shared by adapters: code into reason[len] when provider_code_valid,
 * else "" (a delivery report's reason).  code may be reason itself. */
void provider_reason_set(char *reason, size_t len, const char *code);
/* "HTTP <status>" and, when provider_code_valid(code), " <code>" into
 * the answer's reason; code may be NULL. */
void provider_send_reason(struct send_answer *out, long status,
    const char *code);

/*
 * Shared by adapters: a provider's received time as the store keeps
 * times ("YYYY-MM-DDTHH:MM:SSZ", UTC), or "" when it cannot be read: a
 * message is never refused for its time.  `zone` is the offset to read
 * a time without one in ("+00:00", "+07:00").
 *  provider_time_space: "YYYY-MM-DD HH:MM:SS" or any RFC 3339 time;
 *  provider_time_compact: "yyyyMMddHHmmss";
 *  provider_time_unix: decimal unix seconds.
 */
void provider_time_space(const char *s, const char *zone, char *out,
    size_t outlen);
void provider_time_compact(const char *s, const char *zone, char *out,
    size_t outlen);
void provider_time_unix(const char *s, char *out, size_t outlen);

/* Shared by adapters: is `peer` a loopback address? */
bool provider_peer_is_loopback(const char *peer);

#endif
