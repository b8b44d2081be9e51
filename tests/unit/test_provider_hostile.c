/*
 * Hostile input to the adapters (issue 9): signatures over fields joined
 * without separators must not verify a re-split request; numbers are read
 * in the form each provider documents, for every country; an unknown
 * receipt status is taken; received times are kept as RFC 3339 UTC.
 * Signatures are the python3 commands' quoted beside them, or a genuine
 * request's own (a re-split keeps the signed string, so its signature).
 */
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
#include "provider.h"

#include "adapter_fixture.h"

#define FORM "application/x-www-form-urlencoded"
#define JSON "application/json"

/* --- helpers -------------------------------------------------------- */

struct headers {
	const char *name;
	const char *value;
};

static const char *
header_get(const void *ctx, const char *name)
{
	const struct headers *h = ctx;

	if (h != NULL && h->name != NULL && strcasecmp(h->name, name) == 0)
		return h->value;
	return NULL;
}

static struct provider_input
request(const char *method, const char *path, const char *query,
    const char *ctype, const char *body, const struct headers *h,
    time_t now)
{
	return (struct provider_input){ .method = method, .path = path,
	    .query = query, .content_type = ctype, .body = body,
	    .body_len = body != NULL ? strlen(body) : 0,
	    .peer = "203.0.113.9", .header = header_get, .header_ctx = h,
	    .now = now };
}

/* Replace the first `from` in s by `to`, into out. */
static void
edit(const char *s, const char *from, const char *to, char *out,
    size_t outlen)
{
	const char *at = strstr(s, from);
	int n;

	assert_non_null(at);
	n = snprintf(out, outlen, "%.*s%s%s", (int)(at - s), s, to,
	    at + strlen(from));
	assert_true(n > 0 && (size_t)n < outlen);
}

/* verify then sms_parse, as the shell runs them: the verdict of the
 * first that refuses, or PROVIDER_OK with m filled. */
static enum provider_verdict
take(const struct config_channel *ch, const struct provider_input *in,
    struct sms_message *m, char *err, size_t errlen)
{
	enum provider_verdict v;

	err[0] = '\0';
	if ((v = ch->provider->verify(ch, in, err, errlen)) != PROVIDER_OK)
		return v;
	return ch->provider->sms_parse(ch, in, m, err, errlen);
}

static bool
refused_4xx(enum provider_verdict v)
{
	return v == PROVIDER_BAD_REQUEST || v == PROVIDER_FORBIDDEN ||
	    v == PROVIDER_UNSUPPORTED;
}

/* --- V-COM: client_id . request_id . phone . secure_key . time ------- */

/*
 * request_id "129787583200", phone "84901234567":
 * python3 -c 'import hashlib,base64;print(base64.b64encode(hashlib.sha256(
 *   b"demo" b"129787583200" b"84901234567" b"demo_secure_key"
 *   b"1772353530").digest()).decode())'
 */
#define VC_SUM "137j4yYcD11qQ8yw/OvzdjA+398T6B7durK1d++z2wE="
#define VC_MO(request, phone, message) "{\"type\":\"new\"," \
	"\"client_id\":\"demo\",\"request_id\":\"" request "\"," \
	"\"service_id\":\"7068\",\"command_code\":\"HOTLINE\"," \
	"\"message\":\"" message "\",\"telco\":\"VT\",\"phone\":\"" phone \
	"\",\"time\":1772353530,\"checksum\":\"" VC_SUM "\"}"

static void
vcom_request_id_and_phone_cannot_trade_digits(void **state)
{
	static const struct {
		const char *name;
		const char *body;
	} resplit[] = {
		/* The trailing "00" of the request id moved onto the
		 * phone: the same caller, a new request id, any message. */
		{ "00 onto the phone", VC_MO("1297875832", "0084901234567",
		    "STOP") },
		{ "one 0 onto the phone", VC_MO("12978758320",
		    "084901234567", "STOP") },
		/* The phone's country code moved onto the request id. */
		{ "84 onto the request id", VC_MO("12978758320084",
		    "901234567", "STOP") },
		{ "8 onto the request id", VC_MO("1297875832008",
		    "4901234567", "STOP") },
	};
	struct test_channel t;
	struct sms_message m;
	char err[256];
	struct provider_input in = request("POST", "/v1/sms/vc", NULL, JSON,
	    VC_MO("129787583200", "84901234567", "Toi can giup do"), NULL,
	    0);

	(void)state;
	channel_init(&t, &provider_vcom, "client_id", "demo", "secure_key",
	    "demo_secure_key", NULL);
	/* The genuine push passes, its number read as E.164. */
	assert_int_equal(take(&t.ch, &in, &m, err, sizeof(err)), PROVIDER_OK);
	assert_string_equal(m.id, "129787583200");
	assert_string_equal(m.from, "+84901234567");
	assert_string_equal(m.received_at, "2026-03-01T08:25:30Z");
	for (size_t i = 0; i < sizeof(resplit) / sizeof(resplit[0]); i++) {
		enum provider_verdict v;

		in = request("POST", "/v1/sms/vc", NULL, JSON,
		    resplit[i].body, NULL, 0);
		v = take(&t.ch, &in, &m, err, sizeof(err));
		if (!refused_4xx(v) || strstr(err, "901234567") != NULL) {
			print_error("re-split \"%s\": verdict %d err \"%s\"\n",
			    resplit[i].name, v, err);
			fail();
		}
	}
}

/* allow_ips narrows who may push what V-COM and eSMS leave unsigned. */
static void
vcom_and_esms_allow_ips_are_checked_first(void **state)
{
	char net[] = "203.0.113.0/24", one[] = "2001:db8::5";
	char *allow[] = { net, one };
	struct test_channel t;
	struct sms_message m;
	char buf[1024], err[256];
	struct provider_input vc = request("POST", "/v1/sms/vc", NULL, JSON,
	    VC_MO("129787583200", "84901234567", "hi"), NULL, 0);
	struct provider_input es = request("GET", "/v1/sms/es",
	    fixture("esms/mo_digits.query", buf, sizeof(buf)), NULL, NULL,
	    NULL, 0);

	(void)state;
	channel_init(&t, &provider_vcom, "client_id", "demo", "secure_key",
	    "demo_secure_key", NULL);
	t.values[t.ch.nvalues++] = (struct config_value){ .name = "allow_ips",
	    .list = allow, .count = 2 };
	assert_int_equal(take(&t.ch, &vc, &m, err, sizeof(err)), PROVIDER_OK);
	vc.peer = "198.51.100.7";
	assert_int_equal(take(&t.ch, &vc, &m, err, sizeof(err)),
	    PROVIDER_FORBIDDEN);
	assert_non_null(strstr(err, "allow_ips"));

	channel_init(&t, &provider_esms, "api_key", "ak", "secret_key", "sk",
	    "cpid", "CP0001", "private_key", "demo_private_key_123", NULL);
	t.values[t.ch.nvalues++] = (struct config_value){ .name = "allow_ips",
	    .list = allow, .count = 2 };
	assert_int_equal(take(&t.ch, &es, &m, err, sizeof(err)), PROVIDER_OK);
	es.peer = "2001:db8::6";
	assert_int_equal(take(&t.ch, &es, &m, err, sizeof(err)),
	    PROVIDER_FORBIDDEN);
	assert_non_null(strstr(err, "allow_ips"));
}

/* --- eSMS: cpid + smsid + content + receiverTime + private_key ------- */

/* tests/fixtures/esms/mo_digits.query's sign: smsid 987654321012,
 * content "HOTLINE GIUP", receiverTime 20260301151530. */
#define ES_SIGN "3xArWSjxXIV3T%2FbONZcj2g%3D%3D"
#define ES_MO(smsid, content, sender) "sender=" sender "&content=" content \
	"&serviceNumber=8079&keyword=HOTLINE&sign=" ES_SIGN "&cpid=CP0001" \
	"&smsid=" smsid "&receiverTime=20260301151530"

static void
esms_smsid_and_content_cannot_trade_characters(void **state)
{
	static const struct {
		const char *name;
		const char *query;
	} resplit[] = {
		/* One digit of the smsid moved onto the text, and a sender
		 * of the forger's choice: a new message, a reply to them. */
		{ "a digit onto the content", ES_MO("98765432101",
		    "2HOTLINE+GIUP", "84987654321") },
		{ "two digits onto the content", ES_MO("9876543210",
		    "12HOTLINE+GIUP", "84987654321") },
		/* An smsid may hold letters: this one verifies, and must
		 * come out as the genuine message's key (a duplicate). */
		{ "a letter onto the smsid", ES_MO("987654321012H",
		    "OTLINE+GIUP", "84987654321") },
		/* Digits of the time moved onto the content. */
		{ "time into the content", "sender=84987654321&content="
		  "HOTLINE+GIUP2&serviceNumber=8079&keyword=HOTLINE&sign="
		  ES_SIGN "&cpid=CP0001&smsid=987654321012&receiverTime="
		  "0260301151530" },
	};
	struct test_channel t;
	struct sms_message m;
	char buf[1024], err[256], genuine[sizeof(m.id)];
	struct provider_input in = request("GET", "/v1/sms/es",
	    fixture("esms/mo_digits.query", buf, sizeof(buf)), NULL, NULL,
	    NULL, 0);

	(void)state;
	channel_init(&t, &provider_esms, "api_key", "ak", "secret_key", "sk",
	    "cpid", "CP0001", "private_key", "demo_private_key_123", NULL);
	assert_int_equal(take(&t.ch, &in, &m, err, sizeof(err)), PROVIDER_OK);
	assert_string_equal(m.from, "+84901234567");
	snprintf(genuine, sizeof(genuine), "%s", m.id);
	for (size_t i = 0; i < sizeof(resplit) / sizeof(resplit[0]); i++) {
		enum provider_verdict v;

		in = request("GET", "/v1/sms/es", resplit[i].query, NULL, NULL,
		    NULL, 0);
		v = take(&t.ch, &in, &m, err, sizeof(err));
		/* Refused, or the very same message: never a new one. */
		if (v == PROVIDER_OK && strcmp(m.id, genuine) == 0)
			continue;
		if (!refused_4xx(v) || strstr(err, "987654321") != NULL) {
			print_error("re-split \"%s\": verdict %d err \"%s\"\n",
			    resplit[i].name, v, err);
			fail();
		}
	}
}

/* The sender is unsigned: held to §4.1's form ("84…"), never "00…" or a
 * national "0…" that another number could hide behind. */
static void
esms_sender_is_read_as_84_digits_only(void **state)
{
	static const char *const bad[] = { "0084901234567", "0901234567",
	    "+84901234567", "840901234567", "8490123", "84 901 234 567" };
	struct test_channel t;
	struct sms_message m;
	char q[512], buf[1024], err[256];
	const char *fix = fixture("esms/mo_digits.query", buf, sizeof(buf));

	(void)state;
	channel_init(&t, &provider_esms, "api_key", "ak", "secret_key", "sk",
	    "cpid", "CP0001", "private_key", "demo_private_key_123", NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char sender[64];
		struct provider_input in;

		snprintf(sender, sizeof(sender), "sender=%s", bad[i]);
		edit(fix, "sender=84901234567", sender, q, sizeof(q));
		in = request("GET", "/v1/sms/es", q, NULL, NULL, NULL, 0);
		if (take(&t.ch, &in, &m, err, sizeof(err)) !=
		    PROVIDER_BAD_REQUEST || strstr(err, "sender") == NULL) {
			print_error("sender %s: err \"%s\"\n", bad[i], err);
			fail();
		}
	}
}

/* --- Twilio: URL + sorted name-value pairs, no separators ------------ */

#define TW_SID "AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN "tw-auth-token-0123"
#define TW_URL "https://hotline.example.org"
#define TW_PATH "/v1/sms/tw"
/* tests/fixtures/twilio/inbound.form's signature (test_provider_sms.c). */
#define TW_FIXTURE_SIG "JPiCbKUI9LniG3PNQKomq1d7p2E="
#define TW_MSG "SM5f1c0e7d2a9b4c3e8f6a1b2c3d4e5f60"

static void
twilio_value_cannot_swallow_the_next_pair(void **state)
{
	static const struct {
		const char *name;
		const char *from, *to, *from2, *to2;
	} resplit[] = {
		/* MessageSid + NumMedia0: a new id, the same signature. */
		{ "MessageSid swallows NumMedia",
		  "NumMedia=0&", "", "&MessageSid=" TW_MSG "&",
		  "&MessageSid=" TW_MSG "NumMedia0&" },
		{ "AccountSid swallows ApiVersion",
		  "&ApiVersion=2010-04-01", "",
		  "AccountSid=" TW_SID, "AccountSid=" TW_SID
		  "ApiVersion2010-04-01" },
		{ "SmsSid swallows SmsStatus",
		  "&SmsStatus=received", "", "&SmsSid=" TW_MSG "&",
		  "&SmsSid=" TW_MSG "SmsStatusreceived&" },
		{ "NumSegments swallows SmsMessageSid",
		  "SmsMessageSid=" TW_MSG "&", "", "&NumSegments=1&",
		  "&NumSegments=1SmsMessageSid" TW_MSG "&" },
	};
	char buf[4096], mid[4096], body[4096], err[256];
	const char *fix = fixture("twilio/inbound.form", buf, sizeof(buf));
	struct headers h = { "X-Twilio-Signature", TW_FIXTURE_SIG };
	struct test_channel t;
	struct sms_message m;
	struct provider_input in = request("POST", TW_PATH, NULL, FORM, fix,
	    &h, 0);

	(void)state;
	channel_init(&t, &provider_twilio, "account_sid", TW_SID,
	    "auth_token", TW_TOKEN, "public_url", TW_URL, NULL);
	assert_int_equal(take(&t.ch, &in, &m, err, sizeof(err)), PROVIDER_OK);
	assert_string_equal(m.id, TW_MSG);
	for (size_t i = 0; i < sizeof(resplit) / sizeof(resplit[0]); i++) {
		enum provider_verdict v;

		edit(fix, resplit[i].from, resplit[i].to, mid, sizeof(mid));
		edit(mid, resplit[i].from2, resplit[i].to2, body,
		    sizeof(body));
		in = request("POST", TW_PATH, NULL, FORM, body, &h, 0);
		v = take(&t.ch, &in, &m, err, sizeof(err));
		if (!refused_4xx(v) ||
		    strstr(err, "X-Twilio-Signature") != NULL) {
			/* Refused, and past the signature: the re-split
			 * kept it, only its form gives it away. */
			print_error("re-split \"%s\": verdict %d err \"%s\"\n",
			    resplit[i].name, v, err);
			fail();
		}
	}
}

/* --- Vonage: msisdn is international digits, for every country ------ */

static void
vonage_reads_every_country_as_international_digits(void **state)
{
	static const struct {
		const char *msisdn, *e164;
	} ok[] = {
		{ "2349067554729", "+2349067554729" },	/* Nigeria */
		{ "85512345678", "+85512345678" },	/* Cambodia */
		{ "84901234567", "+84901234567" },
		{ "447700900123", "+447700900123" },
	};
	static const char *const bad[] = { "0084901234567", "0901234567",
	    "+84901234567", "HOTLINE", "8490", "1234567890123456" };
	struct test_channel t;
	struct sms_message m;
	char body[512], err[256];

	(void)state;
	channel_init(&t, &provider_vonage, "api_key", "k", "api_secret", "s",
	    NULL);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct provider_input in;

		snprintf(body, sizeof(body), "msisdn=%s&to=12015550123"
		    "&messageId=0A00000012&text=hi&type=text"
		    "&message-timestamp=2026-03-01+08%%3A25%%3A30",
		    ok[i].msisdn);
		in = request("POST", "/v1/sms/vg", NULL, FORM, body, NULL, 0);
		assert_int_equal(take(&t.ch, &in, &m, err, sizeof(err)),
		    PROVIDER_OK);
		assert_string_equal(m.from, ok[i].e164);
		assert_string_equal(m.received_at, "2026-03-01T08:25:30Z");
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct provider_input in;

		snprintf(body, sizeof(body), "msisdn=%s&to=12015550123"
		    "&messageId=0A00000012&text=hi", bad[i]);
		for (char *c = body; *c != '\0'; c++)
			if (*c == '+')
				*c = ' ';	/* as a form decodes it */
		in = request("POST", "/v1/sms/vg", NULL, FORM, body, NULL, 0);
		if (take(&t.ch, &in, &m, err, sizeof(err)) !=
		    PROVIDER_BAD_REQUEST || strstr(err, "msisdn") == NULL) {
			print_error("msisdn %s: err \"%s\"\n", bad[i], err);
			fail();
		}
	}
}

/* A receipt status §3.1 does not list is taken, named when it is a code;
 * refused, Vonage would re-send it for 24 hours. */
static void
vonage_unknown_receipt_status_is_taken(void **state)
{
	struct test_channel t;
	struct dlr_report r;
	char err[256];
	struct provider_input in = request("POST", "/v1/dlr/vg", NULL, FORM,
	    "msisdn=84901234567&to=HOTLINE&messageId=0A00000099"
	    "&status=partially_delivered&err-code=0", NULL, 0);

	(void)state;
	channel_init(&t, &provider_vonage, "api_key", "k", "api_secret", "s",
	    NULL);
	assert_int_equal(provider_vonage.dlr_parse(&t.ch, &in, &r, err,
	    sizeof(err)), PROVIDER_OK);
	assert_int_equal(r.status, DLR_UNKNOWN);
	assert_string_equal(r.status_code, "partially_delivered");
	assert_string_equal(r.provider_ref, "0A00000099");
	/* Words are no code: taken all the same, not named. */
	in = request("POST", "/v1/dlr/vg", NULL, FORM,
	    "messageId=0A00000098&status=sent+to+84901234567", NULL, 0);
	assert_int_equal(provider_vonage.dlr_parse(&t.ch, &in, &r, err,
	    sizeof(err)), PROVIDER_OK);
	assert_int_equal(r.status, DLR_UNKNOWN);
	assert_string_equal(r.status_code, "");
	/* A documented status keeps its meaning. */
	in = request("POST", "/v1/dlr/vg", NULL, FORM,
	    "messageId=0A00000097&status=delivered", NULL, 0);
	assert_int_equal(provider_vonage.dlr_parse(&t.ch, &in, &r, err,
	    sizeof(err)), PROVIDER_OK);
	assert_int_equal(r.status, DLR_DELIVERED);
}

/* A receipt's reason is a code, never words. */
static void
dlr_reasons_keep_codes_not_words(void **state)
{
	struct test_channel t;
	struct dlr_report r;
	char err[256];
	struct provider_input in = request("POST", "/v1/dlr/at", NULL, FORM,
	    "id=ATXid_1&status=Failed&failureReason=UserInBlackList", NULL, 0);

	(void)state;
	channel_init(&t, &provider_africastalking, "username", "u", "api_key",
	    "k", "callback_token", "cb", NULL);
	assert_int_equal(provider_africastalking.dlr_parse(&t.ch, &in, &r, err,
	    sizeof(err)), PROVIDER_OK);
	assert_string_equal(r.reason, "UserInBlackList");
	in = request("POST", "/v1/dlr/at", NULL, FORM, "id=ATXid_1"
	    "&status=Failed&failureReason=Toi+can+giup+do+84901234567",
	    NULL, 0);
	assert_int_equal(provider_africastalking.dlr_parse(&t.ch, &in, &r, err,
	    sizeof(err)), PROVIDER_OK);
	assert_string_equal(r.reason, "");
}

/* --- Africa's Talking: date as RFC 3339 UTC, never a refusal --------- */

static void
africastalking_date_is_kept_as_rfc3339_utc(void **state)
{
	static const struct {
		const char *date, *want;
	} cases[] = {
		{ "2017-05-03+06%3A04%3A45", "2017-05-03T06:04:45Z" },
		{ "2017-05-03T06%3A04%3A45Z", "2017-05-03T06:04:45Z" },
		{ "2018-03-19T08%3A34%3A18.445Z", "2018-03-19T08:34:18Z" },
		{ "2017-05-03T13%3A04%3A45%2B07%3A00", "2017-05-03T06:04:45Z" },
		{ "2017-02-30+06%3A04%3A45", "" },
		{ "yesterday", "" },
		{ "", "" },
		{ "2017-05-03+06%3A04%3A45+and+a+great+deal+more+text+than"
		  "+fits", "" },
	};
	struct test_channel t;
	struct sms_message m;
	char body[512], err[256];

	(void)state;
	channel_init(&t, &provider_africastalking, "username", "u", "api_key",
	    "k", "callback_token", "cb", NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct provider_input in;

		memset(&m, 0, sizeof(m));
		snprintf(body, sizeof(body), "from=%%2B254711000222&to=40123"
		    "&text=hi&id=ATXid_%zu&date=%s", i, cases[i].date);
		in = request("POST", "/v1/sms/at", NULL, FORM, body, NULL, 0);
		if (provider_africastalking.sms_parse(&t.ch, &in, &m, err,
		    sizeof(err)) != PROVIDER_OK ||
		    strcmp(m.received_at, cases[i].want) != 0) {
			print_error("date %s: got \"%s\" err \"%s\"\n",
			    cases[i].date, m.received_at, err);
			fail();
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vcom_request_id_and_phone_cannot_trade_digits),
		cmocka_unit_test(vcom_and_esms_allow_ips_are_checked_first),
		cmocka_unit_test(
		    esms_smsid_and_content_cannot_trade_characters),
		cmocka_unit_test(esms_sender_is_read_as_84_digits_only),
		cmocka_unit_test(twilio_value_cannot_swallow_the_next_pair),
		cmocka_unit_test(
		    vonage_reads_every_country_as_international_digits),
		cmocka_unit_test(vonage_unknown_receipt_status_is_taken),
		cmocka_unit_test(dlr_reasons_keep_codes_not_words),
		cmocka_unit_test(africastalking_date_is_kept_as_rfc3339_utc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
