/*
 * fuzz_config: config_load on any bytes as hotlined.json, in a scratch
 * directory that also holds the shipped menu.json and two secret files
 * ("pseudonym.key", "secret"; $CREDENTIALS_DIRECTORY points there), so
 * a seed can load in full.  A refused file gets a NUL-terminated
 * reason; a loaded one is queried and freed (LeakSanitizer checks that
 * everything is).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

#ifndef FUZZ_MENU_PATH
#define FUZZ_MENU_PATH "config/menu.json"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256];
static char path[320], files[5][320];

static void
write_file(const char *name, const void *data, size_t size, size_t slot)
{
	FILE *f;

	snprintf(files[slot], sizeof(files[slot]), "%s/%s", dir, name);
	if ((f = fopen(files[slot], "wb")) == NULL ||
	    fwrite(data, 1, size, f) != size || fclose(f) != 0) {
		perror(files[slot]);
		abort();
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char menu[1 << 16];
	FILE *f;
	size_t n;

	(void)argc;
	(void)argv;
	fuzz_scratch_dir("config", dir, sizeof(dir));
	if ((f = fopen(FUZZ_MENU_PATH, "rb")) == NULL) {
		perror(FUZZ_MENU_PATH);
		abort();
	}
	n = fread(menu, 1, sizeof(menu), f);
	fclose(f);
	write_file("menu.json", menu, n, 0);
	write_file("pseudonym.key", "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff\n", 65, 1);
	write_file("secret", "s3cret\n", 7, 2);
	write_file("data.key", "ffeeddccbbaa99887766554433221100"
	    "ffeeddccbbaa99887766554433221100\n", 65, 4);
	snprintf(path, sizeof(path), "%s/hotlined.json", dir);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	setenv("HOTLINE_FUZZ_SECRET", "from-the-environment", 1);
	fuzz_quiet_log();
	return 0;
}

static void
load(bool skip_secrets)
{
	struct config_overrides ov = { .skip_secrets = skip_secrets };
	struct config *c;
	char err[8192];

	memset(err, 0x55, sizeof(err));
	err[0] = '\0';
	if ((c = config_load(path, &ov, err, sizeof(err))) == NULL) {
		if (getenv("FUZZ_VERBOSE") != NULL)
			fprintf(stderr, "config_load: %s\n", err);
		/* Terminated, but not always UTF-8: a JSON syntax error
		 * quotes Jansson's "near '...'", which cuts the file at a
		 * byte.  The text is for the operator's terminal. */
		fuzz_check_terminated("config_load err", err, sizeof(err));
		return;
	}
	for (size_t i = 0; i < c->nchannels; i++)
		if (config_channel_find(c, c->channels[i].name) == NULL)
			fuzz_fail("a loaded channel cannot be found");
	if (config_window_for(c, NULL) == NULL ||
	    config_window_for(c, "morning") == NULL)
		fuzz_fail("no default contact window");
	(void)config_template(c, "missed_call", NULL);
	config_free(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	write_file("hotlined.json", data, size, 3);
	/* As hotlinectl reads it (secrets' form only), then as the
	 * daemon does. */
	load(true);
	load(false);
	return 0;
}
