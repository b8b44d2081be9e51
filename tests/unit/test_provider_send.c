/* Outbound framing and answer reading for Africa's Talking, Twilio and
 * Vonage: send_request -> exact URL, headers and body bytes; (status,
 * body) -> verdict, ref and reason.  Expected bodies are python3's
 * urllib.parse.urlencode of the same pairs; answers are the examples of
 * reference/aggregators.md §1.5, §2.4 and §3.1, and the signature beside
 * the Twilio report comes from the python3 command quoted there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "form.h"
#include "provider.h"
#include "smstext.h"

#define FORM "application/x-www-form-urlencoded"

/* "Chúng tôi đã nhận tin.", UTF-8 bytes, and its form encoding. */
#define VI_TEXT "Ch\xc3\xbang t\xc3\xb4i \xc4\x91\xc3\xa3 nh\xe1\xba\xadn tin."
#define VI_FORM "Ch%C3%BAng+t%C3%B4i+%C4%91%C3%A3+nh%E1%BA%ADn+tin."
/* The caller's number: no reason or error may quote its digits. */
#define TO "+84901234567"
#define KEY "0123456789abcdef"
#define LOCAL "http://127.0.0.1:8099/"

/* --- helpers -------------------------------------------------------- */

#define MAX_KEYS 6

/* A channel on the stack: up to six keys, values copied into it. */
struct test_channel {
	char name[16];
	char val[MAX_KEYS][128];
	struct config_value values[MAX_KEYS];
	struct config_channel ch;
};

/* Names and values alternate, ending with NULL. */
static void
channel_init(struct test_channel *t, const struct provider *p,
    const char *name, const char *send_url, ...)
{
	const char *key;
	va_list ap;
	size_t n = 0;

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	va_start(ap, send_url);
	while ((key = va_arg(ap, const char *)) != NULL) {
		assert_true(n < MAX_KEYS);
		snprintf(t->val[n], sizeof(t->val[n]), "%s",
		    va_arg(ap, const char *));
		t->values[n] = (struct config_value){ .name = key,
		    .value = t->val[n] };
		n++;
	}
	va_end(ap);
	t->ch = (struct config_channel){ .name = t->name, .provider = p,
	    .send_url = (char *)send_url, .values = t->values,
	    .nvalues = n };
}

static struct send_request
send_req(const char *channel, const char *text, bool unicode)
{
	return (struct send_request){ .channel = channel, .to = TO,
	    .text = text, .unicode = unicode, .send_key = KEY,
	    .now = 1772353530 };
}

/* Build, expecting success; the caller clears out. */
static void
build_ok(const struct provider *p, const struct config_channel *ch,
    const struct send_request *req, struct send_http *out)
{
	char err[256] = "";

	if (p->send_build(ch, req, out, err, sizeof(err)) != 0) {
		print_error("%s: send_build: %s\n", p->name, err);
		fail();
	}
	assert_non_null(out->body);
	assert_int_equal(out->body_len, strlen(out->body));
}

/* Build, expecting -1 with a reason containing `why`, nothing framed
 * and no digits of the number quoted. */
static void
build_fails(const struct provider *p, const struct config_channel *ch,
    const struct send_request *req, const char *why)
{
	struct send_http out;
	char err[256] = "";

	memset(&out, 0, sizeof(out));
	assert_int_equal(p->send_build(ch, req, &out, err, sizeof(err)), -1);
	if (strstr(err, why) == NULL) {
		print_error("%s: err \"%s\" lacks \"%s\"\n", p->name, err, why);
		fail();
	}
	assert_null(strstr(err, "901234567"));
	assert_null(out.body);
	assert_string_equal(out.url, "");
	assert_int_equal(out.nheaders, 0);
	assert_string_equal(out.userpwd, "");
}

/* One answer and what send_parse must make of it. */
struct acase {
	const char *name;
	long status;
	const char *body;
	enum send_verdict verdict;
	const char *ref;	/* ACCEPTED: the provider_ref */
	const char *reason;	/* substring of the reason, or NULL */
};

/* A reason is "HTTP <status>" and at most one short code, or our own
 * words about an answer we could not read: never a provider's words. */
static bool
reason_is_ours(const char *r)
{
	const char *code;
	size_t n;

	if (r[0] == '\0' || strncmp(r, "unreadable answer", 17) == 0)
		return true;
	if (strncmp(r, "HTTP ", 5) != 0 || strspn(r + 5, "0123456789") != 3)
		return false;
	if (r[8] == '\0')
		return true;
	if (r[8] != ' ')
		return false;
	code = r + 9;
	n = strspn(code, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_.-");
	return n >= 1 && n <= 32 && code[n] == '\0';
}

static void
run_answers(const struct provider *p, const struct config_channel *ch,
    const struct acase *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct acase *c = &cases[i];
		struct send_answer a;

		memset(&a, 0x5a, sizeof(a));
		p->send_parse(ch, c->status, c->body,
		    c->body != NULL ? strlen(c->body) : 0, &a);
		if (a.verdict != c->verdict ||
		    strlen(a.reason) >= sizeof(a.reason) ||
		    (c->ref != NULL && strcmp(a.provider_ref, c->ref) != 0) ||
		    (c->ref == NULL && a.provider_ref[0] != '\0') ||
		    (c->reason != NULL && strncmp(c->reason, "HTTP ", 5) == 0 &&
		    strcmp(a.reason, c->reason) != 0) ||
		    (c->reason != NULL && strstr(a.reason, c->reason) ==
		    NULL) ||
		    !reason_is_ours(a.reason) ||
		    (c->verdict != SEND_ACCEPTED && a.reason[0] == '\0') ||
		    strstr(a.reason, "912345678") != NULL ||
		    !smstext_utf8_valid(a.reason, strlen(a.reason))) {
			print_error("%s %s: verdict %d ref \"%s\" reason "
			    "\"%s\"\n", p->name, c->name, (int)a.verdict,
			    a.provider_ref, a.reason);
			fail();
		}
	}
}

/* "x" repeated n times, in a static buffer. */
static const char *
repeat(char x, size_t n)
{
	static char buf[2048];

	assert_true(n < sizeof(buf));
	memset(buf, x, n);
	buf[n] = '\0';
	return buf;
}

/* --- Africa's Talking ------------------------------------------------ */

static void
at_channel(struct test_channel *t, const char *user, const char *send_url,
    const char *short_code)
{
	if (short_code != NULL)
		channel_init(t, &provider_africastalking, "at", send_url,
		    "username", user, "api_key", "at-key-0123",
		    "short_code", short_code, "callback_token", "cb", NULL);
	else
		channel_init(t, &provider_africastalking, "at", send_url,
		    "username", user, "api_key", "at-key-0123",
		    "callback_token", "cb", NULL);
}

static void
africastalking_frames_the_send_exactly(void **state)
{
	struct send_request req = send_req("at", VI_TEXT, true);
	struct test_channel t;
	struct send_http out;

	(void)state;
	memset(&out, 0, sizeof(out));
	at_channel(&t, "hotline_app", NULL, "40123");
	build_ok(&provider_africastalking, &t.ch, &req, &out);
	assert_string_equal(out.url,
	    "https://api.africastalking.com/version1/messaging");
	assert_string_equal(out.content_type, FORM);
	assert_int_equal(out.nheaders, 2);
	assert_string_equal(out.headers[0], "apiKey: at-key-0123");
	assert_string_equal(out.headers[1], "Accept: application/json");
	assert_string_equal(out.userpwd, "");
	assert_string_equal(out.body, "username=hotline_app&to=%2B84901234567"
	    "&message=" VI_FORM "&from=40123");
	provider_send_http_clear(&out);

	/* No short_code: AT's default sender, no from pair. */
	at_channel(&t, "hotline_app", NULL, NULL);
	req = send_req("at", "a&b=c+d 100%", false);
	build_ok(&provider_africastalking, &t.ch, &req, &out);
	assert_string_equal(out.body, "username=hotline_app&to=%2B84901234567"
	    "&message=a%26b%3Dc%2Bd+100%25");
	provider_send_http_clear(&out);
}

static void
africastalking_url_follows_sandbox_and_send_url(void **state)
{
	static const struct {
		const char *user, *send_url, *url;
	} cases[] = {
		{ "sandbox", NULL,
		  "https://api.sandbox.africastalking.com/version1/messaging" },
		{ "hotline_app", LOCAL,
		  "http://127.0.0.1:8099/version1/messaging" },
		{ "sandbox", "http://127.0.0.1:8099",
		  "http://127.0.0.1:8099/version1/messaging" },
	};
	struct send_request req = send_req("at", "hi", false);
	struct test_channel t;
	struct send_http out;

	(void)state;
	memset(&out, 0, sizeof(out));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		at_channel(&t, cases[i].user, cases[i].send_url, NULL);
		build_ok(&provider_africastalking, &t.ch, &req, &out);
		assert_string_equal(out.url, cases[i].url);
		provider_send_http_clear(&out);
	}
}

static void
africastalking_refuses_what_does_not_fit(void **state)
{
	char url[1100], key[600];
	struct send_request req = send_req("at", "hi", false);
	struct test_channel t;

	(void)state;
	/* 1005 bytes of base and "/version1/messaging" make 1024. */
	snprintf(url, sizeof(url), "http://127.0.0.1/%s", repeat('a', 988));
	at_channel(&t, "u", url, NULL);
	build_fails(&provider_africastalking, &t.ch, &req, "send_url");
	/* One byte less fits exactly. */
	url[strlen(url) - 1] = '\0';
	at_channel(&t, "u", url, NULL);
	{
		struct send_http out;

		memset(&out, 0, sizeof(out));
		build_ok(&provider_africastalking, &t.ch, &req, &out);
		assert_int_equal(strlen(out.url), sizeof(out.url) - 1);
		provider_send_http_clear(&out);
	}
	snprintf(key, sizeof(key), "%s", repeat('k', 504));
	/* "apiKey: " and 504 bytes make 512: no room for the NUL. */
	channel_init(&t, &provider_africastalking, "at", NULL, "username",
	    "u", "api_key", "x", NULL);
	t.values[1].value = key;
	build_fails(&provider_africastalking, &t.ch, &req, "api_key");
	/* A newline would start a second header. */
	channel_init(&t, &provider_africastalking, "at", NULL, "username",
	    "u", "api_key", "k\r\nX-Evil: 1", NULL);
	build_fails(&provider_africastalking, &t.ch, &req, "control");
	/* National or garbled numbers are not guessed at. */
	at_channel(&t, "u", NULL, NULL);
	req.to = "0901234567";
	build_fails(&provider_africastalking, &t.ch, &req, "E.164");
	req.to = "+84 901234567";
	build_fails(&provider_africastalking, &t.ch, &req, "E.164");
}

static const struct acase at_answers[] = {
	{ "reference 201", 201,
	  "{\"SMSMessageData\":{\"Message\":\"Sent to 1/1 Total Cost: KES "
	  "0.8000\",\"Recipients\":[{\"statusCode\":101,\"number\":"
	  "\"+254711000222\",\"status\":\"Success\",\"cost\":\"KES 0.8000\","
	  "\"messageId\":\"ATXid_9a8b7c6d5e4f30211203f4e5d6c7b8a9\"}]}}",
	  SEND_ACCEPTED, "ATXid_9a8b7c6d5e4f30211203f4e5d6c7b8a9", NULL },
	{ "processed 200", 200,
	  "{\"SMSMessageData\":{\"Recipients\":[{\"statusCode\":100,"
	  "\"status\":\"Processed\",\"messageId\":\"ATXid_1\"}]}}",
	  SEND_ACCEPTED, "ATXid_1", NULL },
	{ "queued", 201,
	  "{\"SMSMessageData\":{\"Recipients\":[{\"statusCode\":102,"
	  "\"status\":\"Queued\",\"messageId\":\"ATXid_2\"}]}}",
	  SEND_ACCEPTED, "ATXid_2", NULL },
	{ "sent without messageId", 201,
	  "{\"SMSMessageData\":{\"Recipients\":[{\"statusCode\":101,"
	  "\"status\":\"Success\"}]}}",
	  SEND_UNKNOWN, NULL, "messageId" },
	{ "invalid number", 201,
	  "{\"SMSMessageData\":{\"Message\":\"Sent to 0/1\",\"Recipients\":"
	  "[{\"statusCode\":403,\"number\":\"+84912345678\",\"status\":"
	  "\"InvalidPhoneNumber\",\"cost\":\"0\",\"messageId\":\"None\"}]}}",
	  SEND_REJECTED, NULL, "HTTP 201 InvalidPhoneNumber" },
	{ "status echoes the number", 201,
	  "{\"SMSMessageData\":{\"Recipients\":[{\"statusCode\":406,"
	  "\"status\":\"UserInBlacklist +84912345678\"}]}}",
	  SEND_REJECTED, NULL, "HTTP 201 406" },
	{ "insufficient balance", 201,
	  "{\"SMSMessageData\":{\"Recipients\":[{\"statusCode\":405,"
	  "\"status\":\"InsufficientBalance\"}]}}",
	  SEND_RETRY, NULL, "HTTP 201 InsufficientBalance" },
	{ "internal error", 201,
	  "{\"SMSMessageData\":{\"Recipients\":[{\"statusCode\":500,"
	  "\"status\":\"InternalServerError\"}]}}",
	  SEND_RETRY, NULL, "HTTP 201 InternalServerError" },
	{ "gateway error", 201,
	  "{\"SMSMessageData\":{\"Recipients\":[{\"statusCode\":501,"
	  "\"status\":\"GatewayError\"}]}}",
	  SEND_RETRY, NULL, "HTTP 201 GatewayError" },
	{ "rejected by gateway", 201,
	  "{\"SMSMessageData\":{\"Recipients\":[{\"statusCode\":502,"
	  "\"status\":\"RejectedByGateway\"}]}}",
	  SEND_REJECTED, NULL, "HTTP 201 RejectedByGateway" },
	/* The whole request refused: no recipient, only the why. */
	{ "invalid sender", 201,
	  "{\"SMSMessageData\":{\"Message\":\"InvalidSenderId\","
	  "\"Recipients\":[]}}",
	  SEND_REJECTED, NULL, "HTTP 201 InvalidSenderId" },
	{ "no recipients", 201, "{\"SMSMessageData\":{}}",
	  SEND_UNKNOWN, NULL, "unreadable" },
	{ "empty list, no words", 201,
	  "{\"SMSMessageData\":{\"Recipients\":[]}}",
	  SEND_UNKNOWN, NULL, "unreadable" },
	{ "string code", 201,
	  "{\"SMSMessageData\":{\"Recipients\":[{\"statusCode\":\"101\","
	  "\"messageId\":\"ATXid_3\"}]}}",
	  SEND_UNKNOWN, NULL, "unreadable" },
	{ "not JSON", 200, "<html>Bad Gateway</html>",
	  SEND_UNKNOWN, NULL, "unreadable" },
	{ "truncated JSON", 201, "{\"SMSMessageData\":{\"Recipients\":[{",
	  SEND_UNKNOWN, NULL, "unreadable" },
	{ "empty", 200, "", SEND_UNKNOWN, NULL, "unreadable" },
	{ "no body", 200, NULL, SEND_UNKNOWN, NULL, "unreadable" },
	/* Errors before the recipients are plain text: a bare code is
	 * kept, a sentence is not (it may quote the number or the text). */
	{ "bad key", 401,
	  "The supplied authentication is invalid\r\nsecond line",
	  SEND_REJECTED, NULL, "HTTP 401" },
	{ "bare code", 400, "InvalidSenderId\r\n",
	  SEND_REJECTED, NULL, "HTTP 400 InvalidSenderId" },
	{ "echoed number", 400, "Invalid number +84912345678",
	  SEND_REJECTED, NULL, "HTTP 400" },
	{ "echoed text", 400, "Invalid message: T\xc3\xb4i c\xe1\xba\xa7n "
	  "gi\xc3\xbap",
	  SEND_REJECTED, NULL, "HTTP 400" },
	{ "empty 4xx", 400, "\n", SEND_REJECTED, NULL, "HTTP 400" },
	{ "throttled", 429, "slow down", SEND_RETRY, NULL, "HTTP 429" },
};

static void
africastalking_reads_its_answers(void **state)
{
	struct test_channel t;

	(void)state;
	at_channel(&t, "hotline_app", NULL, NULL);
	run_answers(&provider_africastalking, &t.ch, at_answers,
	    sizeof(at_answers) / sizeof(at_answers[0]));
}

/* A long plain-text error is no code: only the status is kept. */
static void
africastalking_long_error_keeps_only_the_status(void **state)
{
	char body[400];
	struct test_channel t;
	struct send_answer a;

	(void)state;
	at_channel(&t, "hotline_app", NULL, NULL);
	memset(body, 'A', 120);
	body[120] = '\0';
	provider_africastalking.send_parse(&t.ch, 400, body, strlen(body),
	    &a);
	assert_int_equal(a.verdict, SEND_REJECTED);
	assert_string_equal(a.reason, "HTTP 400");
}

/* --- Twilio ---------------------------------------------------------- */

#define TW_SID "AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN "tw-auth-token-0123"
#define TW_PUBLIC "https://hotline.example.org"
#define TW_MESSAGES "/2010-04-01/Accounts/" TW_SID "/Messages.json"

static void
tw_channel(struct test_channel *t, const char *send_url, const char *from,
    const char *public_url)
{
	if (from != NULL)
		channel_init(t, &provider_twilio, "tw", send_url,
		    "account_sid", TW_SID, "auth_token", TW_TOKEN,
		    "public_url", public_url, "from", from, NULL);
	else
		channel_init(t, &provider_twilio, "tw", send_url,
		    "account_sid", TW_SID, "auth_token", TW_TOKEN,
		    "public_url", public_url, NULL);
}

static void
twilio_frames_the_send_exactly(void **state)
{
	struct send_request req = send_req("tw", VI_TEXT, true);
	struct test_channel t;
	struct send_http out;

	(void)state;
	memset(&out, 0, sizeof(out));
	/* public_url with and without its trailing '/' alike. */
	for (int slash = 0; slash < 2; slash++) {
		tw_channel(&t, NULL, "+15005550006",
		    slash ? TW_PUBLIC "/" : TW_PUBLIC);
		build_ok(&provider_twilio, &t.ch, &req, &out);
		assert_string_equal(out.url, "https://api.twilio.com"
		    TW_MESSAGES);
		assert_string_equal(out.content_type, FORM);
		assert_string_equal(out.userpwd, TW_SID ":" TW_TOKEN);
		assert_int_equal(out.nheaders, 1);
		assert_string_equal(out.headers[0],
		    "Accept: application/json");
		assert_string_equal(out.body, "To=%2B84901234567"
		    "&From=%2B15005550006&Body=" VI_FORM "&StatusCallback="
		    "https%3A%2F%2Fhotline.example.org%2Fv1%2Fdlr%2Ftw"
		    "%3Fref%3D0123456789abcdef");
		provider_send_http_clear(&out);
	}

	/* send_url is the API base; no from key, no From pair. */
	tw_channel(&t, LOCAL, NULL, TW_PUBLIC);
	req = send_req("tw", "a&b=c+d", false);
	build_ok(&provider_twilio, &t.ch, &req, &out);
	assert_string_equal(out.url, "http://127.0.0.1:8099" TW_MESSAGES);
	assert_string_equal(out.body, "To=%2B84901234567&Body=a%26b%3Dc%2Bd"
	    "&StatusCallback=https%3A%2F%2Fhotline.example.org%2Fv1%2Fdlr"
	    "%2Ftw%3Fref%3D0123456789abcdef");
	provider_send_http_clear(&out);
}

static void
twilio_refuses_what_does_not_fit(void **state)
{
	char url[1100];
	struct send_request req = send_req("tw", "hi", false);
	struct test_channel t;

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1/%s", repeat('a', 960));
	tw_channel(&t, url, NULL, TW_PUBLIC);
	build_fails(&provider_twilio, &t.ch, &req, "send_url");
	/* The callback URL must not be cut either. */
	snprintf(url, sizeof(url), "https://h.example/%s", repeat('a', 990));
	tw_channel(&t, NULL, NULL, TW_PUBLIC);
	t.values[2].value = url;	/* longer than the test's copies */
	build_fails(&provider_twilio, &t.ch, &req, "public_url");
	/* Whatever goes into a URL as it is must be safe there. */
	channel_init(&t, &provider_twilio, "tw", NULL, "account_sid",
	    "AC1/../x", "auth_token", TW_TOKEN, "public_url", TW_PUBLIC, NULL);
	build_fails(&provider_twilio, &t.ch, &req, "account_sid");
	tw_channel(&t, NULL, NULL, TW_PUBLIC);
	req.send_key = "a&b";
	build_fails(&provider_twilio, &t.ch, &req, "send_key");
	req.send_key = KEY;
	req.to = "84901234567";
	build_fails(&provider_twilio, &t.ch, &req, "E.164");
}

static const struct acase tw_answers[] = {
	{ "reference 201", 201,
	  "{\"sid\":\"SM4b0c1d2e3f405162738495a6b7c8d9e0\",\"status\":"
	  "\"queued\",\"num_segments\":\"1\",\"to\":\"+84901234567\"}",
	  SEND_ACCEPTED, "SM4b0c1d2e3f405162738495a6b7c8d9e0", NULL },
	{ "no sid", 201, "{\"status\":\"queued\"}",
	  SEND_UNKNOWN, NULL, "unreadable" },
	{ "sid not a string", 201, "{\"sid\":42}",
	  SEND_UNKNOWN, NULL, "unreadable" },
	{ "not JSON", 201, "<Response/>", SEND_UNKNOWN, NULL, "unreadable" },
	{ "empty", 200, "", SEND_UNKNOWN, NULL, "unreadable" },
	{ "invalid To", 400,
	  "{\"code\":21211,\"message\":\"The 'To' number +84912345678 is "
	  "not a valid phone number.\",\"more_info\":\"https://www.twilio."
	  "com/docs/errors/21211\",\"status\":400}",
	  SEND_REJECTED, NULL, "HTTP 400 21211" },
	{ "unsubscribed", 400,
	  "{\"code\":21610,\"message\":\"Attempt to send to unsubscribed "
	  "recipient\",\"status\":400}",
	  SEND_REJECTED, NULL, "HTTP 400 21610" },
	{ "code without words", 400, "{\"code\":21602}",
	  SEND_REJECTED, NULL, "HTTP 400 21602" },
	{ "throttled as 429", 429,
	  "{\"code\":20429,\"message\":\"Too Many Requests\",\"status\":429}",
	  SEND_RETRY, NULL, "HTTP 429 20429" },
	{ "throttled as 400", 400,
	  "{\"code\":20429,\"message\":\"Too Many Requests\"}",
	  SEND_RETRY, NULL, "HTTP 400 20429" },
	{ "auth as HTML", 401, "<html>Unauthorized</html>",
	  SEND_REJECTED, NULL, "HTTP 401" },
	{ "no body", 404, NULL, SEND_REJECTED, NULL, "HTTP 404" },
};

static void
twilio_reads_its_answers(void **state)
{
	struct test_channel t;

	(void)state;
	tw_channel(&t, NULL, NULL, TW_PUBLIC);
	run_answers(&provider_twilio, &t.ch, tw_answers,
	    sizeof(tw_answers) / sizeof(tw_answers[0]));
}

static const char *
one_header(const void *ctx, const char *name)
{
	return strcasecmp(name, "X-Twilio-Signature") == 0 ? ctx : NULL;
}

/* §2.5's example report, to a StatusCallback URL we framed. */
#define TW_DLR "MessageSid=SM4b0c1d2e3f405162738495a6b7c8d9e0" \
	"&MessageStatus=undelivered&ErrorCode=30003&To=%2B84901234567" \
	"&From=%2B15005550006&AccountSid=" TW_SID "&ApiVersion=2010-04-01" \
	"&SmsSid=SM4b0c1d2e3f405162738495a6b7c8d9e0&SmsStatus=undelivered"
/*
 * python3 -c 'import hmac,hashlib,base64,urllib.parse as u;
 *   p=sorted(u.parse_qsl(BODY,keep_blank_values=True));
 *   print(base64.b64encode(hmac.new(b"tw-auth-token-0123",(URL+
 *   "".join(k+v for k,v in p)).encode(),hashlib.sha1).digest()).decode())'
 * with BODY TW_DLR and URL https://hotline.example.org/v1/dlr/tw?ref=abc,
 * then the same URL without ?ref=abc.
 */
#define TW_DLR_SIG_REF "yzzBI9EUC+pbbn72YKMrahBqXjY="
#define TW_DLR_SIG "VWcr3KRTNwuvJDx3rmSPIXyGoGA="

static struct provider_input
tw_dlr_input(const char *query, const char *sig)
{
	return (struct provider_input){ .method = "POST",
	    .path = "/v1/dlr/tw", .query = query, .content_type = FORM,
	    .body = TW_DLR, .body_len = strlen(TW_DLR),
	    .peer = "203.0.113.9", .header = one_header, .header_ctx = sig };
}

static void
twilio_report_with_ref_verifies_and_names_the_send(void **state)
{
	struct test_channel t;
	struct provider_input in;
	struct dlr_report r;
	char err[256];

	(void)state;
	for (int slash = 0; slash < 2; slash++) {
		tw_channel(&t, NULL, NULL, slash ? TW_PUBLIC "/" : TW_PUBLIC);
		in = tw_dlr_input("ref=abc", TW_DLR_SIG_REF);
		if (provider_twilio.verify(&t.ch, &in, err, sizeof(err)) !=
		    PROVIDER_OK) {
			print_error("verify: %s\n", err);
			fail();
		}
		memset(&r, 0x5a, sizeof(r));
		assert_int_equal(provider_twilio.dlr_parse(&t.ch, &in, &r, err,
		    sizeof(err)), PROVIDER_OK);
		assert_string_equal(r.send_key, "abc");
		assert_string_equal(r.provider_ref,
		    "SM4b0c1d2e3f405162738495a6b7c8d9e0");
		assert_int_equal(r.status, DLR_FAILED);
		assert_string_equal(r.reason, "30003");
	}

	/* The ref is signed: another one under the same signature fails. */
	in = tw_dlr_input("ref=abd", TW_DLR_SIG_REF);
	assert_int_equal(provider_twilio.verify(&t.ch, &in, err, sizeof(err)),
	    PROVIDER_FORBIDDEN);
	in = tw_dlr_input(NULL, TW_DLR_SIG_REF);
	assert_int_equal(provider_twilio.verify(&t.ch, &in, err, sizeof(err)),
	    PROVIDER_FORBIDDEN);

	/* A report without ?ref= (a send from before) names no key. */
	in = tw_dlr_input(NULL, TW_DLR_SIG);
	assert_int_equal(provider_twilio.verify(&t.ch, &in, err, sizeof(err)),
	    PROVIDER_OK);
	memset(&r, 0x5a, sizeof(r));
	assert_int_equal(provider_twilio.dlr_parse(&t.ch, &in, &r, err,
	    sizeof(err)), PROVIDER_OK);
	assert_string_equal(r.send_key, "");

	/* One that cannot be ours is left out, not refused. */
	in = tw_dlr_input("ref=" "0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef", TW_DLR_SIG);
	assert_int_equal(provider_twilio.dlr_parse(&t.ch, &in, &r, err,
	    sizeof(err)), PROVIDER_OK);
	assert_string_equal(r.send_key, "");
	in = tw_dlr_input("ref=%zz", TW_DLR_SIG);
	assert_int_equal(provider_twilio.dlr_parse(&t.ch, &in, &r, err,
	    sizeof(err)), PROVIDER_OK);
	assert_string_equal(r.send_key, "");
}

/* The StatusCallback we frame is public_url + the path and query the
 * report then arrives on, so what verify signs is what Twilio signed. */
static void
twilio_status_callback_is_the_signed_url(void **state)
{
	struct send_request req = send_req("tw", "hi", false);
	struct test_channel t;
	struct send_http out;
	struct form f;
	char err[128];

	(void)state;
	memset(&out, 0, sizeof(out));
	tw_channel(&t, NULL, NULL, TW_PUBLIC "/");
	req.send_key = "abc";
	build_ok(&provider_twilio, &t.ch, &req, &out);
	assert_int_equal(form_parse(&f, out.body, out.body_len, err,
	    sizeof(err)), 0);
	assert_string_equal(form_get(&f, "StatusCallback"),
	    TW_PUBLIC "/v1/dlr/tw?ref=abc");
	form_clear(&f);
	provider_send_http_clear(&out);
}

/* --- Vonage ---------------------------------------------------------- */

static void
vg_channel(struct test_channel *t, const char *send_url, const char *from)
{
	if (from != NULL)
		channel_init(t, &provider_vonage, "vg", send_url, "api_key",
		    "vg-key", "api_secret", "vg-secret-0123", "from", from,
		    NULL);
	else
		channel_init(t, &provider_vonage, "vg", send_url, "api_key",
		    "vg-key", "api_secret", "vg-secret-0123", NULL);
}

static void
vonage_frames_the_send_exactly(void **state)
{
	struct send_request req = send_req("vg", VI_TEXT, true);
	struct test_channel t;
	struct send_http out;

	(void)state;
	memset(&out, 0, sizeof(out));
	vg_channel(&t, NULL, "HOTLINE");
	build_ok(&provider_vonage, &t.ch, &req, &out);
	assert_string_equal(out.url, "https://rest.nexmo.com/sms/json");
	assert_string_equal(out.content_type, FORM);
	assert_int_equal(out.nheaders, 1);
	assert_string_equal(out.headers[0], "Accept: application/json");
	assert_string_equal(out.userpwd, "");
	assert_string_equal(out.body, "api_key=vg-key"
	    "&api_secret=vg-secret-0123&from=HOTLINE&to=84901234567"
	    "&text=" VI_FORM "&type=unicode&client-ref=0123456789abcdef"
	    "&status-report-req=1");
	provider_send_http_clear(&out);

	/* GSM text goes as type=text; send_url is the API base. */
	vg_channel(&t, LOCAL, "+15005550006");
	req = send_req("vg", "a&b=c+d", false);
	build_ok(&provider_vonage, &t.ch, &req, &out);
	assert_string_equal(out.url, "http://127.0.0.1:8099/sms/json");
	assert_string_equal(out.body, "api_key=vg-key"
	    "&api_secret=vg-secret-0123&from=%2B15005550006&to=84901234567"
	    "&text=a%26b%3Dc%2Bd&type=text&client-ref=0123456789abcdef"
	    "&status-report-req=1");
	provider_send_http_clear(&out);
}

static void
vonage_refuses_what_does_not_fit(void **state)
{
	char url[1100];
	struct send_request req = send_req("vg", "hi", false);
	struct test_channel t;

	(void)state;
	vg_channel(&t, NULL, NULL);
	build_fails(&provider_vonage, &t.ch, &req, "from");
	snprintf(url, sizeof(url), "http://127.0.0.1/%s", repeat('a', 1000));
	vg_channel(&t, url, "HOTLINE");
	build_fails(&provider_vonage, &t.ch, &req, "send_url");
	vg_channel(&t, NULL, "HOTLINE");
	req.to = "84901234567";
	build_fails(&provider_vonage, &t.ch, &req, "E.164");
}

static const struct acase vg_answers[] = {
	{ "accepted", 200,
	  "{\"message-count\":\"1\",\"messages\":[{\"to\":\"84901234567\","
	  "\"message-id\":\"0A0000000123ABCD1\",\"status\":\"0\","
	  "\"remaining-balance\":\"3.14159265\",\"message-price\":"
	  "\"0.03330000\",\"network\":\"45201\"}]}",
	  SEND_ACCEPTED, "0A0000000123ABCD1", NULL },
	{ "two parts", 200,
	  "{\"message-count\":\"2\",\"messages\":[{\"message-id\":\"P1\","
	  "\"status\":\"0\"},{\"message-id\":\"P2\",\"status\":\"0\"}]}",
	  SEND_ACCEPTED, "P1", NULL },
	{ "integer status", 200,
	  "{\"messages\":[{\"message-id\":\"M1\",\"status\":0}]}",
	  SEND_ACCEPTED, "M1", NULL },
	{ "accepted without id", 200, "{\"messages\":[{\"status\":\"0\"}]}",
	  SEND_UNKNOWN, NULL, "message-id" },
	{ "throttled", 200,
	  "{\"message-count\":\"1\",\"messages\":[{\"status\":\"1\","
	  "\"error-text\":\"Throughput Rate Exceeded - please wait [ 10 ] "
	  "and retry\"}]}",
	  SEND_RETRY, NULL, "HTTP 200 1" },
	{ "internal error", 200,
	  "{\"messages\":[{\"status\":\"5\",\"error-text\":\"Internal "
	  "Error\"}]}",
	  SEND_RETRY, NULL, "HTTP 200 5" },
	{ "invalid to", 200,
	  "{\"message-count\":\"1\",\"messages\":[{\"status\":\"3\","
	  "\"error-text\":\"Invalid to param: 84912345678\"}]}",
	  SEND_REJECTED, NULL, "HTTP 200 3" },
	{ "deactivated, no words", 200,
	  "{\"messages\":[{\"status\":\"33\"}]}",
	  SEND_REJECTED, NULL, "HTTP 200 33" },
	{ "no messages", 200, "{\"message-count\":\"0\"}",
	  SEND_UNKNOWN, NULL, "unreadable" },
	{ "not JSON", 200, "OK", SEND_UNKNOWN, NULL, "unreadable" },
	{ "empty", 200, "", SEND_UNKNOWN, NULL, "unreadable" },
	{ "bad credentials", 401, "{\"error\":\"x\"}",
	  SEND_REJECTED, NULL, "HTTP 401" },
	{ "gone", 410, NULL, SEND_REJECTED, NULL, "HTTP 410" },
};

static void
vonage_reads_its_answers(void **state)
{
	struct test_channel t;

	(void)state;
	vg_channel(&t, NULL, "HOTLINE");
	run_answers(&provider_vonage, &t.ch, vg_answers,
	    sizeof(vg_answers) / sizeof(vg_answers[0]));
}

static void
vonage_receipt_carries_client_ref(void **state)
{
	static const struct {
		const char *query;
		const char *send_key;
	} cases[] = {
		{ "msisdn=84901234567&to=HOTLINE&network-code=45201"
		  "&messageId=0A0000000123ABCD1&price=0.03330000"
		  "&status=delivered&scts=2603010825&err-code=0"
		  "&message-timestamp=2026-03-01+08%3A25%3A30"
		  "&client-ref=0123456789abcdef", KEY },
		{ "msisdn=84901234567&to=HOTLINE&messageId=0A0000000123ABCD1"
		  "&status=delivered&err-code=0", "" },
		/* Another sender on the account, with a longer ref. */
		{ "messageId=0A0000000123ABCD1&status=delivered"
		  "&client-ref=0123456789abcdef0123456789abcdef"
		  "0123456789abcdef0123456789abcdef", "" },
	};
	struct test_channel t;
	struct dlr_report r;
	char err[256];

	(void)state;
	vg_channel(&t, NULL, "HOTLINE");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct provider_input in = { .method = "GET",
		    .path = "/v1/dlr/vg", .query = cases[i].query,
		    .peer = "203.0.113.9", .body = "", .now = 1772353530 };

		assert_int_equal(provider_vonage.verify(&t.ch, &in, err,
		    sizeof(err)), PROVIDER_OK);
		memset(&r, 0x5a, sizeof(r));
		assert_int_equal(provider_vonage.dlr_parse(&t.ch, &in, &r,
		    err, sizeof(err)), PROVIDER_OK);
		assert_string_equal(r.provider_ref, "0A0000000123ABCD1");
		assert_int_equal(r.status, DLR_DELIVERED);
		assert_string_equal(r.send_key, cases[i].send_key);
	}
}

/* --- Africa's Talking reports and the console ------------------------ */

static void
africastalking_report_names_no_send_key(void **state)
{
	static const char body[] = "id=ATXid_0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	    "&status=Failed&phoneNumber=%2B254711000222&networkCode=63902"
	    "&failureReason=UserInBlackList&retryCount=0";
	struct provider_input in = { .method = "POST", .path = "/v1/dlr/at",
	    .content_type = FORM, .body = body, .body_len = strlen(body),
	    .peer = "127.0.0.1" };
	struct test_channel t;
	struct dlr_report r;
	char err[256];

	(void)state;
	at_channel(&t, "hotline_app", NULL, NULL);
	memset(&r, 0x5a, sizeof(r));
	assert_int_equal(provider_africastalking.dlr_parse(&t.ch, &in, &r,
	    err, sizeof(err)), PROVIDER_OK);
	assert_string_equal(r.send_key, "");
	assert_int_equal(r.status, DLR_FAILED);
	memset(&r, 0x5a, sizeof(r));
	assert_int_equal(provider_console.dlr_parse(&t.ch, &in, &r, err,
	    sizeof(err)), PROVIDER_OK);
	assert_string_equal(r.send_key, "");
}

static void
send_capabilities_are_declared(void **state)
{
	(void)state;
	/* The outbox answers console sends itself. */
	assert_null(provider_console.send_build);
	assert_null(provider_console.send_parse);
	assert_non_null(provider_africastalking.send_build);
	assert_non_null(provider_africastalking.send_parse);
	assert_non_null(provider_twilio.send_build);
	assert_non_null(provider_twilio.send_parse);
	assert_non_null(provider_vonage.send_build);
	assert_non_null(provider_vonage.send_parse);
	/* None of the three drops a resend with the same key. */
	assert_false(provider_africastalking.send_idempotent);
	assert_false(provider_twilio.send_idempotent);
	assert_false(provider_vonage.send_idempotent);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(africastalking_frames_the_send_exactly),
		cmocka_unit_test(
		    africastalking_url_follows_sandbox_and_send_url),
		cmocka_unit_test(africastalking_refuses_what_does_not_fit),
		cmocka_unit_test(africastalking_reads_its_answers),
		cmocka_unit_test(
		    africastalking_long_error_keeps_only_the_status),
		cmocka_unit_test(africastalking_report_names_no_send_key),
		cmocka_unit_test(twilio_frames_the_send_exactly),
		cmocka_unit_test(twilio_refuses_what_does_not_fit),
		cmocka_unit_test(twilio_reads_its_answers),
		cmocka_unit_test(
		    twilio_report_with_ref_verifies_and_names_the_send),
		cmocka_unit_test(twilio_status_callback_is_the_signed_url),
		cmocka_unit_test(vonage_frames_the_send_exactly),
		cmocka_unit_test(vonage_refuses_what_does_not_fit),
		cmocka_unit_test(vonage_reads_its_answers),
		cmocka_unit_test(vonage_receipt_carries_client_ref),
		cmocka_unit_test(send_capabilities_are_declared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
