/* Sending through eSMS.vn, V-COM and the generic json provider: the
 * request each adapter frames (URL, headers, exact body bytes) and how
 * it reads the answer.  Known answers are the reference's
 * (reference/aggregators.md §4.1, §4.3) or recomputed here with OpenSSL,
 * independently of the adapter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "config.h"
#include "provider.h"

#define NROWS(a) (sizeof(a) / sizeof((a)[0]))

/* The caller's number in every fixture: no reason may quote it. */
#define PHONE "84901234567"
#define SEND_KEY "0123456789abcdef"
/* §4.3's computed vector: time 1772353530. */
#define NOW 1772353530

/* Raw UTF-8 in the JSON: Jansson escapes nothing above U+007F unless
 * asked to (JSON_ENSURE_ASCII), and '/' only with JSON_ESCAPE_SLASH. */
#define TEXT_VI "B\xe1\xba\xa1n kh\xc3\xb4ng \xc4\x91\xc6\xa1n " \
	"\xc4\x91\xe1\xbb\x99" "c. G\xe1\xbb\x8di 111 mi\xe1\xbb\x85n " \
	"ph\xc3\xad, 24/7."

/* --- helpers -------------------------------------------------------- */

#define MAX_KEYS 6

/* A channel on the stack, values copied into it. */
struct test_channel {
	char name[16];
	char send_url[256];
	char val[MAX_KEYS][128];
	struct config_value values[MAX_KEYS];
	struct config_channel ch;
};

/* send_url (NULL: the provider's own), then names and values
 * alternating, ending with NULL. */
static void
channel_init(struct test_channel *t, const struct provider *p,
    const char *send_url, ...)
{
	const char *name;
	va_list ap;
	size_t n = 0;

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", p->name);
	va_start(ap, send_url);
	while ((name = va_arg(ap, const char *)) != NULL) {
		assert_true(n < MAX_KEYS);
		snprintf(t->val[n], sizeof(t->val[n]), "%s",
		    va_arg(ap, const char *));
		t->values[n] = (struct config_value){ .name = name,
		    .value = t->val[n] };
		n++;
	}
	va_end(ap);
	t->ch = (struct config_channel){ .name = t->name, .provider = p,
	    .values = t->values, .nvalues = n };
	if (send_url != NULL) {
		snprintf(t->send_url, sizeof(t->send_url), "%s", send_url);
		t->ch.send_url = t->send_url;
	}
}

static struct send_request
send_request(const char *channel, const char *text, bool unicode)
{
	return (struct send_request){ .channel = channel, .to = "+" PHONE,
	    .text = text, .unicode = unicode, .send_key = SEND_KEY,
	    .reply_to = NULL, .reply_keyword = NULL, .now = NOW };
}

/* Build, and check every part of the request. */
static void
expect_build(const struct test_channel *t, const struct send_request *req,
    const char *url, const char *header, const char *body)
{
	const struct provider *p = t->ch.provider;
	struct send_http http;
	char err[256] = "";

	memset(&http, 0xa5, sizeof(http));
	if (p->send_build(&t->ch, req, &http, err, sizeof(err)) != 0)
		fail_msg("%s: send_build failed: %s", p->name, err);
	assert_string_equal(http.url, url);
	assert_non_null(http.content_type);
	assert_string_equal(http.content_type, "application/json");
	assert_int_equal(http.nheaders, 1);
	assert_string_equal(http.headers[0], header);
	assert_string_equal(http.userpwd, "");
	assert_non_null(http.body);
	assert_string_equal(http.body, body);
	assert_int_equal(http.body_len, strlen(body));
	provider_send_http_clear(&http);
	assert_null(http.body);
}

/* send_build must refuse, with err containing `why`. */
static void
expect_build_fails(const struct test_channel *t,
    const struct send_request *req, const char *why)
{
	const struct provider *p = t->ch.provider;
	struct send_http http;
	char err[256] = "";

	memset(&http, 0xa5, sizeof(http));
	assert_int_equal(p->send_build(&t->ch, req, &http, err, sizeof(err)),
	    -1);
	if (strstr(err, why) == NULL)
		fail_msg("%s: expected \"%s\" in \"%s\"", p->name, why, err);
	/* Nothing to free after a refusal; clearing is still safe. */
	assert_null(http.body);
	provider_send_http_clear(&http);
}

/* One answer to a send and how the adapter reads it. */
struct answer_case {
	const char *name;
	long status;
	const char *body;
	enum send_verdict verdict;
	const char *ref;
	const char *reason;	/* exact; NULL: not checked */
};

static const char *
verdict_name(enum send_verdict v)
{
	switch (v) {
	case SEND_ACCEPTED:
		return "ACCEPTED";
	case SEND_RETRY:
		return "RETRY";
	case SEND_REJECTED:
		return "REJECTED";
	case SEND_UNKNOWN:
		return "UNKNOWN";
	}
	return "?";
}

static void
run_answers(const struct test_channel *t, const struct answer_case *cases,
    size_t n)
{
	const struct provider *p = t->ch.provider;
	struct send_answer a;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct answer_case *c = &cases[i];
		/* An exact-size heap copy, so AddressSanitizer catches a
		 * read past body_len. */
		size_t len = strlen(c->body);
		char *body = malloc(len > 0 ? len : 1);

		assert_non_null(body);
		memcpy(body, c->body, len);
		memset(&a, 0xa5, sizeof(a));
		p->send_parse(&t->ch, c->status, body, len, &a);
		free(body);
		if (a.verdict != c->verdict ||
		    strcmp(a.provider_ref, c->ref) != 0 ||
		    (c->reason != NULL && strcmp(a.reason, c->reason) != 0) ||
		    strstr(a.reason, PHONE) != NULL)
			fail_msg("%s \"%s\": got %s ref \"%s\" reason \"%s\"",
			    p->name, c->name, verdict_name(a.verdict),
			    a.provider_ref, a.reason);
	}
}

#define RUN_ANSWERS(t, cases) run_answers((t), (cases), NROWS(cases))

/* --- eSMS.vn -------------------------------------------------------- */

#define ES_URL "https://rest.esms.vn/MainService.svc/json/" \
	"SendMultipleMessage_V4_post_json/"

static void
esms_full_channel(struct test_channel *t, const char *send_url)
{
	channel_init(t, &provider_esms, send_url,
	    "api_key", "demo-api-key",
	    "secret_key", "demo-secret",
	    "brandname", "HOTLINE",
	    "cpid", "CP0001",
	    /* '+' and '/' must reach es_dlr_verify as they are. */
	    "callback_token", "tok+en/1",
	    "public_url", "https://gw.example.org/",
	    NULL);
}

static void
esms_builds_the_v4_json_post(void **state)
{
	struct test_channel t;
	struct send_request req = send_request("esms", TEXT_VI, true);

	(void)state;
	esms_full_channel(&t, NULL);
	expect_build(&t, &req, ES_URL, "Accept: application/json",
	    "{\"ApiKey\":\"demo-api-key\",\"SecretKey\":\"demo-secret\","
	    "\"Phone\":\"" PHONE "\",\"Content\":\"" TEXT_VI "\","
	    "\"Brandname\":\"HOTLINE\",\"SmsType\":\"2\",\"IsUnicode\":\"1\","
	    "\"RequestId\":\"" SEND_KEY "\",\"CallbackUrl\":"
	    "\"https://gw.example.org/v1/dlr/esms?token=tok%2Ben%2F1\"}");

	/* A send_url is the API base; one trailing '/' is dropped. */
	esms_full_channel(&t, "https://sandbox.example/esms/");
	req = send_request("esms", "Ban khong don doc", false);
	expect_build(&t, &req, "https://sandbox.example/esms/MainService.svc/"
	    "json/SendMultipleMessage_V4_post_json/",
	    "Accept: application/json",
	    "{\"ApiKey\":\"demo-api-key\",\"SecretKey\":\"demo-secret\","
	    "\"Phone\":\"" PHONE "\",\"Content\":\"Ban khong don doc\","
	    "\"Brandname\":\"HOTLINE\",\"SmsType\":\"2\",\"IsUnicode\":\"0\","
	    "\"RequestId\":\"" SEND_KEY "\",\"CallbackUrl\":"
	    "\"https://gw.example.org/v1/dlr/esms?token=tok%2Ben%2F1\"}");
}

static void
esms_leaves_out_what_is_unset(void **state)
{
	struct test_channel t;
	struct send_request req = send_request("vn1", "Goi 111", false);
	const char *body = "{\"ApiKey\":\"k\",\"SecretKey\":\"s\","
	    "\"Phone\":\"" PHONE "\",\"Content\":\"Goi 111\",\"SmsType\":\"2\","
	    "\"IsUnicode\":\"0\",\"RequestId\":\"" SEND_KEY "\"}";

	(void)state;
	/* No brandname, no public_url: neither key, and no report. */
	channel_init(&t, &provider_esms, "https://e.example",
	    "api_key", "k", "secret_key", "s", "callback_token", "t", NULL);
	expect_build(&t, &req, "https://e.example/MainService.svc/json/"
	    "SendMultipleMessage_V4_post_json/", "Accept: application/json",
	    body);
	/* public_url without a token: eSMS's reports could not be
	 * authenticated, so none is asked for. */
	channel_init(&t, &provider_esms, "https://e.example",
	    "api_key", "k", "secret_key", "s", "public_url",
	    "https://gw.example.org", NULL);
	expect_build(&t, &req, "https://e.example/MainService.svc/json/"
	    "SendMultipleMessage_V4_post_json/", "Accept: application/json",
	    body);
	/* Without a trailing '/', public_url gains one. */
	channel_init(&t, &provider_esms, NULL,
	    "api_key", "k", "secret_key", "s", "public_url",
	    "https://gw.example.org/hl", "callback_token", "abc", NULL);
	expect_build(&t, &req, ES_URL, "Accept: application/json",
	    "{\"ApiKey\":\"k\",\"SecretKey\":\"s\",\"Phone\":\"" PHONE "\","
	    "\"Content\":\"Goi 111\",\"SmsType\":\"2\",\"IsUnicode\":\"0\","
	    "\"RequestId\":\"" SEND_KEY "\",\"CallbackUrl\":"
	    "\"https://gw.example.org/hl/v1/dlr/vn1?token=abc\"}");
}

static void
esms_refuses_what_it_cannot_send(void **state)
{
	struct test_channel t;
	struct send_request req = send_request("esms", "x", false);
	char long_url[1100];

	(void)state;
	channel_init(&t, &provider_esms, NULL, "api_key", "k", NULL);
	expect_build_fails(&t, &req, "secret_key");
	channel_init(&t, &provider_esms, NULL, "api_key", "k",
	    "secret_key", "s", NULL);
	req.send_key = "";
	expect_build_fails(&t, &req, "send_key");
	req.send_key = SEND_KEY;
	memset(long_url, 'a', sizeof(long_url) - 1);
	memcpy(long_url, "https://", 8);
	long_url[sizeof(long_url) - 1] = '\0';
	t.ch.send_url = long_url;
	expect_build_fails(&t, &req, "send_url is too long");
}

static const struct answer_case esms_answers[] = {
	{ "taken", 200, "{\"CodeResult\":\"100\",\"CountRegenerate\":0,"
	    "\"SMSID\":\"d533f6d0-7e1a-4c2b\"}", SEND_ACCEPTED,
	    "d533f6d0-7e1a-4c2b", "" },
	{ "taken, code as a number", 200, "{\"CodeResult\":100,"
	    "\"SMSID\":\"abc\"}", SEND_ACCEPTED, "abc", "" },
	{ "taken without an SMSID", 200, "{\"CodeResult\":\"100\"}",
	    SEND_ACCEPTED, "", "" },
	{ "duplicate RequestId: the first got through", 200,
	    "{\"CodeResult\":\"124\",\"ErrorMessage\":\"RequestId "
	    "exists\"}", SEND_ACCEPTED, "", NULL },
	{ "blocked number", 200, "{\"CodeResult\":\"99\"}", SEND_REJECTED,
	    "", "HTTP 200 99" },
	{ "wrong keys", 200, "{\"CodeResult\":\"101\",\"ErrorMessage\":"
	    "\"Authorize Failed\"}", SEND_REJECTED, "",
	    "HTTP 200 101" },
	{ "no balance", 200, "{\"CodeResult\":103,\"ErrorMessage\":\"\"}",
	    SEND_REJECTED, "", "HTTP 200 103" },
	{ "brandname", 200, "{\"CodeResult\":\"104\"}", SEND_REJECTED, "",
	    "HTTP 200 104" },
	{ "echoed number is left out", 200, "{\"CodeResult\":\"108\","
	    "\"ErrorMessage\":\"Phone " PHONE " is invalid\"}",
	    SEND_REJECTED, "", "HTTP 200 108" },
	{ "IP not on the list", 200, "{\"CodeResult\":\"140\"}",
	    SEND_REJECTED, "", "HTTP 200 140" },
	{ "no template", 200, "{\"CodeResult\":\"146\"}", SEND_REJECTED,
	    "", "HTTP 200 146" },
	{ "another code is retried", 200, "{\"CodeResult\":\"105\","
	    "\"ErrorMessage\":\"System busy\"}", SEND_RETRY, "",
	    "HTTP 200 105" },
	{ "retried code echoing a number", 200, "{\"CodeResult\":\"777\","
	    "\"ErrorMessage\":\"+" PHONE " busy\"}", SEND_RETRY, "",
	    "HTTP 200 777" },
	{ "not JSON", 200, "<html>Service Unavailable</html>", SEND_UNKNOWN,
	    "", NULL },
	{ "empty", 200, "", SEND_UNKNOWN, "", NULL },
	{ "no CodeResult", 200, "{\"SMSID\":\"x\"}", SEND_UNKNOWN, "",
	    NULL },
	{ "CodeResult of another type", 200, "{\"CodeResult\":true}",
	    SEND_UNKNOWN, "", NULL },
	{ "an array", 200, "[\"100\"]", SEND_UNKNOWN, "", NULL },
	{ "bad request", 400, "{\"CodeResult\":\"100\"}", SEND_REJECTED, "",
	    "HTTP 400 100" },
	{ "bad request echoing the text", 400, "{\"CodeResult\":\"118\","
	    "\"ErrorMessage\":\"Content Toi can giup do is invalid\"}",
	    SEND_REJECTED, "", "HTTP 400 118" },
	{ "forbidden", 403, "", SEND_REJECTED, "", "HTTP 403" },
};

static void
esms_reads_code_result(void **state)
{
	struct test_channel t;

	(void)state;
	esms_full_channel(&t, NULL);
	RUN_ANSWERS(&t, esms_answers);
}

static void
esms_dlr_carries_request_id(void **state)
{
	struct test_channel t;
	struct provider_input in = { .method = "GET", .path = "/v1/dlr/esms",
	    .peer = "203.0.113.9", .now = NOW };
	struct dlr_report r;
	char err[256] = "";

	(void)state;
	esms_full_channel(&t, NULL);
	in.query = "SMSID=d533&SendFailed=0&SendStatus=5&SendSuccess=1"
	    "&RequestId=" SEND_KEY "&TypeId=2&telcoid=1"
	    "&phonenumber=" PHONE "&token=tok%2Ben%2F1";
	assert_int_equal(provider_esms.dlr_verify(&t.ch, &in, err,
	    sizeof(err)), PROVIDER_OK);
	assert_int_equal(provider_esms.dlr_parse(&t.ch, &in, &r, err,
	    sizeof(err)), PROVIDER_OK);
	assert_string_equal(r.provider_ref, "d533");
	assert_string_equal(r.send_key, SEND_KEY);
	assert_int_equal(r.status, DLR_DELIVERED);

	/* Optional: a report without one still counts. */
	in.query = "SMSID=d533&SendFailed=0&SendStatus=4";
	assert_int_equal(provider_esms.dlr_parse(&t.ch, &in, &r, err,
	    sizeof(err)), PROVIDER_OK);
	assert_string_equal(r.send_key, "");
	assert_int_equal(r.status, DLR_FAILED);
}

/* --- V-COM ---------------------------------------------------------- */

#define VC_URL "https://sms-api.v-com.vn/api/v2/send-mt"
/* §4.3 [computed]; python3 -c "import hashlib, base64;
 * print(base64.b64encode(hashlib.sha256(b'demo1297875832reply-1'
 * b'demo_secure_key1772353530').digest()).decode())" */
#define VC_CHECKSUM "VVNI9vviZ0x0CesyppOFnUjJn+yhCy60FeE76egV7u8="

static struct send_request
vcom_request(const char *text)
{
	struct send_request req = send_request("vcom", text, true);

	req.send_key = "reply-1";
	req.reply_to = "1297875832";
	req.reply_keyword = "HOTLINE";
	return req;
}

static void
vcom_builds_a_signed_mt(void **state)
{
	struct test_channel t;
	struct send_request req = vcom_request(TEXT_VI);

	(void)state;
	channel_init(&t, &provider_vcom, NULL, "client_id", "demo",
	    "secure_key", "demo_secure_key", "service_id", "7068", NULL);
	expect_build(&t, &req, VC_URL, "Accept: application/json",
	    "{\"client_id\":\"demo\",\"request_id\":\"1297875832\","
	    "\"service_id\":\"7068\",\"command_code\":\"HOTLINE\","
	    "\"mt_code\":\"reply-1\",\"message\":\"" TEXT_VI "\","
	    "\"is_charged\":0,\"time\":1772353530,"
	    "\"checksum\":\"" VC_CHECKSUM "\"}");

	/* send_url is the base; no service_id, no keyword: "". */
	channel_init(&t, &provider_vcom, "http://127.0.0.1:9000/",
	    "client_id", "demo", "secure_key", "demo_secure_key", NULL);
	req.reply_keyword = NULL;
	expect_build(&t, &req, "http://127.0.0.1:9000/api/v2/send-mt",
	    "Accept: application/json",
	    "{\"client_id\":\"demo\",\"request_id\":\"1297875832\","
	    "\"service_id\":\"\",\"command_code\":\"\","
	    "\"mt_code\":\"reply-1\",\"message\":\"" TEXT_VI "\","
	    "\"is_charged\":0,\"time\":1772353530,"
	    "\"checksum\":\"" VC_CHECKSUM "\"}");
}

static void
vcom_sends_only_in_answer(void **state)
{
	struct test_channel t;
	struct send_request req = vcom_request("x");

	(void)state;
	channel_init(&t, &provider_vcom, NULL, "client_id", "demo",
	    "secure_key", "demo_secure_key", NULL);
	req.reply_to = NULL;
	expect_build_fails(&t, &req, "V-COM sends only in answer to a "
	    "caller's message (no MO request_id)");
	req.reply_to = "";
	expect_build_fails(&t, &req, "no MO request_id");
	req = vcom_request("x");
	channel_init(&t, &provider_vcom, NULL, "client_id", "demo", NULL);
	expect_build_fails(&t, &req, "secure_key");
}

static const struct answer_case vcom_answers[] = {
	{ "taken, top level", 200, "{\"code\":200,\"status\":\"success\","
	    "\"message\":\"\"}", SEND_ACCEPTED, "", "" },
	{ "taken, under data, as a string", 200, "{\"data\":{\"code\":"
	    "\"200\",\"status\":\"success\"}}", SEND_ACCEPTED, "", "" },
	{ "request exists: an earlier attempt got through", 200,
	    "{\"data\":{\"code\":104,\"message\":\"request id exists\"}}",
	    SEND_ACCEPTED, "", NULL },
	{ "bad parameters, echoed number left out", 200, "{\"code\":106,"
	    "\"message\":\"invalid phone " PHONE "\"}", SEND_REJECTED, "",
	    "HTTP 200 106" },
	{ "IP not allowed", 200, "{\"data\":{\"code\":\"108\",\"message\":"
	    "\"IP not allowed\"}}", SEND_REJECTED, "", "HTTP 200 108" },
	{ "error under errors, echoing the text", 200, "{\"errors\":{"
	    "\"code\":102,\"status\":\"error\",\"message\":\"message Toi "
	    "can giup do too long\"}}", SEND_RETRY, "", "HTTP 200 102" },
	{ "another code is retried", 200, "{\"code\":500,\"message\":"
	    "\"busy\"}", SEND_RETRY, "", "HTTP 200 500" },
	{ "another code without words", 200, "{\"data\":{\"code\":\"999\"}}",
	    SEND_RETRY, "", "HTTP 200 999" },
	{ "no code", 200, "{\"status\":\"success\"}", SEND_UNKNOWN, "",
	    NULL },
	{ "code of another type", 200, "{\"code\":[200]}", SEND_UNKNOWN, "",
	    NULL },
	{ "not JSON", 200, "OK", SEND_UNKNOWN, "", NULL },
	{ "empty", 200, "", SEND_UNKNOWN, "", NULL },
	{ "unauthorised", 401, "{\"code\":200}", SEND_REJECTED, "",
	    "HTTP 401 200" },
	{ "refused, words only", 400, "{\"errors\":{\"message\":\"Toi "
	    "can giup do\"}}", SEND_REJECTED, "", "HTTP 400" },
};

static void
vcom_reads_the_code(void **state)
{
	struct test_channel t;

	(void)state;
	channel_init(&t, &provider_vcom, NULL, "client_id", "demo",
	    "secure_key", "demo_secure_key", NULL);
	RUN_ANSWERS(&t, vcom_answers);
}

/* --- json ------------------------------------------------------------ */

#define JS_URL "https://gw.example.org/hotline/send"
#define JS_SECRET "whsec_demo"

/* "t=NOW,v1=" + hex HMAC-SHA256(secret, "NOW." + body), with OpenSSL
 * directly rather than the adapter's signing code. */
static void
hotline_signature(const char *body, char *out, size_t outlen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *msg;
	size_t len, i, used;

	len = strlen("1772353530.") + strlen(body);
	assert_non_null(msg = malloc(len + 1));
	snprintf(msg, len + 1, "1772353530.%s", body);
	assert_non_null(HMAC(EVP_sha256(), JS_SECRET, strlen(JS_SECRET),
	    (unsigned char *)msg, len, mac, &maclen));
	free(msg);
	assert_int_equal(maclen, 32);
	used = (size_t)snprintf(out, outlen, "X-Hotline-Signature: "
	    "t=1772353530,v1=");
	for (i = 0; i < maclen; i++)
		used += (size_t)snprintf(out + used, outlen - used, "%02x",
		    mac[i]);
	assert_true(used < outlen);
}

static const char *
one_header(const void *ctx, const char *name)
{
	const char *h = ctx;

	return strcasecmp(name, "X-Hotline-Signature") == 0 ?
	    h + strlen("X-Hotline-Signature: ") : NULL;
}

static void
json_builds_a_signed_post(void **state)
{
	struct test_channel t;
	struct send_request req = send_request("js", TEXT_VI, true);
	const char *body = "{\"id\":\"" SEND_KEY "\",\"to\":\"+" PHONE "\","
	    "\"from\":\"7068\",\"text\":\"" TEXT_VI "\"}";
	char header[256], err[256] = "";
	struct provider_input in;
	struct send_http http;

	(void)state;
	channel_init(&t, &provider_json, JS_URL, "secret", JS_SECRET,
	    "from", "7068", NULL);
	hotline_signature(body, header, sizeof(header));
	expect_build(&t, &req, JS_URL, header, body);

	/* What we send passes our own inbound check. */
	assert_int_equal(provider_json.send_build(&t.ch, &req, &http, err,
	    sizeof(err)), 0);
	in = (struct provider_input){ .method = "POST", .path = "/v1/sms/js",
	    .content_type = "application/json", .body = http.body,
	    .body_len = http.body_len, .peer = "127.0.0.1",
	    .header = one_header, .header_ctx = http.headers[0],
	    .now = NOW + 10 };
	assert_int_equal(provider_json.verify(&t.ch, &in, err, sizeof(err)),
	    PROVIDER_OK);
	provider_send_http_clear(&http);

	/* No from key: "". send_url is used as it is, '/' and all. */
	channel_init(&t, &provider_json, JS_URL "/", "secret", JS_SECRET,
	    NULL);
	req = send_request("js", "Goi 111", false);
	body = "{\"id\":\"" SEND_KEY "\",\"to\":\"+" PHONE "\","
	    "\"from\":\"\",\"text\":\"Goi 111\"}";
	hotline_signature(body, header, sizeof(header));
	expect_build(&t, &req, JS_URL "/", header, body);
}

static void
json_needs_send_url(void **state)
{
	struct test_channel t;
	struct send_request req = send_request("js", "x", false);

	(void)state;
	channel_init(&t, &provider_json, NULL, "secret", JS_SECRET, NULL);
	expect_build_fails(&t, &req, "a json channel needs send_url to send");
	channel_init(&t, &provider_json, JS_URL, NULL);
	expect_build_fails(&t, &req, "secret");
}

static const struct answer_case json_answers[] = {
	{ "taken with the receiver's id", 200, "{\"id\":\"gw-77\"}",
	    SEND_ACCEPTED, "gw-77", "" },
	{ "taken, no body", 202, "", SEND_ACCEPTED, "", "" },
	{ "taken, not an object", 200, "[\"gw-77\"]", SEND_ACCEPTED, "",
	    "" },
	{ "taken, id not a string", 201, "{\"id\":77}", SEND_ACCEPTED, "",
	    "" },
	{ "taken, not JSON", 200, "ok", SEND_ACCEPTED, "", "" },
	{ "refused with words only", 422, "{\"error\":"
	    "{\"message\":\"cannot reach +" PHONE "\"}}", SEND_REJECTED, "",
	    "HTTP 422" },
	{ "refused with a code and words", 422, "{\"error\":"
	    "{\"code\":\"bad_text\",\"message\":\"Toi can giup do\"}}",
	    SEND_REJECTED, "", "HTTP 422 bad_text" },
	{ "refused without words", 400, "{\"error\":\"bad\"}", SEND_REJECTED,
	    "", "HTTP 400" },
	{ "refused, not JSON", 403, "Forbidden", SEND_REJECTED, "",
	    "HTTP 403" },
};

static void
json_reads_the_answer(void **state)
{
	struct test_channel t;

	(void)state;
	channel_init(&t, &provider_json, JS_URL, "secret", JS_SECRET, NULL);
	RUN_ANSWERS(&t, json_answers);
}

static void
json_dlr_id_is_the_send_key(void **state)
{
	struct test_channel t;
	const char *body = "{\"id\":\"" SEND_KEY "\",\"status\":"
	    "\"delivered\"}";
	struct provider_input in = { .method = "POST", .path = "/v1/dlr/js",
	    .content_type = "application/json", .body = body,
	    .body_len = strlen(body), .peer = "127.0.0.1", .now = NOW };
	struct dlr_report r;
	char err[256] = "";

	(void)state;
	channel_init(&t, &provider_json, JS_URL, "secret", JS_SECRET, NULL);
	assert_int_equal(provider_json.dlr_parse(&t.ch, &in, &r, err,
	    sizeof(err)), PROVIDER_OK);
	assert_string_equal(r.provider_ref, SEND_KEY);
	assert_string_equal(r.send_key, SEND_KEY);
	assert_int_equal(r.status, DLR_DELIVERED);
}

static void
adapters_are_idempotent(void **state)
{
	(void)state;
	assert_true(provider_esms.send_idempotent);
	assert_true(provider_vcom.send_idempotent);
	assert_true(provider_json.send_idempotent);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(esms_builds_the_v4_json_post),
		cmocka_unit_test(esms_leaves_out_what_is_unset),
		cmocka_unit_test(esms_refuses_what_it_cannot_send),
		cmocka_unit_test(esms_reads_code_result),
		cmocka_unit_test(esms_dlr_carries_request_id),
		cmocka_unit_test(vcom_builds_a_signed_mt),
		cmocka_unit_test(vcom_sends_only_in_answer),
		cmocka_unit_test(vcom_reads_the_code),
		cmocka_unit_test(json_builds_a_signed_post),
		cmocka_unit_test(json_needs_send_url),
		cmocka_unit_test(json_reads_the_answer),
		cmocka_unit_test(json_dlr_id_is_the_send_key),
		cmocka_unit_test(adapters_are_idempotent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
