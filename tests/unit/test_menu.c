/*
 * menu: the shipped config/menu.json walked down every path in both
 * languages, its pages measured against the USSD screen, invalid input,
 * paging, and the validator's messages.  Tables first; each row names
 * what it checks so a failure says which case broke.  Run from the
 * repository root (the Makefile does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "menu.h"
#include "smstext.h"

#define NROWS(a) (sizeof(a) / sizeof((a)[0]))
#define SHIPPED_MENU "config/menu.json"
#define MENU_FILE_MAX (256 * 1024)
#define PAGE_SIZE 4096
#define ERR_SIZE 8192
#define MAX_PAGES 32

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL)
		fail_msg("cannot open %s (run from the repository root)",
		    path);
	buf = malloc(MENU_FILE_MAX);
	assert_non_null(buf);
	n = fread(buf, 1, MENU_FILE_MAX, f);
	assert_true(n < MENU_FILE_MAX);
	fclose(f);
	*len = n;
	return buf;
}

static struct menu *
parse_ok(const char *json)
{
	char err[ERR_SIZE];
	struct menu *m = menu_parse(json, strlen(json), err, sizeof(err));

	if (m == NULL)
		fail_msg("menu refused:\n%s", err);
	return m;
}

static int
load_shipped(void **state)
{
	char err[ERR_SIZE];
	size_t len;
	char *text = read_file(SHIPPED_MENU, &len);
	struct menu *m = menu_parse(text, len, err, sizeof(err));

	free(text);
	if (m == NULL) {
		fprintf(stderr, "%s refused:\n%s\n", SHIPPED_MENU, err);
		return -1;
	}
	*state = m;
	return 0;
}

static int
free_shipped(void **state)
{
	menu_free(*state);
	return 0;
}

/* A state at node, page 0, showing pages in lang: states are plain
 * values, so a test may put the caller anywhere. */
static struct menu_state
at_node(const struct menu *m, const char *node, const char *lang)
{
	struct menu_state st;

	menu_start(m, lang, &st);
	assert_true(strlen(node) < sizeof(st.node));
	memcpy(st.node, node, strlen(node) + 1);
	return st;
}

static void
render_ok(const struct menu *m, const struct menu_state *st,
    const struct menu_render_opts *o, char *page)
{
	if (menu_render(m, st, o, page, PAGE_SIZE) != 0)
		fail_msg("cannot render node %s page %u", st->node, st->page);
}

/* Every page of the caller's node, following more_key; returns how
 * many.  Leaves *st on the last page. */
static size_t
pages_with_key(const struct menu *m, struct menu_state *st,
    const struct menu_render_opts *o, const char *more_key,
    char pages[][PAGE_SIZE])
{
	size_t n = 0;

	for (;;) {
		assert_true(n < MAX_PAGES);
		render_ok(m, st, o, pages[n++]);
		struct menu_state before = *st;

		if (menu_step(m, st, more_key, o) != MENU_STEP_PAGED) {
			/* Not paged: the state is the same page again
			 * (invalid on an options node). */
			assert_string_equal(st->node, before.node);
			assert_int_equal(st->page, before.page);
			*st = before;
			return n;
		}
		assert_int_equal(st->page, before.page + 1);
	}
}

/* The same, with the shipped menu's more_key. */
static size_t
all_pages(const struct menu *m, struct menu_state *st,
    const struct menu_render_opts *o, char pages[][PAGE_SIZE])
{
	return pages_with_key(m, st, o, "99", pages);
}

static bool
ends_with_line(const char *page, const char *line)
{
	size_t p = strlen(page), l = strlen(line);

	return p >= l && strcmp(page + p - l, line) == 0 &&
	    (p == l || page[p - l - 1] == '\n');
}

static bool
starts_with_line(const char *page, const char *line)
{
	size_t l = strlen(line);

	return strncmp(page, line, l) == 0 &&
	    (page[l] == '\n' || page[l] == '\0');
}

static bool
has_line_starting(const char *page, const char *prefix)
{
	const char *p = page;

	for (;;) {
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			return true;
		if ((p = strchr(p, '\n')) == NULL)
			return false;
		p++;
	}
}

/* Whether hay holds needle, ASCII letters in any case (the Vietnamese
 * words to look for are written in lower case). */
static bool
contains_folded_case(const char *hay, const char *needle)
{
	char low[PAGE_SIZE];
	size_t i;

	for (i = 0; hay[i] != '\0' && i + 1 < sizeof(low); i++)
		low[i] = (hay[i] >= 'A' && hay[i] <= 'Z') ?
		    (char)(hay[i] - 'A' + 'a') : hay[i];
	low[i] = '\0';
	return strstr(low, needle) != NULL;
}

/* s without any whitespace: what pages must keep of a text, whatever
 * the line breaks. */
static void
squeeze(char *out, size_t size, const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (*s != ' ' && *s != '\n') {
			assert_true(n + 1 < size);
			out[n++] = *s;
		}
	out[n] = '\0';
}

/* ------------------------------------------------------------------ */
/* The shipped menu                                                    */

static const char *const shipped_nodes[] = { "language", "need", "urgent",
	"info", "safe_call", "word", "when", "safe_sms", "confirm", "done",
	"cancelled" };
static const char *const shipped_languages[] = { "vi", "en" };

/* The render modes a channel can use; all must walk the same paths. */
static const struct menu_render_opts modes[] = {
	{ .fold_vietnamese = false, .max_octets = SMSTEXT_USSD_OCTETS },
	{ .fold_vietnamese = true, .max_octets = SMSTEXT_USSD_OCTETS },
	{ .fold_vietnamese = false, .max_octets = 0 },
	/* SMS, where a caller can type a word as well. */
	{ .fold_vietnamese = false, .max_octets = 0, .typed = true },
	{ .fold_vietnamese = true, .max_octets = 0, .typed = true },
};

/* The shipped word lists (config/menu.json, node "word"), in order;
 * the last option skips. */
static const char *const shipped_words[2][7] = {
	{ "Cam", "Chuối", "Táo", "Xoài", "Dừa", "Sen", "Cúc" },
	{ "Orange", "Banana", "Apple", "Mango", "Coconut", "Lotus", "Daisy" },
};
#define SHIPPED_WORD_OPTIONS 8

struct walk_case {
	const char *name;
	const char *start_language;	/* the channel's; NULL: default */
	const char *inputs[16];		/* NULL-terminated */
	const char *node;
	enum menu_action action;
	const char *language;
	const char *topic;
	enum menu_answer safe_to_call;
	const char *preferred_time;
	enum menu_answer safe_to_sms;
	enum menu_priority priority;
	const char *verification;	/* NULL: "" */
};

static const struct walk_case walk_cases[] = {
	{ "vi counselling: safe to call, Cam, morning, no texts, sent", NULL,
	    { "1", "1", "1", "1", "2", "2", "1" }, "done",
	    MENU_ACTION_CREATE_TASK, "vi", "counselling", MENU_YES, "morning",
	    MENU_NO, MENU_PRIORITY_NORMAL, "Cam" },
	{ "en counselling: not safe to call, now, texts ok, sent", NULL,
	    { "2", "1", "2", "1", "1", "1" }, "done", MENU_ACTION_CREATE_TASK,
	    "en", "counselling", MENU_NO, "now", MENU_YES,
	    MENU_PRIORITY_NORMAL },
	{ "vi report: not safe to call, evening, texts ok, sent", NULL,
	    { "1", "4", "2", "4", "1", "1" }, "done", MENU_ACTION_CREATE_TASK,
	    "vi", "report", MENU_NO, "evening", MENU_YES,
	    MENU_PRIORITY_NORMAL },
	{ "en report: safe to call, Apple, afternoon, no texts, sent", NULL,
	    { "2", "4", "1", "3", "3", "2", "1" }, "done",
	    MENU_ACTION_CREATE_TASK, "en", "report", MENU_YES, "afternoon",
	    MENU_NO, MENU_PRIORITY_NORMAL, "Apple" },
	{ "en counselling: safe to call, word skipped, sent", NULL,
	    { "2", "1", "1", "8", "1", "1", "1" }, "done",
	    MENU_ACTION_CREATE_TASK, "en", "counselling", MENU_YES, "now",
	    MENU_YES, MENU_PRIORITY_NORMAL, NULL },
	{ "vi urgent creates an urgent task at once", NULL, { "1", "2" },
	    "urgent", MENU_ACTION_CREATE_TASK, "vi", "urgent",
	    MENU_UNANSWERED, "", MENU_UNANSWERED, MENU_PRIORITY_URGENT },
	{ "en urgent creates an urgent task at once", NULL, { "2", "2" },
	    "urgent", MENU_ACTION_CREATE_TASK, "en", "urgent",
	    MENU_UNANSWERED, "", MENU_UNANSWERED, MENU_PRIORITY_URGENT },
	{ "vi information ends without a task", NULL, { "1", "3" }, "info",
	    MENU_ACTION_NONE, "vi", "information", MENU_UNANSWERED, "",
	    MENU_UNANSWERED, MENU_PRIORITY_NORMAL },
	{ "en information ends without a task", NULL, { "2", "3" }, "info",
	    MENU_ACTION_NONE, "en", "information", MENU_UNANSWERED, "",
	    MENU_UNANSWERED, MENU_PRIORITY_NORMAL },
	{ "vi cancel ends without a task", NULL,
	    { "1", "1", "1", "2", "1", "1", "2" }, "cancelled",
	    MENU_ACTION_NONE, "vi", "counselling", MENU_YES, "now", MENU_YES,
	    MENU_PRIORITY_NORMAL, "Chuối" },
	{ "en report cancelled ends without a task", NULL,
	    { "2", "4", "2", "2", "2", "2" }, "cancelled", MENU_ACTION_NONE,
	    "en", "report", MENU_NO, "morning", MENU_NO,
	    MENU_PRIORITY_NORMAL },
	{ "channel language en still lets the caller pick vi", "en",
	    { "1", "3" }, "info", MENU_ACTION_NONE, "vi", "information",
	    MENU_UNANSWERED, "", MENU_UNANSWERED, MENU_PRIORITY_NORMAL },
	{ "spaces, tabs and CR LF around choices are ignored", NULL,
	    { " 2", "1\r\n", "\t1 ", " 6\r\n", " 4\n", "2", "1 " }, "done",
	    MENU_ACTION_CREATE_TASK, "en", "counselling", MENU_YES,
	    "evening", MENU_NO, MENU_PRIORITY_NORMAL, "Lotus" },
	{ "typos on the way change nothing (a word is not typed on USSD)",
	    NULL, { "1", "7", "1", "", "abc", "1", "0", "Cam", "9", "2",
	    "0", "2", "3", "1", "1" }, "done", MENU_ACTION_CREATE_TASK, "vi",
	    "counselling", MENU_YES, "morning", MENU_YES,
	    MENU_PRIORITY_NORMAL, "Chuối" },
	{ "more key, then a choice from the second page", NULL,
	    { "1", "99", "4", "1", "99", "5", "99", "4", "1", "1" }, "done",
	    MENU_ACTION_CREATE_TASK, "vi", "report", MENU_YES, "evening",
	    MENU_YES, MENU_PRIORITY_NORMAL, "Dừa" },
};

static void
shipped_walks_end_with_exact_answers(void **state)
{
	const struct menu *m = *state;
	const struct menu_render_opts o = modes[0];
	char page[PAGE_SIZE];
	size_t i, k;

	for (i = 0; i < NROWS(walk_cases); i++) {
		const struct walk_case *c = &walk_cases[i];
		struct menu_state st;

		print_message("  %s\n", c->name);
		menu_start(m, c->start_language, &st);
		for (k = 0; c->inputs[k] != NULL; k++) {
			assert_false(menu_is_terminal(m, &st));
			assert_int_not_equal(menu_step(m, &st, c->inputs[k],
			    &o), MENU_STEP_FINISHED);
			render_ok(m, &st, &o, page);
		}
		assert_string_equal(st.node, c->node);
		assert_true(menu_is_terminal(m, &st));
		assert_int_equal(menu_current_action(m, &st), c->action);
		assert_string_equal(st.answers.language, c->language);
		assert_string_equal(st.answers.topic, c->topic);
		assert_int_equal(st.answers.safe_to_call, c->safe_to_call);
		assert_string_equal(st.answers.preferred_time,
		    c->preferred_time);
		assert_int_equal(st.answers.safe_to_sms, c->safe_to_sms);
		assert_int_equal(st.answers.priority, c->priority);
		assert_string_equal(st.answers.verification,
		    c->verification ? c->verification : "");
		assert_false(st.invalid);
		assert_int_equal(st.page, 0);
	}
}

/*
 * Every path through the shipped menu, in every render mode: each choice
 * moves, and the end carries exactly the answers given.  Expectations
 * come from these tables, not from the menu.
 */
static void
shipped_every_path_in_every_mode(void **state)
{
	static const char *const topics[] = { "counselling", "urgent",
	    "information", "report" };
	static const char *const times[] = { "now", "morning", "afternoon",
	    "evening" };
	const struct menu *m = *state;
	char page[PAGE_SIZE], in[4][4];
	size_t mode, lang, need, call, word, when, sms, confirm, paths = 0;

	for (mode = 0; mode < NROWS(modes); mode++)
	for (lang = 1; lang <= 2; lang++)
	for (need = 1; need <= 4; need++)
	for (call = 1; call <= 2; call++)
	for (word = 1; word <= SHIPPED_WORD_OPTIONS; word++)
	for (when = 1; when <= 4; when++)
	for (sms = 1; sms <= 2; sms++)
	for (confirm = 1; confirm <= 2; confirm++) {
		const struct menu_render_opts *o = &modes[mode];
		bool asks = need == 1 || need == 4;
		/* The word is asked only of a caller safe to call. */
		bool words = asks && call == 1;
		size_t choices[7] = { lang, need, call, word, when, sms,
		    confirm };
		size_t n = asks ? 7 : 2, k, c;
		struct menu_state st;

		/* The short paths do not depend on the later choices. */
		if (!asks && (call > 1 || word > 1 || when > 1 || sms > 1 ||
		    confirm > 1))
			continue;
		if (!words && word > 1)
			continue;
		paths++;
		menu_start(m, NULL, &st);
		for (k = 0; k < n; k++) {
			if (k == 3 && !words)
				continue;
			c = choices[k];
			snprintf(in[k % 4], sizeof(in[0]), "%zu", c);
			assert_int_equal(menu_step(m, &st, in[k % 4], o),
			    MENU_STEP_MOVED);
			render_ok(m, &st, o, page);
		}
		assert_true(menu_is_terminal(m, &st));
		assert_string_equal(st.answers.language,
		    shipped_languages[lang - 1]);
		assert_string_equal(st.answers.topic, topics[need - 1]);
		assert_int_equal(st.answers.priority, need == 2 ?
		    MENU_PRIORITY_URGENT : MENU_PRIORITY_NORMAL);
		if (need == 2) {
			assert_string_equal(st.node, "urgent");
			assert_int_equal(menu_current_action(m, &st),
			    MENU_ACTION_CREATE_TASK);
			continue;
		}
		if (need == 3) {
			assert_string_equal(st.node, "info");
			assert_int_equal(menu_current_action(m, &st),
			    MENU_ACTION_NONE);
			continue;
		}
		assert_int_equal(st.answers.safe_to_call,
		    call == 1 ? MENU_YES : MENU_NO);
		assert_string_equal(st.answers.verification, words &&
		    word < SHIPPED_WORD_OPTIONS ?
		    shipped_words[lang - 1][word - 1] : "");
		assert_string_equal(st.answers.preferred_time,
		    times[when - 1]);
		assert_int_equal(st.answers.safe_to_sms,
		    sms == 1 ? MENU_YES : MENU_NO);
		assert_string_equal(st.node, confirm == 1 ? "done" :
		    "cancelled");
		assert_int_equal(menu_current_action(m, &st), confirm == 1 ?
		    MENU_ACTION_CREATE_TASK : MENU_ACTION_NONE);
	}
	/* 2 languages x (2 topics x (8 words + 1 not safe) x 4 x 2 x 2 + 2
	 * short), per mode. */
	assert_int_equal(paths, NROWS(modes) * 2 * (2 * 9 * 16 + 2));
}

static void
shipped_language_choice_switches_pages(void **state)
{
	const struct menu *m = *state;
	const struct menu_render_opts o = modes[0];
	char page[PAGE_SIZE];
	struct menu_state st;

	menu_start(m, NULL, &st);
	assert_string_equal(st.answers.language, "vi");
	assert_int_equal(menu_step(m, &st, "2", &o), MENU_STEP_MOVED);
	render_ok(m, &st, &o, page);
	assert_true(starts_with_line(page, "How can we help?"));

	menu_start(m, NULL, &st);
	assert_int_equal(menu_step(m, &st, "1", &o), MENU_STEP_MOVED);
	render_ok(m, &st, &o, page);
	assert_true(starts_with_line(page, "Bạn cần gì?"));

	menu_start(m, "en", &st);
	assert_string_equal(st.answers.language, "en");
	menu_start(m, "fr", &st);
	assert_string_equal(st.answers.language, "vi");
	assert_true(menu_has_language(m, "vi"));
	assert_true(menu_has_language(m, "en"));
	assert_false(menu_has_language(m, "fr"));
	assert_false(menu_has_language(m, NULL));
}

/* The first screens may be read by someone else. */
static void
shipped_first_screens_are_discreet(void **state)
{
	static const char *const words[] = { "traffick", "abuse", "police",
	    "buôn bán", "mua bán", "lạm dụng", "công an", "bạo lực",
	    "violence", "exploit", "bóc lột" };
	static const char *const first[] = { "language", "need" };
	const struct menu *m = *state;
	char pages[MAX_PAGES][PAGE_SIZE];
	size_t f, l, md, p, n, w;

	for (f = 0; f < NROWS(first); f++)
	for (l = 0; l < NROWS(shipped_languages); l++)
	for (md = 0; md < NROWS(modes); md++) {
		struct menu_state st = at_node(m, first[f],
		    shipped_languages[l]);

		n = all_pages(m, &st, &modes[md], pages);
		for (p = 0; p < n; p++)
			for (w = 0; w < NROWS(words); w++)
				if (contains_folded_case(pages[p], words[w]))
					fail_msg("%s page %zu says \"%s\"",
					    first[f], p, words[w]);
	}
}

static void
shipped_urgent_choice_is_on_the_first_screen(void **state)
{
	const struct menu *m = *state;
	char page[PAGE_SIZE];
	size_t l, md;

	for (l = 0; l < NROWS(shipped_languages); l++)
	for (md = 0; md < NROWS(modes); md++) {
		struct menu_state st = at_node(m, "need",
		    shipped_languages[l]);

		render_ok(m, &st, &modes[md], page);
		assert_true(has_line_starting(page, "2. "));
	}
}

/* ------------------------------------------------------------------ */
/* Invalid input                                                       */

static const struct {
	const char *name;
	const char *input;
} bad_inputs[] = {
	{ "empty", "" },
	{ "only spaces", "  \t\r\n" },
	{ "zero", "0" },
	{ "past the last option", "5" },
	{ "far past the options", "21" },
	{ "letters", "abc" },
	{ "leading zero", "01" },
	{ "sign", "+1" },
	{ "negative", "-1" },
	{ "two choices", "1 2" },
	{ "star", "*" },
	{ "hash", "#" },
	{ "trailing dot", "1." },
	{ "arabic-indic digit", "\xd9\xa1" },
	{ "fullwidth digit", "\xef\xbc\x91" },
	{ "three digits", "100" },
	{ "more key on the last page", "99" },
	{ "long junk", "11111111111111111111111111111111111111111111111111" },
};

static void
invalid_choice_repeats_page_and_never_ends(void **state)
{
	const struct menu *m = *state;
	char before[PAGE_SIZE], after[PAGE_SIZE], expect[PAGE_SIZE * 2];
	size_t i, l, md, r;

	for (i = 0; i < NROWS(bad_inputs); i++)
	for (l = 0; l < NROWS(shipped_languages); l++)
	for (md = 0; md < NROWS(modes); md++) {
		const struct menu_render_opts *o = &modes[md];
		struct menu_state st = at_node(m, "need",
		    shipped_languages[l]), start, probe;
		char inv[PAGE_SIZE];

		/* Stand on the last page, where the more key is a typo too. */
		while ((probe = st, menu_step(m, &probe, "99", o)) ==
		    MENU_STEP_PAGED)
			st = probe;
		start = st;
		render_ok(m, &st, o, before);
		/* The invalid line, as this mode writes it. */
		{
			struct menu_state t = at_node(m, "need",
			    shipped_languages[l]);

			assert_int_equal(menu_step(m, &t, "0", o),
			    MENU_STEP_INVALID);
			t.page = 0;
			render_ok(m, &t, o, inv);
			*strchr(inv, '\n') = '\0';
		}
		snprintf(expect, sizeof(expect), "%s\n%s", inv, before);

		/* Again and again: never ends, same page every time. */
		for (r = 0; r < 25; r++) {
			if (menu_step(m, &st, bad_inputs[i].input, o) !=
			    MENU_STEP_INVALID)
				fail_msg("input %s was not invalid",
				    bad_inputs[i].name);
			assert_true(st.invalid);
			assert_string_equal(st.node, start.node);
			assert_int_equal(st.page, start.page);
			assert_false(menu_is_terminal(m, &st));
			assert_memory_equal(&st.answers, &start.answers,
			    sizeof(st.answers));
			render_ok(m, &st, o, after);
			assert_string_equal(after, expect);
		}
		/* A valid choice clears it. */
		assert_int_equal(menu_step(m, &st, "3", o), MENU_STEP_MOVED);
		assert_false(st.invalid);
		assert_string_equal(st.node, "info");
	}
}

static void
invalid_line_uses_the_caller_language(void **state)
{
	const struct menu *m = *state;
	static const struct {
		const char *lang;
		bool fold;
		const char *line;
	} rows[] = {
		{ "vi", false, "Lựa chọn không hợp lệ." },
		{ "vi", true, "Lua chon khong hop le." },
		{ "en", false, "Not a valid choice." },
	};
	char page[PAGE_SIZE];
	size_t i;

	for (i = 0; i < NROWS(rows); i++) {
		const struct menu_render_opts o = { .fold_vietnamese =
		    rows[i].fold, .max_octets = SMSTEXT_USSD_OCTETS };
		struct menu_state st = at_node(m, "safe_call", rows[i].lang);

		assert_int_equal(menu_step(m, &st, "7", &o),
		    MENU_STEP_INVALID);
		render_ok(m, &st, &o, page);
		assert_true(starts_with_line(page, rows[i].line));
	}
}

static void
input_at_a_terminal_node_changes_nothing(void **state)
{
	static const char *const inputs[] = { "1", "2", "0", "", "abc" };
	static const char *const ends[] = { "urgent", "done", "cancelled",
	    "info" };
	const struct menu *m = *state;
	size_t e, i, md;

	for (e = 0; e < NROWS(ends); e++)
	for (md = 0; md < NROWS(modes); md++)
	for (i = 0; i < NROWS(inputs); i++) {
		struct menu_state st = at_node(m, ends[e], "en"), before;

		st.answers.priority = MENU_PRIORITY_URGENT;
		before = st;
		assert_int_equal(menu_step(m, &st, inputs[i], &modes[md]),
		    MENU_STEP_FINISHED);
		assert_memory_equal(&st, &before, sizeof(st));
	}
}

/* ------------------------------------------------------------------ */
/* Pages of the shipped menu                                           */

static void
every_shipped_page_fits_a_ussd_screen(void **state)
{
	const struct menu *m = *state;
	char pages[MAX_PAGES][PAGE_SIZE], invalid[PAGE_SIZE];
	size_t nd, l, f, p, n, checked = 0;

	for (nd = 0; nd < NROWS(shipped_nodes); nd++)
	for (l = 0; l < NROWS(shipped_languages); l++)
	for (f = 0; f < 2; f++) {
		const struct menu_render_opts o = { .fold_vietnamese = f,
		    .max_octets = SMSTEXT_USSD_OCTETS };
		struct menu_state st = at_node(m, shipped_nodes[nd],
		    shipped_languages[l]);

		n = all_pages(m, &st, &o, pages);
		for (p = 0; p < n; p++) {
			struct menu_state inv = st;
			struct smstext_measure me;
			const char *variants[2] = { pages[p], invalid };
			size_t v;

			/* The same page after a typo, where one is shown. */
			inv.page = (unsigned)p;
			inv.invalid = !menu_is_terminal(m, &st);
			render_ok(m, &inv, &o, invalid);
			for (v = 0; v < 2; v++) {
				assert_int_equal(smstext_measure(variants[v],
				    &me), 0);
				if (me.octets > SMSTEXT_USSD_OCTETS)
					fail_msg("%s %s fold=%zu page %zu: "
					    "%zu octets:\n%s",
					    shipped_nodes[nd],
					    shipped_languages[l], f, p,
					    me.octets, variants[v]);
				if (me.encoding == SMSTEXT_UCS2)
					assert_true(me.units <= 80);
				else
					assert_true(me.units <= 182);
				/* Folded text is all GSM-7. */
				if (f)
					assert_int_equal(me.encoding,
					    SMSTEXT_GSM7);
				checked++;
			}
		}
	}
	assert_true(checked >= NROWS(shipped_nodes) * 2 * 2 * 2);
}

static void
vietnamese_pages_are_ucs2_unless_folded(void **state)
{
	const struct menu *m = *state;
	char page[PAGE_SIZE];
	struct smstext_measure me;
	size_t nd;

	for (nd = 0; nd < NROWS(shipped_nodes); nd++) {
		const struct menu_render_opts plain = modes[0], folded =
		    modes[1];
		struct menu_state st = at_node(m, shipped_nodes[nd], "vi");

		render_ok(m, &st, &plain, page);
		assert_int_equal(smstext_measure(page, &me), 0);
		assert_int_equal(me.encoding, SMSTEXT_UCS2);
		assert_true(me.units <= 80);
		render_ok(m, &st, &folded, page);
		assert_int_equal(smstext_measure(page, &me), 0);
		assert_int_equal(me.encoding, SMSTEXT_GSM7);
		assert_true(me.units <= 182);
	}
}

static void
long_info_pages_through_with_the_more_key(void **state)
{
	const struct menu *m = *state;
	const struct menu_render_opts o = modes[0];
	char pages[MAX_PAGES][PAGE_SIZE], all[PAGE_SIZE * 4];
	char got[PAGE_SIZE * 4], want[PAGE_SIZE * 4], full[PAGE_SIZE];
	struct menu_state st = at_node(m, "info", "vi"), whole;
	size_t n, p, used = 0;

	n = all_pages(m, &st, &o, pages);
	assert_true(n > 1);
	for (p = 0; p < n; p++) {
		char *more;

		/* Every page but the last offers the next one. */
		assert_int_equal(ends_with_line(pages[p], "99. Xem thêm"),
		    p + 1 < n);
		if (p > 0)
			assert_string_not_equal(pages[p], pages[p - 1]);
		if ((more = strstr(pages[p], "\n99. Xem thêm")) != NULL)
			*more = '\0';
		used += (size_t)snprintf(all + used, sizeof(all) - used,
		    "%s\n", pages[p]);
	}
	/* Past the last page the more key ends nothing and moves nothing. */
	assert_int_equal(st.page, n - 1);
	assert_int_equal(menu_step(m, &st, "99", &o), MENU_STEP_FINISHED);
	assert_int_equal(st.page, n - 1);

	/* Nothing of the text is lost or repeated across the pages. */
	whole = at_node(m, "info", "vi");
	render_ok(m, &whole, &modes[2], full);
	squeeze(got, sizeof(got), all);
	squeeze(want, sizeof(want), full);
	assert_string_equal(got, want);

	/* Folded, the same text fits one GSM-7 screen. */
	st = at_node(m, "info", "vi");
	assert_int_equal(all_pages(m, &st, &modes[1], pages), 1);
}

/* A USSD session must not END on the first page of a long terminal
 * node: the caller would never see the rest. */
static void
long_terminal_node_ends_only_on_its_last_page(void **state)
{
	const struct menu *m = *state;
	const struct menu_render_opts o = modes[0];
	char pages[MAX_PAGES][PAGE_SIZE];
	struct menu_state st = at_node(m, "info", "vi");
	size_t n = all_pages(m, &st, &o, pages), p;

	assert_true(n > 1);
	st = at_node(m, "info", "vi");
	for (p = 0; p + 1 < n; p++) {
		assert_false(menu_ends(m, &st, &o));
		assert_int_equal(menu_step(m, &st, "99", &o), MENU_STEP_PAGED);
	}
	assert_true(menu_ends(m, &st, &o));
	/* Folded, one page: it ends at once. */
	st = at_node(m, "info", "vi");
	assert_true(menu_ends(m, &st, &modes[1]));
	/* A node with options never ends the session. */
	st = at_node(m, "need", "vi");
	assert_false(menu_ends(m, &st, &o));
	st = at_node(m, "done", "en");
	assert_true(menu_ends(m, &st, &o));
	st = at_node(m, "nowhere", "en");
	assert_true(menu_ends(m, &st, &o));
}

static void
sms_keywords_match_in_any_spelling(void **state)
{
	const struct menu *m = *state;
	static const struct {
		const char *text;
		enum menu_keyword kw;
	} cases[] = {
		{ "STOP", MENU_KEYWORD_OPT_OUT }, { " stop ", MENU_KEYWORD_OPT_OUT },
		{ "Dừng", MENU_KEYWORD_OPT_OUT }, { "dung", MENU_KEYWORD_OPT_OUT },
		{ "HỦY", MENU_KEYWORD_OPT_OUT }, { "huy", MENU_KEYWORD_OPT_OUT },
		{ "start", MENU_KEYWORD_OPT_IN }, { "BATDAU", MENU_KEYWORD_OPT_IN },
		{ "bắt đầu", MENU_KEYWORD_OPT_IN },
		{ "menu", MENU_KEYWORD_RESTART }, { "Giúp", MENU_KEYWORD_RESTART },
		{ "GIUP", MENU_KEYWORD_RESTART }, { "help", MENU_KEYWORD_RESTART },
		{ "SOS", MENU_KEYWORD_URGENT }, { "cứu", MENU_KEYWORD_URGENT },
		{ "Cứu   tôi", MENU_KEYWORD_URGENT },
		{ "cuu toi\n", MENU_KEYWORD_URGENT },
		{ "stop it", MENU_KEYWORD_NONE }, { "1", MENU_KEYWORD_NONE },
		{ "", MENU_KEYWORD_NONE }, { "stopp", MENU_KEYWORD_NONE },
		{ "\xc3\x28", MENU_KEYWORD_NONE },
	};
	struct menu_state st;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (menu_match_keyword(m, cases[i].text) != cases[i].kw) {
			print_error("keyword case %zu\n", i);
			fail();
		}
	/* The urgent keyword lands on the urgent node with its answers. */
	menu_start(m, "en", &st);
	assert_true(menu_goto_urgent(m, &st));
	assert_string_equal(st.node, "urgent");
	assert_int_equal(st.answers.priority, MENU_PRIORITY_URGENT);
	assert_int_equal(menu_current_action(m, &st), MENU_ACTION_CREATE_TASK);
	assert_non_null(menu_string(m, "opted_out", &st));
	assert_non_null(strstr(menu_string(m, "opted_out", &st), "START"));
}

/* Expected next node per option, from the brief, not from the file. */
static const struct {
	const char *node;
	const char *next[9];
} shipped_edges[] = {
	{ "language", { "need", "need" } },
	{ "need", { "safe_call", "urgent", "info", "safe_call" } },
	{ "safe_call", { "word", "when" } },
	{ "word", { "when", "when", "when", "when", "when", "when", "when",
	    "when" } },
	{ "when", { "safe_sms", "safe_sms", "safe_sms", "safe_sms" } },
	{ "safe_sms", { "confirm", "confirm" } },
	{ "confirm", { "done", "cancelled" } },
};

static void
option_numbers_work_from_any_page(void **state)
{
	const struct menu *m = *state;
	char pages[MAX_PAGES][PAGE_SIZE], num[8];
	size_t e, l, md, k, p, n;

	for (e = 0; e < NROWS(shipped_edges); e++)
	for (l = 0; l < NROWS(shipped_languages); l++)
	for (md = 0; md < NROWS(modes); md++) {
		const struct menu_render_opts *o = &modes[md];
		struct menu_state last = at_node(m, shipped_edges[e].node,
		    shipped_languages[l]);

		n = all_pages(m, &last, o, pages);
		for (k = 0; shipped_edges[e].next[k] != NULL; k++) {
			struct menu_state first = at_node(m,
			    shipped_edges[e].node, shipped_languages[l]);
			struct menu_state end = last;
			bool shown = false;

			snprintf(num, sizeof(num), "%zu", k + 1);
			assert_int_equal(menu_step(m, &first, num, o),
			    MENU_STEP_MOVED);
			assert_string_equal(first.node,
			    shipped_edges[e].next[k]);
			assert_int_equal(menu_step(m, &end, num, o),
			    MENU_STEP_MOVED);
			assert_memory_equal(&first, &end, sizeof(first));

			/* And the caller can see it on some page. */
			snprintf(num, sizeof(num), "%zu. ", k + 1);
			for (p = 0; p < n; p++)
				shown = shown || has_line_starting(pages[p],
				    num);
			assert_true(shown);
		}
		/* One past the last option is not a choice. */
		snprintf(num, sizeof(num), "%zu", k + 1);
		last = at_node(m, shipped_edges[e].node,
		    shipped_languages[l]);
		assert_int_equal(menu_step(m, &last, num, o),
		    MENU_STEP_INVALID);
	}
}

static void
pages_do_not_depend_on_a_typo(void **state)
{
	const struct menu *m = *state;
	char clean[MAX_PAGES][PAGE_SIZE], after[MAX_PAGES][PAGE_SIZE];
	size_t nd, l, md, n1, n2, p;

	for (nd = 0; nd < NROWS(shipped_edges); nd++)
	for (l = 0; l < NROWS(shipped_languages); l++)
	for (md = 0; md < NROWS(modes); md++) {
		struct menu_state a = at_node(m, shipped_edges[nd].node,
		    shipped_languages[l]), b = a;

		n1 = all_pages(m, &a, &modes[md], clean);
		assert_int_equal(menu_step(m, &b, "0", &modes[md]),
		    MENU_STEP_INVALID);
		n2 = all_pages(m, &b, &modes[md], after);
		assert_int_equal(n1, n2);
		/* After the first page the more key cleared the mark. */
		for (p = 1; p < n1; p++)
			assert_string_equal(clean[p], after[p]);
		assert_non_null(strstr(after[0], clean[0]));
	}
}

/* ------------------------------------------------------------------ */
/* Paging of long lines (inline menus)                                 */

#define SPLIT_MENU(text) \
	"{\"languages\": [\"vi\"], \"default_language\": \"vi\"," \
	" \"start\": \"a\", \"more_key\": \"0\"," \
	" \"strings\": {\"invalid_choice\": {\"vi\": \"Sai.\"}," \
	"  \"more\": {\"vi\": \"Thêm\"}}," \
	" \"nodes\": {\"a\": {\"text\": {\"vi\": \"" text "\"}," \
	"  \"options\": [{\"label\": {\"vi\": \"Một\"}, \"next\": \"b\"}]}," \
	"  \"b\": {\"text\": {\"vi\": \"" text "\"}}}}"

#define WORDS "một hai ba bốn năm sáu bảy tám chín mười "
#define GIANT "ệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệ" \
	"ệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệ" \
	"ệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệ"

static const struct {
	const char *name;
	const char *json;
	size_t max_octets;
	bool fold;
	bool hard;		/* one word: cut inside it */
} split_cases[] = {
	{ "long line cut at spaces", SPLIT_MENU(WORDS WORDS WORDS WORDS),
	    SMSTEXT_USSD_OCTETS, false, false },
	{ "long line cut at spaces, small screen",
	    SPLIT_MENU(WORDS WORDS WORDS), 40, false, false },
	{ "long line cut at spaces, folded",
	    SPLIT_MENU(WORDS WORDS WORDS WORDS WORDS WORDS WORDS), 60, true,
	    false },
	{ "giant word cut at character boundaries", SPLIT_MENU(GIANT),
	    SMSTEXT_USSD_OCTETS, false, true },
	{ "giant word, tiny screen", SPLIT_MENU(GIANT), 40, false, true },
};

static void
long_lines_are_split_to_fit_and_keep_every_character(void **state)
{
	char pages[MAX_PAGES][PAGE_SIZE], got[PAGE_SIZE * 4];
	char want[PAGE_SIZE * 4], full[PAGE_SIZE], all[PAGE_SIZE * 8];
	char first[PAGE_SIZE];
	size_t i, n, p, used;
	const char *nodes[] = { "a", "b" };
	size_t nd;

	(void)state;
	for (i = 0; i < NROWS(split_cases); i++)
	for (nd = 0; nd < NROWS(nodes); nd++) {
		struct menu *m = parse_ok(split_cases[i].json);
		const struct menu_render_opts o = { .fold_vietnamese =
		    split_cases[i].fold, .max_octets =
		    split_cases[i].max_octets };
		const struct menu_render_opts whole_o = { .fold_vietnamese =
		    split_cases[i].fold };
		struct menu_state st = at_node(m, nodes[nd], "vi");
		struct menu_state whole = st;

		print_message("  %s, node %s\n", split_cases[i].name,
		    nodes[nd]);
		n = pages_with_key(m, &st, &o, "0", pages);
		assert_true(n > 1);
		memcpy(first, pages[0], sizeof(first));
		used = 0;
		for (p = 0; p < n; p++) {
			struct smstext_measure me;
			char *more;

			assert_int_equal(smstext_measure(pages[p], &me), 0);
			assert_true(me.octets <= o.max_octets);
			/* Cuts at spaces leave no space at either end. */
			assert_true(pages[p][0] != ' ');
			if ((more = strstr(pages[p], "\n0. Th")) != NULL)
				*more = '\0';
			assert_true(pages[p][strlen(pages[p]) - 1] != ' ');
			used += (size_t)snprintf(all + used,
			    sizeof(all) - used, "%s%s", p ? "\n" : "",
			    pages[p]);
		}
		render_ok(m, &whole, &whole_o, full);
		if (!split_cases[i].hard) {
			/* Every word whole, in order. */
			for (p = 0; all[p] != '\0'; p++)
				if (all[p] == '\n')
					all[p] = ' ';
			for (p = 0; full[p] != '\0'; p++)
				if (full[p] == '\n')
					full[p] = ' ';
			assert_non_null(strstr(full, all));
		} else {
			squeeze(got, sizeof(got), all);
			squeeze(want, sizeof(want), full);
			assert_string_equal(got, want);
		}
		/* Deterministic: the same pages a second time. */
		st = at_node(m, nodes[nd], "vi");
		{
			char again[PAGE_SIZE];

			render_ok(m, &st, &o, again);
			assert_string_equal(again, first);
		}
		menu_free(m);
	}
}

/* A one-node menu (terminal, so nothing is reserved) whose text is
 * count copies of unit. */
static char *
terminal_menu(const char *unit, size_t count)
{
	size_t size = 8192, used, i;
	char *s = malloc(size);

	assert_non_null(s);
	used = (size_t)snprintf(s, size,
	    "{\"languages\": [\"vi\"], \"default_language\": \"vi\","
	    " \"start\": \"a\", \"more_key\": \"0\", \"strings\":"
	    " {\"invalid_choice\": {\"vi\": \"Sai.\"}, \"more\": {\"vi\":"
	    " \"Thêm\"}}, \"nodes\": {\"a\": {\"text\": {\"vi\": \"");
	for (i = 0; i < count; i++)
		used += (size_t)snprintf(s + used, size - used, "%s", unit);
	snprintf(s + used, size - used, "\"}}}}");
	assert_true(strlen(s) + 1 < size);
	return s;
}

static void
a_page_may_fill_the_screen_to_the_last_octet(void **state)
{
	static const struct {
		const char *name;
		const char *unit;
		size_t count;
		size_t pages;
	} rows[] = {
		{ "80 UCS-2 units are one screen", "ệ", 80, 1 },
		{ "81 UCS-2 units are two", "ệ", 81, 2 },
		{ "182 GSM-7 characters are one screen", "a", 182, 1 },
		{ "183 GSM-7 characters are two", "a", 183, 2 },
		{ "91 euro signs (two septets each) are one screen", "€", 91,
		    1 },
		{ "92 euro signs are two", "€", 92, 2 },
	};
	const struct menu_render_opts o = modes[0];
	char pages[MAX_PAGES][PAGE_SIZE];
	size_t i, p, n;

	(void)state;
	for (i = 0; i < NROWS(rows); i++) {
		char *json = terminal_menu(rows[i].unit, rows[i].count);
		struct menu *m = parse_ok(json);
		struct menu_state st;

		print_message("  %s\n", rows[i].name);
		menu_start(m, NULL, &st);
		n = pages_with_key(m, &st, &o, "0", pages);
		assert_int_equal(n, rows[i].pages);
		for (p = 0; p < n; p++) {
			struct smstext_measure me;

			assert_int_equal(smstext_measure(pages[p], &me), 0);
			assert_true(me.octets <= SMSTEXT_USSD_OCTETS);
		}
		menu_free(m);
		free(json);
	}
}

static void
no_budget_renders_the_whole_node(void **state)
{
	const struct menu *m = *state;
	const struct menu_render_opts o = { .max_octets = 0 };
	char page[PAGE_SIZE];
	struct menu_state st = at_node(m, "need", "vi");

	render_ok(m, &st, &o, page);
	assert_string_equal(page, "Bạn cần gì?\n1. Gặp tư vấn viên\n"
	    "2. Khẩn cấp\n3. Thông tin dịch vụ hỗ trợ\n"
	    "4. Báo tin về một trường hợp");
	assert_int_equal(menu_step(m, &st, "99", &o), MENU_STEP_INVALID);
	render_ok(m, &st, &o, page);
	assert_true(starts_with_line(page, "Lựa chọn không hợp lệ."));
	assert_int_equal(menu_step(m, &st, "99", NULL), MENU_STEP_INVALID);
	assert_int_equal(menu_render(m, &st, NULL, page, sizeof(page)), 0);
}

static void
render_refuses_what_it_cannot_do(void **state)
{
	const struct menu *m = *state;
	const struct menu_render_opts ussd = modes[0];
	const struct menu_render_opts tiny = { .max_octets = 8 };
	char page[PAGE_SIZE], small[16];
	struct menu_state st = at_node(m, "need", "vi");

	/* Buffer too small: -1 and an empty string, never a cut page. */
	memset(small, 'x', sizeof(small));
	assert_int_equal(menu_render(m, &st, &ussd, small, sizeof(small)),
	    -1);
	assert_string_equal(small, "");
	/* A budget that cannot hold the invalid line. */
	assert_int_equal(menu_render(m, &st, &tiny, page, sizeof(page)), -1);
	/* And then the more key has no page to go to. */
	assert_int_equal(menu_step(m, &st, "99", &tiny), MENU_STEP_INVALID);
	/* A page that does not exist. */
	st = at_node(m, "need", "vi");
	st.page = 7;
	assert_int_equal(menu_render(m, &st, &ussd, page, sizeof(page)), -1);
	/* A node that does not exist: ended, nothing to show. */
	st = at_node(m, "nowhere", "vi");
	assert_int_equal(menu_render(m, &st, &ussd, page, sizeof(page)), -1);
	assert_true(menu_is_terminal(m, &st));
	assert_int_equal(menu_current_action(m, &st), MENU_ACTION_NONE);
	assert_int_equal(menu_step(m, &st, "1", &ussd), MENU_STEP_FINISHED);
}


/* ------------------------------------------------------------------ */
/* The verification word                                               */

struct word_case {
	const char *name;
	const char *input;
	const char *word;	/* as kept; NULL: refused */
};

static const struct word_case word_cases[] = {
	{ "a plain word", "Mango", "Mango" },
	{ "spaces, tabs and CR LF around it are trimmed", " \t mango\r\n",
	    "mango" },
	{ "Vietnamese with its diacritics", "Xoài", "Xoài" },
	{ "d with stroke", "Đào", "Đào" },
	{ "decomposed input is kept in NFC", "Xoa\xcc\x80i", "Xoài" },
	{ "two letters, the fewest", "ab", "ab" },
	{ "twenty letters, the most", "abcdefghijklmnopqrst",
	    "abcdefghijklmnopqrst" },
	{ "twenty Vietnamese letters of three bytes each",
	    "ệệệệệệệệệệệệệệệệệệệệ", "ệệệệệệệệệệệệệệệệệệệệ" },
	{ "one letter", "a", NULL },
	{ "twenty-one letters", "abcdefghijklmnopqrstu", NULL },
	{ "two words", "hoa hồng", NULL },
	{ "a tab inside", "ab\tcd", NULL },
	{ "a digit", "m4ngo", NULL },
	{ "only digits", "12", NULL },
	{ "punctuation", "mango!", NULL },
	{ "a hyphen", "ab-cd", NULL },
	{ "empty", "", NULL },
	{ "only spaces", "  \r\n", NULL },
	{ "an emoji", "ab\xf0\x9f\x98\x80", NULL },
	{ "a letter outside the Latin alphabet", "ab\xce\xb1", NULL },
	{ "not UTF-8", "ab\xff", NULL },
	{ "a control character", "ab\x01", NULL },
};

static void
typed_words_are_checked(void **state)
{
	char out[MENU_WORD_SIZE], tiny[3];
	size_t i;

	(void)state;
	for (i = 0; i < NROWS(word_cases); i++) {
		const struct word_case *c = &word_cases[i];
		bool ok;

		print_message("  %s\n", c->name);
		memset(out, 'x', sizeof(out));
		ok = menu_word_parse(c->input, out, sizeof(out));
		if (c->word == NULL) {
			assert_false(ok);
			assert_string_equal(out, "");
		} else {
			assert_true(ok);
			assert_string_equal(out, c->word);
		}
	}
	/* A buffer that cannot hold the word: refused, never cut. */
	assert_false(menu_word_parse("Mango", tiny, sizeof(tiny)));
	assert_string_equal(tiny, "");
	assert_false(menu_word_parse(NULL, out, sizeof(out)));
}

/* The list, as a USSD caller sees it, in each language and folding
 * mode: every word on some page, every page within the screen, and no
 * "type a word" line where nobody can type; over SMS the line closes
 * the page. */
static void
shipped_word_list_fits_every_screen(void **state)
{
	static const char *const typed_line[2] = {
	    "Hoặc nhắn một từ khác (2-20 chữ cái, không dấu cách).",
	    "Or text another word (2-20 letters, no spaces)." };
	const struct menu *m = *state;
	char pages[MAX_PAGES][PAGE_SIZE], line[PAGE_SIZE], *folded;
	size_t l, f, w, p, n;

	for (l = 0; l < NROWS(shipped_languages); l++)
	for (f = 0; f < 2; f++) {
		const struct menu_render_opts ussd = { .fold_vietnamese = f,
		    .max_octets = SMSTEXT_USSD_OCTETS };
		const struct menu_render_opts sms = { .fold_vietnamese = f,
		    .typed = true };
		const struct menu_render_opts plain = { .fold_vietnamese = f };
		struct menu_state st = at_node(m, "word",
		    shipped_languages[l]);

		n = all_pages(m, &st, &ussd, pages);
		assert_true(n >= 1 && n <= 2);
		for (w = 0; w < SHIPPED_WORD_OPTIONS; w++) {
			bool shown = false;

			snprintf(line, sizeof(line), "%zu. %s", w + 1,
			    w + 1 < SHIPPED_WORD_OPTIONS ?
			    shipped_words[l][w] : l == 0 ? "Bỏ qua" : "Skip");
			folded = f ? smstext_fold_vietnamese(line) :
			    strdup(line);
			assert_non_null(folded);
			for (p = 0; p < n; p++) {
				struct smstext_measure me;

				assert_int_equal(smstext_measure(pages[p],
				    &me), 0);
				assert_true(me.octets <= SMSTEXT_USSD_OCTETS);
				shown = shown || strstr(pages[p], folded);
				assert_null(strstr(pages[p], "2-20"));
			}
			if (!shown)
				fail_msg("%s fold=%zu: \"%s\" on no page",
				    shipped_languages[l], f, folded);
			free(folded);
		}
		/* Folded, the whole list is one screen. */
		if (f)
			assert_int_equal(n, 1);

		st = at_node(m, "word", shipped_languages[l]);
		render_ok(m, &st, &sms, line);
		folded = f ? smstext_fold_vietnamese(typed_line[l]) :
		    strdup(typed_line[l]);
		assert_non_null(folded);
		assert_true(ends_with_line(line, folded));
		free(folded);
		render_ok(m, &st, &plain, line);
		assert_null(strstr(line, "2-20"));
	}
}

struct typed_case {
	const char *name;
	const char *language;	/* the caller's */
	const char *input;
	enum menu_step_result result;
	const char *word;	/* verification after (MOVED) */
};

static const struct typed_case typed_cases[] = {
	{ "a word of one's own", "en", "Zebra", MENU_STEP_MOVED, "Zebra" },
	{ "a Vietnamese word of one's own", "vi", " hồng ", MENU_STEP_MOVED,
	    "hồng" },
	{ "a listed word typed takes the list's spelling", "en", "orange",
	    MENU_STEP_MOVED, "Orange" },
	{ "the same without diacritics", "vi", "chuoi", MENU_STEP_MOVED,
	    "Chuối" },
	{ "another language's word is a word of one's own", "vi", "orange",
	    MENU_STEP_MOVED, "orange" },
	{ "skip typed", "en", "skip", MENU_STEP_MOVED, "" },
	{ "skip typed in the other language, folded", "en", "BO QUA",
	    MENU_STEP_MOVED, "" },
	{ "a choice number still chooses", "vi", "4", MENU_STEP_MOVED,
	    "Xoài" },
	{ "two words", "en", "hello world", MENU_STEP_INVALID, NULL },
	{ "a number past the list", "en", "12", MENU_STEP_INVALID, NULL },
	{ "the more key on a one-page list", "en", "99", MENU_STEP_INVALID,
	    NULL },
	{ "one letter", "en", "z", MENU_STEP_INVALID, NULL },
	{ "a word with a digit", "vi", "cam1", MENU_STEP_INVALID, NULL },
};

static void
a_word_is_typed_over_sms_at_the_word_node_only(void **state)
{
	const struct menu *m = *state;
	const struct menu_render_opts sms = modes[3];
	char page[PAGE_SIZE];
	struct menu_state st;
	size_t i;

	for (i = 0; i < NROWS(typed_cases); i++) {
		const struct typed_case *c = &typed_cases[i];

		print_message("  %s\n", c->name);
		st = at_node(m, "word", c->language);
		/* An earlier choice is replaced, or cleared by a skip. */
		snprintf(st.answers.verification,
		    sizeof(st.answers.verification), "Earlier");
		assert_int_equal(menu_step(m, &st, c->input, &sms),
		    c->result);
		if (c->result == MENU_STEP_MOVED) {
			assert_string_equal(st.node, "when");
			assert_string_equal(st.answers.verification, c->word);
			continue;
		}
		/* A clear re-prompt: the invalid line, the list and how
		 * to type a word. */
		assert_string_equal(st.node, "word");
		assert_true(st.invalid);
		assert_string_equal(st.answers.verification, "Earlier");
		render_ok(m, &st, &sms, page);
		assert_true(starts_with_line(page, strcmp(c->language,
		    "vi") == 0 ? "Lựa chọn không hợp lệ." :
		    "Not a valid choice."));
		assert_true(strstr(page, "2-20") != NULL);
	}

	/* Over USSD a typed word is not a choice. */
	st = at_node(m, "word", "en");
	assert_int_equal(menu_step(m, &st, "Zebra", &modes[0]),
	    MENU_STEP_INVALID);
	assert_string_equal(st.answers.verification, "");
	/* Nor over SMS where no word is asked. */
	st = at_node(m, "when", "en");
	assert_int_equal(menu_step(m, &st, "Zebra", &sms), MENU_STEP_INVALID);
	assert_string_equal(st.answers.verification, "");
	assert_true(menu_asks_verification(m, &(struct menu_state){
	    .node = "word" }));
	for (i = 0; i < NROWS(shipped_nodes); i++) {
		st = at_node(m, shipped_nodes[i], "vi");
		assert_int_equal(menu_asks_verification(m, &st),
		    strcmp(shipped_nodes[i], "word") == 0);
	}
}

/* The word is the caller's secret with the lease holder: no page
 * shows it, and counsellors' answer lists never name it. */
static void
the_word_is_on_no_page_and_no_answer_list(void **state)
{
	static const char *const after_word[] = { "2", "1", "1" };
	const struct menu *m = *state;
	char pages[MAX_PAGES][PAGE_SIZE];
	const char *question, *label;
	size_t md, k, p, n;

	for (md = 0; md < NROWS(modes); md++) {
		const struct menu_render_opts *o = &modes[md];
		struct menu_state st = at_node(m, "word", "en");

		if (o->typed)
			assert_int_equal(menu_step(m, &st, "Zebra", o),
			    MENU_STEP_MOVED);
		else {
			assert_int_equal(menu_step(m, &st, "4", o),
			    MENU_STEP_MOVED);
		}
		for (k = 0; k <= NROWS(after_word); k++) {
			struct menu_state walk = st;

			n = all_pages(m, &walk, o, pages);
			for (p = 0; p < n; p++) {
				assert_false(contains_folded_case(pages[p],
				    o->typed ? "zebra" : "mango"));
			}
			if (k < NROWS(after_word))
				assert_int_equal(menu_step(m, &st,
				    after_word[k], o), MENU_STEP_MOVED);
		}
		assert_string_equal(st.node, "done");
		assert_string_equal(st.answers.verification,
		    o->typed ? "Zebra" : "Mango");
	}
	assert_false(menu_describe(m, "verification", "word", "en",
	    &question, &label));
	assert_false(menu_describe(m, "verification", "Mango", "en",
	    &question, &label));
}

/* ------------------------------------------------------------------ */
/* The validator                                                       */

#define HEAD \
	"{\"languages\": [\"vi\", \"en\"], \"default_language\": \"vi\"," \
	" \"start\": \"a\", \"more_key\": \"99\"," \
	" \"strings\": {\"invalid_choice\": {\"vi\": \"Sai.\"," \
	"   \"en\": \"Wrong.\"}," \
	"  \"more\": {\"vi\": \"Thêm\", \"en\": \"More\"}},"
#define TEXT "\"text\": {\"vi\": \"Chọn\", \"en\": \"Pick\"}"
#define LABEL "\"label\": {\"vi\": \"Một\", \"en\": \"One\"}"
#define WORD_CAM "\"label\": {\"vi\": \"Cam\", \"en\": \"Orange\"}"
#define END_B "\"b\": {\"text\": {\"vi\": \"Xong\", \"en\": \"Done\"}}"
/* A menu whose node "a" is given, and "b" is a plain end. */
#define WITH_A(a) HEAD " \"nodes\": {\"a\": {" a "}, " END_B "}}"

static const char valid_menu[] = WITH_A(TEXT ", \"options\": [{" LABEL
    ", \"next\": \"b\"}]");

struct invalid_case {
	const char *name;
	const char *json;
	const char *expect;	/* a whole line of err starts with this */
};

static const struct invalid_case invalid_cases[] = {
	{ "unknown next node",
	    WITH_A(TEXT ", \"options\": [{" LABEL ", \"next\": \"b\"}, {"
	    LABEL ", \"next\": \"b\"}, {" LABEL ", \"next\": \"evening\"}]"),
	    "nodes.a.options[2].next: unknown node \"evening\"" },
	{ "unknown start node",
	    "{\"languages\": [\"vi\"], \"default_language\": \"vi\","
	    " \"start\": \"zzz\", \"more_key\": \"99\", \"strings\":"
	    " {\"invalid_choice\": {\"vi\": \"Sai.\"}, \"more\": {\"vi\":"
	    " \"Thêm\"}}, \"nodes\": {\"a\": {\"text\": {\"vi\": \"x\"}}}}",
	    "start: unknown node \"zzz\"" },
	{ "unreachable node",
	    HEAD " \"nodes\": {\"a\": {" TEXT "}, " END_B "}}",
	    "nodes.b: unreachable from start \"a\"" },
	{ "missing translation in a text",
	    WITH_A("\"text\": {\"vi\": \"Chọn\"}, \"options\": [{" LABEL
	    ", \"next\": \"b\"}]"),
	    "nodes.a.text: missing translation \"en\"" },
	{ "missing translation in a label",
	    WITH_A(TEXT ", \"options\": [{\"label\": {\"en\": \"One\"},"
	    " \"next\": \"b\"}]"),
	    "nodes.a.options[0].label: missing translation \"vi\"" },
	{ "missing translation in a string",
	    "{\"languages\": [\"vi\", \"en\"], \"default_language\": \"vi\","
	    " \"start\": \"a\", \"more_key\": \"99\", \"strings\":"
	    " {\"invalid_choice\": {\"vi\": \"Sai.\"}, \"more\": {\"vi\":"
	    " \"Thêm\", \"en\": \"More\"}}, \"nodes\": {\"a\": {" TEXT "}}}",
	    "strings.invalid_choice: missing translation \"en\"" },
	{ "translation in a language the menu does not have",
	    WITH_A("\"text\": {\"vi\": \"Chọn\", \"en\": \"Pick\", \"fr\":"
	    " \"Choisir\"}, \"options\": [{" LABEL ", \"next\": \"b\"}]"),
	    "nodes.a.text.fr: \"fr\" is not one of languages" },
	{ "option without a label",
	    WITH_A(TEXT ", \"options\": [{\"next\": \"b\"}]"),
	    "nodes.a.options[0]: option without a label" },
	{ "empty label",
	    WITH_A(TEXT ", \"options\": [{\"label\": {\"vi\": \" \", \"en\":"
	    " \"One\"}, \"next\": \"b\"}]"),
	    "nodes.a.options[0].label.vi: empty label" },
	{ "control character in a label",
	    WITH_A(TEXT ", \"options\": [{\"label\": {\"vi\": \"M\\not\","
	    " \"en\": \"One\"}, \"next\": \"b\"}]"),
	    "nodes.a.options[0].label.vi: contains a control character" },
	{ "unknown key at the top",
	    HEAD " \"colour\": 1, \"nodes\": {\"a\": {" TEXT "}}}",
	    "colour: unknown key" },
	{ "unknown key in a node",
	    WITH_A(TEXT ", \"colour\": 1, \"options\": [{" LABEL
	    ", \"next\": \"b\"}]"),
	    "nodes.a.colour: unknown key" },
	{ "unknown key in an option",
	    WITH_A(TEXT ", \"options\": [{" LABEL ", \"colour\": 1,"
	    " \"next\": \"b\"}]"),
	    "nodes.a.options[0].colour: unknown key" },
	{ "unknown key in strings",
	    "{\"languages\": [\"vi\"], \"default_language\": \"vi\","
	    " \"start\": \"a\", \"more_key\": \"99\", \"strings\":"
	    " {\"invalid_choice\": {\"vi\": \"Sai.\"}, \"more\": {\"vi\":"
	    " \"Thêm\"}, \"bye\": {\"vi\": \"x\"}}, \"nodes\": {\"a\":"
	    " {\"text\": {\"vi\": \"x\"}}}}",
	    "strings.bye: unknown key" },
	{ "action on a node with options",
	    WITH_A(TEXT ", \"action\": \"create_task\", \"options\": [{"
	    LABEL ", \"next\": \"b\"}]"),
	    "nodes.a.action: only a terminal node (no options) can have an "
	    "action" },
	{ "unknown action",
	    HEAD " \"nodes\": {\"a\": {" TEXT ", \"action\": \"send\"}}}",
	    "nodes.a.action: unknown action \"send\"" },
	{ "boolean field given a string",
	    WITH_A(TEXT ", \"field\": \"safe_to_call\", \"options\": [{"
	    LABEL ", \"value\": \"yes\", \"next\": \"b\"}]"),
	    "nodes.a.options[0].value: must be true or false for field "
	    "\"safe_to_call\", not a string" },
	{ "string field given a boolean",
	    WITH_A(TEXT ", \"field\": \"topic\", \"options\": [{" LABEL
	    ", \"value\": true, \"next\": \"b\"}]"),
	    "nodes.a.options[0].value: must be a string for field "
	    "\"topic\", not a boolean" },
	{ "language value not among languages",
	    WITH_A(TEXT ", \"field\": \"language\", \"options\": [{" LABEL
	    ", \"value\": \"fr\", \"next\": \"b\"}]"),
	    "nodes.a.options[0].value: \"fr\" is not one of languages" },
	{ "topic value too long",
	    WITH_A(TEXT ", \"field\": \"topic\", \"options\": [{" LABEL
	    ", \"value\": \"a_topic_code_of_thirty_two_bytes\","
	    " \"next\": \"b\"}]"),
	    "nodes.a.options[0].value: \"a_topic_code_of_thirty_two_bytes\""
	    " must be 1 to 31 characters" },
	{ "value missing for the field",
	    WITH_A(TEXT ", \"field\": \"preferred_time\", \"options\": [{"
	    LABEL ", \"next\": \"b\"}]"),
	    "nodes.a.options[0].value: missing (required by field "
	    "\"preferred_time\")" },
	{ "value without a field",
	    WITH_A(TEXT ", \"options\": [{" LABEL ", \"value\": \"x\","
	    " \"next\": \"b\"}]"),
	    "nodes.a.options[0].value: the node has no \"field\"" },
	{ "unknown field",
	    WITH_A(TEXT ", \"field\": \"mood\", \"options\": [{" LABEL
	    ", \"value\": \"x\", \"next\": \"b\"}]"),
	    "nodes.a.field: unknown field \"mood\"" },
	{ "field on a terminal node",
	    HEAD " \"nodes\": {\"a\": {" TEXT ", \"field\": \"topic\"}}}",
	    "nodes.a.field: a terminal node (no options) has nothing to "
	    "answer it" },
	{ "bad priority",
	    WITH_A(TEXT ", \"options\": [{" LABEL ", \"priority\": \"high\","
	    " \"next\": \"b\"}]"),
	    "nodes.a.options[0].priority: must be \"urgent\" or \"normal\"" },
	{ "bad default language",
	    "{\"languages\": [\"vi\"], \"default_language\": \"fr\","
	    " \"start\": \"a\", \"more_key\": \"99\", \"strings\":"
	    " {\"invalid_choice\": {\"vi\": \"Sai.\"}, \"more\": {\"vi\":"
	    " \"Thêm\"}}, \"nodes\": {\"a\": {\"text\": {\"vi\": \"x\"}}}}",
	    "default_language: \"fr\" is not one of languages" },
	{ "duplicate language",
	    "{\"languages\": [\"vi\", \"vi\"], \"default_language\": \"vi\","
	    " \"start\": \"a\", \"more_key\": \"99\", \"strings\":"
	    " {\"invalid_choice\": {\"vi\": \"Sai.\"}, \"more\": {\"vi\":"
	    " \"Thêm\"}}, \"nodes\": {\"a\": {\"text\": {\"vi\": \"x\"}}}}",
	    "languages[1]: duplicate \"vi\"" },
	{ "empty options array",
	    HEAD " \"nodes\": {\"a\": {" TEXT ", \"options\": []}}}",
	    "nodes.a.options: empty" },
	{ "bad node name",
	    HEAD " \"nodes\": {\"a\": {" TEXT ", \"options\": [{" LABEL
	    ", \"next\": \"a\"}]}, \"Bad-Name\": {" TEXT "}}}",
	    "nodes.Bad-Name: node names are 1 to 31 characters" },
	{ "node name with a newline cannot forge a line",
	    HEAD " \"nodes\": {\"a\": {" TEXT "}, \"x\\nstart\": {" TEXT
	    "}}}",
	    "nodes.x?start: node names are" },
	{ "next of the wrong type",
	    WITH_A(TEXT ", \"options\": [{" LABEL ", \"next\": 2}]"),
	    "nodes.a.options[0].next: must be a string, not a number" },
	{ "next missing",
	    WITH_A(TEXT ", \"options\": [{" LABEL "}]"),
	    "nodes.a.options[0].next: missing (required)" },
	{ "text missing",
	    HEAD " \"nodes\": {\"a\": {}}}",
	    "nodes.a.text: missing (required)" },
	{ "text of the wrong type",
	    HEAD " \"nodes\": {\"a\": {\"text\": \"Chọn\"}}}",
	    "nodes.a.text: must be an object of translations" },
	{ "languages of the wrong type",
	    "{\"languages\": \"vi\", \"default_language\": \"vi\","
	    " \"start\": \"a\", \"more_key\": \"99\", \"strings\": {},"
	    " \"nodes\": {}}",
	    "languages: must be an array of language codes, not a string" },
	{ "start missing",
	    "{\"languages\": [\"vi\"], \"default_language\": \"vi\","
	    " \"more_key\": \"99\", \"strings\": {\"invalid_choice\":"
	    " {\"vi\": \"Sai.\"}, \"more\": {\"vi\": \"Thêm\"}}, \"nodes\":"
	    " {\"a\": {\"text\": {\"vi\": \"x\"}}}}",
	    "start: missing (required)" },
	{ "more_key not digits",
	    "{\"languages\": [\"vi\"], \"default_language\": \"vi\","
	    " \"start\": \"a\", \"more_key\": \"#\", \"strings\":"
	    " {\"invalid_choice\": {\"vi\": \"Sai.\"}, \"more\": {\"vi\":"
	    " \"Thêm\"}}, \"nodes\": {\"a\": {\"text\": {\"vi\": \"x\"}}}}",
	    "more_key: must be 1 to 3 digits" },
	{ "duplicate key",
	    "{\"languages\": [\"vi\"], \"languages\": [\"vi\"]}",
	    "menu: line 1, column" },
	{ "not JSON",
	    "{\"languages\": [",
	    "menu: line 1, column" },
	{ "not an object",
	    "[1, 2]",
	    "menu: must be a JSON object, not an array" },
	{ "resume offer without its answers",
	    "{\"languages\": [\"vi\"], \"default_language\": \"vi\","
	    " \"start\": \"a\", \"more_key\": \"99\", \"strings\":"
	    " {\"invalid_choice\": {\"vi\": \"Sai.\"}, \"more\": {\"vi\":"
	    " \"Thêm\"}, \"resume_offer\": {\"vi\": \"Tiếp?\"}},"
	    " \"nodes\": {\"a\": {\"text\": {\"vi\": \"x\"}}}}",
	    "strings: resume_offer, resume_continue and resume_restart go "
	    "together" },
	{ "resume answer missing a translation",
	    "{\"languages\": [\"vi\", \"en\"], \"default_language\": "
	    "\"vi\", \"start\": \"a\", \"more_key\": \"99\", \"strings\":"
	    " {\"invalid_choice\": {\"vi\": \"Sai.\", \"en\": \"No.\"},"
	    " \"more\": {\"vi\": \"Thêm\", \"en\": \"More\"},"
	    " \"resume_offer\": {\"vi\": \"Tiếp?\", \"en\": \"Go on?\"},"
	    " \"resume_continue\": {\"vi\": \"Có\"},"
	    " \"resume_restart\": {\"vi\": \"Lại\", \"en\": \"Over\"}},"
	    " \"nodes\": {\"a\": {\"text\": {\"vi\": \"x\", \"en\": "
	    "\"x\"}}}}",
	    "strings.resume_continue: missing translation \"en\"" },
	{ "resume offer longer than one screen",
	    "{\"languages\": [\"vi\"], \"default_language\": \"vi\","
	    " \"start\": \"a\", \"more_key\": \"99\", \"strings\":"
	    " {\"invalid_choice\": {\"vi\": \"Sai.\"}, \"more\": {\"vi\":"
	    " \"Thêm\"}, \"resume_offer\": {\"vi\": \"" WORDS WORDS "\"},"
	    " \"resume_continue\": {\"vi\": \"Có\"},"
	    " \"resume_restart\": {\"vi\": \"Lại\"}},"
	    " \"nodes\": {\"a\": {\"text\": {\"vi\": \"x\"}}}}",
	    "strings.resume_offer: \"vi\" does not fit one 160-octet USSD "
	    "screen" },
	{ "strings too long for any screen",
	    "{\"languages\": [\"vi\"], \"default_language\": \"vi\","
	    " \"start\": \"a\", \"more_key\": \"99\", \"strings\":"
	    " {\"invalid_choice\": {\"vi\": \""
	    "ệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệ\"}, \"more\":"
	    " {\"vi\": \"ệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệệ\"}},"
	    " \"nodes\": {\"a\": {\"text\": {\"vi\": \"" WORDS WORDS "\"},"
	    " \"options\": [{\"label\": {\"vi\": \"y\"}, \"next\": \"a\"}]}}}",
	    "nodes.a: \"vi\" does not fit 160-octet USSD screens" },
	{ "verification value neither word nor skip",
	    WITH_A(TEXT ", \"field\": \"verification\", \"options\": [{"
	    WORD_CAM ", \"value\": true, \"next\": \"b\"}]"),
	    "nodes.a.options[0].value: must be \"word\" (the label is the "
	    "word the caller picks) or \"skip\" (no word) for field "
	    "\"verification\"" },
	{ "verification word of two words",
	    WITH_A(TEXT ", \"field\": \"verification\", \"options\": [{"
	    "\"label\": {\"vi\": \"Hoa hồng\", \"en\": \"Rose\"},"
	    " \"value\": \"word\", \"next\": \"b\"}]"),
	    "nodes.a.options[0].label.vi: \"Hoa hồng\" is not one word of 2 "
	    "to 20 letters" },
	{ "verification word with a digit",
	    WITH_A(TEXT ", \"field\": \"verification\", \"options\": [{"
	    "\"label\": {\"vi\": \"Cam\", \"en\": \"Or4nge\"},"
	    " \"value\": \"word\", \"next\": \"b\"}]"),
	    "nodes.a.options[0].label.en: \"Or4nge\" is not one word" },
	{ "verification words alike",
	    WITH_A(TEXT ", \"field\": \"verification\", \"options\": [{"
	    WORD_CAM ", \"value\": \"word\", \"next\": \"b\"}, {"
	    "\"label\": {\"vi\": \"cám\", \"en\": \"Lime\"},"
	    " \"value\": \"word\", \"next\": \"b\"}]"),
	    "nodes.a.options[1].label.vi: \"cám\" is the word of options[0] "
	    "already" },
	{ "verification words leading apart",
	    HEAD " \"nodes\": {\"a\": {" TEXT ", \"field\": \"verification\","
	    " \"options\": [{" WORD_CAM ", \"value\": \"word\", \"next\":"
	    " \"b\"}, {\"label\": {\"vi\": \"Sen\", \"en\": \"Lotus\"},"
	    " \"value\": \"word\", \"next\": \"c\"}]}, " END_B ", \"c\":"
	    " {" TEXT "}}}",
	    "nodes.a.options[1].next: every \"word\" option of a "
	    "verification node must lead to the same node as options[0]" },
	{ "verification without a word",
	    WITH_A(TEXT ", \"field\": \"verification\", \"options\": [{"
	    LABEL ", \"value\": \"skip\", \"next\": \"b\"}]"),
	    "nodes.a: field \"verification\" needs an option whose value "
	    "is \"word\"" },
	{ "typed line on another node",
	    WITH_A(TEXT ", \"field\": \"topic\", \"typed\": {\"vi\": \"x\","
	    " \"en\": \"y\"}, \"options\": [{" LABEL ", \"value\": \"x\","
	    " \"next\": \"b\"}]"),
	    "nodes.a.typed: only a node whose field is \"verification\" "
	    "takes typed words" },
	{ "typed line missing a language",
	    WITH_A(TEXT ", \"field\": \"verification\", \"typed\": {\"vi\":"
	    " \"Nhắn\"}, \"options\": [{" WORD_CAM ", \"value\": \"word\","
	    " \"next\": \"b\"}]"),
	    "nodes.a.typed: missing translation \"en\"" },
};

/* True when a whole line of err begins with want. */
static bool
err_has_line(const char *err, const char *want)
{
	const char *p = err;

	for (;;) {
		if (strncmp(p, want, strlen(want)) == 0)
			return true;
		if ((p = strchr(p, '\n')) == NULL)
			return false;
		p++;
	}
}

static void
valid_inline_menu_parses(void **state)
{
	(void)state;
	menu_free(parse_ok(valid_menu));
}

static void
each_mistake_is_refused_naming_its_path(void **state)
{
	char err[ERR_SIZE];
	size_t i;

	(void)state;
	for (i = 0; i < NROWS(invalid_cases); i++) {
		const struct invalid_case *c = &invalid_cases[i];
		struct menu *m;

		memset(err, 'x', sizeof(err));
		m = menu_parse(c->json, strlen(c->json), err, sizeof(err));
		if (m != NULL) {
			menu_free(m);
			fail_msg("%s: accepted", c->name);
		}
		assert_non_null(memchr(err, '\0', sizeof(err)));
		if (!err_has_line(err, c->expect))
			fail_msg("%s: no line starting\n  %s\nin:\n%s",
			    c->name, c->expect, err);
	}
}

/* One mistake, one line: a wrong field is not also blamed on every
 * value that answers it. */
static void
a_wrong_field_is_reported_once(void **state)
{
	static const char json[] = WITH_A(TEXT ", \"field\": \"mood\","
	    " \"options\": [{" LABEL ", \"value\": \"x\", \"next\": \"b\"}]");
	char err[ERR_SIZE];

	(void)state;
	assert_null(menu_parse(json, strlen(json), err, sizeof(err)));
	assert_true(err_has_line(err, "nodes.a.field: unknown field"));
	assert_null(strchr(err, '\n'));
}

static char *
options_menu(size_t n, const char *more_key)
{
	size_t size = 65536, used, i;
	char *s = malloc(size);

	assert_non_null(s);
	used = (size_t)snprintf(s, size,
	    "{\"languages\": [\"en\"], \"default_language\": \"en\","
	    " \"start\": \"a\", \"more_key\": \"%s\", \"strings\":"
	    " {\"invalid_choice\": {\"en\": \"Wrong.\"}, \"more\": {\"en\":"
	    " \"More\"}}, \"nodes\": {\"b\": {\"text\": {\"en\": \"End\"}},"
	    " \"a\": {\"text\": {\"en\": \"Pick\"}, \"options\": [",
	    more_key);
	for (i = 0; i < n; i++)
		used += (size_t)snprintf(s + used, size - used,
		    "%s{\"label\": {\"en\": \"Option %zu\"}, \"next\": \"b\"}",
		    i ? ", " : "", i + 1);
	snprintf(s + used, size - used, "]}}}");
	return s;
}

static void
option_counts_and_more_key_collisions(void **state)
{
	static const struct {
		const char *name;
		size_t n;
		const char *more_key;
		const char *expect;	/* NULL: accepted */
	} rows[] = {
		{ "twenty options are fine", 20, "99", NULL },
		{ "nine options with more key 9 collide", 9, "9",
		    "nodes.a.options[8]: its number 9 is also more_key \"9\"" },
		{ "eight options with more key 9 are fine", 8, "9", NULL },
		{ "more key 09 is not option 9", 9, "09", NULL },
		{ "more key 0 never collides", 20, "0", NULL },
		{ "twenty-one options are too many", 21, "99",
		    "nodes.a.options: more than 20 options" },
	};
	char err[ERR_SIZE];
	size_t i;

	(void)state;
	for (i = 0; i < NROWS(rows); i++) {
		char *json = options_menu(rows[i].n, rows[i].more_key);
		struct menu *m = menu_parse(json, strlen(json), err,
		    sizeof(err));

		print_message("  %s\n", rows[i].name);
		if (rows[i].expect == NULL) {
			if (m == NULL)
				fail_msg("refused:\n%s", err);
			/* The last option is chosen by its number. */
			{
				struct menu_state st;
				char num[8];

				menu_start(m, NULL, &st);
				snprintf(num, sizeof(num), "%zu", rows[i].n);
				assert_int_equal(menu_step(m, &st, num,
				    &modes[0]), MENU_STEP_MOVED);
			}
		} else {
			assert_null(m);
			if (!err_has_line(err, rows[i].expect))
				fail_msg("no line %s in:\n%s", rows[i].expect,
				    err);
		}
		menu_free(m);
		free(json);
	}
}

static const char several_problems[] =
    "{\"languages\": [\"vi\", \"en\"], \"default_language\": \"fr\","
    " \"start\": \"language\", \"more_key\": \"99\", \"colour\": \"red\","
    " \"strings\": {\"invalid_choice\": {\"vi\": \"Sai.\", \"en\":"
    " \"Wrong.\"}, \"more\": {\"vi\": \"Thêm\", \"en\": \"More\"}},"
    " \"nodes\": {"
    "  \"language\": {\"text\": {\"vi\": \"Chọn\", \"en\": \"Pick\"},"
    "   \"options\": [{\"label\": {\"vi\": \"Một\", \"en\": \"One\"},"
    "   \"next\": \"need\"}]},"
    "  \"need\": {\"text\": {\"vi\": \"Cần gì\"}, \"field\": \"topic\","
    "   \"action\": \"create_task\", \"options\": ["
    "    {\"label\": {\"vi\": \"A\", \"en\": \"A\"}, \"value\": 3,"
    "     \"next\": \"when\"},"
    "    {\"value\": \"b\", \"next\": \"language\"}]},"
    "  \"when\": {\"text\": {\"vi\": \"Khi\", \"en\": \"When\"},"
    "   \"options\": [{\"label\": {\"vi\": \"Tối\", \"en\": \"Evening\"},"
    "   \"next\": \"evening\"}]},"
    "  \"info\": {\"text\": {\"vi\": \"Tin\", \"en\": \"Info\"}}"
    " }}";

static void
several_problems_are_all_reported(void **state)
{
	static const char *const expect[] = {
		"colour: unknown key",
		"default_language: \"fr\" is not one of languages",
		"nodes.need.text: missing translation \"en\"",
		"nodes.need.action: only a terminal node (no options) can "
		    "have an action",
		"nodes.need.options[0].value: must be a string for field "
		    "\"topic\", not a number",
		"nodes.need.options[1]: option without a label",
		"nodes.when.options[0].next: unknown node \"evening\"",
		"nodes.info: unreachable from start \"language\"",
	};
	char err[ERR_SIZE];
	size_t i, lines = 1;

	(void)state;
	assert_null(menu_parse(several_problems, strlen(several_problems),
	    err, sizeof(err)));
	for (i = 0; i < NROWS(expect); i++)
		if (!err_has_line(err, expect[i]))
			fail_msg("no line %s in:\n%s", expect[i], err);
	/* One line per problem, nothing else. */
	for (i = 0; err[i] != '\0'; i++)
		lines += err[i] == '\n';
	assert_int_equal(lines, NROWS(expect));
}

static void
a_full_err_buffer_is_cut_safely(void **state)
{
	static const size_t sizes[] = { 1, 2, 5, 17, 20, 21, 22, 23, 24, 40,
	    80, 120, 200 };
	static const char first[] = "colour: unknown key";
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < NROWS(sizes); i++) {
		memset(err, 'x', sizeof(err));
		assert_null(menu_parse(several_problems,
		    strlen(several_problems), err, sizes[i]));
		/* NUL inside the buffer, nothing written past it. */
		assert_non_null(memchr(err, '\0', sizes[i]));
		assert_int_equal(err[sizes[i]], 'x');
		assert_int_equal(smstext_utf8_valid(err, strlen(err)), true);
		/* Too small for one line: as much of the first as fits. */
		if (sizes[i] < sizeof(first) + 4)
			assert_memory_equal(err, first, strlen(err));
		/* Lines are whole, and a cut says so. */
		if (sizes[i] >= 80) {
			assert_true(err_has_line(err, "colour: unknown key"));
			assert_true(ends_with_line(err, "..."));
		}
	}
	/* No buffer at all is allowed too. */
	assert_null(menu_parse(several_problems, strlen(several_problems),
	    NULL, 0));
	assert_null(menu_parse(NULL, 0, err, sizeof(err)));
}

/*
 * The pages compiled at parse time are the bytes the renderer makes:
 * every node, language, folding mode and compiled budget, every page,
 * with and without the invalid line, and into buffers too small.
 */
static void
compiled_pages_match_the_fresh_renderer(void **state)
{
	static const size_t budgets[] = { 0, SMSTEXT_USSD_OCTETS };
	static const size_t outlens[] = { PAGE_SIZE, 40, 1 };
	const struct menu *m = *state;
	char a[PAGE_SIZE], b[PAGE_SIZE];
	size_t nd, l, f, bu, o, compared = 0;
	unsigned p;

	for (nd = 0; nd < NROWS(shipped_nodes); nd++)
	for (l = 0; l < NROWS(shipped_languages); l++)
	for (f = 0; f < 4; f++)
	for (bu = 0; bu < NROWS(budgets); bu++)
	for (o = 0; o < NROWS(outlens); o++)
	for (p = 0; p < MAX_PAGES; p++) {
		const struct menu_render_opts opts = {
		    .fold_vietnamese = f % 2, .max_octets = budgets[bu],
		    .typed = f / 2 };
		struct menu_state st = at_node(m, shipped_nodes[nd],
		    shipped_languages[l]);
		int ra, rb, inv;

		st.page = p;
		for (inv = 0; inv < 2; inv++) {
			st.invalid = inv;
			memset(a, 'x', sizeof(a));
			memset(b, 'y', sizeof(b));
			ra = menu_render(m, &st, &opts, a, outlens[o]);
			rb = menu_render_fresh(m, &st, &opts, b, outlens[o]);
			assert_int_equal(ra, rb);
			assert_string_equal(a, b);
			compared++;
		}
		if (ra != 0 && outlens[o] == PAGE_SIZE)
			break;            /* past the node's last page */
	}
	assert_true(compared > NROWS(shipped_nodes) * 2 * 4 * 2 * 2);
	/* A budget not compiled is laid out on the call. */
	{
		const struct menu_render_opts opts = { .max_octets = 100 };
		struct menu_state st = at_node(m, "language", "vi");

		assert_int_equal(menu_render(m, &st, &opts, a, sizeof(a)), 0);
		assert_int_equal(menu_render_fresh(m, &st, &opts, b,
		    sizeof(b)), 0);
		assert_string_equal(a, b);
	}
}

/* ------------------------------------------------------------------ */
/* USSD resume                                                         */

/* States compared field by field (bytes past a string's end are not
 * part of it). */
static void
assert_same_state(const struct menu_state *a, const struct menu_state *b)
{
	assert_string_equal(a->node, b->node);
	assert_int_equal(a->page, b->page);
	assert_int_equal(a->invalid, b->invalid);
	assert_string_equal(a->answers.language, b->answers.language);
	assert_string_equal(a->answers.topic, b->answers.topic);
	assert_int_equal(a->answers.safe_to_call, b->answers.safe_to_call);
	assert_int_equal(a->answers.safe_to_sms, b->answers.safe_to_sms);
	assert_string_equal(a->answers.preferred_time,
	    b->answers.preferred_time);
	assert_int_equal(a->answers.priority, b->answers.priority);
	assert_string_equal(a->answers.verification,
	    b->answers.verification);
}

/* A dropped session at "when" in English: topic, safety, word answered. */
static struct menu_state
dropped_at_when(const struct menu *m)
{
	struct menu_state st;
	enum menu_resume how;

	assert_int_equal(menu_replay(m, "vi", NULL, "2*1*1*1", NULL, &st,
	    &how), 0);
	assert_int_equal(how, MENU_RESUME_NONE);
	assert_string_equal(st.node, "when");
	return st;
}

static void
resume_offer_fits_one_screen_in_every_mode(void **state)
{
	const struct menu *m = *state;
	struct menu_state base = dropped_at_when(m), st;
	enum menu_resume how;
	char page[PAGE_SIZE];
	size_t l, f, inv;

	assert_true(menu_offers_resume(m));
	for (l = 0; l < NROWS(shipped_languages); l++)
	for (f = 0; f < 2; f++)
	for (inv = 0; inv < 2; inv++) {
		const struct menu_render_opts o = { .fold_vietnamese = f,
		    .max_octets = SMSTEXT_USSD_OCTETS };
		struct smstext_measure me;

		snprintf(base.answers.language, sizeof(base.answers.language),
		    "%s", shipped_languages[l]);
		assert_int_equal(menu_replay(m, "vi", &base, inv ? "7" : "",
		    &o, &st, &how), 0);
		assert_int_equal(how, MENU_RESUME_OFFERED);
		assert_string_equal(st.node, MENU_RESUME_NODE);
		assert_int_equal(st.invalid, inv);
		assert_false(menu_ends(m, &st, &o));
		render_ok(m, &st, &o, page);
		assert_int_equal(smstext_measure(page, &me), 0);
		if (me.octets > SMSTEXT_USSD_OCTETS)
			fail_msg("offer in %s%s is %zu octets:\n%s",
			    shipped_languages[l], f ? " folded" : "",
			    me.octets, page);
		/* Two answers and no more line: one screen. */
		assert_non_null(strstr(page, "1. "));
		assert_non_null(strstr(page, "2. "));
		assert_null(strstr(page, "99. "));
	}
}

static void
resume_offer_speaks_the_language_chosen_before(void **state)
{
	const struct menu *m = *state;
	struct menu_state base = dropped_at_when(m), st;
	enum menu_resume how;
	char page[PAGE_SIZE];

	assert_int_equal(menu_replay(m, "vi", &base, "", NULL, &st, &how), 0);
	render_ok(m, &st, NULL, page);
	assert_non_null(strstr(page, "Continue"));
	assert_null(strstr(page, "Tiếp tục"));
	snprintf(base.answers.language, sizeof(base.answers.language), "vi");
	assert_int_equal(menu_replay(m, "en", &base, "", NULL, &st, &how), 0);
	render_ok(m, &st, NULL, page);
	assert_non_null(strstr(page, "Tiếp tục"));
}

static void
resume_continue_restores_answers_and_page(void **state)
{
	const struct menu *m = *state;
	struct menu_state base = dropped_at_when(m), st, fresh;
	enum menu_resume how;
	char page[PAGE_SIZE], expect[PAGE_SIZE];

	/* 1: the page they were on, their answers kept. */
	assert_int_equal(menu_replay(m, "vi", &base, "1", NULL, &st, &how), 0);
	assert_int_equal(how, MENU_RESUME_CONTINUED);
	assert_string_equal(st.node, "when");
	assert_string_equal(st.answers.language, "en");
	assert_string_equal(st.answers.topic, "counselling");
	assert_int_equal(st.answers.safe_to_call, MENU_YES);
	render_ok(m, &st, NULL, page);
	render_ok(m, &base, NULL, expect);
	assert_string_equal(page, expect);
	/* The rest of the path walks on from there to the end. */
	assert_int_equal(menu_replay(m, "vi", &base, "1*4*2*1", NULL, &st,
	    &how), 0);
	assert_int_equal(how, MENU_RESUME_CONTINUED);
	assert_string_equal(st.node, "done");
	assert_int_equal(menu_current_action(m, &st), MENU_ACTION_CREATE_TASK);
	assert_string_equal(st.answers.topic, "counselling");
	assert_string_equal(st.answers.preferred_time, "evening");
	assert_int_equal(st.answers.safe_to_sms, MENU_NO);
	/* A typo first keeps the offer; then 2 starts over from scratch. */
	assert_int_equal(menu_replay(m, "vi", &base, "x*2", NULL, &st, &how),
	    0);
	assert_int_equal(how, MENU_RESUME_RESTARTED);
	menu_start(m, "vi", &fresh);
	assert_same_state(&st, &fresh);
	assert_int_equal(menu_replay(m, "vi", &base, "2*1*1", NULL, &st, &how),
	    0);
	assert_string_equal(st.node, "safe_call");
	assert_string_equal(st.answers.language, "vi");
	assert_int_equal(st.answers.safe_to_call, MENU_UNANSWERED);
	/* Without an offer the same path is an ordinary walk. */
	assert_int_equal(menu_replay(m, "vi", NULL, "1*1", NULL, &st, &how), 0);
	assert_int_equal(how, MENU_RESUME_NONE);
	assert_string_equal(st.node, "safe_call");
}

static void
resume_only_where_something_is_left_to_answer(void **state)
{
	const struct menu *m = *state;
	struct menu_state st = at_node(m, "language", "vi");

	assert_false(menu_resumable(m, &st));        /* nothing answered */
	st = at_node(m, "done", "vi");
	assert_false(menu_resumable(m, &st));        /* request filed */
	st = at_node(m, "info", "vi");
	assert_false(menu_resumable(m, &st));        /* nothing to answer */
	st = at_node(m, "gone", "vi");
	assert_false(menu_resumable(m, &st));        /* menu changed */
	st = at_node(m, MENU_RESUME_NODE, "vi");
	assert_false(menu_resumable(m, &st));        /* never stacked */
	st = at_node(m, "need", "vi");
	assert_true(menu_resumable(m, &st));
	/* An offer whose state the menu no longer has starts over on 1. */
	{
		struct menu_state gone = at_node(m, "gone", "en"), out;
		enum menu_resume how;

		assert_int_equal(menu_replay(m, "vi", &gone, "1", NULL, &out,
		    &how), 0);
		assert_int_equal(how, MENU_RESUME_RESTARTED);
		assert_string_equal(out.node, "language");
	}
	/* menu_step never moves off the offer: the replay decides. */
	st = at_node(m, MENU_RESUME_NODE, "vi");
	assert_int_equal(menu_step(m, &st, "1", NULL), MENU_STEP_FINISHED);
}

static void
state_dump_round_trips_with_its_offer(void **state)
{
	const struct menu *m = *state;
	struct menu_state base = dropped_at_when(m), st = base, a, b;
	char *text;
	bool has;

	st.answers.priority = MENU_PRIORITY_URGENT;
	st.page = 2;
	assert_non_null(text = menu_state_dump(&st, &base));
	assert_true(menu_state_load(text, &a, &b, &has));
	assert_true(has);
	assert_same_state(&a, &st);
	assert_same_state(&b, &base);
	free(text);
	assert_non_null(text = menu_state_dump(&st, NULL));
	assert_true(menu_state_load(text, &a, &b, &has));
	assert_false(has);
	free(text);
	assert_false(menu_state_load("not json", &a, &b, &has));
	assert_false(has);
	assert_false(menu_state_load(NULL, &a, NULL, NULL));
}

/* What menu_state_dump wrote through Jansson before it wrote by hand:
 * stored states must read back alike, so the bytes must not change. */
static json_t *
jansson_state(const struct menu_state *st)
{
	static const char *const names[] = { "", "no", "yes" };

	return json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:b,s:s}",
	    "node", st->node, "page", (int)st->page,
	    "language", st->answers.language, "topic", st->answers.topic,
	    "safe_to_call", names[st->answers.safe_to_call],
	    "safe_to_sms", names[st->answers.safe_to_sms],
	    "preferred_time", st->answers.preferred_time,
	    "urgent", st->answers.priority == MENU_PRIORITY_URGENT,
	    "verification", st->answers.verification);
}

static void
state_dump_is_byte_for_byte_what_jansson_wrote(void **state)
{
	const struct menu *m = *state;
	struct menu_state base = dropped_at_when(m), st = base;
	/* Quotes, backslashes, every control character, Vietnamese, a
	 * word at its longest. */
	const char *words[] = { "", "hoa sen", "\"q\" \\ /", "a\tb\nc\r\b\f",
	    "\x01\x02\x1f\x7f", "Hoa Sen \xc4\x91\xe1\xbb\x8f",
	    "0123456789012345678901234567890123456789012345678901234567890" };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		for (int with_base = 0; with_base < 2; with_base++) {
			json_t *o;
			char *want, *got;

			snprintf(st.answers.verification,
			    sizeof(st.answers.verification), "%s", words[i]);
			snprintf(st.answers.topic, sizeof(st.answers.topic),
			    "%.*s", 31, words[i]);
			st.answers.priority = i % 2 ? MENU_PRIORITY_URGENT :
			    MENU_PRIORITY_NORMAL;
			st.answers.safe_to_sms = (enum menu_answer)(i % 3);
			st.page = (unsigned)i * 7;
			assert_non_null(o = jansson_state(&st));
			if (with_base)
				assert_int_equal(json_object_set_new(o, "resume",
				    jansson_state(&base)), 0);
			assert_non_null(want = json_dumps(o, JSON_COMPACT));
			assert_non_null(got = menu_state_dump(&st,
			    with_base ? &base : NULL));
			assert_string_equal(got, want);
			free(want);
			free(got);
			json_decref(o);
		}
	}
}

static void
menu_without_resume_strings_offers_nothing(void **state)
{
	struct menu *m = parse_ok(valid_menu);
	struct menu_state base = at_node(m, "a", "vi"), st;
	enum menu_resume how;

	(void)state;
	assert_false(menu_offers_resume(m));
	assert_int_equal(menu_replay(m, "vi", &base, "1", NULL, &st, &how), 0);
	assert_int_equal(how, MENU_RESUME_NONE);
	assert_string_equal(st.node, "b");
	menu_free(m);
}

int
main(void)
{
	const struct CMUnitTest shipped[] = {
		cmocka_unit_test(shipped_walks_end_with_exact_answers),
		cmocka_unit_test(shipped_every_path_in_every_mode),
		cmocka_unit_test(shipped_language_choice_switches_pages),
		cmocka_unit_test(shipped_first_screens_are_discreet),
		cmocka_unit_test(shipped_urgent_choice_is_on_the_first_screen),
		cmocka_unit_test(invalid_choice_repeats_page_and_never_ends),
		cmocka_unit_test(invalid_line_uses_the_caller_language),
		cmocka_unit_test(input_at_a_terminal_node_changes_nothing),
		cmocka_unit_test(every_shipped_page_fits_a_ussd_screen),
		cmocka_unit_test(vietnamese_pages_are_ucs2_unless_folded),
		cmocka_unit_test(long_info_pages_through_with_the_more_key),
		cmocka_unit_test(long_terminal_node_ends_only_on_its_last_page),
		cmocka_unit_test(sms_keywords_match_in_any_spelling),
		cmocka_unit_test(option_numbers_work_from_any_page),
		cmocka_unit_test(pages_do_not_depend_on_a_typo),
		cmocka_unit_test(no_budget_renders_the_whole_node),
		cmocka_unit_test(render_refuses_what_it_cannot_do),
		cmocka_unit_test(compiled_pages_match_the_fresh_renderer),
		cmocka_unit_test(resume_offer_fits_one_screen_in_every_mode),
		cmocka_unit_test(resume_offer_speaks_the_language_chosen_before),
		cmocka_unit_test(resume_continue_restores_answers_and_page),
		cmocka_unit_test(resume_only_where_something_is_left_to_answer),
		cmocka_unit_test(state_dump_round_trips_with_its_offer),
		cmocka_unit_test(
		    state_dump_is_byte_for_byte_what_jansson_wrote),
		cmocka_unit_test(shipped_word_list_fits_every_screen),
		cmocka_unit_test(a_word_is_typed_over_sms_at_the_word_node_only),
		cmocka_unit_test(the_word_is_on_no_page_and_no_answer_list),
	};
	const struct CMUnitTest inline_menus[] = {
		cmocka_unit_test(
		    long_lines_are_split_to_fit_and_keep_every_character),
		cmocka_unit_test(a_page_may_fill_the_screen_to_the_last_octet),
		cmocka_unit_test(valid_inline_menu_parses),
		cmocka_unit_test(typed_words_are_checked),
		cmocka_unit_test(each_mistake_is_refused_naming_its_path),
		cmocka_unit_test(a_wrong_field_is_reported_once),
		cmocka_unit_test(option_counts_and_more_key_collisions),
		cmocka_unit_test(several_problems_are_all_reported),
		cmocka_unit_test(a_full_err_buffer_is_cut_safely),
		cmocka_unit_test(menu_without_resume_strings_offers_nothing),
	};
	int failed = 0;

	failed += cmocka_run_group_tests_name("shipped menu", shipped,
	    load_shipped, free_shipped);
	failed += cmocka_run_group_tests_name("inline menus", inline_menus,
	    NULL, NULL);
	return failed != 0;
}
