/* Provider adapters from tables: raw request -> verdict and parsed hop;
 * page -> framed reply. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "form.h"
#include "provider.h"

#define FORM "application/x-www-form-urlencoded"

static char *
fixture(const char *name)
{
	static char buf[4096];
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "tests/fixtures/africastalking/%s", name);
	assert_non_null(f = fopen(path, "rb"));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static struct provider_input
input(const char *ctype, const char *body, const char *query,
    const char *peer)
{
	return (struct provider_input){ .method = "POST", .query = query,
	    .content_type = ctype, .body = body, .body_len = strlen(body),
	    .peer = peer };
}

static void
africastalking_fixture_parses(void **state)
{
	struct provider_input in = input(FORM, fixture("ussd_hop.form"), NULL,
	    "127.0.0.1");
	struct ussd_request u;
	char err[256];

	(void)state;
	assert_int_equal(provider_africastalking.ussd_parse(&in, &u, err,
	    sizeof(err)), PROVIDER_OK);
	assert_string_equal(u.session_id, "ATUid_3c9e71b2f0");
	assert_string_equal(u.service_code, "*384*2024#");
	assert_string_equal(u.phone, "+254711000222");
	assert_string_equal(u.network_code, "63902");
	assert_string_equal(u.text, "2*1");

	in = input("application/x-www-form-urlencoded; charset=UTF-8",
	    fixture("ussd_first.form"), NULL, "127.0.0.1");
	assert_int_equal(provider_africastalking.ussd_parse(&in, &u, err,
	    sizeof(err)), PROVIDER_OK);
	assert_string_equal(u.text, "");
}

struct parse_case {
	const char *name;
	const char *ctype;
	const char *body;
	enum provider_verdict verdict;
	const char *reason;	/* substring of err */
};

static const struct parse_case parse_cases[] = {
	{ "json body", "application/json", "{}", PROVIDER_UNSUPPORTED,
	  "Content-Type" },
	{ "no content type", NULL, "sessionId=s", PROVIDER_UNSUPPORTED,
	  "Content-Type" },
	{ "missing sessionId", FORM,
	  "serviceCode=1&phoneNumber=%2B84912345678&text=",
	  PROVIDER_BAD_REQUEST, "sessionId" },
	{ "missing text", FORM,
	  "sessionId=s&serviceCode=1&phoneNumber=%2B84912345678",
	  PROVIDER_BAD_REQUEST, "text" },
	{ "empty sessionId", FORM,
	  "sessionId=&serviceCode=1&phoneNumber=%2B84912345678&text=",
	  PROVIDER_BAD_REQUEST, "sessionId" },
	{ "bad escape", FORM, "sessionId=%G1&serviceCode=1", PROVIDER_BAD_REQUEST,
	  "escape" },
	{ "truncated escape", FORM, "sessionId=s&text=1%2", PROVIDER_BAD_REQUEST,
	  "escape" },
	{ "encoded NUL", FORM, "sessionId=s%00&serviceCode=1",
	  PROVIDER_BAD_REQUEST, "NUL" },
	{ "invalid UTF-8", FORM, "sessionId=s&serviceCode=1&phoneNumber=1"
	  "&text=%C3%28", PROVIDER_BAD_REQUEST, "UTF-8" },
	{ "huge sessionId", FORM, "sessionId=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "&serviceCode=1&phoneNumber=1&text=", PROVIDER_BAD_REQUEST,
	  "longer than" },
};

static void
malformed_hops_are_refused_with_a_reason(void **state)
{
	struct ussd_request u;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]);
	    i++) {
		const struct parse_case *c = &parse_cases[i];
		struct provider_input in = input(c->ctype, c->body, NULL,
		    "127.0.0.1");
		enum provider_verdict v;

		err[0] = '\0';
		v = provider_africastalking.ussd_parse(&in, &u, err,
		    sizeof(err));
		if (v != c->verdict || strstr(err, c->reason) == NULL) {
			print_error("case \"%s\": verdict %d err \"%s\"\n",
			    c->name, v, err);
			fail();
		}
	}
}

static void
replies_are_framed_con_and_end(void **state)
{
	struct provider_reply r;

	(void)state;
	assert_int_equal(provider_africastalking.ussd_format(false,
	    "1. Tieng Viet\n2. English", &r), 0);
	assert_string_equal(r.body, "CON 1. Tieng Viet\n2. English");
	assert_non_null(strstr(r.content_type, "text/plain"));
	assert_int_equal(provider_console.ussd_format(true, "Cam on", &r), 0);
	assert_string_equal(r.body, "END Cam on");
}

static void
console_accepts_only_loopback(void **state)
{
	struct provider_input in;
	char err[256];
	static const char *const ok[] = { "127.0.0.1", "127.1.2.3", "::1",
	    "::ffff:127.0.0.1" };
	static const char *const no[] = { "10.0.0.1", "192.168.1.5", "",
	    "::2", "128.0.0.1", "fe80::1" };

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		in = input(FORM, "", NULL, ok[i]);
		assert_int_equal(provider_console.verify(NULL, &in, err,
		    sizeof(err)), PROVIDER_OK);
	}
	for (size_t i = 0; i < 6; i++) {
		in = input(FORM, "", NULL, no[i]);
		assert_int_equal(provider_console.verify(NULL, &in, err,
		    sizeof(err)), PROVIDER_FORBIDDEN);
	}
	/* Through a reverse proxy every peer is loopback; refuse those. */
	in = input(FORM, "", NULL, "127.0.0.1");
	in.forwarded = true;
	assert_int_equal(provider_console.verify(NULL, &in, err, sizeof(err)),
	    PROVIDER_FORBIDDEN);
	assert_non_null(strstr(err, "proxy"));
}

static void
africastalking_token_and_allowlist(void **state)
{
	char net[] = "10.1.0.0/16", one[] = "192.0.2.7";
	char token[] = "t0k3n-secret", name[] = "at";
	char *allow[] = { net, one };
	struct config_value values[] = {
		{ .name = "callback_token", .value = token },
		{ .name = "allow_ips", .list = allow, .count = 2 },
	};
	struct config_channel ch = { .name = name,
	    .provider = &provider_africastalking, .values = values,
	    .nvalues = 1 };
	struct provider_input in;
	char err[256];

	(void)state;
	in = input(FORM, "", "token=t0k3n-secret", "203.0.113.9");
	assert_int_equal(provider_africastalking.verify(&ch, &in, err,
	    sizeof(err)), PROVIDER_OK);
	in.query = "a=1&token=t0k3n-secret";
	assert_int_equal(provider_africastalking.verify(&ch, &in, err,
	    sizeof(err)), PROVIDER_OK);
	static const char *const bad[] = { NULL, "", "token=", "token=t0k3n",
	    "token=t0k3n-secretX", "token=T0K3N-SECRET", "tok=t0k3n-secret",
	    "token=%ZZ" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		in.query = bad[i];
		assert_int_equal(provider_africastalking.verify(&ch, &in, err,
		    sizeof(err)), PROVIDER_FORBIDDEN);
	}

	ch.nvalues = 2;		/* now with the allowlist */
	in.query = "token=t0k3n-secret";
	in.peer = "10.1.200.3";
	assert_int_equal(provider_africastalking.verify(&ch, &in, err,
	    sizeof(err)), PROVIDER_OK);
	in.peer = "192.0.2.7";
	assert_int_equal(provider_africastalking.verify(&ch, &in, err,
	    sizeof(err)), PROVIDER_OK);
	/* A dual-stack listener names IPv4 peers as mapped addresses. */
	in.peer = "::ffff:10.1.0.9";
	assert_int_equal(provider_africastalking.verify(&ch, &in, err,
	    sizeof(err)), PROVIDER_OK);
	in.peer = "10.2.0.1";
	assert_int_equal(provider_africastalking.verify(&ch, &in, err,
	    sizeof(err)), PROVIDER_FORBIDDEN);
	assert_non_null(strstr(err, "allow_ips"));
	assert_true(provider_address_valid("2001:db8::1"));
	assert_true(provider_address_valid("192.0.2.0/24"));
	assert_false(provider_address_valid("192.0.2.0/33"));
	assert_false(provider_address_valid("192.0.2.0/"));
	assert_false(provider_address_valid("example.org"));
}

static void
form_decodes_plus_percent_and_repeats(void **state)
{
	struct form f;
	char err[128];

	(void)state;
	assert_int_equal(form_parse(&f, "a=1+2&b=%C4%91%E1%BB%A1&a=x&c&&d=",
	    33, err, sizeof(err)), 0);
	assert_string_equal(form_get(&f, "a"), "1 2");
	assert_string_equal(form_get(&f, "b"), "\xc4\x91\xe1\xbb\xa1");
	assert_string_equal(form_get(&f, "c"), "");
	assert_string_equal(form_get(&f, "d"), "");
	assert_null(form_get(&f, "e"));
	assert_int_equal(f.count, 5);
	form_clear(&f);
	assert_int_equal(form_parse(&f, "", 0, err, sizeof(err)), 0);
	assert_int_equal(f.count, 0);
	form_clear(&f);
}

static void
form_refuses_too_many_fields(void **state)
{
	char *big = malloc(FORM_MAX_FIELDS * 4 + 16);
	size_t n = 0;
	struct form f;
	char err[128];

	(void)state;
	assert_non_null(big);
	for (int i = 0; i <= FORM_MAX_FIELDS; i++) {
		memcpy(big + n, "a=1&", 4);
		n += 4;
	}
	assert_int_equal(form_parse(&f, big, n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than"));
	free(big);
}

static void
registry_finds_providers_by_name(void **state)
{
	(void)state;
	assert_ptr_equal(provider_find("console"), &provider_console);
	assert_ptr_equal(provider_find("africastalking"),
	    &provider_africastalking);
	assert_null(provider_find("twillio"));
	assert_non_null(strstr(provider_names(), "africastalking"));
}

/* A reason keeps a provider's code, never its words: words may quote
 * the number or the text (a provider that echoed a counsellor's message
 * put it in the log). */
static void
reason_keeps_codes_and_drops_words(void **state)
{
	char r[40];
	struct send_answer a;

	(void)state;
	provider_reason_set(r, sizeof(r), "UserInBlackList");
	assert_string_equal(r, "UserInBlackList");
	provider_reason_set(r, sizeof(r), "30003");
	assert_string_equal(r, "30003");
	provider_reason_set(r, sizeof(r), "bad +84912345678");
	assert_string_equal(r, "");
	provider_reason_set(r, sizeof(r), "84912345678");
	assert_string_equal(r, "");
	provider_reason_set(r, sizeof(r), "Toi can giup do");
	assert_string_equal(r, "");
	provider_reason_set(r, sizeof(r), "code\nx");
	assert_string_equal(r, "");
	provider_reason_set(r, sizeof(r), "\xe1\xbb\x87");
	assert_string_equal(r, "");
	provider_reason_set(r, sizeof(r), "A23456789012345678901234567890123");
	assert_string_equal(r, "");
	provider_reason_set(r, 4, "abcd");
	assert_string_equal(r, "");
	/* In place, as adapters filter what they read. */
	snprintf(r, sizeof(r), "%s", "InvalidLinkId");
	provider_reason_set(r, sizeof(r), r);
	assert_string_equal(r, "InvalidLinkId");
	snprintf(r, sizeof(r), "%s", "Sent to +84912345678");
	provider_reason_set(r, sizeof(r), r);
	assert_string_equal(r, "");

	provider_send_reason(&a, 400, "21211");
	assert_string_equal(a.reason, "HTTP 400 21211");
	provider_send_reason(&a, 422, "bad_text");
	assert_string_equal(a.reason, "HTTP 422 bad_text");
	provider_send_reason(&a, 400, "Invalid message: Toi can giup do");
	assert_string_equal(a.reason, "HTTP 400");
	provider_send_reason(&a, 403, NULL);
	assert_string_equal(a.reason, "HTTP 403");
}

static void
form_encode_escapes_all_but_unreserved(void **state)
{
	const char *pairs[] = { "to", "+84 9", "m", "a&b=c~ đ", "skip", NULL };
	size_t len;
	char *s = form_encode(pairs, 3, &len);

	(void)state;
	assert_non_null(s);
	assert_string_equal(s, "to=%2B84+9&m=a%26b%3Dc~+%C4%91");
	assert_int_equal(len, strlen(s));
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(africastalking_fixture_parses),
		cmocka_unit_test(malformed_hops_are_refused_with_a_reason),
		cmocka_unit_test(replies_are_framed_con_and_end),
		cmocka_unit_test(console_accepts_only_loopback),
		cmocka_unit_test(africastalking_token_and_allowlist),
		cmocka_unit_test(form_decodes_plus_percent_and_repeats),
		cmocka_unit_test(form_refuses_too_many_fields),
		cmocka_unit_test(registry_finds_providers_by_name),
		cmocka_unit_test(reason_keeps_codes_and_drops_words),
		cmocka_unit_test(form_encode_escapes_all_but_unreserved),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
