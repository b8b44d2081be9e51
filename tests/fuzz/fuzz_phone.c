/*
 * fuzz_phone: phone_normalize on any bytes.  Input: "CC\nnumber" (the
 * channel's default country code, then the number) or just the number
 * (code 84).  Whatever it accepts is E.164 with 8 to 15 digits, and
 * normalising that again gives it back unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "phone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* "+", then 8 to 15 digits not starting with 0: what we store. */
static bool
e164_strict(const char *s)
{
	size_t n = 0;

	if (s[0] != '+' || s[1] < '1' || s[1] > '9')
		return false;
	for (s++; *s != '\0'; s++, n++)
		if (*s < '0' || *s > '9')
			return false;
	return n >= 8 && n <= 15;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char *cc, *in, out[PHONE_E164_SIZE], again[PHONE_E164_SIZE], *small;
	size_t cclen = nl ? (size_t)(nl - data) : 2, inlen, outlen;

	/* Exact-size copies: ASan sees any read past them. */
	if ((cc = malloc(cclen + 1)) == NULL)
		abort();
	memcpy(cc, nl ? (const char *)data : "84", cclen);
	cc[cclen] = '\0';
	inlen = nl ? size - cclen - 1 : size;
	if ((in = malloc(inlen + 1)) == NULL)
		abort();
	memcpy(in, nl ? nl + 1 : data, inlen);
	in[inlen] = '\0';

	memset(out, 0x55, sizeof(out));
	if (phone_normalize(in, cc, out, sizeof(out)) == 0) {
		if (!e164_strict(out) || !phone_is_e164(out))
			fuzz_fail("phone_normalize accepted a number and "
			    "gave something that is not E.164");
		if (phone_normalize(out, cc, again, sizeof(again)) != 0 ||
		    strcmp(out, again) != 0)
			fuzz_fail("phone_normalize is not idempotent");
		/* Nor does it depend on the default code any more. */
		if (phone_normalize(out, "", again, sizeof(again)) != 0 ||
		    strcmp(out, again) != 0)
			fuzz_fail("an E.164 number depends on the default "
			    "country code");
	} else if (out[0] != '\0')
		fuzz_fail("phone_normalize failed and left out stale");

	/* Every output size, in a buffer of exactly that size. */
	outlen = size % (PHONE_E164_SIZE + 1);
	if ((small = malloc(outlen ? outlen : 1)) == NULL)
		abort();
	if (phone_normalize(in, cc, small, outlen) == 0 &&
	    (memchr(small, '\0', outlen) == NULL || !phone_is_e164(small)))
		fuzz_fail("phone_normalize into a small buffer");
	free(small);
	(void)phone_is_e164(in);
	free(in);
	free(cc);
	return 0;
}
