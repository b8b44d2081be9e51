#include "smstext.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

/* GSM 03.38 default alphabet, indexed by septet (3GPP TS 23.038 v16),
 * eight to a row so each value can be checked against the spec's table.
 * 0x09 is capital C-cedilla and 0x24 the currency sign, not '$': older
 * tables get both wrong, and a wrong guess sends garbage to a handset. */
/* clang-format off */
static const uint16_t gsm7_basic[128] = {
	0x0040, 0x00a3, 0x0024, 0x00a5, 0x00e8, 0x00e9, 0x00f9, 0x00ec,
	0x00f2, 0x00c7, 0x000a, 0x00d8, 0x00f8, 0x000d, 0x00c5, 0x00e5,
	0x0394, 0x005f, 0x03a6, 0x0393, 0x039b, 0x03a9, 0x03a0, 0x03a8,
	0x03a3, 0x0398, 0x039e, 0x001b, 0x00c6, 0x00e6, 0x00df, 0x00c9,
	0x0020, 0x0021, 0x0022, 0x0023, 0x00a4, 0x0025, 0x0026, 0x0027,
	0x0028, 0x0029, 0x002a, 0x002b, 0x002c, 0x002d, 0x002e, 0x002f,
	0x0030, 0x0031, 0x0032, 0x0033, 0x0034, 0x0035, 0x0036, 0x0037,
	0x0038, 0x0039, 0x003a, 0x003b, 0x003c, 0x003d, 0x003e, 0x003f,
	0x00a1, 0x0041, 0x0042, 0x0043, 0x0044, 0x0045, 0x0046, 0x0047,
	0x0048, 0x0049, 0x004a, 0x004b, 0x004c, 0x004d, 0x004e, 0x004f,
	0x0050, 0x0051, 0x0052, 0x0053, 0x0054, 0x0055, 0x0056, 0x0057,
	0x0058, 0x0059, 0x005a, 0x00c4, 0x00d6, 0x00d1, 0x00dc, 0x00a7,
	0x00bf, 0x0061, 0x0062, 0x0063, 0x0064, 0x0065, 0x0066, 0x0067,
	0x0068, 0x0069, 0x006a, 0x006b, 0x006c, 0x006d, 0x006e, 0x006f,
	0x0070, 0x0071, 0x0072, 0x0073, 0x0074, 0x0075, 0x0076, 0x0077,
	0x0078, 0x0079, 0x007a, 0x00e4, 0x00f6, 0x00f1, 0x00fc, 0x00e0,
};
/* clang-format on */

/* Septet 0x1B is the escape to the extension table, not a character:
 * a U+001B in the input must not be sent as one. */
#define GSM7_ESC 0x1b

/* Extension table: each costs ESC + code, two septets. */
/* clang-format off */
static const uint16_t gsm7_ext[] = {
	0x000c, 0x005e, 0x007b, 0x007d, 0x005c, 0x005b, 0x007e, 0x005d,
	0x007c, 0x20ac,
};
/* clang-format on */

/*
 * Decode one scalar from s[0..len), len >= 1.  Returns its length in
 * bytes and stores it in *cp, or 0 for anything ill-formed.  Follows the
 * table of well-formed sequences in Unicode ch. 3 (D92), so overlongs,
 * surrogates and values past U+10FFFF are rejected by the ranges of the
 * second byte rather than by decoding first and checking afterwards.
 */
static size_t
utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	unsigned char b0 = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;
	uint32_t v;

	if (b0 == 0x00)
		return 0;
	if (b0 < 0x80) {
		*cp = b0;
		return 1;
	}
	if (b0 >= 0xc2 && b0 <= 0xdf) {
		n = 2;
		v = b0 & 0x1f;
	} else if (b0 >= 0xe0 && b0 <= 0xef) {
		n = 3;
		v = b0 & 0x0f;
		if (b0 == 0xe0)
			lo = 0xa0; /* overlong */
		else if (b0 == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (b0 >= 0xf0 && b0 <= 0xf4) {
		n = 4;
		v = b0 & 0x07;
		if (b0 == 0xf0)
			lo = 0x90; /* overlong */
		else if (b0 == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else
		return 0; /* continuation byte, C0, C1, F5..FF */

	if (len < n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	v = (v << 6) | (s[1] & 0x3f);
	for (i = 2; i < n; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	*cp = v;
	return n;
}

bool
smstext_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;
	uint32_t cp;

	if (s == NULL)
		return false;
	while (i < len) {
		if ((n = utf8_decode(p + i, len - i, &cp)) == 0)
			return false;
		i += n;
	}
	return true;
}

/* Septets cp costs in GSM-7, or 0 when it forces UCS-2. */
static size_t
gsm7_septets(uint32_t cp)
{
	size_t i;

	for (i = 0; i < sizeof(gsm7_basic) / sizeof(gsm7_basic[0]); i++)
		if (i != GSM7_ESC && gsm7_basic[i] == cp)
			return 1;
	for (i = 0; i < sizeof(gsm7_ext) / sizeof(gsm7_ext[0]); i++)
		if (gsm7_ext[i] == cp)
			return 2;
	return 0;
}

int
smstext_measure(const char *s, struct smstext_measure *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len, i = 0, n, septets = 0, utf16 = 0, c;
	bool gsm7 = true;
	uint32_t cp;

	if (s == NULL || out == NULL)
		return -1;
	len = strlen(s);
	/* Count both at once: one character outside GSM-7 anywhere
	 * switches the whole message, so neither count is known to be the
	 * one that matters until the end. */
	while (i < len) {
		if ((n = utf8_decode(p + i, len - i, &cp)) == 0)
			return -1;
		i += n;
		utf16 += cp > 0xffff ? 2 : 1;
		if (gsm7) {
			if ((c = gsm7_septets(cp)) == 0)
				gsm7 = false;
			septets += c;
		}
	}
	if (gsm7) {
		out->encoding = SMSTEXT_GSM7;
		out->units = septets;
		out->octets = (septets * 7 + 7) / 8;
	} else {
		out->encoding = SMSTEXT_UCS2;
		out->units = utf16;
		out->octets = utf16 * 2;
	}
	return 0;
}

/* 140 octets of user data; a part of a concatenated message gives 6 to
 * its header (8-bit reference), plus a fill bit in GSM-7. */
#define GSM7_SINGLE 160
#define GSM7_PART 153
#define UCS2_SINGLE 70
#define UCS2_PART 67

/* Concatenated parts, filled greedily: a character that does not fit
 * whole in the current part opens the next one. */
struct packing {
	size_t room;              /* units per part */
	size_t fill;              /* units in the current part */
	size_t parts;
};

static void
packing_add(struct packing *p, size_t cost)
{
	if (p->fill + cost > p->room) {
		p->parts++;
		p->fill = 0;
	}
	p->fill += cost;
}

int
smstext_segments(const char *s, struct smstext_segments *out)
{
	const unsigned char *p = (const unsigned char *)s;
	struct packing gsm7 = { GSM7_PART, 0, 1 }, ucs2 = { UCS2_PART, 0, 1 };
	size_t len, i = 0, n, septets = 0, utf16 = 0, c, parts;
	bool is_gsm7 = true;
	uint32_t cp;

	if (s == NULL || out == NULL)
		return -1;
	len = strlen(s);
	/* Both packings in one pass, as in smstext_measure: which one
	 * counts is known only at the end.  ceil(units / part) would be
	 * wrong: a part that cannot take a whole escape or surrogate pair
	 * ends one unit short. */
	while (i < len) {
		if ((n = utf8_decode(p + i, len - i, &cp)) == 0)
			return -1;
		i += n;
		c = cp > 0xffff ? 2 : 1;
		utf16 += c;
		packing_add(&ucs2, c);
		if (is_gsm7) {
			if ((c = gsm7_septets(cp)) == 0)
				is_gsm7 = false;
			else {
				septets += c;
				packing_add(&gsm7, c);
			}
		}
	}
	if (is_gsm7) {
		out->encoding = SMSTEXT_GSM7;
		out->units = septets;
		parts = septets <= GSM7_SINGLE ? 1 : gsm7.parts;
	} else {
		out->encoding = SMSTEXT_UCS2;
		out->units = utf16;
		parts = utf16 <= UCS2_SINGLE ? 1 : ucs2.parts;
	}
	out->segments = parts > UINT_MAX ? UINT_MAX : (unsigned)parts;
	return 0;
}

bool
smstext_fits_ussd(const char *s)
{
	struct smstext_measure m;

	if (smstext_measure(s, &m) == -1)
		return false;
	/* Octets, not characters, are the MAP limit: 182 septets pack into
	 * 160 octets, 183 into 161; 80 UCS-2 units are exactly 160. */
	return m.octets <= SMSTEXT_USSD_OCTETS;
}

static bool
is_ascii_letter(utf8proc_int32_t cp)
{
	return (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z');
}

char *
smstext_fold_vietnamese(const char *s)
{
	const utf8proc_option_t opts =
	    UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_DECOMPOSE;
	utf8proc_int32_t *buf, cp;
	utf8proc_ssize_t n, got, i, w;
	bool latin_base = false;

	if (s == NULL || !smstext_utf8_valid(s, strlen(s)))
		return NULL;
	n = utf8proc_decompose((const utf8proc_uint8_t *)s, 0, NULL, 0, opts);
	if (n < 0 || (size_t)n > (SIZE_MAX - 1) / sizeof(*buf))
		return NULL;
	/* utf8proc_reencode writes the UTF-8 over the code points and
	 * needs one byte past them for the NUL. */
	if ((buf = malloc((size_t)n * sizeof(*buf) + 1)) == NULL)
		return NULL;
	got = utf8proc_decompose((const utf8proc_uint8_t *)s, 0, buf, n, opts);
	if (got < 0 || got > n)
		goto fail;

	/*
	 * Drop only the marks that sit on a Latin letter.  UTF8PROC_STRIPMARK
	 * would also strip Thai vowels, Devanagari matras and Arabic harakat,
	 * which turns words into other words and still leaves them outside
	 * GSM-7, so it buys nothing and damages text that is not ours to
	 * fold.  Every Vietnamese letter decomposes to an ASCII letter plus
	 * marks, except d-stroke, which has no decomposition.
	 */
	for (i = w = 0; i < got; i++) {
		cp = buf[i];
		if (utf8proc_category(cp) == UTF8PROC_CATEGORY_MN) {
			if (latin_base)
				continue;
		} else {
			if (cp == 0x0111)
				cp = 'd';
			else if (cp == 0x0110)
				cp = 'D';
			latin_base = is_ascii_letter(cp);
		}
		buf[w++] = cp;
	}

	/* Recompose what is left (marks kept on other scripts), so the
	 * result is NFC like every other string we send. */
	if (utf8proc_reencode(buf, w, UTF8PROC_STABLE | UTF8PROC_COMPOSE) < 0)
		goto fail;
	return (char *)buf;

fail:
	free(buf);
	return NULL;
}

char *
smstext_nfc(const char *s)
{
	/* Our own check first: utf8proc_NFC reports every failure,
	 * including no memory, as NULL, and the contract is the same. */
	if (s == NULL || !smstext_utf8_valid(s, strlen(s)))
		return NULL;
	return (char *)utf8proc_NFC((const utf8proc_uint8_t *)s);
}
