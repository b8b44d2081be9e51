/*
 * fuzz_menu: menu_parse on any bytes (the operator's menu file).  A
 * refused menu gets a NUL-terminated reason; an accepted one is walked
 * (menu_walk.h) with every option number, the more key and junk, as
 * USSD pages and as SMS, and every page checked.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "menu.h"
#include "menu_walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const walks[][8] = {
		{ "1", "1", "1", "1", "1", "1", "1", "1" },
		{ "2", "2", "99", "2", "2", "99", "2", "2" },
		{ "3", "x", "1", "3", "0", "4", "1", "2" },
		{ "99", "99", "99", "1", "99", "99", "2", "99" },
		{ "20", "9", "5", "12", " 1 ", "", "1*2", "STOP" },
		/* Words, as a texter may type them at a verification node. */
		{ "Zebra", "hello world", "skip", "bo qua", "ab", "1",
		    "Xoa\xcc\x80i", "1" },
	};
	char err[4096];
	struct menu *menu;

	memset(err, 0x55, sizeof(err));
	err[0] = '\0';
	if ((menu = menu_parse((const char *)data, size, err,
	    sizeof(err))) == NULL) {
		/* Terminated; UTF-8 only as far as Jansson's own "near"
		 * text is (see fuzz_config.c). */
		fuzz_check_terminated("menu_parse err", err, sizeof(err));
		return 0;
	}
	if (!menu_has_language(menu, menu_default_language(menu)))
		fuzz_fail("the default language is not one of the menu's");
	for (size_t w = 0; w < sizeof(walks) / sizeof(walks[0]); w++) {
		menu_walk(menu, NULL, walks[w], 8, true, false);
		menu_walk(menu, NULL, walks[w], 8, true, true);
		menu_walk(menu, "en", walks[w], 8, false, false);
	}
	menu_free(menu);
	return 0;
}
