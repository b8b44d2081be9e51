/* SMS adapters from tables: Twilio (X-Twilio-Signature, form posts) and
 * the generic json provider (X-Hotline-Signature, JSON bodies).  Known
 * answers come from Twilio's published vectors and from python3 commands
 * quoted beside each hard-coded signature. */
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

/* Request headers: one name and value, or none. */
struct headers {
	const char *name;
	const char *value;
};

static const char *
header_get(const void *ctx, const char *name)
{
	const struct headers *h = ctx;

	if (h->name != NULL && strcasecmp(h->name, name) == 0)
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
	    .body_len = strlen(body), .peer = "203.0.113.9",
	    .header = header_get, .header_ctx = h, .now = now };
}

/* A Twilio channel on the stack; values point into the struct. */
struct twilio_channel {
	char name[16];
	char sid[64];
	char token[64];
	char url[128];
	struct config_value values[3];
	struct config_channel ch;
};

static void
twilio_channel_init(struct twilio_channel *t, const char *sid,
    const char *token, const char *url)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "tw");
	snprintf(t->sid, sizeof(t->sid), "%s", sid);
	snprintf(t->token, sizeof(t->token), "%s", token);
	snprintf(t->url, sizeof(t->url), "%s", url);
	t->values[0] = (struct config_value){ .name = "account_sid",
	    .value = t->sid };
	t->values[1] = (struct config_value){ .name = "auth_token",
	    .value = t->token };
	t->values[2] = (struct config_value){ .name = "public_url",
	    .value = t->url };
	t->ch = (struct config_channel){ .name = t->name,
	    .provider = &provider_twilio, .values = t->values, .nvalues = 3 };
}

/* The fixture's account, token and URL (see the python3 commands). */
#define TW_SID "AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN "tw-auth-token-0123"
#define TW_URL "https://hotline.example.org"
#define TW_PATH "/v1/sms/tw"
/*
 * python3 -c 'import hmac,hashlib,base64,urllib.parse as u;
 *   p=sorted(u.parse_qsl(open("tests/fixtures/twilio/inbound.form").read(),
 *   keep_blank_values=True));print(base64.b64encode(hmac.new(
 *   b"tw-auth-token-0123",("https://hotline.example.org/v1/sms/tw"+
 *   "".join(k+v for k,v in p)).encode(),hashlib.sha1).digest()).decode())'
 */
#define TW_FIXTURE_SIG "JPiCbKUI9LniG3PNQKomq1d7p2E="
/*
 * The same parameters as a GET query: only the URL is signed.
 * python3 -c 'import hmac,hashlib,base64;
 *   q=open("tests/fixtures/twilio/inbound.form").read();
 *   print(base64.b64encode(hmac.new(b"tw-auth-token-0123",
 *   ("https://hotline.example.org/v1/sms/tw?"+q).encode(),
 *   hashlib.sha1).digest()).decode())'
 */
#define TW_FIXTURE_GET_SIG "NlsgWNWqINis0XS007f0HqbIn40="

/* "Tôi cần giúp đỡ gấp 🙏 (chị ấy không an toàn)", UTF-8 bytes. */
#define TW_FIXTURE_BODY "T\xc3\xb4i c\xe1\xba\xa7n gi\xc3\xbap " \
	"\xc4\x91\xe1\xbb\xa1 g\xe1\xba\xa5p \xf0\x9f\x99\x8f " \
	"(ch\xe1\xbb\x8b \xe1\xba\xa5y kh\xc3\xb4ng an to\xc3\xa0n)"

/* --- Twilio ---------------------------------------------------------- */

struct published_vector {
	const char *name;
	const char *body;	/* parameters, deliberately not sorted */
	const char *signature;
};

/*
 * reference/aggregators.md §2.3 (token 12345, URL
 * https://mycompany.com/myapp.php?foo=1&bar=2).  The brief quoted
 * RSOYDt… with Caller +12349013030; that signature is vector B's
 * (Caller +14158675309), and A's is 0/KCTR…: python3 agrees, so both
 * are here with their own parameters.
 */
static const struct published_vector published[] = {
	{ "A", "To=%2B18005551212&From=%2B12349013030&Digits=1234"
	  "&Caller=%2B12349013030&CallSid=CA1234567890ABCDE",
	  "0/KCTR6DLpKmkAf8muzZqo1nDgQ=" },
	{ "B", "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234"
	  "&From=%2B14158675309&To=%2B18005551212",
	  "RSOYDt4T1cUTdK1PDd93/VVr8B8=" },
	/* A repeated name: values sorted, Digits1234Digits5678. */
	{ "C", "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234",
	  "IK+Dwps556ElfBT0I3Rgjkr1wJU=" },
};

/*
 * Twilio's vectors carry no AccountSid, and adding one would change the
 * signature; so a vector passes the signature check exactly when verify
 * refuses it for the AccountSid (or, for C, its repeated name) instead.
 */
static void
twilio_published_vectors_pass_the_signature_check(void **state)
{
	static const char *const urls[] = { "https://mycompany.com",
	    "https://mycompany.com/" };
	struct twilio_channel t;
	char err[256];

	(void)state;
	for (size_t u = 0; u < 2; u++)
		for (size_t i = 0; i < sizeof(published) /
		    sizeof(published[0]); i++) {
			const struct published_vector *pv = &published[i];
			struct headers h = { "X-Twilio-Signature",
			    pv->signature };
			struct provider_input in = request("POST",
			    "/myapp.php", "foo=1&bar=2", FORM, pv->body, &h,
			    0);

			twilio_channel_init(&t, "AC123", "12345", urls[u]);
			err[0] = '\0';
			/* C repeats a name, which Twilio's messaging
			 * webhooks never do: past the signature, it is
			 * refused for that. */
			if (strcmp(pv->name, "C") == 0 ?
			    provider_twilio.verify(&t.ch, &in, err,
			    sizeof(err)) != PROVIDER_BAD_REQUEST ||
			    strstr(err, "more than once") == NULL :
			    provider_twilio.verify(&t.ch, &in, err,
			    sizeof(err)) != PROVIDER_FORBIDDEN ||
			    strstr(err, "AccountSid") == NULL ||
			    strstr(err, "X-Twilio-Signature") != NULL) {
				print_error("vector %s, %s: \"%s\"\n",
				    pv->name, urls[u], err);
				fail();
			}
			/* The same request under another token fails
			 * earlier, on the signature. */
			twilio_channel_init(&t, "AC123", "12346", urls[u]);
			assert_int_equal(provider_twilio.verify(&t.ch, &in,
			    err, sizeof(err)), PROVIDER_FORBIDDEN);
			assert_non_null(strstr(err, "X-Twilio-Signature"));
		}
}

static void
twilio_fixture_verifies_and_parses_byte_exact(void **state)
{
	char buf[4096];
	const char *body = fixture("twilio/inbound.form", buf, sizeof(buf));
	struct headers h = { "X-Twilio-Signature", TW_FIXTURE_SIG };
	struct provider_input in = request("POST", TW_PATH, NULL,
	    FORM "; charset=utf-8", body, &h, 0);
	struct twilio_channel t;
	struct sms_message m;
	char err[256];

	(void)state;
	twilio_channel_init(&t, TW_SID, TW_TOKEN, TW_URL);
	assert_int_equal(provider_twilio.verify(&t.ch, &in, err, sizeof(err)),
	    PROVIDER_OK);
	/* The HTTP layer may hand an empty query rather than NULL. */
	in.query = "";
	assert_int_equal(provider_twilio.verify(&t.ch, &in, err, sizeof(err)),
	    PROVIDER_OK);
	assert_int_equal(provider_twilio.sms_parse(&t.ch, &in, &m, err,
	    sizeof(err)), PROVIDER_OK);
	assert_string_equal(m.id, "SM5f1c0e7d2a9b4c3e8f6a1b2c3d4e5f60");
	assert_string_equal(m.from, "+84912345678");
	assert_string_equal(m.to, "+18005550100");
	assert_string_equal(m.text, TW_FIXTURE_BODY);
	assert_string_equal(m.received_at, "");
	assert_int_equal(m.concat_total, 0);
}

struct twilio_forbidden_case {
	const char *name;
	const char *token;		/* channel's */
	const char *url;		/* channel's */
	const char *sid;		/* channel's */
	const char *header;		/* NULL: no header */
	const char *from, *to;		/* edit the fixture body */
	const char *reason;
};

static const struct twilio_forbidden_case twilio_forbidden[] = {
	{ "wrong token", "tw-auth-token-0124", TW_URL, TW_SID,
	  TW_FIXTURE_SIG, NULL, NULL, "X-Twilio-Signature" },
	{ "wrong public_url", TW_TOKEN, "http://hotline.example.org", TW_SID,
	  TW_FIXTURE_SIG, NULL, NULL, "X-Twilio-Signature" },
	{ "missing header", TW_TOKEN, TW_URL, TW_SID, NULL, NULL, NULL,
	  "missing X-Twilio-Signature" },
	{ "empty header", TW_TOKEN, TW_URL, TW_SID, "", NULL, NULL,
	  "X-Twilio-Signature" },
	{ "header with a trailing space", TW_TOKEN, TW_URL, TW_SID,
	  TW_FIXTURE_SIG " ", NULL, NULL, "X-Twilio-Signature" },
	{ "header truncated", TW_TOKEN, TW_URL, TW_SID,
	  "JPiCbKUI9LniG3PNQKomq1d7p2E", NULL, NULL, "X-Twilio-Signature" },
	{ "one character changed", TW_TOKEN, TW_URL, TW_SID,
	  "JPiCbKUI9LniG3PNQKomq1d7p2F=", NULL, NULL, "X-Twilio-Signature" },
	{ "tampered Body", TW_TOKEN, TW_URL, TW_SID, TW_FIXTURE_SIG,
	  "Body=T%C3%B4i", "Body=Toi", "X-Twilio-Signature" },
	/* '+' decodes to a space, so it is not the %2B that was signed. */
	{ "From with raw +", TW_TOKEN, TW_URL, TW_SID, TW_FIXTURE_SIG,
	  "From=%2B", "From=+", "X-Twilio-Signature" },
	{ "parameter added", TW_TOKEN, TW_URL, TW_SID, TW_FIXTURE_SIG,
	  "ApiVersion=", "X=1&ApiVersion=", "X-Twilio-Signature" },
	/* A duplicate is signed too, not dropped. */
	{ "exact duplicate added", TW_TOKEN, TW_URL, TW_SID, TW_FIXTURE_SIG,
	  "NumMedia=0&", "NumMedia=0&NumMedia=0&", "X-Twilio-Signature" },
	{ "another account", TW_TOKEN, TW_URL,
	  "AC0123456789abcdef0123456789abcdee", TW_FIXTURE_SIG, NULL, NULL,
	  "AccountSid" },
};

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

static void
twilio_bad_signatures_and_accounts_are_forbidden(void **state)
{
	char buf[4096], body[4096], err[256];
	const char *fix = fixture("twilio/inbound.form", buf, sizeof(buf));
	struct twilio_channel t;

	(void)state;
	for (size_t i = 0; i < sizeof(twilio_forbidden) /
	    sizeof(twilio_forbidden[0]); i++) {
		const struct twilio_forbidden_case *c = &twilio_forbidden[i];
		struct headers h = { c->header ? "X-Twilio-Signature" : NULL,
		    c->header };
		struct provider_input in;
		enum provider_verdict v;

		if (c->from != NULL)
			edit(fix, c->from, c->to, body, sizeof(body));
		else
			snprintf(body, sizeof(body), "%s", fix);
		in = request("POST", TW_PATH, NULL, FORM, body, &h, 0);
		twilio_channel_init(&t, c->sid, c->token, c->url);
		err[0] = '\0';
		v = provider_twilio.verify(&t.ch, &in, err, sizeof(err));
		if (v != PROVIDER_FORBIDDEN || strstr(err, c->reason) == NULL ||
		    strstr(err, "84912345678") != NULL) {
			print_error("case \"%s\": verdict %d err \"%s\"\n",
			    c->name, v, err);
			fail();
		}
	}
}

static void
twilio_get_signs_the_url_with_its_query(void **state)
{
	char buf[4096], query[4096], err[256];
	const char *fix = fixture("twilio/inbound.form", buf, sizeof(buf));
	struct headers h = { "X-Twilio-Signature", TW_FIXTURE_GET_SIG };
	struct provider_input in = request("GET", TW_PATH, fix, NULL, "", &h,
	    0);
	struct twilio_channel t;
	struct sms_message m;

	(void)state;
	twilio_channel_init(&t, TW_SID, TW_TOKEN, TW_URL);
	assert_int_equal(provider_twilio.verify(&t.ch, &in, err, sizeof(err)),
	    PROVIDER_OK);
	assert_int_equal(provider_twilio.sms_parse(&t.ch, &in, &m, err,
	    sizeof(err)), PROVIDER_OK);
	assert_string_equal(m.from, "+84912345678");
	assert_string_equal(m.text, TW_FIXTURE_BODY);

	/* The POST signature does not verify the GET, nor the reverse. */
	h.value = TW_FIXTURE_SIG;
	assert_int_equal(provider_twilio.verify(&t.ch, &in, err, sizeof(err)),
	    PROVIDER_FORBIDDEN);
	h.value = TW_FIXTURE_GET_SIG;
	edit(fix, "Body=T%C3%B4i", "Body=Toi", query, sizeof(query));
	in.query = query;
	assert_int_equal(provider_twilio.verify(&t.ch, &in, err, sizeof(err)),
	    PROVIDER_FORBIDDEN);
	assert_non_null(strstr(err, "X-Twilio-Signature"));
}

static void
twilio_body_is_required_for_post_and_optional_for_get(void **state)
{
	static const char *params = "MessageSid=SM1&From=%2B84912345678"
	    "&To=%2B18005550100";
	struct headers h = { NULL, NULL };
	struct provider_input in = request("GET", TW_PATH, params, NULL, "",
	    &h, 0);
	struct sms_message m;
	char err[256];

	(void)state;
	assert_int_equal(provider_twilio.sms_parse(NULL, &in, &m, err,
	    sizeof(err)), PROVIDER_OK);
	assert_string_equal(m.text, "");
	assert_string_equal(m.id, "SM1");

	in = request("POST", TW_PATH, NULL, FORM, params, &h, 0);
	assert_int_equal(provider_twilio.sms_parse(NULL, &in, &m, err,
	    sizeof(err)), PROVIDER_BAD_REQUEST);
	assert_non_null(strstr(err, "Body"));
}

static void
twilio_plus_decodes_to_space_and_percent_2b_to_plus(void **state)
{
	struct headers h = { NULL, NULL };
	struct provider_input in = request("POST", TW_PATH, NULL, FORM,
	    "MessageSid=SM1&From=%2B84912345678&To=%2B18005550100"
	    "&Body=1+%2B+1+%3D+2", &h, 0);
	struct sms_message m;
	char err[256];

	(void)state;
	assert_int_equal(provider_twilio.sms_parse(NULL, &in, &m, err,
	    sizeof(err)), PROVIDER_OK);
	assert_string_equal(m.from, "+84912345678");
	assert_string_equal(m.to, "+18005550100");
	assert_string_equal(m.text, "1 + 1 = 2");
	/* A raw '+' is a space: " 18005550100" is no number Twilio
	 * sends, and is refused rather than guessed at. */
	in = request("POST", TW_PATH, NULL, FORM, "MessageSid=SM1"
	    "&From=%2B84912345678&To=+18005550100&Body=x", &h, 0);
	assert_int_equal(provider_twilio.sms_parse(NULL, &in, &m, err,
	    sizeof(err)), PROVIDER_BAD_REQUEST);
	assert_non_null(strstr(err, "To"));
}

static void
twilio_wrong_method_or_content_type_is_refused(void **state)
{
	char buf[4096], err[256];
	const char *fix = fixture("twilio/inbound.form", buf, sizeof(buf));
	struct headers h = { "X-Twilio-Signature", TW_FIXTURE_SIG };
	struct provider_input in;
	struct twilio_channel t;
	struct sms_message m;

	(void)state;
	twilio_channel_init(&t, TW_SID, TW_TOKEN, TW_URL);
	in = request("POST", TW_PATH, NULL, JSON, fix, &h, 0);
	assert_int_equal(provider_twilio.verify(&t.ch, &in, err, sizeof(err)),
	    PROVIDER_UNSUPPORTED);
	assert_non_null(strstr(err, "Content-Type"));
	assert_int_equal(provider_twilio.sms_parse(&t.ch, &in, &m, err,
	    sizeof(err)), PROVIDER_UNSUPPORTED);
	in.content_type = NULL;
	assert_int_equal(provider_twilio.verify(&t.ch, &in, err, sizeof(err)),
	    PROVIDER_UNSUPPORTED);
	in = request("PUT", TW_PATH, NULL, FORM, fix, &h, 0);
	assert_int_equal(provider_twilio.verify(&t.ch, &in, err, sizeof(err)),
	    PROVIDER_BAD_REQUEST);
	assert_non_null(strstr(err, "method"));
}

struct sms_case {
	const char *name;
	const char *body;
	const char *reason;	/* substring of err */
};

static const struct sms_case twilio_bad_sms[] = {
	{ "missing MessageSid", "From=%2B84912345678&To=1&Body=x",
	  "MessageSid" },
	{ "empty MessageSid", "MessageSid=&From=%2B84912345678&To=1&Body=x",
	  "MessageSid" },
	{ "missing From", "MessageSid=SM1&To=1&Body=x", "From" },
	{ "missing To", "MessageSid=SM1&From=%2B84912345678&Body=x", "To" },
	{ "From too long", "MessageSid=SM1&To=1&Body=x&From="
	  "1234567890123456789012345678901234567890", "From" },
	{ "Body not UTF-8", "MessageSid=SM1&From=1&To=1&Body=%C3%28",
	  "Body" },
	{ "MessageSid not UTF-8", "MessageSid=SM%FF&From=1&To=1&Body=x",
	  "MessageSid" },
	{ "encoded NUL", "MessageSid=SM1&From=1&To=1&Body=a%00b", "NUL" },
	{ "bad escape", "MessageSid=SM1&From=1&To=1&Body=%G1", "escape" },
};

static void
twilio_malformed_sms_is_refused_naming_the_field(void **state)
{
	struct headers h = { NULL, NULL };
	struct sms_message m;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(twilio_bad_sms) /
	    sizeof(twilio_bad_sms[0]); i++) {
		const struct sms_case *c = &twilio_bad_sms[i];
		struct provider_input in = request("POST", TW_PATH, NULL, FORM,
		    c->body, &h, 0);
		enum provider_verdict v;

		err[0] = '\0';
		v = provider_twilio.sms_parse(NULL, &in, &m, err, sizeof(err));
		if (v != PROVIDER_BAD_REQUEST ||
		    strstr(err, c->reason) == NULL) {
			print_error("case \"%s\": verdict %d err \"%s\"\n",
			    c->name, v, err);
			fail();
		}
	}
}

/* SMS_TEXT_MAX - 1 bytes fit; one more is refused, not truncated. */
static void
twilio_body_longer_than_the_buffer_is_refused(void **state)
{
	static const char head[] = "MessageSid=SM1&From=%2B84912345678"
	    "&To=1567&Body=";
	size_t len = sizeof(head) - 1 + SMS_TEXT_MAX;
	struct headers h = { NULL, NULL };
	struct provider_input in;
	struct sms_message m;
	char err[256];
	char *body;

	(void)state;
	assert_non_null(body = malloc(len + 1));
	memcpy(body, head, sizeof(head) - 1);
	memset(body + sizeof(head) - 1, 'a', SMS_TEXT_MAX);
	body[len] = '\0';
	in = request("POST", TW_PATH, NULL, FORM, body, &h, 0);
	assert_int_equal(provider_twilio.sms_parse(NULL, &in, &m, err,
	    sizeof(err)), PROVIDER_BAD_REQUEST);
	assert_non_null(strstr(err, "Body"));
	body[len - 1] = '\0';
	in = request("POST", TW_PATH, NULL, FORM, body, &h, 0);
	assert_int_equal(provider_twilio.sms_parse(NULL, &in, &m, err,
	    sizeof(err)), PROVIDER_OK);
	assert_int_equal(strlen(m.text), SMS_TEXT_MAX - 1);
	free(body);
}

static void
twilio_ack_is_an_empty_twiml_response(void **state)
{
	struct provider_reply r;

	(void)state;
	assert_int_equal(provider_twilio.sms_ack(&r), 0);
	assert_string_equal(r.content_type, "text/xml");
	assert_string_equal(r.body,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>");
	assert_string_equal(provider_twilio.name, "twilio");
	assert_null(provider_twilio.ussd_parse);
	assert_null(provider_twilio.ussd_format);
}

/* --- json ------------------------------------------------------------- */

struct json_channel {
	char name[16];
	char secret[64];
	struct config_value values[1];
	struct config_channel ch;
};

static void
json_channel_init(struct json_channel *j, const char *secret)
{
	memset(j, 0, sizeof(*j));
	snprintf(j->name, sizeof(j->name), "gw");
	snprintf(j->secret, sizeof(j->secret), "%s", secret);
	j->values[0] = (struct config_value){ .name = "secret",
	    .value = j->secret };
	j->ch = (struct config_channel){ .name = j->name,
	    .provider = &provider_json, .values = j->values, .nvalues = 1 };
}

#define JS_SECRET "json-secret-0123"
#define JS_T 1735689600
#define JS_HEX "b41860f388da997a0f53e1178914539f7763f5eba7f0387f14b38df38b" \
	"48df43"
/*
 * python3 -c 'import hmac,hashlib;
 *   b=open("tests/fixtures/json/inbound.json","rb").read();
 *   print(hmac.new(b"json-secret-0123",b"1735689600."+b,
 *   hashlib.sha256).hexdigest())'
 */
#define JS_SIG "t=1735689600,v1=" JS_HEX

static void
json_fixture_verifies_and_parses_byte_exact(void **state)
{
	char buf[4096], err[256];
	const char *body = fixture("json/inbound.json", buf, sizeof(buf));
	struct headers h = { "X-Hotline-Signature", JS_SIG };
	struct provider_input in = request("POST", "/v1/sms/gw", NULL,
	    JSON "; charset=utf-8", body, &h, JS_T + 42);
	struct json_channel j;
	struct sms_message m;

	(void)state;
	json_channel_init(&j, JS_SECRET);
	assert_int_equal(provider_json.verify(&j.ch, &in, err, sizeof(err)),
	    PROVIDER_OK);
	assert_int_equal(provider_json.sms_parse(&j.ch, &in, &m, err,
	    sizeof(err)), PROVIDER_OK);
	assert_string_equal(m.id, "gw-20250101-0001");
	assert_string_equal(m.from, "+84912345678");
	assert_string_equal(m.to, "1900 1234");
	/* "Tôi cần giúp đỡ gấp 🙏" */
	assert_string_equal(m.text, "T\xc3\xb4i c\xe1\xba\xa7n gi\xc3\xbap "
	    "\xc4\x91\xe1\xbb\xa1 g\xe1\xba\xa5p \xf0\x9f\x99\x8f");
	assert_string_equal(m.received_at, "2025-01-01T00:00:00Z");
}

static void
json_timestamp_window_is_300_seconds_either_way(void **state)
{
	static const struct {
		long long skew;		/* now - t */
		enum provider_verdict verdict;
		const char *reason;
	} cases[] = {
		{ 0, PROVIDER_OK, "" },
		{ 300, PROVIDER_OK, "" },
		{ -300, PROVIDER_OK, "" },
		{ 301, PROVIDER_FORBIDDEN, "old" },
		{ -301, PROVIDER_FORBIDDEN, "future" },
		{ 86400, PROVIDER_FORBIDDEN, "clock" },
		{ -JS_T - 1, PROVIDER_FORBIDDEN, "future" },
	};
	char buf[4096], err[256];
	const char *body = fixture("json/inbound.json", buf, sizeof(buf));
	struct headers h = { "X-Hotline-Signature", JS_SIG };
	struct json_channel j;

	(void)state;
	json_channel_init(&j, JS_SECRET);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct provider_input in = request("POST", "/v1/sms/gw", NULL,
		    JSON, body, &h, (time_t)(JS_T + cases[i].skew));
		enum provider_verdict v;

		err[0] = '\0';
		v = provider_json.verify(&j.ch, &in, err, sizeof(err));
		if (v != cases[i].verdict ||
		    strstr(err, cases[i].reason) == NULL) {
			print_error("skew %lld: verdict %d err \"%s\"\n",
			    cases[i].skew, v, err);
			fail();
		}
	}
}

static void
json_malformed_or_wrong_signatures_are_forbidden(void **state)
{
	static const struct {
		const char *header;	/* NULL: none */
		const char *reason;
	} cases[] = {
		{ NULL, "missing" },
		{ "", "malformed" },
		{ "t=1735689600", "malformed" },
		{ "t=1735689600,", "malformed" },
		{ "v1=" JS_HEX, "malformed" },
		{ "t=1735689600,v1=B41860F388DA997A0F53E1178914539F7763F5EBA7F0"
		  "387F14B38DF38B48DF43", "malformed" },
		{ "t=1735689600,v1=" JS_HEX ",v0=abc", "malformed" },
		{ JS_SIG ",", "malformed" },
		{ "v1=" JS_HEX ",t=1735689600", "malformed" },
		{ "t=17356896OO,v1=" JS_HEX, "malformed" },
		{ "t=,v1=" JS_HEX, "malformed" },
		{ "t=+1735689600,v1=" JS_HEX, "malformed" },
		{ "t=-1735689600,v1=" JS_HEX, "malformed" },
		{ "t=1735689600, v1=" JS_HEX, "malformed" },
		{ " t=1735689600,v1=" JS_HEX, "malformed" },
		{ "T=1735689600,V1=" JS_HEX, "malformed" },
		{ "t=1735689600,v1=" JS_HEX "0", "malformed" },
		{ "t=1735689600,v1=b41860f388da997a0f53e1178914539f7763f5eba7f0"
		  "387f14b38df38b48df4", "malformed" },
		{ "t=0001735689600,v1=" JS_HEX, "malformed" },
		/* Well formed, wrong: another t, another MAC. */
		{ "t=1735689601,v1=" JS_HEX, "does not match" },
		{ "t=01735689600,v1=" JS_HEX, "does not match" },
		{ "t=1735689600,v1=b41860f388da997a0f53e1178914539f7763f5eba7f0"
		  "387f14b38df38b48df44", "does not match" },
	};
	char buf[4096], err[256];
	const char *body = fixture("json/inbound.json", buf, sizeof(buf));
	struct json_channel j;

	(void)state;
	json_channel_init(&j, JS_SECRET);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct headers h = { cases[i].header ? "X-Hotline-Signature" :
		    NULL, cases[i].header };
		struct provider_input in = request("POST", "/v1/sms/gw", NULL,
		    JSON, body, &h, JS_T);
		enum provider_verdict v;

		err[0] = '\0';
		v = provider_json.verify(&j.ch, &in, err, sizeof(err));
		if (v != PROVIDER_FORBIDDEN ||
		    strstr(err, cases[i].reason) == NULL) {
			print_error("header \"%s\": verdict %d err \"%s\"\n",
			    cases[i].header ? cases[i].header : "(none)", v,
			    err);
			fail();
		}
	}
}

static void
json_wrong_secret_or_tampered_body_is_forbidden(void **state)
{
	char buf[4096], body[4096], err[256];
	const char *fix = fixture("json/inbound.json", buf, sizeof(buf));
	struct headers h = { "X-Hotline-Signature", JS_SIG };
	struct provider_input in = request("POST", "/v1/sms/gw", NULL, JSON,
	    fix, &h, JS_T);
	struct json_channel j;

	(void)state;
	json_channel_init(&j, "json-secret-0124");
	assert_int_equal(provider_json.verify(&j.ch, &in, err, sizeof(err)),
	    PROVIDER_FORBIDDEN);
	assert_non_null(strstr(err, "does not match"));
	json_channel_init(&j, JS_SECRET);
	edit(fix, "84912345678", "84912345679", body, sizeof(body));
	in = request("POST", "/v1/sms/gw", NULL, JSON, body, &h, JS_T);
	assert_int_equal(provider_json.verify(&j.ch, &in, err, sizeof(err)),
	    PROVIDER_FORBIDDEN);
	assert_null(strstr(err, "8491234567"));
	/* Whitespace is part of the raw body that was signed. */
	edit(fix, "}", " }", body, sizeof(body));
	in = request("POST", "/v1/sms/gw", NULL, JSON, body, &h, JS_T);
	assert_int_equal(provider_json.verify(&j.ch, &in, err, sizeof(err)),
	    PROVIDER_FORBIDDEN);
	/* An unset secret is never a key anyone can sign with. */
	json_channel_init(&j, "");
	in = request("POST", "/v1/sms/gw", NULL, JSON, fix, &h, JS_T);
	assert_int_equal(provider_json.verify(&j.ch, &in, err, sizeof(err)),
	    PROVIDER_FORBIDDEN);
}

static void
json_wrong_content_type_is_unsupported(void **state)
{
	static const char *const types[] = { FORM, "text/plain", NULL,
	    "application/jsonx", "application/json-seq" };
	char buf[4096], err[256];
	const char *body = fixture("json/inbound.json", buf, sizeof(buf));
	struct headers h = { "X-Hotline-Signature", JS_SIG };
	struct json_channel j;
	struct sms_message m;

	(void)state;
	json_channel_init(&j, JS_SECRET);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct provider_input in = request("POST", "/v1/sms/gw", NULL,
		    types[i], body, &h, JS_T);

		assert_int_equal(provider_json.verify(&j.ch, &in, err,
		    sizeof(err)), PROVIDER_UNSUPPORTED);
		assert_non_null(strstr(err, "Content-Type"));
		assert_int_equal(provider_json.sms_parse(&j.ch, &in, &m, err,
		    sizeof(err)), PROVIDER_UNSUPPORTED);
	}
}

static const struct sms_case json_bad_sms[] = {
	{ "missing id", "{\"from\":\"+84912345678\",\"text\":\"x\"}", "id" },
	{ "empty id", "{\"id\":\"\",\"from\":\"1\",\"text\":\"x\"}", "id" },
	{ "id a number", "{\"id\":7,\"from\":\"1\",\"text\":\"x\"}", "id" },
	{ "missing from", "{\"id\":\"a\",\"text\":\"x\"}", "from" },
	{ "missing text", "{\"id\":\"a\",\"from\":\"1\"}", "text" },
	{ "text not a string", "{\"id\":\"a\",\"from\":\"1\",\"text\":1}",
	  "text" },
	{ "text null", "{\"id\":\"a\",\"from\":\"1\",\"text\":null}", "text" },
	{ "to not a string", "{\"id\":\"a\",\"from\":\"1\",\"to\":[],"
	  "\"text\":\"x\"}", "to" },
	{ "received_at not a string", "{\"id\":\"a\",\"from\":\"1\","
	  "\"text\":\"x\",\"received_at\":1735689600}", "received_at" },
	{ "duplicate id", "{\"id\":\"a\",\"from\":\"1\",\"text\":\"x\","
	  "\"id\":\"b\"}", "duplicate key \"id\"" },
	{ "duplicate text", "{\"id\":\"a\",\"text\":\"x\",\"from\":\"1\","
	  "\"text\":\"y\"}", "duplicate key \"text\"" },
	{ "NUL in text", "{\"id\":\"a\",\"from\":\"1\",\"text\":\"a\\u0000b\"}",
	  "text contains a NUL" },
	{ "NUL in from", "{\"id\":\"a\",\"from\":\"\\u0000\",\"text\":\"x\"}",
	  "from contains a NUL" },
	{ "from too long", "{\"id\":\"a\",\"text\":\"x\",\"from\":"
	  "\"1234567890123456789012345678901234567890\"}", "from" },
	{ "not an object", "[\"id\",\"from\",\"text\"]", "object" },
	{ "not JSON", "id=a&from=1&text=x", "JSON" },
	{ "empty body", "", "JSON" },
};

static void
json_malformed_sms_is_refused_naming_the_field(void **state)
{
	struct headers h = { NULL, NULL };
	struct sms_message m;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(json_bad_sms) /
	    sizeof(json_bad_sms[0]); i++) {
		const struct sms_case *c = &json_bad_sms[i];
		struct provider_input in = request("POST", "/v1/sms/gw", NULL,
		    JSON, c->body, &h, JS_T);
		enum provider_verdict v;

		err[0] = '\0';
		v = provider_json.sms_parse(NULL, &in, &m, err, sizeof(err));
		if (v != PROVIDER_BAD_REQUEST ||
		    strstr(err, c->reason) == NULL) {
			print_error("case \"%s\": verdict %d err \"%s\"\n",
			    c->name, v, err);
			fail();
		}
	}
}

/* Jansson quotes the input near an error; none of it may reach err. */
static void
json_errors_never_quote_the_message(void **state)
{
	static const char *const bodies[] = {
		"{\"id\":\"a\",\"from\":\"+84912345678\","
		    "\"text\":\"help me\"x}",
		"{\"id\":\"a\",\"from\":\"+84912345678\",\"text\":\"help me",
		"{\"id\":\"a\",\"from\":\"+84912345678\",\"text\":help}",
		"{\"id\":\"a\",\"+84912345678\":1,\"+84912345678\":2}",
	};
	struct headers h = { NULL, NULL };
	struct sms_message m;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct provider_input in = request("POST", "/v1/sms/gw", NULL,
		    JSON, bodies[i], &h, JS_T);

		err[0] = '\0';
		assert_int_equal(provider_json.sms_parse(NULL, &in, &m, err,
		    sizeof(err)), PROVIDER_BAD_REQUEST);
		assert_true(err[0] != '\0');
		assert_null(strstr(err, "help"));
		assert_null(strstr(err, "8491234"));
	}
}

static void
json_unknown_keys_and_absent_optionals_are_accepted(void **state)
{
	struct headers h = { NULL, NULL };
	struct provider_input in = request("POST", "/v1/sms/gw", NULL, JSON,
	    "{\"id\":\"a\",\"from\":\"+84912345678\",\"text\":\"\","
	    "\"channel\":{\"k\":1}}", &h, JS_T);
	struct sms_message m;
	char err[256];

	(void)state;
	assert_int_equal(provider_json.sms_parse(NULL, &in, &m, err,
	    sizeof(err)), PROVIDER_OK);
	assert_string_equal(m.to, "");
	assert_string_equal(m.text, "");
	assert_string_equal(m.received_at, "");
}

static void
json_ack_says_stored(void **state)
{
	struct provider_reply r;

	(void)state;
	assert_int_equal(provider_json.sms_ack(&r), 0);
	assert_string_equal(r.content_type, "application/json");
	assert_string_equal(r.body, "{\"status\":\"stored\"}");
	assert_string_equal(provider_json.name, "json");
	assert_null(provider_json.ussd_parse);
	assert_null(provider_json.ussd_format);
	assert_string_equal(provider_json.keys[0].name, "secret");
	assert_int_equal(provider_json.keys[0].type, PROVIDER_KEY_SECRET);
	assert_string_equal(provider_json.keys[1].name, "from");
	assert_int_equal(provider_json.keys[1].type, PROVIDER_KEY_STRING);
	assert_false(provider_json.keys[1].required);
	assert_null(provider_json.keys[2].name);
}

static void
twilio_keys_are_declared(void **state)
{
	static const struct {
		const char *name;
		enum provider_key_type type;
		bool required;
	} want[] = {
		{ "account_sid", PROVIDER_KEY_STRING, true },
		{ "auth_token", PROVIDER_KEY_SECRET, true },
		{ "from", PROVIDER_KEY_STRING, false },
		{ "public_url", PROVIDER_KEY_STRING, true },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_string_equal(provider_twilio.keys[i].name,
		    want[i].name);
		assert_int_equal(provider_twilio.keys[i].type, want[i].type);
		assert_int_equal(provider_twilio.keys[i].required,
		    want[i].required);
	}
	assert_null(provider_twilio.keys[i].name);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    twilio_published_vectors_pass_the_signature_check),
		cmocka_unit_test(twilio_fixture_verifies_and_parses_byte_exact),
		cmocka_unit_test(
		    twilio_bad_signatures_and_accounts_are_forbidden),
		cmocka_unit_test(twilio_get_signs_the_url_with_its_query),
		cmocka_unit_test(
		    twilio_body_is_required_for_post_and_optional_for_get),
		cmocka_unit_test(
		    twilio_plus_decodes_to_space_and_percent_2b_to_plus),
		cmocka_unit_test(
		    twilio_wrong_method_or_content_type_is_refused),
		cmocka_unit_test(
		    twilio_malformed_sms_is_refused_naming_the_field),
		cmocka_unit_test(twilio_body_longer_than_the_buffer_is_refused),
		cmocka_unit_test(twilio_ack_is_an_empty_twiml_response),
		cmocka_unit_test(twilio_keys_are_declared),
		cmocka_unit_test(json_fixture_verifies_and_parses_byte_exact),
		cmocka_unit_test(
		    json_timestamp_window_is_300_seconds_either_way),
		cmocka_unit_test(
		    json_malformed_or_wrong_signatures_are_forbidden),
		cmocka_unit_test(
		    json_wrong_secret_or_tampered_body_is_forbidden),
		cmocka_unit_test(json_wrong_content_type_is_unsupported),
		cmocka_unit_test(
		    json_malformed_sms_is_refused_naming_the_field),
		cmocka_unit_test(json_errors_never_quote_the_message),
		cmocka_unit_test(
		    json_unknown_keys_and_absent_optionals_are_accepted),
		cmocka_unit_test(json_ack_says_stored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
