/* menu_walk: see menu_walk.h. */
#include "menu_walk.h"

#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "menu.h"
#include "smstext.h"

static void
render_check(const struct menu *menu, const struct menu_state *st,
    const struct menu_render_opts *opts)
{
	char page[2048];
	struct smstext_measure m;

	memset(page, 0x55, sizeof(page));
	if (menu_render(menu, st, opts, page, sizeof(page)) < 0) {
		if (page[0] != '\0')
			fuzz_fail("menu_render failed and left a page");
		return;
	}
	fuzz_check_text("menu page", page, sizeof(page));
	if (opts->max_octets > 0) {
		if (smstext_measure(page, &m) < 0)
			fuzz_fail("menu page not measurable");
		if (m.octets > opts->max_octets)
			fuzz_fail("menu page over its budget");
	}
}

void
menu_walk(const struct menu *menu, const char *language,
    const char *const *inputs, size_t ninputs, bool ussd, bool fold)
{
	/* Over SMS the caller can type, as the daemon's conversation
	 * says: a verification node takes a word. */
	struct menu_render_opts opts = { .fold_vietnamese = fold,
	    .max_octets = ussd ? SMSTEXT_USSD_OCTETS : 0, .typed = !ussd };
	char word[MENU_WORD_SIZE];
	struct menu_state st, before;
	const char *s, *q, *l;

	menu_start(menu, language, &st);
	render_check(menu, &st, &opts);
	for (size_t i = 0; i < ninputs; i++) {
		(void)menu_match_keyword(menu, inputs[i]);
		before = st;
		switch (menu_step(menu, &st, inputs[i], &opts)) {
		case MENU_STEP_INVALID:
			if (strcmp(before.node, st.node) != 0 || !st.invalid)
				fuzz_fail("an invalid input moved the caller");
			break;
		case MENU_STEP_FINISHED:
			if (memcmp(&before, &st, sizeof(st)) != 0)
				fuzz_fail("input after the end changed the "
				    "state");
			break;
		case MENU_STEP_MOVED:
		case MENU_STEP_PAGED:
			break;
		}
		fuzz_check_terminated("state node", st.node,
		    sizeof(st.node));
		fuzz_check_text("answers topic", st.answers.topic,
		    sizeof(st.answers.topic));
		fuzz_check_text("answers preferred_time",
		    st.answers.preferred_time,
		    sizeof(st.answers.preferred_time));
		fuzz_check_text("answers language", st.answers.language,
		    sizeof(st.answers.language));
		fuzz_check_text("answers verification",
		    st.answers.verification, sizeof(st.answers.verification));
		/* A word kept is one a caller could have typed, as kept. */
		if (st.answers.verification[0] != '\0' &&
		    (!menu_word_parse(st.answers.verification, word,
		    sizeof(word)) ||
		    strcmp(word, st.answers.verification) != 0))
			fuzz_fail("a verification word that is not a word");
		render_check(menu, &st, &opts);
		(void)menu_is_terminal(menu, &st);
		(void)menu_ends(menu, &st, &opts);
		(void)menu_current_action(menu, &st);
		if ((s = menu_string(menu, "invalid_choice", &st)) != NULL &&
		    !fuzz_utf8_valid(s, strlen(s)))
			fuzz_fail("menu_string not UTF-8");
		if (menu_describe(menu, "topic", st.answers.topic,
		    st.answers.language, &q, &l) && (q == NULL || l == NULL))
			fuzz_fail("menu_describe gave NULL");
	}
	if (menu_goto_urgent(menu, &st))
		render_check(menu, &st, &opts);
}
