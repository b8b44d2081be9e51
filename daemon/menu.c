/*
 * menu: the counselling-request menu as a pure state machine.
 *
 * Menu file format (config/menu.json).  Every key below is the whole set:
 * an unknown key anywhere is an error, so a typo cannot silently drop a
 * question.
 *
 *	{
 *	  "languages": ["vi", "en"],
 *	  "default_language": "vi",
 *	  "start": "language",
 *	  "more_key": "99",
 *	  "strings": {
 *	    "invalid_choice": {"vi": "Lựa chọn không hợp lệ.",
 *	                       "en": "Not a valid choice."},
 *	    "more": {"vi": "Xem thêm", "en": "More"}
 *	  },
 *	  "nodes": {
 *	    "NAME": {
 *	      "text": {"vi": "...", "en": "..."},
 *	      "field": "topic",
 *	      "options": [
 *	        {"label": {"vi": "...", "en": "..."}, "value": "counselling",
 *	         "priority": "urgent", "next": "NODE"}
 *	      ],
 *	      "typed": {"vi": "...", "en": "..."},
 *	      "action": "create_task"
 *	    }
 *	  }
 *	}
 *
 * languages         1 to 8 codes (1-7 characters of a-z A-Z 0-9 -), no
 *                   duplicates; the order means nothing.
 * default_language  one of languages: the language pages are shown in
 *                   until the caller picks one (and for channels that
 *                   set none).
 * start             the node every call begins at.
 * more_key          1 to 3 digits the caller sends for the next page of a
 *                   long node; must not be the number of any option.
 * strings           "invalid_choice" (shown above a page after an input
 *                   that is not a choice) and "more" (the label of the
 *                   more_key line), both required; optional: "opted_out"
 *                   and "opted_in" (the SMS confirmations of STOP and
 *                   START), and "resume_offer" (the first USSD screen
 *                   of a caller whose last session dropped: continue or
 *                   start over?) with its two answers "resume_continue"
 *                   and "resume_restart", all three or none; the offer
 *                   must fit one USSD screen.
 * nodes             1 to 64 nodes; names are 1-31 characters of a-z 0-9 _.
 *
 * A node:
 *   text      required; may contain "\n" (at most 16 lines).
 *   options   optional; 1 to 20 options, numbered 1..n in order.  A node
 *             without options is terminal: the call ends there.
 *   field     optional, only with options: the answer its options give,
 *             one of language, topic, safe_to_call, safe_to_sms,
 *             preferred_time, verification.
 *   typed     optional, only with field verification: one line (a
 *             translation object) shown under the options where the
 *             caller can type (SMS); there the node also takes a word
 *             the caller types (menu_word_parse), which goes where the
 *             "word" options go.  Without it the node is a list only.
 *   action    optional, only on a terminal node: "create_task" (reaching
 *             the node files the callback request).
 * An option:
 *   label     required.
 *   next      required: the node the option leads to.
 *   value     required when the node has a field, forbidden otherwise:
 *             language -> a string that is one of languages (pages switch
 *             to it); topic, preferred_time -> 1-31 characters of
 *             a-z 0-9 _ (they are stored and shown to counsellors as
 *             codes); safe_to_call, safe_to_sms -> true or false;
 *             verification -> "word" (the label, in the caller's
 *             language, is the word: one word of 2 to 20 letters, no
 *             two alike in a language) or "skip" (no word).  A
 *             verification node needs a "word" option, and every
 *             "word" option leads to the same node.
 *   priority  optional: "urgent" (the request jumps the queue; once set
 *             it stays set) or "normal" (no change).
 *
 * Every translation object ("text", "label", the two strings) must have
 * every language and nothing else, each a non-blank string without
 * control characters (text may contain "\n"); texts are kept in NFC.
 * Every node must be reachable from start, and every node must fit
 * 160-octet USSD screens in every language, folded or not.
 *
 * The verification word.  A counsellor calling back says the word the
 * caller chose, so the caller knows the call is the hotline's.  The
 * engine keeps it in the state's answers (menu_answers.verification)
 * and never writes it into a page: the pages of a verification node
 * are its list, the same for every caller.
 *
 * Paging.  A page is, line by line: the invalid_choice string (only when
 * the last input was invalid, but room is reserved for it on every page
 * so that the pages of a node are the same whatever the caller typed),
 * the node text, "N. label" per option, and "<more_key>. <more>" on every
 * page but the last.  Lines are packed greedily in order; a line that
 * does not fit on a page of its own is cut at spaces, or inside a word
 * (at a character boundary) when one word is too long.  Pages are
 * measured with smstext_measure in the encoding they will be sent in,
 * after folding, so a Vietnamese page with diacritics gets 80 UCS-2 units
 * and a folded one 182 GSM-7 septets.
 */
#include "menu.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "smstext.h"

/* Hard limits: a menu is read by a person on a basic phone, so anything
 * near these is a mistake; they also bound every buffer below. */
#define MENU_MAX_LANGUAGES 8
#define MENU_MAX_NODES 64
#define MENU_MAX_OPTIONS 20
#define MENU_TEXT_MAX 1024	/* bytes of one node text, one language */
#define MENU_TEXT_LINES 16
#define MENU_LABEL_MAX 128	/* bytes of a label or a string */
#define MENU_KEY_SIZE 4		/* more_key: up to 3 digits */
#define MENU_PATH_SIZE 192
#define MENU_QUOTE_SIZE 48	/* untrusted names quoted in messages */
#define MENU_PROBLEM_SIZE 512	/* one line of err */
#define MENU_KEYWORD_KINDS 5	/* enum menu_keyword, NONE included */
#define MENU_MAX_KEYWORDS 16
#define MENU_KEYWORD_SIZE 32

/* Layout: the source lines of one node (text lines, then options) and
 * the pieces they are cut into.  A piece is at least one character, so a
 * budget too small to make progress runs into MENU_LAYOUT_PIECES. */
#define MENU_LAYOUT_SRC (MENU_TEXT_LINES + MENU_MAX_OPTIONS + 1)
#define MENU_LAYOUT_PIECES 512
#define MENU_LAYOUT_OWNED (MENU_MAX_OPTIONS + 4)
/* Bytes of a typed word before NFC: a decomposed letter with two marks
 * is five. */
#define MENU_WORD_INPUT_MAX 256

enum menu_field {
	MENU_FIELD_NONE,
	MENU_FIELD_LANGUAGE,
	MENU_FIELD_TOPIC,
	MENU_FIELD_SAFE_TO_CALL,
	MENU_FIELD_SAFE_TO_SMS,
	MENU_FIELD_PREFERRED_TIME,
	MENU_FIELD_VERIFICATION,
};

struct menu_option {
	char *label[MENU_MAX_LANGUAGES];
	/* language, topic, preferred_time */
	char value[MENU_VALUE_SIZE];
	bool flag;			/* safe_to_call, safe_to_sms */
	bool word;			/* verification: the label is the
					   word (false: the skip) */
	bool urgent;
	size_t next;			/* index into menu->nodes */
};

/* The budgets menus are compiled for: SMS (no paging) and USSD. */
#define MENU_BUDGETS 2
/* And the two kinds of input: digits only, or typed words too. */
#define MENU_INPUTS 2

/*
 * A node's pages in one language, folding mode and budget, laid out once
 * when the menu is parsed: a hop copies a page instead of folding,
 * measuring and paginating the same text again.
 */
struct menu_pages {
	char **page;		/* npages: lines joined by '\n', the more
				   line included */
	size_t *nlines;		/* lines on each page */
	size_t npages;
	char *invalid;		/* shown above a page when reserve_invalid */
	bool reserve_invalid;
};

struct menu_node {
	char name[MENU_NAME_SIZE];
	char *text[MENU_MAX_LANGUAGES];
	enum menu_field field;
	struct menu_option *options;
	size_t noptions;
	enum menu_action action;
	char *typed[MENU_MAX_LANGUAGES];	/* verification: the typing line */
	size_t typed_next;		/* where a typed word goes */
	struct menu_pages compiled[MENU_MAX_LANGUAGES][2][MENU_BUDGETS]
	    [MENU_INPUTS];
};

struct menu {
	char languages[MENU_MAX_LANGUAGES][MENU_LANGUAGE_SIZE];
	size_t nlanguages;
	size_t default_language;
	size_t start;
	char more_key[MENU_KEY_SIZE];
	char *invalid_choice[MENU_MAX_LANGUAGES];
	char *more[MENU_MAX_LANGUAGES];
	char *opted_out[MENU_MAX_LANGUAGES];	/* optional strings */
	char *opted_in[MENU_MAX_LANGUAGES];
	/* The USSD resume offer (optional, all three or none): its text and
	 * its two choices, laid out as a node of its own (resume) that no
	 * option leads to.  resume is NULL when the menu offers none. */
	char *resume_offer[MENU_MAX_LANGUAGES];
	char *resume_continue[MENU_MAX_LANGUAGES];
	char *resume_restart[MENU_MAX_LANGUAGES];
	struct menu_node *resume;
	struct menu_node *nodes;
	size_t nnodes;
	/* SMS keywords, stored folded and upper-cased (keyword_normalize). */
	char keywords[MENU_KEYWORD_KINDS][MENU_MAX_KEYWORDS][MENU_KEYWORD_SIZE];
	size_t nkeywords[MENU_KEYWORD_KINDS];
	size_t urgent_node;			/* SIZE_MAX: none */
};

static const struct {
	const char *name;
	enum menu_field field;
} field_names[] = {
	{ "language", MENU_FIELD_LANGUAGE },
	{ "topic", MENU_FIELD_TOPIC },
	{ "safe_to_call", MENU_FIELD_SAFE_TO_CALL },
	{ "safe_to_sms", MENU_FIELD_SAFE_TO_SMS },
	{ "preferred_time", MENU_FIELD_PREFERRED_TIME },
	{ "verification", MENU_FIELD_VERIFICATION },
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static void
copy_str(char *dst, size_t dstsize, const char *src)
{
	size_t n = strlen(src);

	/* Callers copy only strings validated to fit; cutting is the
	 * fallback that keeps a broken invariant from overflowing. */
	if (n >= dstsize)
		n = dstsize - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static bool
name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= MENU_NAME_SIZE)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static bool
language_code_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= MENU_LANGUAGE_SIZE)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == n;
}

static size_t
language_index(const struct menu *menu, const char *code)
{
	size_t i;

	if (code == NULL)
		return SIZE_MAX;
	for (i = 0; i < menu->nlanguages; i++)
		if (strcmp(menu->languages[i], code) == 0)
			return i;
	return SIZE_MAX;
}

static size_t
node_index(const struct menu *menu, const char *name)
{
	size_t i;

	for (i = 0; i < menu->nnodes; i++)
		if (menu->nodes[i].name[0] != '\0' &&
		    strcmp(menu->nodes[i].name, name) == 0)
			return i;
	return SIZE_MAX;
}

/*
 * Untrusted text (a key, a value) made fit for one line of err: control
 * bytes become '?' so a name cannot forge extra lines, and long strings
 * are cut at a character boundary.
 */
static const char *
quote(char *buf, size_t size, const char *s)
{
	size_t i, n = strlen(s);
	bool cut = false;

	if (n > size - 4) {
		n = size - 4;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		cut = true;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (cut) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* ------------------------------------------------------------------ */
/* Collecting problems                                                 */

struct parse {
	struct menu *menu;
	char *err;
	size_t errlen;
	size_t used;
	bool truncated;
	unsigned problems;
	bool languages_ok;	/* translations can be matched to languages */
};

/* Marks that err was too small for every problem. */
static const char more_problems[] = "\n...";

static void problem(struct parse *, const char *, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * One problem, one line of err.  A line is written whole or not at all,
 * so a reader never sees half a path; the room for the "..." mark is
 * kept back so a full err still says that something was left out.
 */
static void
problem(struct parse *ps, const char *path, const char *fmt, ...)
{
	char line[MENU_PROBLEM_SIZE];
	va_list ap;
	size_t n, sep;
	int r;

	ps->problems++;
	if (ps->err == NULL || ps->errlen == 0 || ps->truncated)
		return;
	r = snprintf(line, sizeof(line), "%s: ", path);
	if (r < 0)
		return;
	n = (size_t)r < sizeof(line) ? (size_t)r : sizeof(line) - 1;
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	n = strlen(line);

	sep = ps->used > 0 ? 1 : 0;
	if (ps->used + sep + n + sizeof(more_problems) <= ps->errlen) {
		if (sep)
			ps->err[ps->used++] = '\n';
		memcpy(ps->err + ps->used, line, n);
		ps->used += n;
		ps->err[ps->used] = '\0';
		return;
	}
	ps->truncated = true;
	if (ps->used == 0) {
		/* Not even the first problem fits: give as much of it as
		 * there is room for, cut at a character boundary. */
		if (n > ps->errlen - 1)
			n = ps->errlen - 1;
		while (n > 0 && ((unsigned char)line[n] & 0xc0) == 0x80)
			n--;
		memcpy(ps->err, line, n);
		ps->err[n] = '\0';
		ps->used = n;
		return;
	}
	memcpy(ps->err + ps->used, more_problems, sizeof(more_problems));
	ps->used += sizeof(more_problems) - 1;
}

static void set_path(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* A JSON path for a message.  Paths are short (names and keys are
 * quoted to MENU_QUOTE_SIZE), and one cut short would still point the
 * reader to the right place, so truncation is not an error here. */
static void
set_path(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(out, size, fmt, ap) < 0)
		out[0] = '\0';
	va_end(ap);
}

static void
join_path(char *out, size_t size, const char *parent, const char *key)
{
	char q[MENU_QUOTE_SIZE];

	quote(q, sizeof(q), key);
	if (parent[0] == '\0')
		set_path(out, size, "%s", q);
	else
		set_path(out, size, "%s.%s", parent, q);
}

static const char *
type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

static void
check_keys(struct parse *ps, const char *path, json_t *obj,
    const char *const *allowed, size_t nallowed)
{
	char p[MENU_PATH_SIZE];
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(obj, key, v) {
		for (i = 0; i < nallowed; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (i == nallowed) {
			join_path(p, sizeof(p), path, key);
			problem(ps, p, "unknown key");
		}
	}
}

/* The value of a required key, or NULL after saying it is missing. */
static json_t *
require(struct parse *ps, const char *path, json_t *obj, const char *key)
{
	char p[MENU_PATH_SIZE];
	json_t *v = json_object_get(obj, key);

	if (v == NULL) {
		join_path(p, sizeof(p), path, key);
		problem(ps, p, "missing (required)");
	}
	return v;
}

/* A required string, or NULL after saying what is wrong. */
static const char *
require_string(struct parse *ps, const char *path, json_t *obj,
    const char *key)
{
	char p[MENU_PATH_SIZE];
	json_t *v;

	if ((v = require(ps, path, obj, key)) == NULL)
		return NULL;
	if (!json_is_string(v)) {
		join_path(p, sizeof(p), path, key);
		problem(ps, p, "must be a string, not %s", type_name(v));
		return NULL;
	}
	return json_string_value(v);
}

/* ------------------------------------------------------------------ */
/* Parsing                                                             */

/* Whether s holds a control character other than an allowed '\n'.  C1
 * controls (U+0080..U+009F) count: handsets show them as garbage. */
static bool
has_control(const char *s, bool multiline)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p != '\0'; p++) {
		if (*p == '\n' && multiline)
			continue;
		if (*p < 0x20 || *p == 0x7f)
			return true;
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			return true;
	}
	return false;
}

static bool
blank(const char *s)
{
	return s[strspn(s, " \t\n")] == '\0';
}

/*
 * A translation object: every language, nothing else.  noun names the
 * thing in messages ("text", "label", "string").  On success the NFC
 * copies go to out[language index] (owned by the menu).  Returns false
 * only when memory runs out.
 */
static bool
parse_translations(struct parse *ps, const char *path, json_t *obj,
    const char *noun, size_t maxbytes, bool multiline, char **out)
{
	struct menu *menu = ps->menu;
	char p[MENU_PATH_SIZE], q[MENU_QUOTE_SIZE];
	const char *key, *s;
	json_t *v;
	size_t i, li;
	char *nfc;

	if (!json_is_object(obj)) {
		problem(ps, path, "must be an object of translations "
		    "({\"%s\": \"...\"}), not %s",
		    ps->languages_ok ? menu->languages[0] : "vi",
		    type_name(obj));
		return true;
	}
	json_object_foreach(obj, key, v) {
		join_path(p, sizeof(p), path, key);
		li = language_index(menu, key);
		if (ps->languages_ok && li == SIZE_MAX) {
			problem(ps, p, "\"%s\" is not one of languages",
			    quote(q, sizeof(q), key));
			continue;
		}
		if (!json_is_string(v)) {
			problem(ps, p, "must be a string, not %s",
			    type_name(v));
			continue;
		}
		s = json_string_value(v);
		if (blank(s)) {
			problem(ps, p, "empty %s", noun);
			continue;
		}
		if (has_control(s, multiline)) {
			problem(ps, p, "contains a control character%s",
			    multiline ? " (only \\n is allowed)" : "");
			continue;
		}
		if ((nfc = smstext_nfc(s)) == NULL)
			return false;
		if (strlen(nfc) > maxbytes) {
			problem(ps, p, "%s longer than %zu bytes", noun,
			    maxbytes);
			free(nfc);
			continue;
		}
		if (multiline) {
			size_t lines = 1;

			for (i = 0; nfc[i] != '\0'; i++)
				lines += nfc[i] == '\n';
			if (lines > MENU_TEXT_LINES) {
				problem(ps, p, "more than %d lines",
				    MENU_TEXT_LINES);
				free(nfc);
				continue;
			}
		}
		if (li == SIZE_MAX) {
			free(nfc);
			continue;
		}
		free(out[li]);
		out[li] = nfc;
	}
	if (ps->languages_ok)
		for (i = 0; i < menu->nlanguages; i++)
			if (json_object_get(obj, menu->languages[i]) == NULL)
				problem(ps, path, "missing translation \"%s\"",
				    menu->languages[i]);
	return true;
}

static void
parse_languages(struct parse *ps, json_t *root)
{
	struct menu *menu = ps->menu;
	char p[MENU_PATH_SIZE], q[MENU_QUOTE_SIZE];
	json_t *arr, *v;
	size_t i, j;
	bool ok = true;

	if ((arr = require(ps, "", root, "languages")) == NULL)
		return;
	if (!json_is_array(arr)) {
		problem(ps, "languages", "must be an array of language codes, "
		    "not %s", type_name(arr));
		return;
	}
	if (json_array_size(arr) == 0) {
		problem(ps, "languages", "empty; name at least one language");
		return;
	}
	if (json_array_size(arr) > MENU_MAX_LANGUAGES) {
		problem(ps, "languages", "more than %d languages",
		    MENU_MAX_LANGUAGES);
		return;
	}
	json_array_foreach(arr, i, v) {
		set_path(p, sizeof(p), "languages[%zu]", i);
		if (!json_is_string(v)) {
			problem(ps, p, "must be a string, not %s",
			    type_name(v));
			ok = false;
			continue;
		}
		if (!language_code_valid(json_string_value(v))) {
			problem(ps, p, "\"%s\" is not a language code (1 to %d "
			    "characters a-z, A-Z, 0-9, -)",
			    quote(q, sizeof(q), json_string_value(v)),
			    MENU_LANGUAGE_SIZE - 1);
			ok = false;
			continue;
		}
		for (j = 0; j < menu->nlanguages; j++)
			if (strcmp(menu->languages[j],
			    json_string_value(v)) == 0)
				break;
		if (j < menu->nlanguages) {
			problem(ps, p, "duplicate \"%s\"",
			    json_string_value(v));
			ok = false;
			continue;
		}
		copy_str(menu->languages[menu->nlanguages++],
		    MENU_LANGUAGE_SIZE, json_string_value(v));
	}
	ps->languages_ok = ok;
}

static void
parse_default_language(struct parse *ps, json_t *root)
{
	char q[MENU_QUOTE_SIZE];
	const char *s;

	if ((s = require_string(ps, "", root, "default_language")) == NULL)
		return;
	if (!ps->languages_ok)
		return;
	if ((ps->menu->default_language = language_index(ps->menu, s)) ==
	    SIZE_MAX)
		problem(ps, "default_language", "\"%s\" is not one of "
		    "languages", quote(q, sizeof(q), s));
}

static void
parse_more_key(struct parse *ps, json_t *root)
{
	const char *s;
	size_t n;

	if ((s = require_string(ps, "", root, "more_key")) == NULL)
		return;
	n = strlen(s);
	if (n == 0 || n >= MENU_KEY_SIZE || strspn(s, "0123456789") != n) {
		problem(ps, "more_key", "must be 1 to %d digits",
		    MENU_KEY_SIZE - 1);
		return;
	}
	copy_str(ps->menu->more_key, sizeof(ps->menu->more_key), s);
}

static bool
parse_strings(struct parse *ps, json_t *root)
{
	static const char *const keys[] = { "invalid_choice", "more",
	    "opted_out", "opted_in", "resume_offer", "resume_continue",
	    "resume_restart" };
	static const char *const resume_keys[] = { "resume_offer",
	    "resume_continue", "resume_restart" };
	struct menu *m = ps->menu;
	char **resume_out[] = { m->resume_offer, m->resume_continue,
	    m->resume_restart };
	char p[MENU_PATH_SIZE];
	json_t *obj, *v;
	size_t i, present = 0;

	if ((obj = require(ps, "", root, "strings")) == NULL)
		return true;
	if (!json_is_object(obj)) {
		problem(ps, "strings", "must be an object, not %s",
		    type_name(obj));
		return true;
	}
	check_keys(ps, "strings", obj, keys, sizeof(keys) / sizeof(keys[0]));
	if ((v = require(ps, "strings", obj, "invalid_choice")) != NULL &&
	    !parse_translations(ps, "strings.invalid_choice", v, "string",
	    MENU_LABEL_MAX, false, ps->menu->invalid_choice))
		return false;
	if ((v = require(ps, "strings", obj, "more")) != NULL &&
	    !parse_translations(ps, "strings.more", v, "string",
	    MENU_LABEL_MAX, false, ps->menu->more))
		return false;
	/* The SMS confirmations are optional: a USSD-only menu needs none. */
	if ((v = json_object_get(obj, "opted_out")) != NULL &&
	    !parse_translations(ps, "strings.opted_out", v, "string",
	    MENU_TEXT_MAX, false, ps->menu->opted_out))
		return false;
	if ((v = json_object_get(obj, "opted_in")) != NULL &&
	    !parse_translations(ps, "strings.opted_in", v, "string",
	    MENU_TEXT_MAX, false, ps->menu->opted_in))
		return false;
	/* The resume offer: a question and its two answers, so all three
	 * or none (then no USSD caller is offered to continue). */
	for (i = 0; i < 3; i++) {
		if ((v = json_object_get(obj, resume_keys[i])) == NULL)
			continue;
		present++;
		join_path(p, sizeof(p), "strings", resume_keys[i]);
		if (!parse_translations(ps, p, v, "string", i == 0 ?
		    MENU_TEXT_MAX : MENU_LABEL_MAX, i == 0, resume_out[i]))
			return false;
	}
	if (present != 0 && present != 3)
		problem(ps, "strings", "resume_offer, resume_continue and "
		    "resume_restart go together: give all three or none");
	return true;
}

/*
 * A keyword as compared: Vietnamese folded ("DỪNG" and "dung" are one),
 * ASCII upper-cased, runs of spaces made one, ends trimmed.  false when
 * it does not fit out or is not valid UTF-8.
 */
static bool
keyword_normalize(const char *in, char *out, size_t outlen)
{
	char *folded = smstext_fold_vietnamese(in);
	size_t n = 0;
	bool space = false;

	if (folded == NULL)
		return false;
	for (const char *p = folded; *p; p++) {
		char c = *p;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			space = n > 0;
			continue;
		}
		if (space) {
			if (n + 1 >= outlen)
				goto toolong;
			out[n++] = ' ';
			space = false;
		}
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (n + 1 >= outlen)
			goto toolong;
		out[n++] = c;
	}
	out[n] = '\0';
	free(folded);
	return n > 0;
toolong:
	free(folded);
	return false;
}

/* Built-in keywords, for a menu that names none: opting out must work
 * whatever the menu says. */
static const char *const default_keywords[MENU_KEYWORD_KINDS][4] = {
	[MENU_KEYWORD_OPT_OUT] = { "STOP", "DUNG", "HUY", NULL },
	[MENU_KEYWORD_OPT_IN] = { "START", "BATDAU", NULL },
	[MENU_KEYWORD_RESTART] = { "MENU", "HELP", "GIUP", NULL },
	[MENU_KEYWORD_URGENT] = { "SOS", "CUU", "CUU TOI", NULL },
};

static const char *const keyword_kind_names[MENU_KEYWORD_KINDS] = {
	[MENU_KEYWORD_OPT_OUT] = "opt_out",
	[MENU_KEYWORD_OPT_IN] = "opt_in",
	[MENU_KEYWORD_RESTART] = "restart",
	[MENU_KEYWORD_URGENT] = "urgent",
};

static void
parse_keywords(struct parse *ps, json_t *root)
{
	static const char *const keys[] = { "opt_out", "opt_in", "restart",
	    "urgent", "urgent_node" };
	struct menu *m = ps->menu;
	json_t *obj = json_object_get(root, "keywords"), *arr, *item;
	char p[MENU_PATH_SIZE];
	size_t k, i;

	m->urgent_node = SIZE_MAX;
	for (k = 1; k < MENU_KEYWORD_KINDS; k++)
		for (i = 0; default_keywords[k][i] != NULL; i++)
			copy_str(m->keywords[k][m->nkeywords[k]++],
			    MENU_KEYWORD_SIZE, default_keywords[k][i]);
	if (obj == NULL)
		return;
	if (!json_is_object(obj)) {
		problem(ps, "keywords", "must be an object, not %s",
		    type_name(obj));
		return;
	}
	check_keys(ps, "keywords", obj, keys, 5);
	for (k = 1; k < MENU_KEYWORD_KINDS; k++) {
		join_path(p, sizeof(p), "keywords", keyword_kind_names[k]);
		if ((arr = json_object_get(obj, keyword_kind_names[k])) ==
		    NULL)
			continue;
		if (!json_is_array(arr) || json_array_size(arr) == 0 ||
		    json_array_size(arr) > MENU_MAX_KEYWORDS) {
			problem(ps, p, "must be an array of 1 to %d words",
			    MENU_MAX_KEYWORDS);
			continue;
		}
		m->nkeywords[k] = 0;
		json_array_foreach(arr, i, item) {
			char ip[MENU_PATH_SIZE + 16];

			set_path(ip, sizeof(ip), "%s[%zu]", p, i);
			if (!json_is_string(item) || !keyword_normalize(
			    json_string_value(item),
			    m->keywords[k][m->nkeywords[k]], MENU_KEYWORD_SIZE)) {
				problem(ps, ip, "must be a word or two (at most "
				    "%d bytes)", MENU_KEYWORD_SIZE - 1);
				continue;
			}
			m->nkeywords[k]++;
		}
	}
	if ((item = json_object_get(obj, "urgent_node")) != NULL) {
		size_t n = json_is_string(item) ? node_index(m,
		    json_string_value(item)) : SIZE_MAX;

		if (n == SIZE_MAX || m->nodes[n].noptions != 0 ||
		    m->nodes[n].action != MENU_ACTION_CREATE_TASK)
			problem(ps, "keywords.urgent_node", "must name a node "
			    "without options whose action is create_task");
		else
			m->urgent_node = n;
	}
}

/* The number a caller types for a choice: 1 to 99, no sign, no leading
 * zero (so "09" is not 9), or 0 for anything else. */
static size_t
choice_number(const char *s, size_t len)
{
	if (len == 1 && s[0] >= '1' && s[0] <= '9')
		return (size_t)(s[0] - '0');
	if (len == 2 && s[0] >= '1' && s[0] <= '9' && s[1] >= '0' &&
	    s[1] <= '9')
		return (size_t)(s[0] - '0') * 10 + (size_t)(s[1] - '0');
	return 0;
}

static bool
value_code_valid(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < MENU_VALUE_SIZE &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static void
parse_value(struct parse *ps, const char *path, enum menu_field field,
    const char *fieldname, json_t *v, struct menu_option *opt)
{
	char q[MENU_QUOTE_SIZE];
	const char *s;

	switch (field) {
	case MENU_FIELD_NONE:
		problem(ps, path, "the node has no \"field\" for a value to "
		    "answer");
		return;
	case MENU_FIELD_LANGUAGE:
		if (!json_is_string(v)) {
			problem(ps, path, "must be a string for field \"%s\", "
			    "not %s", fieldname, type_name(v));
			return;
		}
		s = json_string_value(v);
		if (ps->languages_ok && language_index(ps->menu, s) ==
		    SIZE_MAX) {
			problem(ps, path, "\"%s\" is not one of languages",
			    quote(q, sizeof(q), s));
			return;
		}
		if (strlen(s) < sizeof(opt->value))
			copy_str(opt->value, sizeof(opt->value), s);
		return;
	case MENU_FIELD_TOPIC:
	case MENU_FIELD_PREFERRED_TIME:
		if (!json_is_string(v)) {
			problem(ps, path, "must be a string for field \"%s\", "
			    "not %s", fieldname, type_name(v));
			return;
		}
		s = json_string_value(v);
		if (!value_code_valid(s)) {
			problem(ps, path, "\"%s\" must be 1 to %d characters "
			    "a-z, 0-9, _", quote(q, sizeof(q), s),
			    MENU_VALUE_SIZE - 1);
			return;
		}
		copy_str(opt->value, sizeof(opt->value), s);
		return;
	case MENU_FIELD_SAFE_TO_CALL:
	case MENU_FIELD_SAFE_TO_SMS:
		if (!json_is_boolean(v)) {
			problem(ps, path, "must be true or false for field "
			    "\"%s\", not %s", fieldname, type_name(v));
			return;
		}
		opt->flag = json_is_true(v);
		return;
	case MENU_FIELD_VERIFICATION:
		s = json_is_string(v) ? json_string_value(v) : "";
		if (strcmp(s, "word") == 0 || strcmp(s, "skip") == 0)
			opt->word = strcmp(s, "word") == 0;
		else
			problem(ps, path, "must be \"word\" (the label is the "
			    "word the caller picks) or \"skip\" (no word) for "
			    "field \"%s\"", fieldname);
		return;
	}
}

/* A "word" option's labels are the words counsellors will say, and a
 * caller may type one back: each must be a word menu_word_parse takes,
 * exactly as written. */
static void
check_word_labels(struct parse *ps, const char *optpath,
    const struct menu_option *opt)
{
	char p[MENU_PATH_SIZE], q[MENU_QUOTE_SIZE], word[MENU_WORD_SIZE];
	size_t li;

	for (li = 0; li < ps->menu->nlanguages; li++) {
		if (opt->label[li] == NULL)
			continue;
		if (menu_word_parse(opt->label[li], word, sizeof(word)) &&
		    strcmp(word, opt->label[li]) == 0)
			continue;
		set_path(p, sizeof(p), "%s.label.%s", optpath,
		    ps->menu->languages[li]);
		problem(ps, p, "\"%s\" is not one word of %d to %d letters "
		    "(a verification word is said on the phone and may be "
		    "typed back)", quote(q, sizeof(q), opt->label[li]),
		    MENU_WORD_MIN_LETTERS, MENU_WORD_MAX_LETTERS);
	}
}

static bool
parse_option(struct parse *ps, const char *nodepath, struct menu_node *node,
    const char *fieldname, bool field_given, size_t i, json_t *o)
{
	static const char *const keys[] = { "label", "value", "priority",
	    "next" };
	struct menu_option *opt = &node->options[i];
	char path[MENU_PATH_SIZE], p[MENU_PATH_SIZE], q[MENU_QUOTE_SIZE];
	const char *s;
	json_t *v;

	opt->next = SIZE_MAX;
	set_path(path, sizeof(path), "%s.options[%zu]", nodepath, i);
	if (!json_is_object(o)) {
		problem(ps, path, "must be an object, not %s", type_name(o));
		return true;
	}
	check_keys(ps, path, o, keys, 4);

	if ((v = json_object_get(o, "label")) == NULL)
		problem(ps, path, "option without a label");
	else {
		join_path(p, sizeof(p), path, "label");
		if (!parse_translations(ps, p, v, "label", MENU_LABEL_MAX,
		    false, opt->label))
			return false;
	}

	/* fieldname NULL with a field: the field itself was wrong and is
	 * reported already; its values cannot be judged. */
	join_path(p, sizeof(p), path, "value");
	if ((v = json_object_get(o, "value")) != NULL) {
		if (fieldname != NULL || !field_given)
			parse_value(ps, p, node->field, fieldname, v, opt);
	} else if (node->field != MENU_FIELD_NONE)
		problem(ps, p, "missing (required by field \"%s\")",
		    fieldname);

	join_path(p, sizeof(p), path, "priority");
	if ((v = json_object_get(o, "priority")) != NULL) {
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), "urgent") == 0)
			opt->urgent = true;
		else if (!json_is_string(v) ||
		    strcmp(json_string_value(v), "normal") != 0)
			problem(ps, p, "must be \"urgent\" or \"normal\"");
	}

	if ((s = require_string(ps, path, o, "next")) != NULL) {
		join_path(p, sizeof(p), path, "next");
		if ((opt->next = node_index(ps->menu, s)) == SIZE_MAX)
			problem(ps, p, "unknown node \"%s\"",
			    quote(q, sizeof(q), s));
	}

	if (node->field == MENU_FIELD_VERIFICATION && fieldname != NULL &&
	    opt->word)
		check_word_labels(ps, path, opt);

	/* The more_key must never be taken for a choice. */
	if (ps->menu->more_key[0] != '\0' &&
	    choice_number(ps->menu->more_key, strlen(ps->menu->more_key)) ==
	    i + 1)
		problem(ps, path, "its number %zu is also more_key \"%s\"",
		    i + 1, ps->menu->more_key);
	return true;
}

/* Two words the same to a caller: case, diacritics and spaces aside. */
static bool
same_word(const char *a, const char *b)
{
	char na[MENU_LABEL_MAX + 1], nb[MENU_LABEL_MAX + 1];

	return keyword_normalize(a, na, sizeof(na)) &&
	    keyword_normalize(b, nb, sizeof(nb)) && strcmp(na, nb) == 0;
}

/*
 * A verification node as a whole: at least one word, every word option
 * leading where a typed word goes, and no word twice in a language (a
 * caller could not tell which one a counsellor meant).
 */
static void
check_verification(struct parse *ps, const char *nodepath,
    struct menu_node *node)
{
	char p[MENU_PATH_SIZE], q[MENU_QUOTE_SIZE];
	size_t i, j, li, first = SIZE_MAX;

	for (i = 0; i < node->noptions; i++) {
		const struct menu_option *o = &node->options[i];

		if (!o->word)
			continue;
		if (first == SIZE_MAX) {
			first = i;
			node->typed_next = o->next;
		} else if (o->next != node->typed_next &&
		    o->next != SIZE_MAX && node->typed_next != SIZE_MAX) {
			set_path(p, sizeof(p), "%s.options[%zu].next",
			    nodepath, i);
			problem(ps, p, "every \"word\" option of a "
			    "verification node must lead to the same node as "
			    "options[%zu] (a typed word goes there too)",
			    first);
		}
		for (j = 0; j < i; j++)
			for (li = 0; li < ps->menu->nlanguages; li++)
				if (node->options[j].word &&
				    o->label[li] != NULL &&
				    node->options[j].label[li] != NULL &&
				    same_word(o->label[li],
				    node->options[j].label[li])) {
					set_path(p, sizeof(p),
					    "%s.options[%zu].label.%s",
					    nodepath, i,
					    ps->menu->languages[li]);
					problem(ps, p, "\"%s\" is the word of "
					    "options[%zu] already: no two "
					    "words alike", quote(q, sizeof(q),
					    o->label[li]), j);
				}
	}
	if (first == SIZE_MAX && node->noptions > 0)
		problem(ps, nodepath, "field \"verification\" needs an "
		    "option whose value is \"word\"");
}

static bool
parse_node(struct parse *ps, const char *name, struct menu_node *node,
    json_t *obj)
{
	static const char *const keys[] = { "text", "field", "options",
	    "action", "typed" };
	char path[MENU_PATH_SIZE], p[MENU_PATH_SIZE], q[MENU_QUOTE_SIZE];
	const char *fieldname = NULL;
	json_t *v, *opts;
	size_t i;

	join_path(path, sizeof(path), "nodes", name);
	if (!json_is_object(obj)) {
		problem(ps, path, "must be an object, not %s", type_name(obj));
		return true;
	}
	check_keys(ps, path, obj, keys, 5);
	node->typed_next = SIZE_MAX;

	if ((v = require(ps, path, obj, "text")) != NULL) {
		join_path(p, sizeof(p), path, "text");
		if (!parse_translations(ps, p, v, "text", MENU_TEXT_MAX, true,
		    node->text))
			return false;
	}

	opts = json_object_get(obj, "options");
	join_path(p, sizeof(p), path, "field");
	if ((v = json_object_get(obj, "field")) != NULL) {
		if (!json_is_string(v))
			problem(ps, p, "must be a string, not %s",
			    type_name(v));
		else {
			for (i = 0; i < sizeof(field_names) /
			    sizeof(field_names[0]); i++)
				if (strcmp(json_string_value(v),
				    field_names[i].name) == 0)
					break;
			if (i == sizeof(field_names) / sizeof(field_names[0]))
				problem(ps, p, "unknown field \"%s\" (one of "
				    "language, topic, safe_to_call, "
				    "safe_to_sms, preferred_time, "
				    "verification)",
				    quote(q, sizeof(q),
				    json_string_value(v)));
			else {
				node->field = field_names[i].field;
				fieldname = field_names[i].name;
			}
		}
		if (opts == NULL)
			problem(ps, p, "a terminal node (no options) has "
			    "nothing to answer it");
	}

	join_path(p, sizeof(p), path, "typed");
	if ((v = json_object_get(obj, "typed")) != NULL) {
		if (node->field != MENU_FIELD_VERIFICATION)
			problem(ps, p, "only a node whose field is "
			    "\"verification\" takes typed words");
		else if (!parse_translations(ps, p, v, "string",
		    MENU_LABEL_MAX, false, node->typed))
			return false;
	}

	join_path(p, sizeof(p), path, "action");
	if ((v = json_object_get(obj, "action")) != NULL) {
		if (!json_is_string(v) ||
		    strcmp(json_string_value(v), "create_task") != 0)
			problem(ps, p, "unknown action%s%s%s (the only action "
			    "is \"create_task\")",
			    json_is_string(v) ? " \"" : "",
			    json_is_string(v) ? quote(q, sizeof(q),
			    json_string_value(v)) : "",
			    json_is_string(v) ? "\"" : "");
		else
			node->action = MENU_ACTION_CREATE_TASK;
		if (opts != NULL)
			problem(ps, p, "only a terminal node (no options) can "
			    "have an action");
	}

	if (opts == NULL)
		return true;
	join_path(p, sizeof(p), path, "options");
	if (!json_is_array(opts)) {
		problem(ps, p, "must be an array, not %s", type_name(opts));
		return true;
	}
	if (json_array_size(opts) == 0) {
		problem(ps, p, "empty; leave \"options\" out to make a "
		    "terminal node");
		return true;
	}
	if (json_array_size(opts) > MENU_MAX_OPTIONS) {
		problem(ps, p, "more than %d options", MENU_MAX_OPTIONS);
		return true;
	}
	if ((node->options = calloc(json_array_size(opts),
	    sizeof(*node->options))) == NULL)
		return false;
	node->noptions = json_array_size(opts);
	json_array_foreach(opts, i, v)
		if (!parse_option(ps, path, node, fieldname,
		    json_object_get(obj, "field") != NULL, i, v))
			return false;
	if (node->field == MENU_FIELD_VERIFICATION)
		check_verification(ps, path, node);
	return true;
}

static bool
parse_nodes(struct parse *ps, json_t *root)
{
	struct menu *menu = ps->menu;
	char p[MENU_PATH_SIZE];
	const char *key;
	json_t *obj, *v;
	size_t i;

	if ((obj = require(ps, "", root, "nodes")) == NULL)
		return true;
	if (!json_is_object(obj)) {
		problem(ps, "nodes", "must be an object, not %s",
		    type_name(obj));
		return true;
	}
	if (json_object_size(obj) == 0) {
		problem(ps, "nodes", "empty");
		return true;
	}
	if (json_object_size(obj) > MENU_MAX_NODES) {
		problem(ps, "nodes", "more than %d nodes", MENU_MAX_NODES);
		return true;
	}
	if ((menu->nodes = calloc(json_object_size(obj),
	    sizeof(*menu->nodes))) == NULL)
		return false;
	menu->nnodes = json_object_size(obj);

	/* Names first, so that "next" can point forward. */
	i = 0;
	json_object_foreach(obj, key, v) {
		if (name_valid(key))
			copy_str(menu->nodes[i].name, MENU_NAME_SIZE, key);
		else {
			join_path(p, sizeof(p), "nodes", key);
			problem(ps, p, "node names are 1 to %d characters "
			    "a-z, 0-9, _", MENU_NAME_SIZE - 1);
		}
		i++;
	}
	i = 0;
	json_object_foreach(obj, key, v)
		if (!parse_node(ps, key, &menu->nodes[i++], v))
			return false;
	return true;
}

static void
parse_start(struct parse *ps, json_t *root)
{
	char q[MENU_QUOTE_SIZE];
	const char *s;

	ps->menu->start = SIZE_MAX;
	if ((s = require_string(ps, "", root, "start")) == NULL)
		return;
	if (ps->menu->nnodes == 0)
		return;
	if ((ps->menu->start = node_index(ps->menu, s)) == SIZE_MAX)
		problem(ps, "start", "unknown node \"%s\"",
		    quote(q, sizeof(q), s));
}

/* A node no path reaches is a question nobody is asked: almost always a
 * wrong "next" somewhere else. */
static void
check_reachable(struct parse *ps)
{
	const struct menu *menu = ps->menu;
	bool seen[MENU_MAX_NODES] = { false };
	size_t queue[MENU_MAX_NODES], head = 0, tail = 0, i, n;
	char p[MENU_PATH_SIZE];

	if (menu->start == SIZE_MAX)
		return;
	seen[menu->start] = true;
	queue[tail++] = menu->start;
	/* The urgent keyword's node is an entry point of its own. */
	if (menu->urgent_node != SIZE_MAX && !seen[menu->urgent_node]) {
		seen[menu->urgent_node] = true;
		queue[tail++] = menu->urgent_node;
	}
	while (head < tail) {
		const struct menu_node *node = &menu->nodes[queue[head++]];

		for (i = 0; i < node->noptions; i++) {
			n = node->options[i].next;
			if (n != SIZE_MAX && !seen[n]) {
				seen[n] = true;
				queue[tail++] = n;
			}
		}
	}
	for (i = 0; i < menu->nnodes; i++)
		if (!seen[i] && menu->nodes[i].name[0] != '\0') {
			join_path(p, sizeof(p), "nodes", menu->nodes[i].name);
			problem(ps, p, "unreachable from start \"%s\"",
			    menu->nodes[menu->start].name);
		}
}

/* ------------------------------------------------------------------ */
/* Layout                                                              */

struct piece {
	const char *s;
	size_t len;
};

enum layout_result {
	LAYOUT_OK,
	LAYOUT_NO_ROOM,		/* budget too small for one character */
	LAYOUT_NO_MEMORY,
};

struct layout {
	char *owned[MENU_LAYOUT_OWNED];
	size_t nowned;
	struct piece src[MENU_LAYOUT_SRC];	/* whole lines, in order */
	size_t nsrc;
	struct piece piece[MENU_LAYOUT_PIECES];	/* what the pages show */
	size_t npieces;
	size_t first[MENU_LAYOUT_PIECES + 1];	/* page starts */
	size_t npages;
	const char *invalid;
	bool reserve_invalid;
	const char *more;
	char *buf;				/* one candidate page */
	size_t bufsize;
	size_t buflen;
	size_t buflines;
};

static void
layout_clear(struct layout *lay)
{
	size_t i;

	for (i = 0; i < lay->nowned; i++)
		free(lay->owned[i]);
	free(lay->buf);
	memset(lay, 0, sizeof(*lay));
}

/* s as it will be sent: folded into a copy the layout owns, or s itself
 * when not folding.  NULL when memory runs out. */
static const char *
layout_text(struct layout *lay, const char *s, bool fold)
{
	char *f;

	if (!fold)
		return s;
	if (lay->nowned == MENU_LAYOUT_OWNED ||
	    (f = smstext_fold_vietnamese(s)) == NULL)
		return NULL;
	lay->owned[lay->nowned++] = f;
	return f;
}

/* Like layout_text, for a line built here ("N. label"). */
static const char *
layout_line(struct layout *lay, const char *number, const char *label,
    bool fold)
{
	char tmp[MENU_KEY_SIZE + MENU_LABEL_MAX + 8];
	char *s;
	int n;

	/* Labels are at most MENU_LABEL_MAX bytes, so this cannot be cut;
	 * if it were, a wrong page is worse than none. */
	n = snprintf(tmp, sizeof(tmp), "%s. %s", number, label);
	if (n < 0 || (size_t)n >= sizeof(tmp) ||
	    lay->nowned == MENU_LAYOUT_OWNED)
		return NULL;
	if ((s = fold ? smstext_fold_vietnamese(tmp) : strdup(tmp)) == NULL)
		return NULL;
	lay->owned[lay->nowned++] = s;
	return s;
}

static void
join_reset(struct layout *lay)
{
	lay->buflen = 0;
	lay->buflines = 0;
	lay->buf[0] = '\0';
	/* Room for the invalid-choice line is kept on every page of a node
	 * with options, so its pages do not depend on what was typed.  A
	 * terminal node never shows it (input there is ignored, never
	 * marked invalid), so its text gets the whole screen: that matters
	 * most where the call ends. */
	if (lay->reserve_invalid) {
		size_t n = strlen(lay->invalid);

		memcpy(lay->buf, lay->invalid, n);
		lay->buf[n] = '\0';
		lay->buflen = n;
		lay->buflines = 1;
	}
}

static bool
join_add(struct layout *lay, const char *s, size_t len)
{
	size_t sep = lay->buflines > 0 ? 1 : 0;

	/* bufsize holds every line of the node at once, so this is only a
	 * guard against a broken invariant. */
	if (lay->buflen + sep + len >= lay->bufsize)
		return false;
	if (sep)
		lay->buf[lay->buflen++] = '\n';
	memcpy(lay->buf + lay->buflen, s, len);
	lay->buflen += len;
	lay->buf[lay->buflen] = '\0';
	lay->buflines++;
	return true;
}

/* Whether the candidate page (plus the more line, if asked) fits. */
static bool
join_fits(struct layout *lay, size_t max, bool with_more)
{
	size_t len = lay->buflen, lines = lay->buflines;
	struct smstext_measure m;
	bool ok;

	if (with_more && !join_add(lay, lay->more, strlen(lay->more)))
		return false;
	ok = smstext_measure(lay->buf, &m) == 0 && m.octets <= max;
	lay->buflen = len;
	lay->buflines = lines;
	lay->buf[len] = '\0';
	return ok;
}

static bool
add_piece(struct layout *lay, const char *s, size_t len)
{
	if (lay->npieces == MENU_LAYOUT_PIECES)
		return false;
	lay->piece[lay->npieces].s = s;
	lay->piece[lay->npieces].len = len;
	lay->npieces++;
	return true;
}

/*
 * The longest head of s[0..len) that fits a page of its own with the
 * more line: up to a space if one allows it, else as many whole
 * characters as fit.  0 when not even one character fits.
 */
static size_t
longest_head(struct layout *lay, size_t max, const char *s, size_t len)
{
	size_t k, end, best = 0;

	for (k = 1; k < len; k++) {
		if (s[k] != ' ')
			continue;
		for (end = k; end > 0 && s[end - 1] == ' '; end--)
			;
		if (end == 0 || end <= best)
			continue;
		join_reset(lay);
		if (!join_add(lay, s, end) || !join_fits(lay, max, true))
			break;
		best = end;
	}
	if (best > 0)
		return best;
	for (k = 1; k <= len; k++) {
		if (k < len && ((unsigned char)s[k] & 0xc0) == 0x80)
			continue;
		join_reset(lay);
		if (!join_add(lay, s, k) || !join_fits(lay, max, true))
			break;
		best = k;
	}
	return best;
}

/* Pack the source lines into pages of at most max octets. */
static enum layout_result
paginate(struct layout *lay, size_t max)
{
	size_t i = 0, off = 0, j, k, head;
	const char *s;
	bool all;

	while (i < lay->nsrc) {
		if (lay->npages == MENU_LAYOUT_PIECES)
			return LAYOUT_NO_ROOM;
		lay->first[lay->npages++] = lay->npieces;

		/* Everything left fits: the last page, no more line. */
		join_reset(lay);
		all = join_add(lay, lay->src[i].s + off,
		    lay->src[i].len - off);
		for (k = i + 1; all && k < lay->nsrc; k++)
			all = join_add(lay, lay->src[k].s, lay->src[k].len);
		if (all && join_fits(lay, max, false)) {
			if (!add_piece(lay, lay->src[i].s + off,
			    lay->src[i].len - off))
				return LAYOUT_NO_ROOM;
			for (k = i + 1; k < lay->nsrc; k++)
				if (!add_piece(lay, lay->src[k].s,
				    lay->src[k].len))
					return LAYOUT_NO_ROOM;
			break;
		}

		/* As many whole lines as fit above the more line. */
		join_reset(lay);
		for (j = i; j < lay->nsrc; j++) {
			s = lay->src[j].s + (j == i ? off : 0);
			if (!join_add(lay, s, lay->src[j].len -
			    (j == i ? off : 0)) || !join_fits(lay, max, true))
				break;
			if (!add_piece(lay, s, lay->src[j].len -
			    (j == i ? off : 0)))
				return LAYOUT_NO_ROOM;
		}
		if (j > i) {
			i = j;
			off = 0;
			continue;
		}

		/* The line does not fit a page by itself: cut it. */
		s = lay->src[i].s + off;
		head = longest_head(lay, max, s, lay->src[i].len - off);
		if (head == 0)
			return LAYOUT_NO_ROOM;
		if (!add_piece(lay, s, head))
			return LAYOUT_NO_ROOM;
		off += head;
		while (off < lay->src[i].len && lay->src[i].s[off] == ' ')
			off++;
		if (off == lay->src[i].len) {
			i++;
			off = 0;
		}
	}
	lay->first[lay->npages] = lay->npieces;
	return LAYOUT_OK;
}

/*
 * Lay out node in language li under opts.  The same inputs always give
 * the same pages, which is how menu_step and menu_render agree on them.
 * On any result the caller calls layout_clear.
 */
static enum layout_result
layout_build(const struct menu *menu, const struct menu_node *node,
    size_t li, const struct menu_render_opts *opts, struct layout *lay)
{
	bool fold = opts != NULL && opts->fold_vietnamese;
	size_t max = opts != NULL ? opts->max_octets : 0;
	const char *text, *line, *nl;
	char number[24];
	size_t i, len, total;

	memset(lay, 0, sizeof(*lay));
	if ((text = layout_text(lay, node->text[li], fold)) == NULL)
		return LAYOUT_NO_MEMORY;
	for (line = text;; line = nl + 1) {
		nl = strchr(line, '\n');
		if (lay->nsrc == MENU_LAYOUT_SRC)
			return LAYOUT_NO_ROOM;
		lay->src[lay->nsrc].s = line;
		len = nl ? (size_t)(nl - line) : strlen(line);
		/* Spaces at the end of a line are invisible and still paid
		 * for on the air. */
		while (len > 0 && line[len - 1] == ' ')
			len--;
		lay->src[lay->nsrc].len = len;
		lay->nsrc++;
		if (nl == NULL)
			break;
	}
	for (i = 0; i < node->noptions; i++) {
		snprintf(number, sizeof(number), "%zu", i + 1);
		if ((line = layout_line(lay, number,
		    node->options[i].label[li], fold)) == NULL)
			return LAYOUT_NO_MEMORY;
		if (lay->nsrc == MENU_LAYOUT_SRC)
			return LAYOUT_NO_ROOM;
		lay->src[lay->nsrc].s = line;
		lay->src[lay->nsrc].len = strlen(line);
		lay->nsrc++;
	}
	/* Where the caller can type, the node says so under its list. */
	if (opts != NULL && opts->typed && node->typed[li] != NULL) {
		if ((line = layout_text(lay, node->typed[li], fold)) == NULL)
			return LAYOUT_NO_MEMORY;
		if (lay->nsrc == MENU_LAYOUT_SRC)
			return LAYOUT_NO_ROOM;
		lay->src[lay->nsrc].s = line;
		lay->src[lay->nsrc].len = strlen(line);
		lay->nsrc++;
	}

	lay->reserve_invalid = node->noptions > 0;
	if ((lay->invalid = layout_text(lay, menu->invalid_choice[li],
	    fold)) == NULL ||
	    (lay->more = layout_line(lay, menu->more_key, menu->more[li],
	    fold)) == NULL)
		return LAYOUT_NO_MEMORY;

	if (max == 0) {
		/* No budget: one page with everything. */
		for (i = 0; i < lay->nsrc; i++)
			if (!add_piece(lay, lay->src[i].s, lay->src[i].len))
				return LAYOUT_NO_ROOM;
		lay->first[0] = 0;
		lay->first[1] = lay->npieces;
		lay->npages = 1;
		return LAYOUT_OK;
	}

	/* A candidate page is the invalid line, some of the node's lines
	 * (every piece is a part of one) and the more line. */
	total = strlen(lay->invalid) + strlen(lay->more) + 4;
	for (i = 0; i < lay->nsrc; i++)
		total += lay->src[i].len + 1;
	if ((lay->buf = malloc(total)) == NULL)
		return LAYOUT_NO_MEMORY;
	lay->bufsize = total;
	return paginate(lay, max);
}

/* The compiled pages for opts, or NULL for a budget not compiled. */
static const struct menu_pages *
compiled_pages(const struct menu_node *node, size_t li,
    const struct menu_render_opts *opts)
{
	size_t max = opts != NULL ? opts->max_octets : 0;
	size_t fold = opts != NULL && opts->fold_vietnamese ? 1 : 0;
	size_t in = opts != NULL && opts->typed ? 1 : 0;

	if (max == 0)
		return &node->compiled[li][fold][0][in];
	if (max == SMSTEXT_USSD_OCTETS)
		return &node->compiled[li][fold][1][in];
	return NULL;
}

static void
pages_clear(struct menu_pages *mp)
{
	for (size_t i = 0; i < mp->npages; i++)
		free(mp->page[i]);
	free(mp->page);
	free(mp->nlines);
	free(mp->invalid);
	memset(mp, 0, sizeof(*mp));
}

/* Join a page's lines as page_add would, into a new string; *lines
 * set to how many. */
static char *
page_join(const struct layout *lay, size_t page, size_t *lines)
{
	size_t i, len = 0, at = 0, n = 0;
	bool more = page + 1 < lay->npages;
	char *s;

	for (i = lay->first[page]; i < lay->first[page + 1]; i++)
		len += lay->piece[i].len + 1;
	if (more)
		len += strlen(lay->more) + 1;
	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	for (i = lay->first[page]; i < lay->first[page + 1]; i++) {
		if (n++ > 0)
			s[at++] = '\n';
		memcpy(s + at, lay->piece[i].s, lay->piece[i].len);
		at += lay->piece[i].len;
	}
	if (more) {
		if (n++ > 0)
			s[at++] = '\n';
		memcpy(s + at, lay->more, strlen(lay->more));
		at += strlen(lay->more);
	}
	s[at] = '\0';
	*lines = n;
	return s;
}

static bool
pages_compile(const struct menu *menu, const struct menu_node *node,
    size_t li, const struct menu_render_opts *opts, struct menu_pages *mp)
{
	struct layout lay;
	bool ok = false;

	memset(mp, 0, sizeof(*mp));
	if (layout_build(menu, node, li, opts, &lay) != LAYOUT_OK)
		goto done;
	if ((mp->page = calloc(lay.npages, sizeof(*mp->page))) == NULL ||
	    (mp->nlines = calloc(lay.npages, sizeof(*mp->nlines))) == NULL ||
	    (mp->invalid = strdup(lay.invalid)) == NULL)
		goto done;
	mp->reserve_invalid = lay.reserve_invalid;
	for (; mp->npages < lay.npages; mp->npages++)
		if ((mp->page[mp->npages] = page_join(&lay, mp->npages,
		    &mp->nlines[mp->npages])) == NULL)
			goto done;
	ok = true;
done:
	layout_clear(&lay);
	if (!ok)
		pages_clear(mp);
	return ok;
}

/* Lay out every node for every language, folding mode, budget and
 * kind of input. */
static bool
node_compile(const struct menu *menu, struct menu_node *node)
{
	static const size_t budgets[MENU_BUDGETS] = { 0,
	    SMSTEXT_USSD_OCTETS };
	size_t li, k;

	for (li = 0; li < menu->nlanguages; li++)
		for (k = 0; k < 2 * MENU_BUDGETS * MENU_INPUTS; k++) {
			size_t f = k / (MENU_BUDGETS * MENU_INPUTS);
			size_t b = k / MENU_INPUTS % MENU_BUDGETS;
			size_t in = k % MENU_INPUTS;
			struct menu_render_opts o = {
				.fold_vietnamese = f == 1,
				.max_octets = budgets[b],
				.typed = in == 1,
			};

			if (!pages_compile(menu, node, li, &o,
			    &node->compiled[li][f][b][in]))
				return false;
		}
	return true;
}

/* Lay out every node (the resume offer too) for every language, folding
 * mode and budget. */
static bool
menu_compile(struct menu *menu)
{
	for (size_t n = 0; n < menu->nnodes; n++)
		if (!node_compile(menu, &menu->nodes[n]))
			return false;
	return menu->resume == NULL || node_compile(menu, menu->resume);
}

/* ------------------------------------------------------------------ */
/* Public interface                                                    */

/* The resume offer as a node of its own: the two answers are its
 * options (their next is never followed: menu_replay decides).  false
 * when out of memory. */
static bool
build_resume(struct parse *ps)
{
	struct menu *m = ps->menu;
	struct menu_node *node;
	size_t li;

	if (m->resume_offer[0] == NULL || m->nnodes == 0 ||
	    m->start == SIZE_MAX)
		return true;
	if ((node = calloc(1, sizeof(*node))) == NULL)
		return false;
	m->resume = node;
	copy_str(node->name, sizeof(node->name), MENU_RESUME_NODE);
	if ((node->options = calloc(2, sizeof(*node->options))) == NULL)
		return false;
	node->noptions = 2;
	node->options[0].next = node->options[1].next = m->start;
	for (li = 0; li < m->nlanguages; li++)
		if ((node->text[li] = strdup(m->resume_offer[li])) == NULL ||
		    (node->options[0].label[li] =
		    strdup(m->resume_continue[li])) == NULL ||
		    (node->options[1].label[li] =
		    strdup(m->resume_restart[li])) == NULL)
			return false;
	return true;
}

/* One node in every language, folded or not, under the USSD budget;
 * at most max_pages pages (0: any number).  false when out of memory. */
static bool
check_layout(struct parse *ps, const struct menu_node *node,
    const char *path, size_t max_pages)
{
	const struct menu *menu = ps->menu;
	struct layout lay;
	size_t li, f, npages;

	for (li = 0; li < menu->nlanguages; li++)
		for (f = 0; f < 2 * MENU_INPUTS; f++) {
			struct menu_render_opts o = {
				.fold_vietnamese = f % 2 == 1,
				.max_octets = SMSTEXT_USSD_OCTETS,
				.typed = f / 2 == 1,
			};
			enum layout_result r;

			/* Typing changes only a node with a typed line: the
			 * rest were checked already. */
			if (o.typed && node->typed[li] == NULL)
				continue;
			r = layout_build(menu, node, li, &o, &lay);
			npages = lay.npages;
			layout_clear(&lay);
			switch (r) {
			case LAYOUT_OK:
				if (max_pages != 0 && npages > max_pages)
					problem(ps, path, "\"%s\"%s does not "
					    "fit one %d-octet USSD screen "
					    "(shorten the offer or its two "
					    "answers)", menu->languages[li],
					    f % 2 ? " folded" : "",
					    SMSTEXT_USSD_OCTETS);
				break;
			case LAYOUT_NO_ROOM:
				problem(ps, path, "\"%s\"%s%s does not fit "
				    "%d-octet USSD screens (shorten "
				    "strings.invalid_choice or "
				    "strings.more)", menu->languages[li],
				    f % 2 ? " folded" : "",
				    o.typed ? " with its typed line" : "",
				    SMSTEXT_USSD_OCTETS);
				break;
			case LAYOUT_NO_MEMORY:
				return false;
			}
		}
	return true;
}

/* Every node, in every language, folded or not, must fit USSD screens;
 * finding out at parse time beats a caller meeting a blank page.  The
 * resume offer must fit one screen: it has no more_key of its own. */
static bool
check_layouts(struct parse *ps)
{
	const struct menu *menu = ps->menu;
	char p[MENU_PATH_SIZE];
	size_t n;

	for (n = 0; n < menu->nnodes; n++) {
		join_path(p, sizeof(p), "nodes", menu->nodes[n].name);
		if (!check_layout(ps, &menu->nodes[n], p, 0))
			return false;
	}
	if (menu->resume != NULL && !check_layout(ps, menu->resume,
	    "strings.resume_offer", 1))
		return false;
	return true;
}

struct menu *
menu_parse(const char *json, size_t len, char *err, size_t errlen)
{
	static const char *const keys[] = { "languages",
	    "default_language", "start", "more_key", "strings", "nodes",
	    "keywords" };
	struct parse ps = { .err = err, .errlen = errlen };
	json_error_t jerr;
	json_t *root = NULL;
	bool ok = false;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((ps.menu = calloc(1, sizeof(*ps.menu))) == NULL) {
		problem(&ps, "menu", "out of memory");
		return NULL;
	}
	ps.menu->start = SIZE_MAX;
	if (json == NULL || (root = json_loadb(json, len,
	    JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		problem(&ps, "menu", "line %d, column %d: %s",
		    json ? jerr.line : 0, json ? jerr.column : 0,
		    json ? jerr.text : "no text");
		goto done;
	}
	if (!json_is_object(root)) {
		problem(&ps, "menu", "must be a JSON object, not %s",
		    type_name(root));
		goto done;
	}
	check_keys(&ps, "", root, keys, sizeof(keys) / sizeof(keys[0]));
	parse_languages(&ps, root);
	parse_default_language(&ps, root);
	parse_more_key(&ps, root);
	if (!parse_strings(&ps, root) || !parse_nodes(&ps, root))
		goto nomem;
	parse_start(&ps, root);
	parse_keywords(&ps, root);
	check_reachable(&ps);
	if (ps.problems == 0 && !build_resume(&ps))
		goto nomem;
	if (ps.problems == 0 && !check_layouts(&ps))
		goto nomem;
	if (ps.problems == 0 && !menu_compile(ps.menu))
		goto nomem;
	ok = ps.problems == 0;
	goto done;
nomem:
	problem(&ps, "menu", "out of memory");
done:
	json_decref(root);
	if (!ok) {
		menu_free(ps.menu);
		return NULL;
	}
	return ps.menu;
}

static void
node_clear(struct menu_node *node)
{
	size_t j, l;

	for (l = 0; l < MENU_MAX_LANGUAGES; l++) {
		free(node->text[l]);
		free(node->typed[l]);
	}
	for (j = 0; j < node->noptions; j++)
		for (l = 0; l < MENU_MAX_LANGUAGES; l++)
			free(node->options[j].label[l]);
	free(node->options);
	for (l = 0; l < MENU_MAX_LANGUAGES; l++)
		for (j = 0; j < 2 * MENU_BUDGETS * MENU_INPUTS; j++)
			pages_clear(&node->compiled[l]
			    [j / (MENU_BUDGETS * MENU_INPUTS)]
			    [j / MENU_INPUTS % MENU_BUDGETS]
			    [j % MENU_INPUTS]);
}

void
menu_free(struct menu *menu)
{
	size_t i, l;

	if (menu == NULL)
		return;
	for (l = 0; l < MENU_MAX_LANGUAGES; l++) {
		free(menu->invalid_choice[l]);
		free(menu->more[l]);
		free(menu->opted_out[l]);
		free(menu->opted_in[l]);
		free(menu->resume_offer[l]);
		free(menu->resume_continue[l]);
		free(menu->resume_restart[l]);
	}
	for (i = 0; i < menu->nnodes; i++)
		node_clear(&menu->nodes[i]);
	free(menu->nodes);
	if (menu->resume != NULL) {
		node_clear(menu->resume);
		free(menu->resume);
	}
	free(menu);
}

enum menu_keyword
menu_match_keyword(const struct menu *menu, const char *text)
{
	char norm[MENU_KEYWORD_SIZE];

	if (text == NULL || !keyword_normalize(text, norm, sizeof(norm)))
		return MENU_KEYWORD_NONE;
	for (size_t k = 1; k < MENU_KEYWORD_KINDS; k++)
		for (size_t i = 0; i < menu->nkeywords[k]; i++)
			if (strcmp(norm, menu->keywords[k][i]) == 0)
				return (enum menu_keyword)k;
	return MENU_KEYWORD_NONE;
}

bool
menu_goto_urgent(const struct menu *menu, struct menu_state *state)
{
	if (menu->urgent_node == SIZE_MAX)
		return false;
	copy_str(state->node, sizeof(state->node),
	    menu->nodes[menu->urgent_node].name);
	state->page = 0;
	state->invalid = false;
	state->answers.priority = MENU_PRIORITY_URGENT;
	copy_str(state->answers.topic, sizeof(state->answers.topic),
	    "urgent");
	return true;
}

bool
menu_describe(const struct menu *menu, const char *field, const char *value,
    const char *language, const char **question, const char **label)
{
	enum menu_field f = MENU_FIELD_NONE;
	size_t li = language_index(menu, language), n, o;

	if (li == SIZE_MAX)
		li = menu->default_language;
	for (n = 0; n < sizeof(field_names) / sizeof(field_names[0]); n++)
		if (strcmp(field_names[n].name, field) == 0)
			f = field_names[n].field;
	/* The word is not an answer to list: the caller's choice is the
	 * lease holder's to see, and the label would be the word. */
	if (f == MENU_FIELD_VERIFICATION)
		return false;
	for (n = 0; f != MENU_FIELD_NONE && n < menu->nnodes; n++) {
		const struct menu_node *node = &menu->nodes[n];

		if (node->field != f)
			continue;
		for (o = 0; o < node->noptions; o++) {
			const struct menu_option *opt = &node->options[o];
			bool match = f == MENU_FIELD_SAFE_TO_CALL ||
			    f == MENU_FIELD_SAFE_TO_SMS ?
			    strcmp(value, opt->flag ? "true" : "false") == 0 :
			    strcmp(value, opt->value) == 0;

			if (match) {
				*question = node->text[li];
				*label = opt->label[li];
				return true;
			}
		}
	}
	return false;
}

bool
menu_word_parse(const char *input, char *out, size_t outlen)
{
	static const char space[] = " \t\r\n";
	char buf[MENU_WORD_INPUT_MAX], *nfc = NULL, *folded = NULL;
	size_t len, letters = 0, chars = 0, i;
	bool ok = false;

	if (out == NULL || outlen == 0)
		return false;
	out[0] = '\0';
	if (input == NULL)
		return false;
	input += strspn(input, space);
	len = strlen(input);
	while (len > 0 && strchr(space, input[len - 1]) != NULL)
		len--;
	if (len == 0 || len >= sizeof(buf) ||
	    !smstext_utf8_valid(input, len))
		return false;
	memcpy(buf, input, len);
	buf[len] = '\0';
	if ((nfc = smstext_nfc(buf)) == NULL ||
	    (folded = smstext_fold_vietnamese(nfc)) == NULL)
		goto out;
	/* A letter is what folds to one ASCII letter: a-z, and the same
	 * with any diacritics (every Vietnamese letter, d-stroke too). */
	for (i = 0; folded[i] != '\0'; i++) {
		char c = folded[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			goto out;
		letters++;
	}
	for (i = 0; nfc[i] != '\0'; i++)
		chars += ((unsigned char)nfc[i] & 0xc0) != 0x80;
	if (letters != chars || letters < MENU_WORD_MIN_LETTERS ||
	    letters > MENU_WORD_MAX_LETTERS || strlen(nfc) >= outlen ||
	    strlen(nfc) >= MENU_WORD_SIZE)
		goto out;
	memcpy(out, nfc, strlen(nfc) + 1);
	ok = true;
out:
	free(nfc);
	free(folded);
	return ok;
}

const char *
menu_default_language(const struct menu *menu)
{
	return menu->languages[menu->default_language];
}

bool
menu_has_language(const struct menu *menu, const char *language)
{
	return menu != NULL && language_index(menu, language) != SIZE_MAX;
}

void
menu_start(const struct menu *menu, const char *language,
    struct menu_state *state)
{
	size_t li = language_index(menu, language);

	memset(state, 0, sizeof(*state));
	if (li == SIZE_MAX)
		li = menu->default_language;
	copy_str(state->node, sizeof(state->node),
	    menu->nodes[menu->start].name);
	copy_str(state->answers.language, sizeof(state->answers.language),
	    menu->languages[li]);
	state->answers.safe_to_call = MENU_UNANSWERED;
	state->answers.safe_to_sms = MENU_UNANSWERED;
	state->answers.priority = MENU_PRIORITY_NORMAL;
}

/* The language pages are shown in: the caller's choice, else the
 * default (a state is a plain value and may come from anywhere). */
static size_t
state_language(const struct menu *menu, const struct menu_state *state)
{
	size_t li = language_index(menu, state->answers.language);

	return li == SIZE_MAX ? menu->default_language : li;
}

static const struct menu_node *
state_node(const struct menu *menu, const struct menu_state *state)
{
	size_t n;

	/* A node name that does not fit is not one of ours. */
	if (memchr(state->node, '\0', sizeof(state->node)) == NULL)
		return NULL;
	if (strcmp(state->node, MENU_RESUME_NODE) == 0)
		return menu->resume;
	n = node_index(menu, state->node);
	return n == SIZE_MAX ? NULL : &menu->nodes[n];
}

/* How many pages the caller's node has under opts; 1 when it cannot be
 * laid out (memory), which makes the more_key invalid rather than
 * moving to a page that cannot be shown. */
static size_t
page_count(const struct menu *menu, const struct menu_node *node,
    size_t li, const struct menu_render_opts *opts)
{
	const struct menu_pages *mp = compiled_pages(node, li, opts);
	struct layout lay;
	size_t n = 1;

	if (mp != NULL)
		return mp->npages > 0 ? mp->npages : 1;
	if (layout_build(menu, node, li, opts, &lay) == LAYOUT_OK)
		n = lay.npages;
	layout_clear(&lay);
	return n;
}

static void
apply_option(const struct menu *menu, const struct menu_node *node,
    const struct menu_option *opt, struct menu_state *state)
{
	struct menu_answers *a = &state->answers;
	size_t li = state_language(menu, state);

	switch (node->field) {
	case MENU_FIELD_NONE:
		break;
	case MENU_FIELD_LANGUAGE:
		copy_str(a->language, sizeof(a->language), opt->value);
		break;
	case MENU_FIELD_TOPIC:
		copy_str(a->topic, sizeof(a->topic), opt->value);
		break;
	case MENU_FIELD_SAFE_TO_CALL:
		a->safe_to_call = opt->flag ? MENU_YES : MENU_NO;
		break;
	case MENU_FIELD_SAFE_TO_SMS:
		a->safe_to_sms = opt->flag ? MENU_YES : MENU_NO;
		break;
	case MENU_FIELD_PREFERRED_TIME:
		copy_str(a->preferred_time, sizeof(a->preferred_time),
		    opt->value);
		break;
	case MENU_FIELD_VERIFICATION:
		/* The word as this caller saw it, in their language. */
		if (opt->word)
			copy_str(a->verification, sizeof(a->verification),
			    opt->label[li]);
		else
			a->verification[0] = '\0';
		break;
	}
	if (opt->urgent)
		a->priority = MENU_PRIORITY_URGENT;
	copy_str(state->node, sizeof(state->node),
	    menu->nodes[opt->next].name);
	state->page = 0;
	state->invalid = false;
}

/*
 * A word typed at a verification node that takes one (opts->typed and a
 * "typed" line): a skip option's label in any language is that option;
 * a word option's label in the caller's language is that option (the
 * word as the list spells it); any other word is kept as typed and
 * goes where the word options go.  false: not a word; nothing changed.
 */
static bool
typed_step(const struct menu *menu, const struct menu_node *node,
    struct menu_state *state, const char *p, size_t len,
    const struct menu_render_opts *opts)
{
	char input[MENU_WORD_INPUT_MAX], word[MENU_WORD_SIZE];
	size_t li = state_language(menu, state), i, l;

	if (node->field != MENU_FIELD_VERIFICATION || opts == NULL ||
	    !opts->typed || node->typed[li] == NULL ||
	    node->typed_next == SIZE_MAX || len == 0 || len >= sizeof(input))
		return false;
	memcpy(input, p, len);
	input[len] = '\0';
	for (i = 0; i < node->noptions; i++) {
		const struct menu_option *o = &node->options[i];

		for (l = 0; l < menu->nlanguages; l++)
			if ((!o->word || l == li) && o->label[l] != NULL &&
			    same_word(input, o->label[l])) {
				apply_option(menu, node, o, state);
				return true;
			}
	}
	if (!menu_word_parse(input, word, sizeof(word)))
		return false;
	copy_str(state->answers.verification,
	    sizeof(state->answers.verification), word);
	copy_str(state->node, sizeof(state->node),
	    menu->nodes[node->typed_next].name);
	state->page = 0;
	state->invalid = false;
	return true;
}

enum menu_step_result
menu_step(const struct menu *menu, struct menu_state *state,
    const char *input, const struct menu_render_opts *opts)
{
	static const char space[] = " \t\r\n";
	const struct menu_node *node = state_node(menu, state);
	const char *p = input != NULL ? input : "";
	size_t len, choice, mlen = strlen(menu->more_key);
	bool more;

	/* A state naming no node of this menu cannot go anywhere: treat
	 * it as ended rather than guess where the caller was. */
	if (node == NULL)
		return MENU_STEP_FINISHED;
	/* The resume offer's answers are menu_replay's to apply. */
	if (node == menu->resume)
		return MENU_STEP_FINISHED;
	p += strspn(p, space);
	len = strlen(p);
	while (len > 0 && strchr(space, p[len - 1]) != NULL)
		len--;
	more = len == mlen && memcmp(p, menu->more_key, mlen) == 0;

	/* The more_key still pages through a long terminal node; anything
	 * else there is input after the end of the conversation. */
	if (more && (size_t)state->page + 1 <
	    page_count(menu, node, state_language(menu, state), opts)) {
		state->page++;
		state->invalid = false;
		return MENU_STEP_PAGED;
	}
	if (node->noptions == 0)
		return MENU_STEP_FINISHED;

	choice = choice_number(p, len);
	if (!more && choice == 0 && typed_step(menu, node, state, p, len,
	    opts))
		return MENU_STEP_MOVED;
	if (more || choice == 0 || choice > node->noptions) {
		/* Never end the call on a typo: show the same page again,
		 * with the invalid line above it. */
		state->invalid = true;
		return MENU_STEP_INVALID;
	}
	apply_option(menu, node, &node->options[choice - 1], state);
	return MENU_STEP_MOVED;
}

bool
menu_is_terminal(const struct menu *menu, const struct menu_state *state)
{
	const struct menu_node *node = state_node(menu, state);

	return node == NULL || node->noptions == 0;
}

bool
menu_ends(const struct menu *menu, const struct menu_state *state,
    const struct menu_render_opts *opts)
{
	const struct menu_node *node = state_node(menu, state);

	if (node == NULL)
		return true;
	return node->noptions == 0 && (size_t)state->page + 1 >=
	    page_count(menu, node, state_language(menu, state), opts);
}

bool
menu_asks_verification(const struct menu *menu,
    const struct menu_state *state)
{
	const struct menu_node *node = state_node(menu, state);

	return node != NULL && node->field == MENU_FIELD_VERIFICATION;
}

enum menu_action
menu_current_action(const struct menu *menu, const struct menu_state *state)
{
	const struct menu_node *node = state_node(menu, state);

	return node == NULL ? MENU_ACTION_NONE : node->action;
}

/* A page being written into the caller's buffer. */
struct page_out {
	char *out;
	size_t outlen;
	size_t len;
	size_t lines;
};

static bool
page_add(struct page_out *po, const char *s, size_t len)
{
	size_t sep = po->lines > 0 ? 1 : 0;

	if (po->len + sep + len >= po->outlen)
		return false;
	if (sep)
		po->out[po->len++] = '\n';
	memcpy(po->out + po->len, s, len);
	po->len += len;
	po->out[po->len] = '\0';
	po->lines++;
	return true;
}

int
menu_render(const struct menu *menu, const struct menu_state *state,
    const struct menu_render_opts *opts, char *out, size_t outlen)
{
	const struct menu_node *node = state_node(menu, state);
	const struct menu_pages *mp;
	struct page_out po = { .out = out, .outlen = outlen };
	const char *page;

	if (node == NULL || (mp = compiled_pages(node,
	    state_language(menu, state), opts)) == NULL)
		return menu_render_fresh(menu, state, opts, out, outlen);
	if (out == NULL || outlen == 0)
		return -1;
	out[0] = '\0';
	if (state->page >= mp->npages)
		return -1;
	page = mp->page[state->page];
	if ((state->invalid && mp->reserve_invalid &&
	    !page_add(&po, mp->invalid, strlen(mp->invalid))) ||
	    (mp->nlines[state->page] > 0 &&
	    !page_add(&po, page, strlen(page)))) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

int
menu_render_fresh(const struct menu *menu, const struct menu_state *state,
    const struct menu_render_opts *opts, char *out, size_t outlen)
{
	const struct menu_node *node = state_node(menu, state);
	struct page_out po = { .out = out, .outlen = outlen };
	struct layout lay;
	size_t li, i;
	int rc = -1;

	if (out == NULL || outlen == 0)
		return -1;
	out[0] = '\0';
	if (node == NULL)
		return -1;
	li = state_language(menu, state);
	if (layout_build(menu, node, li, opts, &lay) != LAYOUT_OK)
		goto done;
	/* A page past the end comes from other opts: not ours to guess. */
	if (state->page >= lay.npages)
		goto done;
	if (state->invalid && lay.reserve_invalid &&
	    !page_add(&po, lay.invalid, strlen(lay.invalid)))
		goto done;
	for (i = lay.first[state->page]; i < lay.first[state->page + 1]; i++)
		if (!page_add(&po, lay.piece[i].s, lay.piece[i].len))
			goto done;
	if (state->page + 1 < lay.npages &&
	    !page_add(&po, lay.more, strlen(lay.more)))
		goto done;
	rc = 0;
done:
	layout_clear(&lay);
	if (rc == -1)
		out[0] = '\0';
	return rc;
}

const char *
menu_string(const struct menu *menu, const char *name,
    const struct menu_state *state)
{
	size_t li = state_language(menu, state);

	if (strcmp(name, "opted_out") == 0)
		return menu->opted_out[li];
	if (strcmp(name, "opted_in") == 0)
		return menu->opted_in[li];
	if (strcmp(name, "invalid_choice") == 0)
		return menu->invalid_choice[li];
	return NULL;
}

bool
menu_offers_resume(const struct menu *menu)
{
	return menu != NULL && menu->resume != NULL;
}

bool
menu_resumable(const struct menu *menu, const struct menu_state *state)
{
	const struct menu_node *node = state_node(menu, state);

	/* At the start nothing is answered yet; at a terminal node there is
	 * nothing left to answer. */
	return node != NULL && node != menu->resume && node->noptions > 0 &&
	    node != &menu->nodes[menu->start];
}

/* One input of the path at the resume offer. */
static enum menu_resume
resume_step(const struct menu *menu, const char *language,
    const struct menu_state *resume, const char *input,
    struct menu_state *state)
{
	static const char space[] = " \t\r\n";
	size_t len;

	input += strspn(input, space);
	len = strlen(input);
	while (len > 0 && strchr(space, input[len - 1]) != NULL)
		len--;
	switch (choice_number(input, len)) {
	case 1:
		/* The page they were on, from its top; a node the menu no
		 * longer has (a reload) starts over instead. */
		if (!menu_resumable(menu, resume))
			break;
		*state = *resume;
		state->page = 0;
		state->invalid = false;
		return MENU_RESUME_CONTINUED;
	case 2:
		break;
	default:
		state->invalid = true;
		return MENU_RESUME_OFFERED;
	}
	menu_start(menu, language, state);
	return MENU_RESUME_RESTARTED;
}

int
menu_replay(const struct menu *menu, const char *language,
    const struct menu_state *resume, const char *path,
    const struct menu_render_opts *opts, struct menu_state *state,
    enum menu_resume *how)
{
	char *copy, *p, *star;

	*how = MENU_RESUME_NONE;
	menu_start(menu, language, state);
	if (resume != NULL && menu->resume != NULL) {
		/* The offer speaks the language the caller chose before. */
		state->answers = resume->answers;
		copy_str(state->node, sizeof(state->node), MENU_RESUME_NODE);
		*how = MENU_RESUME_OFFERED;
	}
	if (path == NULL || *path == '\0')
		return 0;
	if ((copy = strdup(path)) == NULL)
		return -1;
	for (p = copy;; p = star + 1) {
		if ((star = strchr(p, '*')) != NULL)
			*star = '\0';
		if (*how == MENU_RESUME_OFFERED)
			*how = resume_step(menu, language, resume, p, state);
		else if (menu_step(menu, state, p, opts) ==
		    MENU_STEP_FINISHED)
			break;
		if (star == NULL)
			break;
	}
	free(copy);
	return 0;
}

static const char *
answer_name(enum menu_answer a)
{
	switch (a) {
	case MENU_UNANSWERED:
		return "";
	case MENU_NO:
		return "no";
	case MENU_YES:
		return "yes";
	}
	return "";
}

static enum menu_answer
answer_parse(const char *s)
{
	if (s != NULL && strcmp(s, "yes") == 0)
		return MENU_YES;
	if (s != NULL && strcmp(s, "no") == 0)
		return MENU_NO;
	return MENU_UNANSWERED;
}

/* A JSON text being written into a fixed buffer; ok turns false when
 * it would not fit. */
struct json_out {
	char *buf;
	size_t len, cap;
	bool ok;
};

static void
out_bytes(struct json_out *o, const char *s, size_t n)
{
	if (!o->ok || o->cap - o->len <= n) {
		o->ok = false;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void
out_literal(struct json_out *o, const char *s)
{
	out_bytes(o, s, strlen(s));
}

/* A JSON string, escaped as json_dumps escapes it (UTF-8 passes as it
 * is), so what menu_state_load reads back is unchanged. */
static void
out_string(struct json_out *o, const char *s)
{
	/* The short escapes JSON has (else \u00XX), and their letters. */
	static const char shorts[] = "\"\\\b\f\n\r\t";
	static const char letters[] = "\"\\bfnrt";
	static const char hex[] = "0123456789ABCDEF";

	out_bytes(o, "\"", 1);
	for (const char *run = s;; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[7] = "\\u00";

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		out_bytes(o, run, (size_t)(s - run));
		run = s + 1;
		if (c == '\0')
			break;
		const char *two = strchr(shorts, c);

		if (two != NULL) {
			esc[1] = letters[two - shorts];
			out_bytes(o, esc, 2);
			continue;
		}
		esc[4] = hex[c >> 4];
		esc[5] = hex[c & 0xf];
		out_bytes(o, esc, 6);
	}
	out_bytes(o, "\"", 1);
}

static void
out_state(struct json_out *o, const struct menu_state *st)
{
	char page[24];

	snprintf(page, sizeof(page), "%u", st->page);
	out_literal(o, "{\"node\":");
	out_string(o, st->node);
	out_literal(o, ",\"page\":");
	out_literal(o, page);
	out_literal(o, ",\"language\":");
	out_string(o, st->answers.language);
	out_literal(o, ",\"topic\":");
	out_string(o, st->answers.topic);
	out_literal(o, ",\"safe_to_call\":");
	out_string(o, answer_name(st->answers.safe_to_call));
	out_literal(o, ",\"safe_to_sms\":");
	out_string(o, answer_name(st->answers.safe_to_sms));
	out_literal(o, ",\"preferred_time\":");
	out_string(o, st->answers.preferred_time);
	out_literal(o, st->answers.priority == MENU_PRIORITY_URGENT ?
	    ",\"urgent\":true" : ",\"urgent\":false");
	out_literal(o, ",\"verification\":");
	out_string(o, st->answers.verification);
}

/* Written by hand, not through Jansson: every USSD hop and SMS turn
 * stores one, and building a JSON tree to print it was a sixth of a
 * hop's work on the loop.  Byte for byte what json_dumps(JSON_COMPACT)
 * wrote before (test_menu checks), so stored states read back alike. */
char *
menu_state_dump(const struct menu_state *state,
    const struct menu_state *resume)
{
	/* Every field escaped at its longest (6 bytes a byte), twice. */
	enum { DUMP_MAX = 2 * (6 * (MENU_NAME_SIZE + MENU_LANGUAGE_SIZE +
	    3 * MENU_VALUE_SIZE + MENU_WORD_SIZE) + 256) };
	struct json_out o = { malloc(DUMP_MAX), 0, DUMP_MAX, true };

	if (o.buf == NULL)
		return NULL;
	out_state(&o, state);
	if (resume != NULL) {
		out_literal(&o, ",\"resume\":");
		out_state(&o, resume);
		out_literal(&o, "}");
	}
	out_literal(&o, "}");
	if (!o.ok) {
		free(o.buf);
		return NULL;
	}
	return o.buf;
}

static void
copy_field(char *dst, size_t size, json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	snprintf(dst, size, "%s", v ? v : "");
}

static bool
state_from_object(json_t *o, struct menu_state *st)
{
	json_t *page;

	memset(st, 0, sizeof(*st));
	if (!json_is_object(o))
		return false;
	copy_field(st->node, sizeof(st->node), o, "node");
	page = json_object_get(o, "page");
	st->page = json_is_integer(page) && json_integer_value(page) >= 0 &&
	    json_integer_value(page) < 100 ?
	    (unsigned)json_integer_value(page) : 0;
	copy_field(st->answers.language, sizeof(st->answers.language), o,
	    "language");
	copy_field(st->answers.topic, sizeof(st->answers.topic), o, "topic");
	copy_field(st->answers.preferred_time,
	    sizeof(st->answers.preferred_time), o, "preferred_time");
	copy_field(st->answers.verification,
	    sizeof(st->answers.verification), o, "verification");
	st->answers.safe_to_call = answer_parse(json_string_value(
	    json_object_get(o, "safe_to_call")));
	st->answers.safe_to_sms = answer_parse(json_string_value(
	    json_object_get(o, "safe_to_sms")));
	st->answers.priority = json_is_true(json_object_get(o, "urgent")) ?
	    MENU_PRIORITY_URGENT : MENU_PRIORITY_NORMAL;
	return st->node[0] != '\0';
}

bool
menu_state_load(const char *text, struct menu_state *state,
    struct menu_state *resume, bool *has_resume)
{
	json_t *o = text != NULL ? json_loads(text, 0, NULL) : NULL;
	bool ok = state_from_object(o, state);

	if (has_resume != NULL)
		*has_resume = ok && resume != NULL && state_from_object(
		    json_object_get(o, "resume"), resume);
	json_decref(o);
	return ok;
}
