/*
 * fuzz_menu_walk: a caller's inputs against the shipped menu
 * (config/menu.json).  Input: the first byte picks the language and the
 * rendering (USSD pages or SMS, folded or not); the rest is the inputs,
 * one per line (a USSD text "1*2*99" is split on '*' too, as the USSD
 * handler does).  Every page is checked (menu_walk.h), keyword matching
 * runs on every input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "menu.h"
#include "menu_walk.h"

#ifndef FUZZ_MENU_PATH
#define FUZZ_MENU_PATH "config/menu.json"
#endif

#define MAX_INPUTS 64

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct menu *menu;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char text[1 << 16], err[4096];
	FILE *f;
	size_t n;

	(void)argc;
	(void)argv;
	if ((f = fopen(FUZZ_MENU_PATH, "rb")) == NULL) {
		perror(FUZZ_MENU_PATH);
		abort();
	}
	n = fread(text, 1, sizeof(text), f);
	fclose(f);
	if ((menu = menu_parse(text, n, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", FUZZ_MENU_PATH, err);
		abort();
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const languages[] = { NULL, "vi", "en", "xx" };
	const char *inputs[MAX_INPUTS];
	size_t n = 0;
	char *s, *p;
	unsigned flags = size > 0 ? data[0] : 0;

	if (size == 0)
		return 0;
	if ((s = malloc(size)) == NULL)
		abort();
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	for (p = s; n < MAX_INPUTS; ) {
		size_t len = strcspn(p, (flags & 8) ? "\n*" : "\n");

		inputs[n++] = p;
		if (p[len] == '\0')
			break;
		p[len] = '\0';
		p += len + 1;
	}
	menu_walk(menu, languages[flags & 3], inputs, n, flags & 4,
	    flags & 16);
	free(s);
	return 0;
}
