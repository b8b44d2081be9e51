/*
 * menu_walk: a caller's walk through a menu, checked at every page; what
 * fuzz_menu (any menu) and fuzz_menu_walk (the shipped menu, any input)
 * share.
 */
#ifndef HOTLINE_FUZZ_MENU_WALK_H
#define HOTLINE_FUZZ_MENU_WALK_H

#include <stdbool.h>
#include <stddef.h>

struct menu;

/* Start in `language` (NULL: the default), then apply each of the
 * ninputs inputs, rendering every page under the USSD budget (or
 * unpaged when !ussd, folded when fold) and checking it: NUL-terminated,
 * valid UTF-8, within the budget; an invalid input leaves the node. */
void menu_walk(const struct menu *menu, const char *language,
    const char *const *inputs, size_t ninputs, bool ussd, bool fold);

#endif
