/*
 * Vonage (formerly Nexmo) SMS API inbound messages,
 * reference/aggregators.md §3.1.  Vonage calls the webhook with GET (a
 * query), POST (a form) or POST-JSON, as chosen in its dashboard; all
 * three carry the same flat names, so each is read into one list of
 * (name, value) pairs and handled alike from there on.
 *
 * Authenticity.  The SMS API signs webhooks only once Vonage support has
 * enabled signing for the account; the channel then sets
 * signature_secret, and signature_method as chosen in the dashboard
 * (default "MD5 hash", md5hash here).  A channel without
 * signature_secret accepts every request: the SMS API offers no other
 * proof of origin (no token, no published address list that is kept up
 * to date), so such a channel rests on an unguessable webhook path, TLS,
 * and messageId idempotency against replays.
 *
 * The signature (§3.1): leave out sig; sort the rest by name; in each
 * value replace '&' and '=' by '_'; join as "&name=value&name=value";
 * then the lowercase hex of md5(string + secret) for md5hash, or of
 * HMAC(secret, string) with MD5, SHA-1, SHA-256 or SHA-512.  Where the
 * sources disagree every variant is tried, because a genuine message
 * refused is re-sent for 24 hours and then lost, while each extra
 * candidate only gives a forger one more 2^-128 chance:
 *  - md5hash: the docs append "&" + secret; the Java SDK (whose test
 *    vector §3.1 quotes) and the python SDK append the bare secret;
 *  - blank values: the Java SDK leaves out parameters whose value is
 *    empty or blank; the docs and the python SDK keep them;
 *  - case: the Ruby SDK writes HMACs in uppercase hex; the Java and
 *    python SDKs compare case-insensitively, and so does this.
 * The signed timestamp must lie within 5 minutes of our clock, as the
 * Java SDK enforces (§3.1), so a captured request does not verify later.
 */
#include "provider.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "config.h"
#include "form.h"
#include "phone.h"
#include "privacy.h"
#include "smstext.h"

#define VG_FORM "application/x-www-form-urlencoded"
#define VG_JSON "application/json"
/* How far the signed timestamp may be from our clock, either way. */
#define VG_SKEW_SECONDS 300
/* Enough for any date until the year 33658; keeps t far from overflow. */
#define VG_TS_DIGITS_MAX 12
/* Hex of the longest digest, SHA-512. */
#define VG_HEX_MAX (2 * EVP_MAX_MD_SIZE)
/* concat-total and concat-part are one octet each in the UDH. */
#define VG_CONCAT_MAX 255
/* A JSON integer as decimal text: "-9223372036854775808" and a NUL. */
#define VG_NUM_LEN 24
#define VG_API "https://rest.nexmo.com"
#define VG_SEND_PATH "/sms/json"

static const struct provider_key vg_keys[] = {
	{ "api_key", PROVIDER_KEY_STRING, true },
	{ "api_secret", PROVIDER_KEY_SECRET, true },
	{ "from", PROVIDER_KEY_STRING, false },
	{ "signature_secret", PROVIDER_KEY_SECRET, false },
	{ "signature_method", PROVIDER_KEY_STRING, false },
	{ NULL, PROVIDER_KEY_STRING, false },
};

/* The names Vonage sends (§3.1): an error may name these, never a name
 * the sender made up. */
static const char *const vg_names[] = {
	"msisdn", "to", "messageId", "text", "type", "keyword",
	"message-timestamp", "timestamp", "nonce", "sig", "concat",
	"concat-ref", "concat-total", "concat-part", "data", "udh",
	/* delivery receipts (§3.1) */
	"status", "err-code", "network-code", "price", "scts", "client-ref",
};

/* The dashboard's "MD5 hash", "MD5 HMAC" … "SHA-512 HMAC", spelled as the
 * Vonage Ruby SDK spells its signature_method. */
struct vg_method {
	const char *name;
	const EVP_MD *(*md)(void);
	bool hmac;
};

static const struct vg_method vg_methods[] = {
	{ "md5hash", EVP_md5, false },
	{ "md5", EVP_md5, true },
	{ "sha1", EVP_sha1, true },
	{ "sha256", EVP_sha256, true },
	{ "sha512", EVP_sha512, true },
};

/*
 * The request's parameters however they came.  For a GET or a form the
 * pairs and their bytes live in form; for JSON, form.storage is NULL and
 * the pairs point into root (strings) or into num (integers, booleans).
 */
struct vg_params {
	struct form form;
	json_t *root;
	char num[FORM_MAX_FIELDS][VG_NUM_LEN];
};

static void
vg_params_clear(struct vg_params *p)
{
	form_clear(&p->form);
	json_decref(p->root);
	p->root = NULL;
}

static const char *
vg_known(const char *name)
{
	for (size_t i = 0; i < sizeof(vg_names) / sizeof(vg_names[0]); i++)
		if (strcmp(name, vg_names[i]) == 0)
			return vg_names[i];
	return NULL;
}

/*
 * A POST-JSON body as pairs.  Strings are taken as they are; integers
 * and booleans as their JSON text, which is what the Java SDK's
 * verifier (Jackson into a Map<String, String>) signs; null as absent,
 * as there.  Anything else has no agreed text to sign and is refused.
 */
static enum provider_verdict
vg_params_json(const struct provider_input *in, struct vg_params *p,
    char *err, size_t errlen)
{
	json_error_t jerr;
	void *it;

	if (in->body == NULL) {
		snprintf(err, errlen, "empty body: expected a JSON object");
		return PROVIDER_BAD_REQUEST;
	}
	p->root = json_loadb(in->body, in->body_len,
	    JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (p->root == NULL) {
		/* Jansson's text may quote the input: never passed on. */
		if (json_error_code(&jerr) == json_error_duplicate_key)
			snprintf(err, errlen, "duplicate key in the JSON body");
		else
			snprintf(err, errlen, "body is not valid JSON "
			    "(line %d, column %d)", jerr.line, jerr.column);
		return PROVIDER_BAD_REQUEST;
	}
	if (!json_is_object(p->root)) {
		snprintf(err, errlen, "body must be a JSON object");
		return PROVIDER_BAD_REQUEST;
	}
	for (it = json_object_iter(p->root); it != NULL;
	    it = json_object_iter_next(p->root, it)) {
		const char *key = json_object_iter_key(it);
		const char *known = vg_known(key);
		json_t *v = json_object_iter_value(it);
		struct form_field *fl;
		char *num;

		if (strlen(key) != json_object_iter_key_len(it)) {
			snprintf(err, errlen, "a JSON key contains a NUL "
			    "character");
			return PROVIDER_BAD_REQUEST;
		}
		if (json_is_null(v))
			continue;
		if (p->form.count == FORM_MAX_FIELDS) {
			snprintf(err, errlen, "more than %d fields",
			    FORM_MAX_FIELDS);
			return PROVIDER_BAD_REQUEST;
		}
		fl = &p->form.fields[p->form.count];
		num = p->num[p->form.count];
		fl->name = key;
		switch (json_typeof(v)) {
		case JSON_STRING:
			/* Loaded with JSON_ALLOW_NUL so that this, not
			 * Jansson, refuses a \u0000 and names the field. */
			if (strlen(json_string_value(v)) !=
			    json_string_length(v)) {
				snprintf(err, errlen, "field %s contains a NUL "
				    "character", known ? known : "(unknown)");
				return PROVIDER_BAD_REQUEST;
			}
			fl->value = json_string_value(v);
			break;
		case JSON_INTEGER:
			snprintf(num, VG_NUM_LEN, "%" JSON_INTEGER_FORMAT,
			    json_integer_value(v));
			fl->value = num;
			break;
		case JSON_TRUE:
			fl->value = "true";
			break;
		case JSON_FALSE:
			fl->value = "false";
			break;
		case JSON_NULL:		/* skipped above */
		case JSON_REAL:
		case JSON_OBJECT:
		case JSON_ARRAY:
			snprintf(err, errlen, "field %s must be a string",
			    known ? known : "(unknown)");
			return PROVIDER_BAD_REQUEST;
		}
		p->form.count++;
	}
	return PROVIDER_OK;
}

/*
 * The parameters of a GET query, a form POST or a JSON POST.  A name
 * given twice is refused: the signature and the parser could otherwise
 * read different values, and Vonage never repeats one.  On success the
 * caller clears p.
 */
static enum provider_verdict
vg_params_load(const struct provider_input *in, struct vg_params *p,
    char *err, size_t errlen)
{
	enum provider_verdict v = PROVIDER_OK;
	const char *s = NULL;
	size_t len = 0;
	bool get = false;
	char why[128];

	memset(&p->form, 0, sizeof(p->form));
	p->root = NULL;
	if (in->method != NULL && strcmp(in->method, "GET") == 0) {
		s = in->query != NULL ? in->query : "";
		len = strlen(s);
		get = true;
	} else if (in->method == NULL || strcmp(in->method, "POST") != 0) {
		snprintf(err, errlen, "method must be GET or POST, as set for "
		    "the webhook at Vonage");
		return PROVIDER_BAD_REQUEST;
	} else if (provider_content_type_is(in->content_type, VG_JSON)) {
		v = vg_params_json(in, p, err, errlen);
	} else if (provider_content_type_is(in->content_type, VG_FORM)) {
		s = in->body != NULL ? in->body : "";
		len = in->body != NULL ? in->body_len : 0;
	} else {
		snprintf(err, errlen, "Content-Type must be " VG_FORM " or "
		    VG_JSON);
		return PROVIDER_UNSUPPORTED;
	}
	if (s != NULL && form_parse(&p->form, s, len, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "malformed %s: %s", get ?
		    "query string" : "form body", why);
		v = PROVIDER_BAD_REQUEST;
	}
	/* The signed string is "&name=value…" with '&' and '=' in values
	 * replaced: a name holding either could re-split it.  Vonage's
	 * names never do. */
	for (size_t i = 0; v == PROVIDER_OK && i < p->form.count; i++)
		if (strpbrk(p->form.fields[i].name, "&=") != NULL) {
			snprintf(err, errlen, "a parameter name contains '&' "
			    "or '='");
			v = PROVIDER_BAD_REQUEST;
		}
	for (size_t i = 0; v == PROVIDER_OK && i < p->form.count; i++)
		for (size_t j = i + 1; j < p->form.count; j++)
			if (strcmp(p->form.fields[i].name,
			    p->form.fields[j].name) == 0) {
				const char *known =
				    vg_known(p->form.fields[i].name);

				snprintf(err, errlen, "parameter %s appears "
				    "more than once", known ? known :
				    "(unknown)");
				v = PROVIDER_BAD_REQUEST;
				break;
			}
	if (v != PROVIDER_OK)
		vg_params_clear(p);
	return v;
}

/* Java's String.trim() strips every char up to U+0020. */
static bool
vg_blank(const char *v)
{
	for (; *v != '\0'; v++)
		if ((unsigned char)*v > 0x20)
			return false;
	return true;
}

/* Byte order, which for UTF-8 is code-point order. */
static int
vg_name_cmp(const void *a, const void *b)
{
	const struct form_field *x = *(const struct form_field *const *)a;
	const struct form_field *y = *(const struct form_field *const *)b;

	return strcmp(x->name, y->name);
}

/*
 * "&name=value…" sorted by name, without sig, '&' and '=' in values
 * replaced by '_' (names come from the form decoder or from JSON keys;
 * Vonage's never hold either).  drop_blank leaves out blank values, as
 * the Java SDK does.  Returns a string the caller frees, NULL when out
 * of memory.
 */
static char *
vg_sign_string(const struct form *f, bool drop_blank, size_t *lenp)
{
	const struct form_field *sorted[FORM_MAX_FIELDS];
	size_t n = 0, len = 0, used = 0;
	char *s;

	for (size_t i = 0; i < f->count; i++) {
		const struct form_field *fl = &f->fields[i];

		if (strcmp(fl->name, "sig") == 0 ||
		    (drop_blank && vg_blank(fl->value)))
			continue;
		sorted[n++] = fl;
		len += 2 + strlen(fl->name) + strlen(fl->value);
	}
	qsort(sorted, n, sizeof(sorted[0]), vg_name_cmp);
	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(sorted[i]->name);

		s[used++] = '&';
		memcpy(s + used, sorted[i]->name, nl);
		used += nl;
		s[used++] = '=';
		for (const char *c = sorted[i]->value; *c != '\0'; c++)
			s[used++] = *c == '&' || *c == '=' ? '_' : *c;
	}
	s[used] = '\0';
	*lenp = used;
	return s;
}

/*
 * The lowercase hex of one candidate signature of s[0..len) into out:
 * HMAC(secret, s), or for md5hash md5(s + ["&"] + secret).  Returns 0,
 * or -1 when OpenSSL fails.
 */
static int
vg_digest(const struct vg_method *m, const char *secret, const char *s,
    size_t len, bool amp, char out[VG_HEX_MAX + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t slen = strlen(secret);
	EVP_MD_CTX *ctx;
	int rc = -1;

	if (m->hmac) {
		if (slen > INT_MAX || HMAC(m->md(), secret, (int)slen,
		    (const unsigned char *)s, len, md, &mdlen) == NULL)
			goto done;
	} else {
		bool ok;

		if ((ctx = EVP_MD_CTX_new()) == NULL)
			goto done;
		ok = EVP_DigestInit_ex(ctx, m->md(), NULL) == 1 &&
		    EVP_DigestUpdate(ctx, s, len) == 1 &&
		    (!amp || EVP_DigestUpdate(ctx, "&", 1) == 1) &&
		    EVP_DigestUpdate(ctx, secret, slen) == 1 &&
		    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
		EVP_MD_CTX_free(ctx);
		if (!ok)
			goto done;
	}
	for (unsigned int i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[2 * mdlen] = '\0';
	rc = 0;
done:
	OPENSSL_cleanse(md, sizeof(md));
	return rc;
}

/* Does sig match any variant (see the top of the file)?  -1 when a
 * candidate cannot be computed. */
static int
vg_sig_matches(const struct form *f, const struct vg_method *m,
    const char *secret, const char *given)
{
	char want[VG_HEX_MAX + 1];
	bool blank = false, match = false;
	int rc = 0;

	for (size_t i = 0; i < f->count; i++)
		if (strcmp(f->fields[i].name, "sig") != 0 &&
		    vg_blank(f->fields[i].value))
			blank = true;
	/* Pass 0 drops blank values (Java); pass 1, needed only when there
	 * are some, keeps them (docs, python). */
	for (int pass = 0; pass < (blank ? 2 : 1) && !match && rc == 0;
	    pass++) {
		size_t len;
		char *s = vg_sign_string(f, pass == 0, &len);

		if (s == NULL)
			return -1;
		for (int amp = 0; amp < (m->hmac ? 1 : 2) && !match; amp++) {
			if (vg_digest(m, secret, s, len, amp == 1, want) < 0) {
				rc = -1;
				break;
			}
			match = privacy_equal(given, want);
		}
		free(s);
	}
	OPENSSL_cleanse(want, sizeof(want));
	return rc < 0 ? -1 : match;
}

static enum provider_verdict
vg_check(const struct form *f, const struct vg_method *m, const char *secret,
    time_t now_t, char *err, size_t errlen)
{
	const char *sig = form_get(f, "sig");
	const char *ts = form_get(f, "timestamp");
	char given[VG_HEX_MAX + 1];
	long long t = 0, now = now_t;
	size_t n;
	int match;

	if (sig == NULL) {
		snprintf(err, errlen, "missing sig: the channel sets "
		    "signature_secret, but Vonage signs only once its "
		    "support enables signing for the account");
		return PROVIDER_FORBIDDEN;
	}
	if (ts == NULL) {
		snprintf(err, errlen, "missing timestamp beside sig");
		return PROVIDER_FORBIDDEN;
	}
	/* Hex is case-insensitive; the Ruby SDK writes it uppercase. */
	n = strnlen(sig, VG_HEX_MAX + 1);
	if (n > VG_HEX_MAX)
		n = 0;
	for (size_t i = 0; i < n; i++)
		given[i] = sig[i] >= 'A' && sig[i] <= 'F' ?
		    (char)(sig[i] - 'A' + 'a') : sig[i];
	given[n] = '\0';
	if ((match = vg_sig_matches(f, m, secret, given)) < 0) {
		snprintf(err, errlen, "cannot compute the signature (out of "
		    "memory)");
		return PROVIDER_FORBIDDEN;
	}
	if (!match) {
		snprintf(err, errlen, "sig does not match: check the "
		    "channel's signature_secret and signature_method against "
		    "the Vonage dashboard");
		return PROVIDER_FORBIDDEN;
	}
	/* Checked after the signature, so that only a genuine sender hears
	 * about the clocks. */
	for (n = 0; ts[n] >= '0' && ts[n] <= '9' && n < VG_TS_DIGITS_MAX; n++)
		t = t * 10 + (ts[n] - '0');
	if (n == 0 || ts[n] != '\0') {
		snprintf(err, errlen, "timestamp must be unix seconds");
		return PROVIDER_FORBIDDEN;
	}
	/* A clock before 1970 is broken and reads as "t in the future". */
	if (now >= t && now - t > VG_SKEW_SECONDS) {
		snprintf(err, errlen, "signed timestamp is more than %d s old: "
		    "a replay, or check Vonage's and this host's clocks",
		    VG_SKEW_SECONDS);
		return PROVIDER_FORBIDDEN;
	}
	if (now < t && (now < 0 || t - now > VG_SKEW_SECONDS)) {
		snprintf(err, errlen, "signed timestamp is more than %d s in "
		    "the future: check Vonage's and this host's clocks",
		    VG_SKEW_SECONDS);
		return PROVIDER_FORBIDDEN;
	}
	return PROVIDER_OK;
}

static enum provider_verdict
vg_verify(const struct config_channel *ch, const struct provider_input *in,
    char *err, size_t errlen)
{
	const char *secret = config_channel_value(ch, "signature_secret");
	const char *method = config_channel_value(ch, "signature_method");
	const struct vg_method *m = NULL;
	enum provider_verdict v;
	struct vg_params p;

	if (secret == NULL) {
		if (method != NULL) {
			snprintf(err, errlen, "signature_method is set but "
			    "signature_secret is not: set both, or neither");
			return PROVIDER_FORBIDDEN;
		}
		/* Unsigned: see the top of the file. */
		return PROVIDER_OK;
	}
	/* An empty secret must not become a key anyone knows. */
	if (secret[0] == '\0') {
		snprintf(err, errlen, "signature_secret is empty");
		return PROVIDER_FORBIDDEN;
	}
	for (size_t i = 0; i < sizeof(vg_methods) / sizeof(vg_methods[0]);
	    i++)
		if (strcmp(method != NULL ? method : "md5hash",
		    vg_methods[i].name) == 0)
			m = &vg_methods[i];
	if (m == NULL) {
		snprintf(err, errlen, "signature_method must be md5hash, md5, "
		    "sha1, sha256 or sha512 (MD5 hash or the HMAC chosen in "
		    "the Vonage dashboard)");
		return PROVIDER_FORBIDDEN;
	}
	if ((v = vg_params_load(in, &p, err, errlen)) != PROVIDER_OK)
		return v;
	v = vg_check(&p.form, m, secret, in->now, err, errlen);
	vg_params_clear(&p);
	return v;
}

/* 1 to 255 in decimal digits. */
static bool
vg_part_number(const struct form *f, const char *name, unsigned *out,
    char *err, size_t errlen)
{
	const char *v = form_get(f, name);
	unsigned n = 0;
	size_t i;

	if (v == NULL) {
		snprintf(err, errlen, "missing field %s (concat is true)",
		    name);
		return false;
	}
	for (i = 0; v[i] >= '0' && v[i] <= '9' && n <= VG_CONCAT_MAX; i++)
		n = n * 10 + (unsigned)(v[i] - '0');
	if (i == 0 || v[i] != '\0' || n == 0 || n > VG_CONCAT_MAX) {
		snprintf(err, errlen, "field %s must be a number from 1 to %d",
		    name, VG_CONCAT_MAX);
		return false;
	}
	*out = n;
	return true;
}

/*
 * One part of a long message (§3.1: Vonage does not join them).  The
 * parts are joined by the caller from concat_ref; here they are only
 * read and checked for sense.
 */
static bool
vg_concat(const struct form *f, struct sms_message *out, char *err,
    size_t errlen)
{
	const char *c = form_get(f, "concat");

	if (c == NULL || strcmp(c, "false") == 0)
		return true;
	if (strcmp(c, "true") != 0) {
		snprintf(err, errlen, "field concat must be true or false");
		return false;
	}
	if (!provider_form_copy(f, "concat-ref", out->concat_ref,
	    sizeof(out->concat_ref), true, err, errlen) ||
	    !vg_part_number(f, "concat-total", &out->concat_total, err,
	    errlen) ||
	    !vg_part_number(f, "concat-part", &out->concat_part, err, errlen))
		return false;
	if (out->concat_ref[0] == '\0') {
		snprintf(err, errlen, "field concat-ref is empty");
		return false;
	}
	if (out->concat_part > out->concat_total) {
		snprintf(err, errlen, "field concat-part is greater than "
		    "concat-total");
		return false;
	}
	return true;
}

/*
 * messageId, msisdn, to, text, message-timestamp; type, keyword and
 * nonce are not needed.  msisdn is international digits without '+'
 * for every country (§3.1: "2349067554729", "85512345678"), read as
 * such, never against the channel's default country: a survivor abroad
 * on a foreign SIM refused would be re-sent for 24 hours and lost.
 * message-timestamp is UTC (§3.1), kept as RFC 3339.  A binary message
 * (type binary: data and udh in hex, no text) is refused: there is
 * nothing a counsellor could read.
 */
static enum provider_verdict
vg_sms_parse(const struct config_channel *ch, const struct provider_input *in,
    struct sms_message *out, char *err, size_t errlen)
{
	enum provider_verdict v;
	struct vg_params p;
	const char *type;
	char msisdn[40], stamp[40];
	bool ok;

	(void)ch;
	memset(out, 0, sizeof(*out));
	if ((v = vg_params_load(in, &p, err, errlen)) != PROVIDER_OK)
		return v;
	ok = provider_form_copy(&p.form, "messageId", out->id, sizeof(out->id),
	    true, err, errlen) &&
	    provider_form_copy(&p.form, "msisdn", msisdn, sizeof(msisdn),
	    true, err, errlen) &&
	    provider_form_copy(&p.form, "to", out->to, sizeof(out->to), false,
	    err, errlen);
	type = form_get(&p.form, "type");
	if (ok && type != NULL && strcmp(type, "binary") == 0) {
		snprintf(err, errlen, "type binary carries no text: only "
		    "text and unicode messages are taken");
		ok = false;
	}
	ok = ok &&
	    provider_form_copy(&p.form, "text", out->text, sizeof(out->text),
	    true, err, errlen) &&
	    provider_form_copy(&p.form, "message-timestamp", stamp,
	    sizeof(stamp), false, err, errlen) &&
	    vg_concat(&p.form, out, err, errlen);
	vg_params_clear(&p);
	if (!ok)
		return PROVIDER_BAD_REQUEST;
	/* The id is the idempotency key; an empty one would merge
	 * messages. */
	if (out->id[0] == '\0') {
		snprintf(err, errlen, "field messageId is empty");
		return PROVIDER_BAD_REQUEST;
	}
	if (msisdn[0] == '\0') {
		snprintf(err, errlen, "field msisdn is empty");
		return PROVIDER_BAD_REQUEST;
	}
	if (!phone_from_intl_digits(msisdn, NULL, 8, 15, out->from,
	    sizeof(out->from))) {
		snprintf(err, errlen, "field msisdn must be the sender's "
		    "international number, digits without '+'");
		return PROVIDER_BAD_REQUEST;
	}
	provider_time_space(stamp, "+00:00", out->received_at,
	    sizeof(out->received_at));
	return PROVIDER_OK;
}

/* Delivery receipt: messageId, status, err-code, client-ref.  "unknown" tells
 * nothing new, so it counts as sent, which never moves a status back. */
static enum provider_verdict
vg_dlr_parse(const struct config_channel *ch, const struct provider_input *in,
    struct dlr_report *out, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		enum dlr_status status;
	} statuses[] = {
		{ "accepted", DLR_SENT }, { "buffered", DLR_SENT },
		{ "unknown", DLR_SENT }, { "delivered", DLR_DELIVERED },
		{ "expired", DLR_FAILED }, { "failed", DLR_FAILED },
		{ "rejected", DLR_FAILED },
	};
	enum provider_verdict v;
	struct vg_params p;
	char status[128];
	const char *ref;
	size_t n;
	bool ok;

	(void)ch;
	memset(out, 0, sizeof(*out));
	if ((v = vg_params_load(in, &p, err, errlen)) != PROVIDER_OK)
		return v;
	ok = provider_form_copy(&p.form, "messageId", out->provider_ref,
	    sizeof(out->provider_ref), true, err, errlen) &&
	    provider_form_copy(&p.form, "status", status, sizeof(status), true,
	    err, errlen) &&
	    provider_form_copy(&p.form, "err-code", out->reason,
	    sizeof(out->reason), false, err, errlen);
	/* Our send_key, echoed.  The receipt webhook is the account's, so
	 * another sender's client-ref may come here: one that cannot be
	 * ours is left out, not refused (Vonage would re-send it all day). */
	ref = form_get(&p.form, "client-ref");
	if (ref != NULL && (n = strlen(ref)) < sizeof(out->send_key) &&
	    smstext_utf8_valid(ref, n))
		memcpy(out->send_key, ref, n + 1);
	vg_params_clear(&p);
	if (!ok)
		return PROVIDER_BAD_REQUEST;
	/* A code is kept, never words: a reason is logged and stored. */
	provider_reason_set(out->reason, sizeof(out->reason), out->reason);
	if (out->provider_ref[0] == '\0') {
		snprintf(err, errlen, "field messageId is empty");
		return PROVIDER_BAD_REQUEST;
	}
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (strcmp(status, statuses[i].name) == 0) {
			out->status = statuses[i].status;
			return PROVIDER_OK;
		}
	/* A status §3.1 does not list: refused, Vonage would re-send it
	 * for 24 hours.  Taken as unknown, named when it is a code. */
	out->status = DLR_UNKNOWN;
	provider_reason_set(out->status_code, sizeof(out->status_code),
	    status);
	return PROVIDER_OK;
}

/* Vonage wants a 200 (or 204); anything else is re-sent for 24 h. */
static int
vg_sms_ack(struct provider_reply *out)
{
	out->content_type = "text/plain";
	snprintf(out->body, sizeof(out->body), "OK");
	return 0;
}

/*
 * Send (§3.1 "Outbound"): a form post to /sms/json under the channel's
 * send_url (the API base), else rest.nexmo.com.  The key and secret go in
 * the body, as the SMS API wants them; `to` is the number without its
 * '+'.  client-ref carries our send_key into the delivery receipt.
 */
static int
vg_send_build(const struct config_channel *ch, const struct send_request *req,
    struct send_http *out, char *err, size_t errlen)
{
	const char *key = config_channel_value(ch, "api_key");
	const char *secret = config_channel_value(ch, "api_secret");
	const char *from = config_channel_value(ch, "from");
	const char *base = ch->send_url != NULL ? ch->send_url : VG_API;
	const char *pairs[] = {
		"api_key", key,
		"api_secret", secret,
		"from", from,
		"to", req->to[0] == '+' ? req->to + 1 : req->to,
		"text", req->text,
		"type", req->unicode ? "unicode" : "text",
		"client-ref", req->send_key,
		"status-report-req", "1",
	};

	memset(out, 0, sizeof(*out));
	if (key == NULL || secret == NULL) {
		snprintf(err, errlen, "channel needs api_key and api_secret to "
		    "send");
		goto fail;
	}
	/* Vonage refuses a message without a sender; say so here, where
	 * the fix can be named. */
	if (from == NULL || from[0] == '\0') {
		snprintf(err, errlen, "channel needs a from key (the Vonage "
		    "number or sender name) to send");
		goto fail;
	}
	if (!phone_is_e164(req->to)) {
		snprintf(err, errlen, "recipient is not an E.164 number");
		goto fail;
	}
	if (!provider_url_join(out->url, sizeof(out->url), base,
	    VG_SEND_PATH)) {
		snprintf(err, errlen, "send_url is too long: the send URL "
		    "holds at most %zu bytes", sizeof(out->url) - 1);
		goto fail;
	}
	snprintf(out->headers[0], sizeof(out->headers[0]),
	    "Accept: application/json");
	out->nheaders = 1;
	out->content_type = VG_FORM;
	out->body = form_encode(pairs, sizeof(pairs) / sizeof(pairs[0]) / 2,
	    &out->body_len);
	if (out->body == NULL) {
		snprintf(err, errlen, "out of memory framing the send");
		goto fail;
	}
	return 0;
fail:
	provider_send_http_clear(out);
	return -1;
}

/*
 * messages[0] of a 2xx answer: {"message-count":"1","messages":[{"to":…,
 * "message-id":…,"status":"0",…}]}.  Status "0" is taken; 1 Throttled
 * and 5 Internal Error may pass later; the rest (… 14 Invalid Signature
 * … 33 Number De-activated) will not.  A long text goes in parts, one
 * entry each: the first part's fate and id stand for the message.
 */
static void
vg_send_message(const json_t *root, long http, struct send_answer *out)
{
	const json_t *m = json_array_get(json_object_get(root, "messages"), 0);
	const json_t *st = json_object_get(m, "status");
	const char *status, *id;
	char num[VG_NUM_LEN];

	/* The SMS API writes the status as a string; an integer would do
	 * as well. */
	if (json_is_integer(st)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(st));
		status = num;
	} else
		status = json_string_value(st);
	if (status == NULL || status[0] == '\0') {
		out->verdict = SEND_UNKNOWN;
		snprintf(out->reason, sizeof(out->reason),
		    "unreadable answer: no messages[0].status");
		return;
	}
	if (strcmp(status, "0") == 0) {
		id = json_string_value(json_object_get(m, "message-id"));
		if (id == NULL || id[0] == '\0' ||
		    strlen(id) >= sizeof(out->provider_ref)) {
			out->verdict = SEND_UNKNOWN;
			snprintf(out->reason, sizeof(out->reason),
			    "unreadable answer: accepted without a usable "
			    "message-id");
			return;
		}
		out->verdict = SEND_ACCEPTED;
		memcpy(out->provider_ref, id, strlen(id) + 1);
		return;
	}
	out->verdict = strcmp(status, "1") == 0 || strcmp(status, "5") == 0 ?
	    SEND_RETRY : SEND_REJECTED;
	/* The status code only: error-text may quote the number. */
	provider_send_reason(out, http, status);
}

static void
vg_send_parse(const struct config_channel *ch, long status, const char *body,
    size_t body_len, struct send_answer *out)
{
	json_t *root;

	(void)ch;
	memset(out, 0, sizeof(*out));
	if (status < 200 || status > 299) {
		/* 429 and 5xx are the outbox's to retry; should one reach
		 * here, it is still not a refusal. */
		out->verdict = status == 429 || status >= 500 ? SEND_RETRY :
		    SEND_REJECTED;
		provider_send_reason(out, status, NULL);
		return;
	}
	root = body != NULL ? json_loadb(body, body_len, 0, NULL) : NULL;
	vg_send_message(root, status, out);
	json_decref(root);
}

const struct provider provider_vonage = {
	.name = "vonage",
	.keys = vg_keys,
	.verify = vg_verify,
	.ussd_parse = NULL,
	.ussd_format = NULL,
	.sms_parse = vg_sms_parse,
	.sms_ack = vg_sms_ack,
	.dlr_parse = vg_dlr_parse,
	.send_build = vg_send_build,
	.send_parse = vg_send_parse,
	.send_idempotent = false,
	.default_rate_per_second = 30,
};
