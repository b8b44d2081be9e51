#include "http_client.h"

#include <stdio.h>

#include <curl/curl.h>

int
http_client_global_init(char *err, size_t errlen)
{
	const curl_version_info_data *info;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "libcurl failed to initialise");
		return -1;
	}
	info = curl_version_info(CURLVERSION_NOW);
	if (info == NULL || !(info->features & CURL_VERSION_ASYNCHDNS)) {
		snprintf(err, errlen, "libcurl %s lacks asynchronous DNS; a "
		    "lookup would stall the event loop",
		    info ? info->version : "?");
		curl_global_cleanup();
		return -1;
	}
	return 0;
}

void
http_client_global_cleanup(void)
{
	curl_global_cleanup();
}
