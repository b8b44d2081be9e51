/*
 * menu: the counselling-request menu as a pure state machine.
 *
 * (menu, state, input) -> next state; (menu, state) -> page text.  No I/O,
 * no clock, no globals: the same inputs always give the same pages, which
 * is what lets a USSD hop be replayed from the caller's whole input path.
 * The menu is parsed from JSON text (config/menu.json; the format is
 * described at the top of daemon/menu.c and in the README) and validated
 * in full before use.
 */
#ifndef HOTLINE_MENU_H
#define HOTLINE_MENU_H

#include <stdbool.h>
#include <stddef.h>

#define MENU_NAME_SIZE 32
#define MENU_LANGUAGE_SIZE 8
#define MENU_VALUE_SIZE 32
/* The node name of the USSD resume offer (no menu node can have it). */
#define MENU_RESUME_NODE "@resume"
/* A verification word: at most 20 letters, each at most 3 bytes of
 * UTF-8 (every Vietnamese letter is), and the NUL. */
#define MENU_WORD_SIZE 64
#define MENU_WORD_MIN_LETTERS 2
#define MENU_WORD_MAX_LETTERS 20

struct menu;

enum menu_priority {
	MENU_PRIORITY_NORMAL,
	MENU_PRIORITY_URGENT,
};

/* An unanswered yes/no question stays MENU_UNANSWERED. */
enum menu_answer {
	MENU_UNANSWERED,
	MENU_NO,
	MENU_YES,
};

enum menu_action {
	MENU_ACTION_NONE,
	MENU_ACTION_CREATE_TASK,
};

/* The answers a walk through the menu collects; they become task fields. */
struct menu_answers {
	char language[MENU_LANGUAGE_SIZE];    /* "vi", "en" */
	char topic[MENU_VALUE_SIZE];          /* "" until answered */
	enum menu_answer safe_to_call;
	enum menu_answer safe_to_sms;
	char preferred_time[MENU_VALUE_SIZE]; /* "" until answered */
	enum menu_priority priority;
	/* The word a counsellor says when calling back, as the caller saw
	 * or typed it (NFC); "" when none was chosen or the caller skipped.
	 * Shown to the counsellor holding the task only: never in a page,
	 * a log line or a text. */
	char verification[MENU_WORD_SIZE];
};

/* Where a caller is.  A plain value: copy it, store it, compare it. */
struct menu_state {
	char node[MENU_NAME_SIZE];
	unsigned page;        /* 0-based page of the current node */
	bool invalid;         /* the last input was not a valid choice */
	struct menu_answers answers;
};

struct menu_render_opts {
	bool fold_vietnamese; /* write Vietnamese without diacritics */
	/* Page budget in octets (SMSTEXT_USSD_OCTETS); 0: no paging. */
	size_t max_octets;
	/* The caller can type words (SMS; a USSD caller sends digits): a
	 * verification node with a "typed" line shows it and takes a typed
	 * word as well as a choice. */
	bool typed;
};

enum menu_step_result {
	MENU_STEP_MOVED,      /* went to another node */
	MENU_STEP_PAGED,      /* the "more" key: next page of the same node */
	MENU_STEP_INVALID,    /* not a choice here; state.invalid is set */
	MENU_STEP_FINISHED,   /* input after a terminal node: ignored */
};

/*
 * Parse and validate a menu from JSON text.  On failure returns NULL and
 * writes every problem found into err, one per line, each naming the node
 * or key ("nodes.when.options[2].next: unknown node \"evening\"").
 * The caller owns the result and frees it with menu_free.
 */
struct menu *menu_parse(const char *json, size_t len, char *err,
    size_t errlen);
void menu_free(struct menu *menu);

enum menu_keyword {
	MENU_KEYWORD_NONE,
	MENU_KEYWORD_OPT_OUT,     /* STOP, DUNG, DỪNG, HUY, HỦY */
	MENU_KEYWORD_OPT_IN,      /* START, BATDAU */
	MENU_KEYWORD_RESTART,     /* MENU, HELP, GIUP, GIÚP */
	MENU_KEYWORD_URGENT,      /* SOS, CUU, CỨU, CUU TOI */
};

/* Which keyword a whole SMS text is, if any: case-insensitive, with or
 * without Vietnamese diacritics, spaces collapsed.  The lists come from
 * the menu's "keywords" (else the defaults shown above). */
enum menu_keyword menu_match_keyword(const struct menu *menu,
    const char *text);

/* Put state at keywords.urgent_node with the answers of an urgent
 * request.  false when the menu names no urgent node. */
bool menu_goto_urgent(const struct menu *menu, struct menu_state *state);

/* A string of the menu ("opted_out", "opted_in", "invalid_choice") in
 * the state's language, borrowed; NULL when the menu has none. */
const char *menu_string(const struct menu *menu, const char *name,
    const struct menu_state *state);

/*
 * A stored answer in plain words, for counsellors: the question of the
 * first node that asks `field` ("topic", "safe_to_call", …) and the
 * label of the option whose value is `value` ("counselling", "true"),
 * in `language` (NULL or unknown: the default).  False when the menu
 * asks no such question or has no such option, and always for
 * "verification" (the word is the lease holder's alone, never a listed
 * answer); the strings are borrowed from the menu.
 */
bool menu_describe(const struct menu *menu, const char *field,
    const char *value, const char *language, const char **question,
    const char **label);

/*
 * Whether input is a verification word a caller may type: once spaces,
 * tabs, CR and LF around it are trimmed, one word of 2 to 20 letters
 * (a-z, A-Z, with or without diacritics, so every Vietnamese letter),
 * nothing else.  On success the word, in NFC, goes to out (outlen at
 * least MENU_WORD_SIZE).  Also false when memory runs out.
 */
bool menu_word_parse(const char *input, char *out, size_t outlen);

/* The language pages are shown in before the caller picks one. */
const char *menu_default_language(const struct menu *menu);

/* True when `language` is one the menu is written in. */
bool menu_has_language(const struct menu *menu, const char *language);

/* Put state at the start node.  language NULL or unknown: the menu's
 * default_language. */
void menu_start(const struct menu *menu, const char *language,
    struct menu_state *state);

/*
 * Apply one caller input (leading/trailing spaces, tabs, CR and LF
 * ignored).  A choice number is valid whatever page is shown; the
 * more_key shows the next page, also of a long terminal node; with
 * opts->typed, a verification node with a "typed" line also takes a
 * word (menu_word_parse; a skip option's label in any language skips);
 * anything else on a node with options is MENU_STEP_INVALID and never
 * ends the call.  On a terminal node every other input is MENU_STEP_FINISHED and
 * changes nothing, as is any input to a state naming no node of this
 * menu.  opts decides the paging, so pass the same opts to menu_step and
 * menu_render (NULL: no folding, no paging).
 */
enum menu_step_result menu_step(const struct menu *menu,
    struct menu_state *state, const char *input,
    const struct menu_render_opts *opts);

/* True when the current node has no options: the conversation ends here
 * (also for a state naming no node of this menu).  A long terminal node
 * may still have further pages under a budget (see menu_render). */
bool menu_is_terminal(const struct menu *menu, const struct menu_state *state);

/* True when the page shown now is the last the caller will see: a
 * terminal node on its last page under opts.  A USSD reply ENDs the
 * session exactly then; before it, a long terminal node pages on. */
bool menu_ends(const struct menu *menu, const struct menu_state *state,
    const struct menu_render_opts *opts);

/* True when the caller's node asks for the verification word: whatever
 * they answer there (a number too: it names a word) is the word, or
 * close to it, and must be kept nowhere but with their task. */
bool menu_asks_verification(const struct menu *menu,
    const struct menu_state *state);

/* The action of the current node (only terminal nodes carry one). */
enum menu_action menu_current_action(const struct menu *menu,
    const struct menu_state *state);

/*
 * Write the current page into out[outlen] (NUL-terminated, lines separated
 * by '\n', without any "CON "/"END " framing): the "not a valid choice"
 * line when state->invalid, the node text, numbered options, and the
 * "more" option when further pages follow.  With opts->max_octets set the
 * page, measured in its real encoding after folding, never exceeds it
 * (room for the invalid line is kept on every page of a node with
 * options, so the pages never depend on it; terminal nodes never show
 * it).  Returns 0, or -1 (and out = "") when out is too small, memory
 * runs out, the budget cannot hold a page, or state names no page.
 */
int menu_render(const struct menu *menu, const struct menu_state *state,
    const struct menu_render_opts *opts, char *out, size_t outlen);

/*
 * menu_render, laid out anew on every call.  menu_render copies pages
 * compiled at parse time for the budgets the daemon uses (0 and
 * SMSTEXT_USSD_OCTETS) and comes here for any other; tests call it to
 * check the compiled pages are the same bytes.
 */
int menu_render_fresh(const struct menu *menu, const struct menu_state *state,
    const struct menu_render_opts *opts, char *out, size_t outlen);

/*
 * USSD session resume.  A caller whose session dropped (no END) and who
 * dials again soon is first offered, in the language they chose, to
 * continue where they stopped (1) or start over (2): the menu's
 * strings.resume_offer, resume_continue and resume_restart.  While the
 * offer is shown the state names MENU_RESUME_NODE; menu_render and
 * menu_ends show it like any page.
 */

/* Does the menu have the offer's strings (else nobody is offered)? */
bool menu_offers_resume(const struct menu *menu);

/* Is a dropped session at state worth offering to continue: a node of
 * this menu with options, past the start? */
bool menu_resumable(const struct menu *menu, const struct menu_state *state);

enum menu_resume {
	MENU_RESUME_NONE,         /* no offer: the path walked from the
	                             start */
	MENU_RESUME_OFFERED,      /* the offer is showing (state.invalid
	                             after an input that is not 1 or 2) */
	MENU_RESUME_CONTINUED,    /* 1: from resume, the rest of the path
	                             walked on from there */
	MENU_RESUME_RESTARTED,    /* 2: from the start */
};

/*
 * Walk a USSD input path: the aggregator sends the session's whole
 * input so far ("1*2*1") on every hop, so replaying it gives the page
 * (and a retried hop the same page).  From the start in `language`
 * (NULL or unknown: the menu's default); with resume non-NULL (and a
 * menu that offers it) the session began at the resume offer, and the
 * path's first valid answer to it continues from *resume (page 0 of its
 * node) or starts over.  *how says which.  0, or -1 when out of memory.
 */
int menu_replay(const struct menu *menu, const char *language,
    const struct menu_state *resume, const char *path,
    const struct menu_render_opts *opts, struct menu_state *state,
    enum menu_resume *how);

/*
 * A state as stored between hops or texts: JSON text the caller frees,
 * NULL when out of memory.  resume (NULL: none) is the state a resumed
 * USSD session was offered, kept with it so that its later hops replay
 * the same way.
 */
char *menu_state_dump(const struct menu_state *state,
    const struct menu_state *resume);

/* Read a dumped state back: false when text is not one (then start
 * over).  *has_resume (when not NULL) says whether *resume was filled. */
bool menu_state_load(const char *text, struct menu_state *state,
    struct menu_state *resume, bool *has_resume);

#endif
