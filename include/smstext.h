/*
 * smstext: what a piece of text costs on the air interface.
 *
 * Pure functions over UTF-8: no I/O, no globals.  GSM 03.38 / 3GPP TS
 * 23.038 default alphabet and extension table; anything outside them
 * forces UCS-2 for the whole message.  Vietnamese folding ("khong dau")
 * uses utf8proc for the decomposition rather than a hand-written table.
 */
#ifndef HOTLINE_SMSTEXT_H
#define HOTLINE_SMSTEXT_H

#include <stdbool.h>
#include <stddef.h>

/* A USSD-String carries at most 160 octets (3GPP TS 29.002). */
#define SMSTEXT_USSD_OCTETS 160

enum smstext_encoding {
	SMSTEXT_GSM7,
	SMSTEXT_UCS2,
};

struct smstext_measure {
	enum smstext_encoding encoding;
	/* GSM7: septets (extension characters count 2).
	 * UCS2: UTF-16 code units (characters outside the BMP count 2). */
	size_t units;
	/* Octets those units occupy: ceil(units * 7 / 8) or units * 2. */
	size_t octets;
};

/* True when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF).  Embedded NULs are invalid. */
bool smstext_utf8_valid(const char *s, size_t len);

/* Measure NUL-terminated valid UTF-8.  Returns 0, or -1 if s is not
 * valid UTF-8. */
int smstext_measure(const char *s, struct smstext_measure *out);

/* What a text costs as SMS. */
struct smstext_segments {
	enum smstext_encoding encoding;
	size_t units;             /* septets or UTF-16 units, as measured */
	unsigned segments;        /* 1 + the parts of a concatenated SMS */
};

/*
 * Segments s needs: one SMS holds 160 GSM-7 septets or 70 UCS-2 units; a
 * longer text is split into parts of 153 or 67 (the concatenation header
 * takes the rest), and a part never splits an escape pair (GSM-7
 * extension characters, 2 septets) or a surrogate pair (emoji).  "" is
 * one segment.  0, or -1 on invalid UTF-8.
 */
int smstext_segments(const char *s, struct smstext_segments *out);

/* True when s fits one USSD screen: at most 182 GSM-7 characters, or 80
 * UCS-2 units when any character needs UCS-2.  False for invalid UTF-8. */
bool smstext_fits_ussd(const char *s);

/* Vietnamese without diacritics: NFD, drop combining marks, d-stroke to
 * d (both cases).  Other text passes through unchanged (NFC).  Returns a
 * new string the caller frees, or NULL on invalid UTF-8 or no memory. */
char *smstext_fold_vietnamese(const char *s);

/* NFC-normalised copy (decomposed input costs more UCS-2 units).  Caller
 * frees; NULL on invalid UTF-8 or no memory. */
char *smstext_nfc(const char *s);

#endif
