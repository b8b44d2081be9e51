/*
 * fuzz_rfc3339: rfc3339_to_utc on any bytes (the API's retry_at).  What
 * it accepts is "YYYY-MM-DDTHH:MM:SSZ", a real UTC time, and converting
 * that again gives it back.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "rfc3339.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
utc_shape(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";

	if (strlen(s) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i] != '\0'; i++)
		if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' :
		    s[i] != shape[i])
			return false;
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, out[RFC3339_UTC_SIZE], again[RFC3339_UTC_SIZE];

	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	memset(out, 0x55, sizeof(out));
	if (rfc3339_to_utc(s, out)) {
		fuzz_check_terminated("rfc3339 out", out, sizeof(out));
		if (!utc_shape(out))
			fuzz_fail("rfc3339_to_utc gave a malformed time");
		if (!rfc3339_to_utc(out, again) || strcmp(out, again) != 0)
			fuzz_fail("rfc3339_to_utc is not idempotent");
	}
	free(s);
	return 0;
}
