/*
 * smstext: UTF-8 validity, GSM-7 / UCS-2 cost, the USSD ceiling and
 * Vietnamese folding.  Tables first; each row names what it checks so a
 * failure says which case broke.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smstext.h"

#define NROWS(a) (sizeof(a) / sizeof((a)[0]))

/* The sentence from aggregators.md 5.4, precomposed and decomposed. */
#define SENTENCE_NFC "Bạn không đơn độc. Gọi 111 miễn phí, 24/7."
#define SENTENCE_NFD "Ba\u0323n kho\u0302ng \u0111o\u031bn " \
	"\u0111o\u0323\u0302c. Go\u0323i 111 mie\u0302\u0303n " \
	"phi\u0301, 24/7."
#define SENTENCE_FOLDED "Ban khong don doc. Goi 111 mien phi, 24/7."

struct utf8_case {
	const char *name;
	const char *bytes;
	size_t len;
	bool valid;
};

#define U8(name, lit, valid) { name, lit, sizeof(lit) - 1, valid }

static const struct utf8_case utf8_cases[] = {
	U8("empty", "", true),
	U8("ascii", "Goi 111", true),
	U8("vietnamese precomposed", SENTENCE_NFC, true),
	U8("vietnamese decomposed", SENTENCE_NFD, true),
	U8("emoji, four bytes", "\xf0\x9f\x98\x80", true),
	U8("last scalar U+10FFFF", "\xf4\x8f\xbf\xbf", true),
	U8("U+D7FF just below surrogates", "\xed\x9f\xbf", true),
	U8("U+E000 just above surrogates", "\xee\x80\x80", true),
	U8("overlong two-byte slash", "\xc0\xaf", false),
	U8("overlong C1 lead", "\xc1\xbf", false),
	U8("overlong three-byte slash", "\xe0\x80\xaf", false),
	U8("overlong four-byte slash", "\xf0\x80\x80\xaf", false),
	U8("high surrogate U+D800", "\xed\xa0\x80", false),
	U8("low surrogate U+DFFF", "\xed\xbf\xbf", false),
	U8("truncated two-byte at end", "ab\xc3", false),
	U8("truncated three-byte (a-dot-below)", "B\xe1\xba", false),
	U8("truncated four-byte", "\xf0\x9f\x98", false),
	U8("truncated then ascii", "\xe1\xbax", false),
	U8("above U+10FFFF via F4 90", "\xf4\x90\x80\x80", false),
	U8("above U+10FFFF via F5 lead", "\xf5\x80\x80\x80", false),
	U8("lone continuation byte", "a\x80", false),
	U8("FE byte", "\xfe", false),
	U8("FF byte", "\xff", false),
	U8("embedded NUL", "a\0b", false),
	U8("trailing NUL inside len", "ab\0", false),
	/* The length, not the bytes after it, decides. */
	{ "sequence cut by len, rest beyond it", "\xc3\xa9", 1, false },
	{ "four-byte cut by len", "\xf0\x9f\x98\x80", 3, false },
};

static void
utf8_validity_follows_unicode_d92(void **state)
{
	const struct utf8_case *c;
	char *copy;
	size_t i;
	bool got;

	(void)state;
	for (i = 0; i < NROWS(utf8_cases); i++) {
		c = &utf8_cases[i];
		/* An exact-size heap copy, so AddressSanitizer catches a
		 * read past len that the literal's NUL would hide. */
		copy = malloc(c->len > 0 ? c->len : 1);
		assert_non_null(copy);
		memcpy(copy, c->bytes, c->len);
		got = smstext_utf8_valid(copy, c->len);
		free(copy);
		if (got != c->valid)
			fail_msg("%s: expected %s", c->name,
			    c->valid ? "valid" : "invalid");
	}
}

static void
utf8_null_is_invalid(void **state)
{
	(void)state;
	assert_false(smstext_utf8_valid(NULL, 0));
	assert_false(smstext_utf8_valid(NULL, 4));
}

struct measure_case {
	const char *name;
	const char *text;
	enum smstext_encoding encoding;
	size_t units;
	size_t octets;
};

static const struct measure_case measure_cases[] = {
	{ "empty is GSM-7 and free", "", SMSTEXT_GSM7, 0, 0 },
	{ "pure ascii is GSM-7", "Goi 111", SMSTEXT_GSM7, 7, 7 },
	{ "eight septets pack into seven octets", "12345678",
	    SMSTEXT_GSM7, 8, 7 },
	{ "CR LF are basic", "a\r\nb", SMSTEXT_GSM7, 4, 4 },
	{ "dollar is basic (0x02)", "$", SMSTEXT_GSM7, 1, 1 },
	{ "currency sign is basic (0x24)", "\u00a4", SMSTEXT_GSM7, 1, 1 },
	{ "capital C-cedilla is basic (0x09)", "\u00c7", SMSTEXT_GSM7,
	    1, 1 },
	{ "small c-cedilla forces UCS-2", "\u00e7", SMSTEXT_UCS2, 1, 2 },
	{ "greek capitals are basic", "\u0394\u03a9", SMSTEXT_GSM7, 2, 2 },
	{ "euro costs two septets", "\u20ac", SMSTEXT_GSM7, 2, 2 },
	{ "caret costs two septets", "^", SMSTEXT_GSM7, 2, 2 },
	{ "form feed costs two septets", "\f", SMSTEXT_GSM7, 2, 2 },
	{ "brackets braces backslash tilde bar cost two each",
	    "[]{}\\~|", SMSTEXT_GSM7, 14, 13 },
	{ "euro inside ascii", "10\u20ac", SMSTEXT_GSM7, 4, 4 },
	{ "backtick forces UCS-2", "a`b", SMSTEXT_UCS2, 3, 6 },
	{ "raw ESC is not a character", "a\x1b", SMSTEXT_UCS2, 2, 4 },
	{ "the seven vietnamese letters in GSM-7 stay GSM-7",
	    "\u00e0\u00e8\u00e9\u00ec\u00f2\u00f9\u00c9", SMSTEXT_GSM7,
	    7, 7 },
	{ "a-dot-below forces UCS-2", "b\u1ea1n", SMSTEXT_UCS2, 3, 6 },
	{ "a-circumflex-acute forces UCS-2", "\u1ea5", SMSTEXT_UCS2, 1, 2 },
	{ "o-horn forces UCS-2", "\u01a1", SMSTEXT_UCS2, 1, 2 },
	{ "u-horn forces UCS-2", "\u01b0", SMSTEXT_UCS2, 1, 2 },
	{ "d-stroke forces UCS-2", "\u0111", SMSTEXT_UCS2, 1, 2 },
	{ "one UCS-2 letter switches the whole message",
	    "Ch\u00e0o b\u1ea1n", SMSTEXT_UCS2, 8, 16 },
	{ "extension chars count one unit in UCS-2", "\u20ac\u0111",
	    SMSTEXT_UCS2, 2, 4 },
	{ "emoji counts two UTF-16 units", "\U0001F600", SMSTEXT_UCS2,
	    2, 4 },
	{ "emoji after text", "hi \U0001F600", SMSTEXT_UCS2, 5, 10 },
	{ "precomposed sentence is 42 units", SENTENCE_NFC, SMSTEXT_UCS2,
	    42, 84 },
	{ "decomposed sentence is 51 units", SENTENCE_NFD, SMSTEXT_UCS2,
	    51, 102 },
	{ "folded sentence is GSM-7", SENTENCE_FOLDED, SMSTEXT_GSM7,
	    42, 37 },
};

static const char *
enc_name(enum smstext_encoding e)
{
	switch (e) {
	case SMSTEXT_GSM7:
		return "GSM7";
	case SMSTEXT_UCS2:
		return "UCS2";
	}
	return "?";
}

static void
measure_picks_encoding_and_counts_units(void **state)
{
	const struct measure_case *c;
	struct smstext_measure m;
	size_t i;

	(void)state;
	for (i = 0; i < NROWS(measure_cases); i++) {
		c = &measure_cases[i];
		memset(&m, 0xa5, sizeof(m));
		if (smstext_measure(c->text, &m) != 0)
			fail_msg("%s: measure failed", c->name);
		if (m.encoding != c->encoding || m.units != c->units ||
		    m.octets != c->octets)
			fail_msg("%s: expected %s/%zu units/%zu octets, "
			    "got %s/%zu/%zu", c->name, enc_name(c->encoding),
			    c->units, c->octets, enc_name(m.encoding),
			    m.units, m.octets);
	}
}

static const char *const invalid_texts[] = {
	"\xc0\xaf",
	"\xed\xa0\x80",
	"ok\xe1\xba",
	"\xf4\x90\x80\x80",
	"\x80",
};

static void
measure_rejects_invalid_utf8(void **state)
{
	struct smstext_measure m;
	size_t i;

	(void)state;
	for (i = 0; i < NROWS(invalid_texts); i++) {
		if (smstext_measure(invalid_texts[i], &m) != -1)
			fail_msg("invalid text %zu was measured", i);
		if (smstext_fits_ussd(invalid_texts[i]))
			fail_msg("invalid text %zu fits USSD", i);
		if (smstext_fold_vietnamese(invalid_texts[i]) != NULL)
			fail_msg("invalid text %zu was folded", i);
		if (smstext_nfc(invalid_texts[i]) != NULL)
			fail_msg("invalid text %zu was normalised", i);
	}
	assert_int_equal(smstext_measure(NULL, &m), -1);
	assert_int_equal(smstext_measure("a", NULL), -1);
	assert_false(smstext_fits_ussd(NULL));
	assert_null(smstext_fold_vietnamese(NULL));
	assert_null(smstext_nfc(NULL));
}

/* A screen built from `count` copies of `unit`, then `tail`. */
struct ussd_case {
	const char *name;
	const char *unit;
	size_t count;
	const char *tail;
	bool fits;
};

static const struct ussd_case ussd_cases[] = {
	{ "182 GSM-7 chars fit", "a", 182, "", true },
	{ "183 GSM-7 chars do not fit", "a", 183, "", false },
	{ "180 chars plus a euro fit", "a", 180, "\u20ac", true },
	{ "181 chars plus a euro do not fit", "a", 181, "\u20ac", false },
	{ "91 carets fit", "^", 91, "", true },
	{ "92 carets do not fit", "^", 92, "", false },
	{ "80 UCS-2 units fit", "\u1ea1", 80, "", true },
	{ "81 UCS-2 units do not fit", "\u1ea1", 81, "", false },
	{ "79 ascii plus one d-stroke fit", "a", 79, "\u0111", true },
	{ "80 ascii plus one d-stroke do not fit", "a", 80, "\u0111",
	    false },
	{ "78 letters plus an emoji fit", "\u1ea1", 78, "\U0001F600",
	    true },
	{ "79 letters plus an emoji do not fit", "\u1ea1", 79,
	    "\U0001F600", false },
	{ "empty fits", "a", 0, "", true },
};

static char *
repeat(const char *unit, size_t count, const char *tail)
{
	size_t ulen = strlen(unit), tlen = strlen(tail), i;
	char *s;

	s = malloc(ulen * count + tlen + 1);
	assert_non_null(s);
	for (i = 0; i < count; i++)
		memcpy(s + i * ulen, unit, ulen);
	memcpy(s + count * ulen, tail, tlen + 1);
	return s;
}

static void
ussd_fits_at_160_octets(void **state)
{
	const struct ussd_case *c;
	char *s;
	size_t i;
	bool got;

	(void)state;
	for (i = 0; i < NROWS(ussd_cases); i++) {
		c = &ussd_cases[i];
		s = repeat(c->unit, c->count, c->tail);
		got = smstext_fits_ussd(s);
		free(s);
		if (got != c->fits)
			fail_msg("%s: got %s", c->name,
			    got ? "fits" : "does not fit");
	}
}

struct fold_case {
	const char *name;
	const char *in;
	const char *out;
};

static const struct fold_case fold_cases[] = {
	{ "hotline sentence loses its marks", SENTENCE_NFC,
	    SENTENCE_FOLDED },
	{ "decomposed input folds the same", SENTENCE_NFD,
	    SENTENCE_FOLDED },
	{ "capitals and D-stroke fold",
	    "\u0110\u01af\u1edcNG D\u00c2Y N\u00d3NG", "DUONG DAY NONG" },
	{ "every tone on a", "a\u00e0\u00e1\u1ea3\u00e3\u1ea1",
	    "aaaaaa" },
	{ "breve circumflex horn", "\u0103\u00e2\u00ea\u00f4\u01a1\u01b0",
	    "aaeoou" },
	{ "stacked marks on capitals", "\u1ea4\u1eb6\u1ec6\u1ed8\u1ee2\u1ef0",
	    "AAEOOU" },
	{ "ascii passes through", "Goi 111, 24/7 ^_^", "Goi 111, 24/7 ^_^" },
	{ "empty stays empty", "", "" },
	{ "emoji passes through", "ok \U0001F600", "ok \U0001F600" },
	{ "cyrillic short i keeps its breve", "\u0439", "\u0439" },
	{ "thai vowel marks are kept", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
	    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35" },
	{ "decomposed cyrillic comes back composed", "\u0438\u0306",
	    "\u0439" },
};

static void
fold_vietnamese_strips_tones_and_d_stroke(void **state)
{
	const struct fold_case *c;
	char *got;
	size_t i;

	(void)state;
	for (i = 0; i < NROWS(fold_cases); i++) {
		c = &fold_cases[i];
		got = smstext_fold_vietnamese(c->in);
		if (got == NULL)
			fail_msg("%s: fold failed", c->name);
		if (strcmp(got, c->out) != 0) {
			print_error("%s: expected \"%s\", got \"%s\"\n",
			    c->name, c->out, got);
			free(got);
			fail();
		}
		free(got);
	}
}

/* The point of folding: a Vietnamese reply that would have been UCS-2
 * (80 per USSD screen) becomes GSM-7 (182). */
static const char *const vietnamese_texts[] = {
	SENTENCE_NFC,
	SENTENCE_NFD,
	"\u0110\u01af\u1edcNG D\u00c2Y N\u00d3NG",
	"Nh\u1eafn tin cho ch\u00fang t\u00f4i b\u1ea5t c\u1ee9 l\u00fac "
	    "n\u00e0o. Ch\u00fang t\u00f4i gi\u1eef b\u00ed m\u1eadt.",
	"\u0110\u00e3 nh\u1eadn. T\u01b0 v\u1ea5n vi\u00ean s\u1ebd "
	    "g\u1ecdi l\u1ea1i cho b\u1ea1n.",
};

static void
folded_vietnamese_measures_gsm7(void **state)
{
	struct smstext_measure before, after;
	char *f;
	size_t i;

	(void)state;
	for (i = 0; i < NROWS(vietnamese_texts); i++) {
		assert_int_equal(smstext_measure(vietnamese_texts[i], &before),
		    0);
		assert_int_equal(before.encoding, SMSTEXT_UCS2);
		f = smstext_fold_vietnamese(vietnamese_texts[i]);
		assert_non_null(f);
		if (smstext_measure(f, &after) != 0 ||
		    after.encoding != SMSTEXT_GSM7) {
			print_error("text %zu folded to \"%s\", not GSM-7\n",
			    i, f);
			free(f);
			fail();
		}
		free(f);
	}
}

struct nfc_case {
	const char *name;
	const char *in;
	const char *out;
	size_t units_in;
	size_t units_out;
};

static const struct nfc_case nfc_cases[] = {
	{ "decomposed sentence composes to 42 units", SENTENCE_NFD,
	    SENTENCE_NFC, 51, 42 },
	{ "precomposed sentence is unchanged", SENTENCE_NFC, SENTENCE_NFC,
	    42, 42 },
	{ "e with circumflex then tilde composes", "e\u0302\u0303",
	    "\u1ec5", 3, 1 },
	{ "ascii is unchanged", "Goi 111", "Goi 111", 7, 7 },
	{ "emoji is unchanged", "\U0001F600", "\U0001F600", 2, 2 },
};

static void
nfc_composes_decomposed_input(void **state)
{
	const struct nfc_case *c;
	struct smstext_measure m;
	char *got;
	size_t i;

	(void)state;
	for (i = 0; i < NROWS(nfc_cases); i++) {
		c = &nfc_cases[i];
		assert_int_equal(smstext_measure(c->in, &m), 0);
		if (m.units != c->units_in)
			fail_msg("%s: input is %zu units, expected %zu",
			    c->name, m.units, c->units_in);
		got = smstext_nfc(c->in);
		if (got == NULL)
			fail_msg("%s: nfc failed", c->name);
		if (strcmp(got, c->out) != 0 ||
		    smstext_measure(got, &m) != 0 ||
		    m.units != c->units_out) {
			print_error("%s: got \"%s\" (%zu units)\n", c->name,
			    got, m.units);
			free(got);
			fail();
		}
		free(got);
	}
}

/* A text of `nhead` copies of head, then mid, then `ntail` copies of
 * tail; what it costs as SMS.  naive is ceil(units / part size), written
 * down so that a row which exists to beat it shows that it does. */
struct segment_case {
	const char *name;
	const char *head;
	size_t nhead;
	const char *mid;
	const char *tail;
	size_t ntail;
	enum smstext_encoding encoding;
	size_t units;
	unsigned segments;
	unsigned naive;
};

#define EURO "\u20ac"
#define E_DOT "\u1ec7"		/* Vietnamese e, circumflex and dot below */
#define GRIN "\U0001F600"	/* outside the BMP: a surrogate pair */

static const struct segment_case segment_cases[] = {
	{ "empty is one segment", "", 0, "", "", 0, SMSTEXT_GSM7, 0, 1, 0 },
	{ "160 GSM-7 fit one", "a", 160, "", "", 0, SMSTEXT_GSM7, 160, 1,
	    2 },
	{ "161 GSM-7 take two", "a", 161, "", "", 0, SMSTEXT_GSM7, 161, 2,
	    2 },
	{ "306 GSM-7 fill two parts", "a", 306, "", "", 0, SMSTEXT_GSM7, 306,
	    2, 2 },
	{ "307 GSM-7 take three", "a", 307, "", "", 0, SMSTEXT_GSM7, 307, 3,
	    3 },
	{ "459 GSM-7 fill three parts", "a", 459, "", "", 0, SMSTEXT_GSM7,
	    459, 3, 3 },
	{ "460 GSM-7 take four", "a", 460, "", "", 0, SMSTEXT_GSM7, 460, 4,
	    4 },
	{ "80 euros are 160 septets, one", EURO, 80, "", "", 0,
	    SMSTEXT_GSM7, 160, 1, 2 },
	{ "81 euros take two", EURO, 81, "", "", 0, SMSTEXT_GSM7, 162, 2,
	    2 },
	{ "152 a and a caret are 154 septets, one", "a", 152, "^", "", 0,
	    SMSTEXT_GSM7, 154, 1, 2 },
	/* 151 a and the caret fill part one to exactly 153. */
	{ "a caret ending part one", "a", 151, "^", "a", 153, SMSTEXT_GSM7,
	    306, 2, 2 },
	/* Part one holds 152 a: the caret's escape pair would take septets
	 * 153 and 154, so it opens part two, which then holds 151 a; the
	 * last a opens part three.  306 septets; ceil says 2. */
	{ "an escape pair straddling 153", "a", 152, "^", "a", 152,
	    SMSTEXT_GSM7, 306, 3, 2 },
	{ "70 Vietnamese letters fit one", E_DOT, 70, "", "", 0,
	    SMSTEXT_UCS2, 70, 1, 2 },
	{ "71 Vietnamese letters take two", E_DOT, 71, "", "", 0,
	    SMSTEXT_UCS2, 71, 2, 2 },
	{ "134 Vietnamese letters fill two parts", E_DOT, 134, "", "", 0,
	    SMSTEXT_UCS2, 134, 2, 2 },
	{ "135 Vietnamese letters take three", E_DOT, 135, "", "", 0,
	    SMSTEXT_UCS2, 135, 3, 3 },
	{ "one Vietnamese letter makes all of it UCS-2", "a", 160, E_DOT,
	    "", 0, SMSTEXT_UCS2, 161, 3, 3 },
	{ "35 emoji are 70 units, one", GRIN, 35, "", "", 0, SMSTEXT_UCS2,
	    70, 1, 2 },
	/* 33 pairs fill part one to 66; the 34th would straddle 67. */
	{ "36 emoji take two", GRIN, 36, "", "", 0, SMSTEXT_UCS2, 72, 2,
	    2 },
	/* 33 a and 17 pairs fill part one to exactly 67. */
	{ "33 a and pairs meeting 67 exactly", "a", 33, "", GRIN, 50,
	    SMSTEXT_UCS2, 133, 2, 2 },
	/* 33 a, a b and 16 pairs make 66: the 17th pair would take units
	 * 67 and 68, so it opens part two; 33 pairs fill that to 66 and
	 * the last one opens part three.  134 units; ceil says 2. */
	{ "33 a, a b and a pair straddling 67", "a", 33, "b", GRIN, 50,
	    SMSTEXT_UCS2, 134, 3, 2 },
};

/* head x nhead, mid, tail x ntail; the caller frees. */
static char *
build_text(const struct segment_case *c)
{
	size_t hl = strlen(c->head), ml = strlen(c->mid);
	size_t tl = strlen(c->tail), used = 0, i;
	char *s;

	s = malloc(hl * c->nhead + ml + tl * c->ntail + 1);
	assert_non_null(s);
	for (i = 0; i < c->nhead; i++, used += hl)
		memcpy(s + used, c->head, hl);
	memcpy(s + used, c->mid, ml);
	used += ml;
	for (i = 0; i < c->ntail; i++, used += tl)
		memcpy(s + used, c->tail, tl);
	s[used] = '\0';
	return s;
}

static void
segments_never_split_a_pair(void **state)
{
	const struct segment_case *c;
	struct smstext_segments seg;
	size_t i, part;
	char *s;
	int rc;

	(void)state;
	for (i = 0; i < NROWS(segment_cases); i++) {
		c = &segment_cases[i];
		s = build_text(c);
		memset(&seg, 0xa5, sizeof(seg));
		rc = smstext_segments(s, &seg);
		free(s);
		if (rc != 0)
			fail_msg("%s: segments failed", c->name);
		if (seg.encoding != c->encoding || seg.units != c->units ||
		    seg.segments != c->segments)
			fail_msg("%s: expected %s/%zu units/%u segments, got "
			    "%s/%zu/%u", c->name, enc_name(c->encoding),
			    c->units, c->segments, enc_name(seg.encoding),
			    seg.units, seg.segments);
		/* The naive count, for rows whose point is to differ. */
		part = c->encoding == SMSTEXT_GSM7 ? 153 : 67;
		if (c->naive != (c->units + part - 1) / part)
			fail_msg("%s: naive column is wrong", c->name);
	}
}

static void
segments_reject_invalid_utf8(void **state)
{
	struct smstext_segments seg;
	size_t i;

	(void)state;
	for (i = 0; i < NROWS(invalid_texts); i++)
		if (smstext_segments(invalid_texts[i], &seg) != -1)
			fail_msg("invalid text %zu was segmented", i);
	assert_int_equal(smstext_segments(NULL, &seg), -1);
	assert_int_equal(smstext_segments("a", NULL), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(utf8_validity_follows_unicode_d92),
		cmocka_unit_test(utf8_null_is_invalid),
		cmocka_unit_test(measure_picks_encoding_and_counts_units),
		cmocka_unit_test(measure_rejects_invalid_utf8),
		cmocka_unit_test(ussd_fits_at_160_octets),
		cmocka_unit_test(fold_vietnamese_strips_tones_and_d_stroke),
		cmocka_unit_test(folded_vietnamese_measures_gsm7),
		cmocka_unit_test(nfc_composes_decomposed_input),
		cmocka_unit_test(segments_never_split_a_pair),
		cmocka_unit_test(segments_reject_invalid_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
