/*
 * fuzz_smstext: the SMS text functions on any bytes (message bodies
 * come from callers and counsellors).  The UTF-8 check agrees with an
 * independent one; measuring, segmenting and the USSD fit agree with
 * each other; folding and NFC give valid UTF-8 and are idempotent;
 * folded text has no mark left on a Latin letter and no d-stroke;
 * invalid input is refused by all.
 */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "fuzz.h"
#include "smstext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A mark left on a Latin letter, or a d-stroke: what folding removes
 * (marks on other scripts it keeps on purpose). */
static bool
has_diacritic(const char *s)
{
	utf8proc_int32_t *buf;
	utf8proc_ssize_t n, i;
	bool found = false, latin = false;

	n = utf8proc_decompose((const utf8proc_uint8_t *)s, 0, NULL, 0,
	    UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
	if (n < 0 || (buf = malloc((size_t)(n + 1) * sizeof(*buf))) == NULL)
		abort();
	n = utf8proc_decompose((const utf8proc_uint8_t *)s, 0, buf, n,
	    UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
	for (i = 0; i < n && !found; i++) {
		if (utf8proc_category(buf[i]) == UTF8PROC_CATEGORY_MN) {
			found = latin;
			continue;
		}
		found = buf[i] == 0x0110 || buf[i] == 0x0111;
		latin = (buf[i] >= 'A' && buf[i] <= 'Z') ||
		    (buf[i] >= 'a' && buf[i] <= 'z');
	}
	free(buf);
	return found;
}

static void
check_segments(const char *s)
{
	struct smstext_measure m;
	struct smstext_segments g;
	size_t single, part;

	if (smstext_measure(s, &m) < 0 || smstext_segments(s, &g) < 0)
		fuzz_fail("valid UTF-8 not measured");
	if (m.encoding != g.encoding || m.units != g.units)
		fuzz_fail("smstext_measure and smstext_segments disagree");
	if (m.encoding == SMSTEXT_GSM7) {
		single = 160;
		part = 153;
		if (m.octets != (m.units * 7 + 7) / 8)
			fuzz_fail("GSM-7 octets");
		if (smstext_fits_ussd(s) != (m.units <= 182))
			fuzz_fail("GSM-7 USSD fit");
	} else {
		single = 70;
		part = 67;
		if (m.octets != m.units * 2)
			fuzz_fail("UCS-2 octets");
		if (smstext_fits_ussd(s) != (m.units <= 80))
			fuzz_fail("UCS-2 USSD fit");
	}
	if (m.units <= single) {
		if (g.segments != 1)
			fuzz_fail("a short text in more than one segment");
	} else if (g.segments < (m.units + part - 1) / part ||
	    g.segments > (m.units + part - 2) / (part - 1))
		/* Keeping pairs whole costs at most a unit per part. */
		fuzz_fail("segment count out of range");
}

static void
check_transform(const char *what, char *(*fn)(const char *), const char *s)
{
	char *once, *twice;

	if ((once = fn(s)) == NULL)
		fuzz_fail(what);
	if (!fuzz_utf8_valid(once, strlen(once)))
		fuzz_fail("a transform gave invalid UTF-8");
	check_segments(once);
	if ((twice = fn(once)) == NULL || strcmp(once, twice) != 0)
		fuzz_fail("a transform is not idempotent");
	if (fn == smstext_fold_vietnamese && has_diacritic(once))
		fuzz_fail("folded text keeps a diacritic");
	free(twice);
	free(once);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	bool valid;
	struct smstext_measure m;
	struct smstext_segments g;

	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	valid = fuzz_utf8_valid(s, size);
	if (smstext_utf8_valid((const char *)data, size) != valid)
		fuzz_fail("smstext_utf8_valid disagrees with RFC 3629");
	if (valid) {
		check_segments(s);
		check_transform("fold refused valid UTF-8",
		    smstext_fold_vietnamese, s);
		check_transform("NFC refused valid UTF-8", smstext_nfc, s);
	} else if (memchr(s, '\0', size) == NULL) {
		/* Invalid, and not merely cut short by a NUL. */
		char *t;

		if (smstext_measure(s, &m) == 0 ||
		    smstext_segments(s, &g) == 0 || smstext_fits_ussd(s))
			fuzz_fail("invalid UTF-8 measured");
		if ((t = smstext_fold_vietnamese(s)) != NULL ||
		    (t = smstext_nfc(s)) != NULL) {
			free(t);
			fuzz_fail("invalid UTF-8 transformed");
		}
	}
	free(s);
	return 0;
}
