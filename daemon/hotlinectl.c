/*
 * hotlinectl: the operator's command line.
 *
 *   hotlinectl -c FILE [--database PATH] queue
 *   hotlinectl -c FILE [--database PATH] next [--as NAME]
 *   hotlinectl -c FILE [--database PATH] show ID
 *   hotlinectl -c FILE [--database PATH] complete ID OUTCOME
 *       [--note TEXT] [--retry-at TIME]
 *   hotlinectl -c FILE [--database PATH] stats [--days N]
 *   hotlinectl -c FILE [--database PATH] token add NAME --role ROLE
 *   hotlinectl -c FILE [--database PATH] token revoke NAME
 *   hotlinectl -c FILE [--database PATH] token list
 *   hotlinectl -c FILE simulate [--channel NAME]
 *   hotlinectl -c FILE [--database PATH] backup PATH [--force]
 *   hotlinectl -c FILE [--database PATH] restore PATH
 *   hotlinectl -c FILE rekey [--new-key FILE]
 *   hotlinectl -c FILE [--database PATH] purge [--dry-run]
 *   hotlinectl -c FILE [--database PATH] erase --caller C | --number N
 *
 * Exit codes: 0 done, 1 failed (message on stderr), 2 usage error,
 * 3 nothing to do (`next` found the queue empty).
 *
 * The operator runs this as the service user, with the database in
 * reach: the CLI acts as a supervisor would, and every number it shows
 * is audited first.  The queue's rules are queue.c's, the same the API
 * follows; a command that changes the queue is one transaction, and
 * what it prints waits for that transaction's commit.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <limits.h>
#include <pwd.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "menu.h"
#include "phone.h"
#include "privacy.h"
#include "queue.h"
#include "retention.h"
#include "rfc3339.h"
#include "seal.h"
#include "smstext.h"
#include "store.h"

#define CONFIG_ERR_SIZE 16384

#define EXIT_USAGE 2
#define EXIT_NOTHING 3            /* next: the queue is empty */

#define NAME_MAX_LEN 64           /* a token's name */
#define NOTE_MAX 4096             /* as the API allows */
#define MAX_ARGS 4

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: hotlinectl -c FILE [--database PATH] COMMAND\n"
	    "commands:\n"
	    "  queue                     open callback tasks, urgent first "
	    "(shows numbers; each is audited)\n"
	    "  next [--as NAME]          claim the most urgent due task and "
	    "show it\n"
	    "                            (as token NAME, so its holder can "
	    "go on in the API)\n"
	    "  show ID                   a task, its notes and the caller's "
	    "messages\n"
	    "                            (shows the number; audited)\n"
	    "  complete ID OUTCOME [--note TEXT] [--retry-at TIME]\n"
	    "                            record a call: reached, no_answer, "
	    "wrong_number\n"
	    "                            or unsafe; no_answer tries again at "
	    "TIME (RFC 3339,\n"
	    "                            e.g. 2026-11-29T10:00:00+07:00) or "
	    "after a backoff\n"
	    "  stats [--days N]          tasks and outbound texts by status; "
	    "--days: also\n"
	    "                            the last N days' figures (UTC)\n"
	    "  token add NAME --role ROLE\n"
	    "                            an API token for NAME (counsellor, "
	    "supervisor or\n"
	    "                            admin), printed once\n"
	    "  token revoke NAME         revoke NAME's token at once\n"
	    "  token list                tokens: name, role, created, "
	    "revoked\n"
	    "  simulate [--channel NAME] walk the menu as a caller would\n"
	    "  backup PATH [--force]     a checked copy of the database, "
	    "taken while the\n"
	    "                            daemon runs (--force: replace PATH)\n"
	    "  restore PATH              put a backup in place of the "
	    "database (daemon\n"
	    "                            stopped; the old one is kept "
	    "beside it)\n"
	    "  rekey [--new-key FILE]    rewrap the data keys under a new "
	    "master key\n"
	    "                            (privacy.data_key), the daemon "
	    "running\n"
	    "  purge [--dry-run]         forget what is past "
	    "privacy.retention_days now\n"
	    "                            (counts by table; --dry-run: "
	    "change nothing)\n"
	    "  erase --caller C | --number N\n"
	    "                            erase one caller (pseudonym c_..., "
	    "or number):\n"
	    "                            open tasks closed, texts cancelled, "
	    "data cleared\n"
	    "exit codes: 0 done, 1 failed, 2 usage error, 3 nothing to do "
	    "(next: empty queue)\n");
}

/* What the command line asked for. */
enum option_bit {
	OPT_CHANNEL = 1 << 0,
	OPT_ROLE = 1 << 1,
	OPT_AS = 1 << 2,
	OPT_NOTE = 1 << 3,
	OPT_RETRY_AT = 1 << 4,
	OPT_FORCE = 1 << 5,
	OPT_DRY_RUN = 1 << 6,
	OPT_CALLER = 1 << 7,
	OPT_NUMBER = 1 << 8,
	OPT_DAYS = 1 << 9,
	OPT_NEW_KEY = 1 << 10,
};

enum command_id {
	CMD_QUEUE,
	CMD_NEXT,
	CMD_SHOW,
	CMD_COMPLETE,
	CMD_STATS,
	CMD_TOKEN_ADD,
	CMD_TOKEN_REVOKE,
	CMD_TOKEN_LIST,
	CMD_SIMULATE,
	CMD_BACKUP,
	CMD_RESTORE,
	CMD_REKEY,
	CMD_PURGE,
	CMD_ERASE,
};

static const struct command {
	enum command_id id;
	const char *name;
	const char *sub;          /* the second word ("token add"), or NULL */
	size_t nargs;             /* arguments after the words */
	unsigned opts;            /* the options it takes */
	const char *synopsis;
} commands[] = {
	{ CMD_QUEUE, "queue", NULL, 0, 0, "queue" },
	{ CMD_NEXT, "next", NULL, 0, OPT_AS, "next [--as NAME]" },
	{ CMD_SHOW, "show", NULL, 1, 0, "show ID" },
	{ CMD_COMPLETE, "complete", NULL, 2, OPT_NOTE | OPT_RETRY_AT,
	    "complete ID OUTCOME [--note TEXT] [--retry-at TIME]" },
	{ CMD_STATS, "stats", NULL, 0, OPT_DAYS, "stats [--days N]" },
	{ CMD_TOKEN_ADD, "token", "add", 1, OPT_ROLE,
	    "token add NAME --role metrics|counsellor|supervisor|admin" },
	{ CMD_TOKEN_REVOKE, "token", "revoke", 1, 0, "token revoke NAME" },
	{ CMD_TOKEN_LIST, "token", "list", 0, 0, "token list" },
	{ CMD_SIMULATE, "simulate", NULL, 0, OPT_CHANNEL,
	    "simulate [--channel NAME]" },
	{ CMD_BACKUP, "backup", NULL, 1, OPT_FORCE, "backup PATH [--force]" },
	{ CMD_RESTORE, "restore", NULL, 1, 0, "restore PATH" },
	{ CMD_REKEY, "rekey", NULL, 0, OPT_NEW_KEY, "rekey [--new-key FILE]" },
	{ CMD_PURGE, "purge", NULL, 0, OPT_DRY_RUN, "purge [--dry-run]" },
	{ CMD_ERASE, "erase", NULL, 0, OPT_CALLER | OPT_NUMBER,
	    "erase --caller C | --number N" },
};

struct invocation {
	const struct command *cmd;
	const char *args[MAX_ARGS];
	size_t nargs;
	unsigned opts;            /* the options given */
	const char *channel;
	const char *role;
	const char *as;
	const char *note;
	const char *retry_at;
	const char *new_key;
	bool force;
	bool dry_run;
	const char *caller;
	const char *number;
	const char *days;
};

static const char *
answer_name(enum store_answer a)
{
	switch (a) {
	case STORE_ANSWER_UNKNOWN:
		return "-";
	case STORE_ANSWER_NO:
		return "no";
	case STORE_ANSWER_YES:
		return "yes";
	}
	return "-";
}

/* Unset, or cleared by retention or an erasure. */
static const char *
or_dash(const char *s)
{
	return s && *s ? s : "-";
}

/* The queue as printed, held back until its audit rows are committed. */
struct queue_listing {
	int64_t *ids;
	char **lines;
	size_t count;
	size_t cap;
	bool failed;
};

static int
collect_task_cb(const struct store_task *t, void *arg)
{
	struct queue_listing *q = arg;
	char line[512];

	if (q->count == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;
		int64_t *ids = reallocarray(q->ids, cap, sizeof(*ids));
		char **lines;

		if (ids == NULL) {
			q->failed = true;
			return 1;
		}
		q->ids = ids;
		if ((lines = reallocarray(q->lines, cap, sizeof(*lines))) ==
		    NULL) {
			q->failed = true;
			return 1;
		}
		q->lines = lines;
		q->cap = cap;
	}
	snprintf(line, sizeof(line), "%-6" PRId64 " %-7s %-8s %-20s %-14s "
	    "%-16s %-3s %-12s %-4s %-4s %s", t->id, t->urgent ? "urgent" :
	    "normal", store_task_status_name(t->status),
	    t->created_at, t->caller, t->msisdn ? t->msisdn : "(erased)",
	    t->language ? t->language : "-", t->topic ? t->topic : "-",
	    answer_name(t->safe_to_call), answer_name(t->safe_to_sms),
	    t->preferred_time ? t->preferred_time : "-");
	if ((q->lines[q->count] = strdup(line)) == NULL) {
		q->failed = true;
		return 1;
	}
	q->ids[q->count++] = t->id;
	return 0;
}

static const char *
operator_name(char *buf, size_t len)
{
	struct passwd *pw = getpwuid(getuid());

	snprintf(buf, len, "cli:%s", pw ? pw->pw_name : "unknown");
	return buf;
}

/*
 * The queue with callers' numbers.  Each number shown leaves an audit
 * row, and the rows are committed before anything is printed: a number
 * is never shown without its trace.
 */
static int
cmd_queue(struct store *st, FILE *out)
{
	struct queue_listing q = { 0 };
	char actor[64], why[256] = "";
	int rc = 1;

	if (store_tasks_open_foreach(st, true, collect_task_cb, &q, why,
	    sizeof(why)) < 0 || q.failed) {
		fprintf(stderr, "hotlinectl: %s\n", q.failed ? "out of memory" :
		    why);
		goto out;
	}
	if (q.count > 0 && queue_reveal_tasks(st, operator_name(actor,
	    sizeof(actor)), q.ids, q.count, "hotlinectl queue") < 0) {
		fprintf(stderr, "hotlinectl: could not record the audit trail, "
		    "so no number is shown\n");
		goto out;
	}
	fprintf(out, "%-6s %-7s %-8s %-20s %-14s %-16s %-3s %-12s %-4s %-4s "
	    "%s\n", "ID", "PRIO", "STATUS", "CREATED", "CALLER", "NUMBER",
	    "LNG", "TOPIC", "CALL", "SMS", "WHEN");
	for (size_t i = 0; i < q.count; i++)
		fprintf(out, "%s\n", q.lines[i]);
	if (q.count == 0)
		fprintf(out, "(no open tasks)\n");
	rc = 0;
out:
	for (size_t i = 0; i < q.count; i++)
		free(q.lines[i]);
	free(q.lines);
	free(q.ids);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Checking what the operator typed                                    */

/* A token's name, also what `next --as` claims as: 1-64 characters of
 * [A-Za-z0-9._-], so it prints and logs as it is. */
static bool
name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
		    *s == '-'))
			return false;
	return true;
}

/* A task id: a positive decimal number, nothing else. */
static bool
id_parse(const char *s, int64_t *id)
{
	char *end;
	long long v;

	if (*s < '0' || *s > '9')
		return false;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || v <= 0 || v == LLONG_MAX)
		return false;
	*id = v;
	return true;
}

/* ------------------------------------------------------------------ */
/* Printing what callers and counsellors wrote                         */

/* The next UTF-8 character at s: its code point and length, or 0 when
 * the bytes are not well-formed. */
static size_t
utf8_next(const unsigned char *s, unsigned *cp)
{
	size_t n;
	unsigned min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		*cp = s[0] & 0x1f;
		min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		*cp = s[0] & 0x0f;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		*cp = s[0] & 0x07;
		min = 0x10000;
	} else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * Text someone else wrote, onto the operator's terminal: a caller's SMS
 * must not be able to move the cursor, retitle the window or reorder
 * the line, so control characters (C0, DEL, C1) and bidirectional
 * overrides print as '?', as do bytes that are not UTF-8.  Line breaks
 * continue the text on a new line under `indent`.
 */
static void
print_text(FILE *out, const char *text, const char *indent)
{
	const unsigned char *s = (const unsigned char *)text;
	unsigned cp;
	size_t n;

	while (*s != '\0') {
		if (*s == '\r' || *s == '\n') {
			if (s[0] == '\r' && s[1] == '\n')
				s++;
			fprintf(out, "\n%s", indent);
			s++;
			continue;
		}
		if (*s == '\t') {
			fputc(' ', out);
			s++;
			continue;
		}
		if ((n = utf8_next(s, &cp)) == 0) {
			fputc('?', out);
			s++;
			continue;
		}
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||
		    (cp >= 0x200e && cp <= 0x200f) ||
		    (cp >= 0x202a && cp <= 0x202e) ||
		    (cp >= 0x2066 && cp <= 0x2069))
			fputc('?', out);
		else
			fwrite(s, 1, n, out);
		s += n;
	}
}

/* ------------------------------------------------------------------ */
/* One task, in full                                                   */

struct task_view {
	FILE *out;
	char caller[32];
};

static int
render_task_cb(const struct store_task *t, void *arg)
{
	struct task_view *v = arg;
	FILE *out = v->out;

	snprintf(v->caller, sizeof(v->caller), "%s", or_dash(t->caller));
	fprintf(out, "task            %" PRId64 "\n", t->id);
	fprintf(out, "status          %s\n",
	    store_task_status_name(t->status));
	fprintf(out, "priority        %s\n", t->urgent ? "urgent" : "normal");
	fprintf(out, "caller          %s\n", or_dash(t->caller));
	/* NULL: sealed under a key since destroyed. */
	fprintf(out, "number          %s\n", t->msisdn ? t->msisdn :
	    "(erased)");
	fprintf(out, "channel         %s\n", or_dash(t->channel));
	fprintf(out, "language        %s\n", or_dash(t->language));
	fprintf(out, "topic           %s\n", or_dash(t->topic));
	fprintf(out, "safe to call    %s\n", answer_name(t->safe_to_call));
	fprintf(out, "safe to text    %s\n", answer_name(t->safe_to_sms));
	fprintf(out, "preferred time  %s\n", or_dash(t->preferred_time));
	fprintf(out, "created         %s\n", or_dash(t->created_at));
	fprintf(out, "updated         %s\n", or_dash(t->updated_at));
	fprintf(out, "claimed by      %s\n", or_dash(t->claimed_by));
	fprintf(out, "lease until     %s\n", or_dash(t->lease_expires_at));
	fprintf(out, "attempts        %d\n", t->attempts);
	fprintf(out, "retry at        %s\n", or_dash(t->retry_at));
	fprintf(out, "outcome         %s\n", t->has_outcome ?
	    store_outcome_name(t->outcome) : "-");
	fprintf(out, "closed          %s\n", or_dash(t->closed_at));
	return 0;
}

struct list_view {
	FILE *out;
	size_t count;
};

static int
render_note_cb(int64_t id, const char *author, const char *text,
    const char *created_at, void *arg)
{
	struct list_view *v = arg;

	(void)id;
	if (v->count++ == 0)
		fprintf(v->out, "\nnotes:\n");
	fprintf(v->out, "  %s  %s: ", or_dash(created_at), or_dash(author));
	print_text(v->out, text ? text : "", "      ");
	fputc('\n', v->out);
	return 0;
}

static int
render_message_cb(const char *direction, const char *text, const char *at,
    const char *status, void *arg)
{
	struct list_view *v = arg;
	char dir[32];

	if (v->count++ == 0)
		fprintf(v->out, "\nmessages (oldest first):\n");
	if (status != NULL)
		snprintf(dir, sizeof(dir), "%s %s", or_dash(direction), status);
	else
		snprintf(dir, sizeof(dir), "%s", or_dash(direction));
	fprintf(v->out, "  %-24s  %-13s  ", or_dash(at), dir);
	print_text(v->out, text ? text : "", "      ");
	fputc('\n', v->out);
	return 0;
}

/*
 * Task id with its notes and the caller's messages, onto out.  The
 * number is on it: the caller has written its number.revealed row in
 * the same transaction, and out reaches the terminal only after the
 * commit.  The verification word too, when the queue found the
 * operator holding the lease (rep->holder), as the API shows it.
 */
static int
render_task(struct store *st, FILE *out, int64_t id,
    const struct queue_report *rep)
{
	struct task_view v = { .out = out };
	struct list_view notes = { .out = out }, msgs = { .out = out };

	if (store_task_get(st, id, render_task_cb, &v) != STORE_RESULT_OK) {
		fprintf(stderr, "hotlinectl: cannot read task %" PRId64 "\n",
		    id);
		return 1;
	}
	if (rep->holder) {
		fprintf(out, "verification    ");
		print_text(out, rep->verification[0] != '\0' ?
		    rep->verification : "- (none chosen)", "");
		fputc('\n', out);
	}
	if (store_task_notes(st, id, render_note_cb, &notes) != 0 ||
	    store_caller_messages(st, v.caller, render_message_cb,
	    &msgs) != 0) {
		fprintf(stderr, "hotlinectl: cannot read task %" PRId64 "\n",
		    id);
		return 1;
	}
	if (notes.count == 0)
		fprintf(out, "\nnotes: none\n");
	if (msgs.count == 0)
		fprintf(out, "\nmessages: none\n");
	return 0;
}

/* The operator: a supervisor with no reveal limit, every showing
 * audited all the same. */
static struct queue_actor
operator_actor(char *buf, size_t len)
{
	return (struct queue_actor){
		.name = operator_name(buf, len),
		.privileged = true,
		.reveal_limit = 0,
	};
}

static int
cmd_show(struct store *st, FILE *out, int64_t id)
{
	char name[64];
	struct queue_actor op = operator_actor(name, sizeof(name));
	struct queue_report rep;

	switch (queue_reveal(st, id, &op, "hotlinectl show", &rep)) {
	case QUEUE_OK:
		return render_task(st, out, id, &rep);
	case QUEUE_NOT_FOUND:
		fprintf(stderr, "hotlinectl: no task %" PRId64 "\n", id);
		return 1;
	case QUEUE_EMPTY:
	case QUEUE_CONFLICT:
	case QUEUE_BUSY:
	case QUEUE_LIMIT:
	case QUEUE_REFUSED:
	case QUEUE_ERROR:
		break;
	}
	fprintf(stderr, "hotlinectl: could not record the audit trail, so no "
	    "number is shown\n");
	return 1;
}

/*
 * Claim the next task and show it.  With --as the claim is made in a
 * token's name, so that counsellor can go on from the API; the number is
 * still shown here, so its audit row names the operator who saw it.
 */
static int
cmd_next(struct store *st, FILE *out, const struct config *cfg,
    const char *as)
{
	char name[64], detail[128];
	struct queue_actor op = operator_actor(name, sizeof(name));
	struct queue_claim claim = {
		.lease_seconds = cfg->lease_seconds,
		.holder = as,
		.reveal = detail,
	};
	struct queue_report rep;

	snprintf(detail, sizeof(detail), "hotlinectl next%s%s",
	    as ? " --as " : "", as ? as : "");
	switch (queue_claim_next(st, &op, &claim, &rep)) {
	case QUEUE_OK:
		return render_task(st, out, rep.task.id, &rep);
	case QUEUE_EMPTY:
		fprintf(stderr, "hotlinectl: the queue is empty\n");
		return EXIT_NOTHING;
	case QUEUE_NOT_FOUND:
	case QUEUE_CONFLICT:
	case QUEUE_BUSY:
	case QUEUE_LIMIT:
	case QUEUE_REFUSED:
	case QUEUE_ERROR:
		break;
	}
	fprintf(stderr, "hotlinectl: could not claim a task (is the database "
	    "writable?)\n");
	return 1;
}

static void
now_utc(char out[21])
{
	time_t t = time(NULL);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
		out[0] = '\0';
}

static int
complete_failed(enum queue_result r, int64_t id)
{
	switch (r) {
	case QUEUE_OK:
		return 0;
	case QUEUE_NOT_FOUND:
		fprintf(stderr, "hotlinectl: no task %" PRId64 "\n", id);
		break;
	case QUEUE_CONFLICT:
		fprintf(stderr, "hotlinectl: task %" PRId64 " is closed\n",
		    id);
		break;
	case QUEUE_EMPTY:
	case QUEUE_BUSY:
	case QUEUE_LIMIT:
	case QUEUE_REFUSED:
	case QUEUE_ERROR:
		fprintf(stderr, "hotlinectl: could not record the outcome "
		    "of task %" PRId64 " (is the database writable?)\n", id);
		break;
	}
	return 1;
}

/*
 * Record a call.  The operator acts as a supervisor: a task another
 * holds is completed over their claim (and said so), and a pending task
 * is claimed first, since only a claimed task takes an outcome.  One
 * transaction: claimed and completed, or neither.
 */
static int
cmd_complete(struct store *st, FILE *out, const struct config *cfg,
    int64_t id, enum store_outcome outcome, const char *note,
    const char *retry_at)
{
	char name[64], now[21];
	struct queue_actor op = operator_actor(name, sizeof(name));
	struct queue_claim claim = { .lease_seconds = cfg->lease_seconds };
	struct queue_completion c = {
		.outcome = outcome,
		.note = note,
		.retry_at = retry_at,
		.max_attempts = cfg->max_attempts,
		.config = cfg,
	};
	struct queue_task before;
	struct queue_report rep;
	enum queue_result r;

	if ((r = queue_task_get(st, id, &before)) != QUEUE_OK)
		return complete_failed(r, id);
	if (before.status == STORE_TASK_CLOSED)
		return complete_failed(QUEUE_CONFLICT, id);
	if (before.status == STORE_TASK_PENDING &&
	    (r = queue_claim(st, id, &op, &claim, &rep)) != QUEUE_OK)
		return complete_failed(r, id);
	now_utc(now);
	if (before.status == STORE_TASK_CLAIMED &&
	    strcmp(before.claimed_by, op.name) != 0 &&
	    strcmp(before.lease_expires_at, now) > 0)
		fprintf(stderr, "hotlinectl: note: task %" PRId64 " was held "
		    "by %s; completed over their claim\n", id,
		    before.claimed_by);
	if ((r = queue_complete(st, id, &op, &c, &rep)) != QUEUE_OK)
		return complete_failed(r, id);
	if (rep.followup_failed)
		fprintf(stderr, "hotlinectl: note: could not queue the "
		    "missed_call text for task %" PRId64 "\n", id);
	if (rep.task.status == STORE_TASK_CLOSED)
		fprintf(out, "task %" PRId64 " closed: %s (attempts %d)\n", id,
		    rep.task.has_outcome ?
		    store_outcome_name(rep.task.outcome) : "-",
		    rep.task.attempts);
	else
		fprintf(out, "task %" PRId64 " back in the queue: attempt %d "
		    "of %u, retry at %s\n", id, rep.task.attempts,
		    cfg->max_attempts, rep.task.retry_at);
	return 0;
}

/*
 * The commands that change the queue (and show numbers) run in one
 * transaction, a batch as a writer unit does, so the queue's several
 * writes stand or fall together; what they print is held until the
 * commit, so no number is shown without its audit row and no outcome
 * reported that was not stored.
 */
static int
run_queue_command(const struct invocation *inv, const struct config *cfg,
    struct store *st, int64_t id, const char *retry_at)
{
	enum store_outcome outcome = STORE_OUTCOME_REACHED;
	const char *failed = inv->cmd->id == CMD_COMPLETE ?
	    "could not record the outcome (is the database writable?)" :
	    inv->cmd->id == CMD_NEXT ? "could not claim a task (is the "
	    "database writable?)" : "could not record the audit trail, so "
	    "no number is shown";
	char *text = NULL, why[256];
	size_t len = 0;
	FILE *out;
	int rc = 1;

	if ((out = open_memstream(&text, &len)) == NULL) {
		fprintf(stderr, "hotlinectl: out of memory\n");
		return 1;
	}
	if (store_batch_begin(st, why, sizeof(why)) < 0) {
		fprintf(stderr, "hotlinectl: %s: %s\n", failed, why);
		fclose(out);
		free(text);
		return 1;
	}
	switch (inv->cmd->id) {
	case CMD_QUEUE:
		rc = cmd_queue(st, out);
		break;
	case CMD_NEXT:
		rc = cmd_next(st, out, cfg, inv->as);
		break;
	case CMD_SHOW:
		rc = cmd_show(st, out, id);
		break;
	case CMD_COMPLETE:
		(void)queue_outcome_parse(inv->args[1], &outcome);
		rc = cmd_complete(st, out, cfg, id, outcome, inv->note,
		    inv->retry_at ? retry_at : NULL);
		break;
	case CMD_STATS:
	case CMD_TOKEN_ADD:
	case CMD_TOKEN_REVOKE:
	case CMD_TOKEN_LIST:
	case CMD_SIMULATE:
	case CMD_BACKUP:
	case CMD_RESTORE:
	case CMD_PURGE:
	case CMD_ERASE:
	case CMD_REKEY:
		break;
	}
	if (fclose(out) != 0 && rc == 0) {
		fprintf(stderr, "hotlinectl: out of memory\n");
		rc = 1;
	}
	if (rc != 0)
		store_batch_rollback(st);
	else if (store_batch_commit(st, why, sizeof(why)) < 0) {
		fprintf(stderr, "hotlinectl: %s: %s\n", failed, why);
		rc = 1;
	} else if (fwrite(text, 1, len, stdout) != len ||
	    fflush(stdout) != 0) {
		fprintf(stderr, "hotlinectl: could not print what was "
		    "recorded\n");
		rc = 1;
	}
	free(text);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Tokens                                                              */

/* A new token for name: only its hash is stored, the token itself is
 * printed once and forgotten. */
static int
cmd_token_add(struct store *st, const char *name, enum auth_role role)
{
	char token[AUTH_TOKEN_SIZE], hash[AUTH_HASH_SIZE];
	enum store_result r;
	int rc = 1;

	if (auth_token_new(token) < 0) {
		fprintf(stderr, "hotlinectl: cannot read the system's random "
		    "source\n");
		return 1;
	}
	auth_token_hash(token, hash);
	switch ((r = store_token_add(st, name, auth_role_name(role), hash))) {
	case STORE_RESULT_OK:
		break;
	case STORE_RESULT_CONFLICT:
		fprintf(stderr, "hotlinectl: a live token named %s exists; "
		    "revoke it first\n", name);
		goto out;
	case STORE_RESULT_NOT_FOUND:
	case STORE_RESULT_ERROR:
		fprintf(stderr, "hotlinectl: could not store the token (is "
		    "the database writable?)\n");
		goto out;
	}
	printf("%s\n", token);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "hotlinectl: could not print the token; revoke "
		    "%s and add it again\n", name);
		goto out;
	}
	fprintf(stderr, "hotlinectl: token for %s (%s) created; it is shown "
	    "only this once and cannot be recovered\n", name,
	    auth_role_name(role));
	rc = 0;
out:
	explicit_bzero(token, sizeof(token));
	return rc;
}

static int
cmd_token_revoke(struct store *st, const char *name)
{
	switch (store_token_revoke(st, name)) {
	case STORE_RESULT_OK:
		printf("token %s revoked\n", name);
		return 0;
	case STORE_RESULT_NOT_FOUND:
	case STORE_RESULT_CONFLICT:
		fprintf(stderr, "hotlinectl: no live token named %s (see "
		    "`hotlinectl token list`)\n", name);
		return 1;
	case STORE_RESULT_ERROR:
		break;
	}
	fprintf(stderr, "hotlinectl: could not revoke the token (is the "
	    "database writable?)\n");
	return 1;
}

static int
print_token_cb(const char *name, const char *role, const char *created_at,
    const char *revoked_at, void *arg)
{
	size_t *count = arg;

	if ((*count)++ == 0)
		printf("%-24s %-10s %-20s %s\n", "NAME", "ROLE", "CREATED",
		    "REVOKED");
	printf("%-24s %-10s %-20s %s\n", or_dash(name), or_dash(role),
	    or_dash(created_at), or_dash(revoked_at));
	return 0;
}

static int
cmd_token_list(struct store *st)
{
	size_t count = 0;

	if (store_token_list(st, print_token_cb, &count) != 0) {
		fprintf(stderr, "hotlinectl: cannot list the tokens\n");
		return 1;
	}
	if (count == 0)
		printf("(no tokens)\n");
	return 0;
}

/* --days: 1 to 3660. */
static bool
days_parse(const char *s, long *out)
{
	char *end;
	long n = strtol(s, &end, 10);

	if (*s < '0' || *s > '9' || *end != '\0' || n < 1 || n > 3660)
		return false;
	if (out != NULL)
		*out = n;
	return true;
}

static int
print_day_cb(const char *day, const char *what, const char *key,
    int64_t value, void *arg)
{
	(void)arg;
	printf("%-10s %-17s %-14s %" PRId64 "\n", day, what,
	    key[0] ? key : "-", value);
	return 0;
}

static int
cmd_stats(struct store *st, const char *days)
{
	char why[256], since[16];
	long ndays;

	for (int i = 0; i < STORE_TASK_STATUS_COUNT; i++) {
		enum store_task_status status = (enum store_task_status)i;
		int64_t n;

		if (store_tasks_count(st, status, &n, why, sizeof(why)) < 0) {
			fprintf(stderr, "hotlinectl: %s\n", why);
			return 1;
		}
		printf("%-8s %" PRId64 "\n", store_task_status_name(status), n);
	}
	/* The outbox: what waits, what failed, what no report settled,
	 * what came too late to send. */
	for (int i = 0; i < STORE_OUTBOUND_STATUS_COUNT; i++) {
		enum store_outbound_status status =
		    (enum store_outbound_status)i;
		int64_t n;

		if (store_outbox_count(st, status, &n) < 0) {
			fprintf(stderr,
			    "hotlinectl: cannot count the outbox\n");
			return 1;
		}
		printf("outbox_%-9s %" PRId64 "\n",
		    store_outbound_status_name(status), n);
	}
	/* By day: what the retention purge keeps. */
	if (days != NULL && days_parse(days, &ndays)) {
		time_t t = time(NULL) - (time_t)(ndays - 1) * 86400;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(since, sizeof(since), "%Y-%m-%d", &tm);
		printf("\n%-10s %-17s %-14s %s\n", "DAY", "WHAT", "KEY", "N");
		if (store_stats_days(st, since, print_day_cb, NULL) != 0) {
			fprintf(stderr, "hotlinectl: cannot read the figures by "
			    "day\n");
			return 1;
		}
	}
	return 0;
}

static int
cmd_simulate(const struct config *cfg, const char *channel)
{
	const struct config_channel *ch = channel ?
	    config_channel_find(cfg, channel) : &cfg->channels[0];
	struct menu_render_opts opts = { .max_octets = SMSTEXT_USSD_OCTETS };
	struct menu_state st;
	char page[1024], line[256];

	if (ch == NULL) {
		fprintf(stderr, "hotlinectl: no channel named \"%s\"\n",
		    channel);
		return 1;
	}
	opts.fold_vietnamese = ch->fold_vietnamese;
	menu_start(cfg->menu, ch->language, &st);
	for (;;) {
		if (menu_render(cfg->menu, &st, &opts, page,
		    sizeof(page)) < 0) {
			fprintf(stderr, "hotlinectl: cannot render node %s\n",
			    st.node);
			return 1;
		}
		printf("\n+------------------------------\n%s\n"
		    "+------------------------------\n", page);
		if (menu_ends(cfg->menu, &st, &opts)) {
			printf("[session ended%s]\n",
			    menu_current_action(cfg->menu, &st) ==
			    MENU_ACTION_CREATE_TASK ?
			    "; a callback task would be created" : "");
			return 0;
		}
		printf("> ");
		fflush(stdout);
		if (fgets(line, sizeof(line), stdin) == NULL) {
			printf("\n[caller hung up]\n");
			return 0;
		}
		line[strcspn(line, "\r\n")] = '\0';
		menu_step(cfg->menu, &st, line, &opts);
	}
}

/* ------------------------------------------------------------------ */
/* Backup and restore                                                  */

/* What a copy holds, in words an operator can check at a glance: its
 * size and the time of its newest message (never a number or text). */
static void
print_copy(const struct store_copy_info *c)
{
	printf("size            %" PRId64 " bytes\n", c->bytes);
	printf("newest message  %s\n", c->newest_inbound[0] ?
	    c->newest_inbound : "none");
	printf("schema version  %d\n", c->schema_version);
}

static int
cmd_backup(struct store *st, const char *path, bool force)
{
	struct store_copy_info info;
	char why[1024];

	if (store_backup(st, path, force, &info, why, sizeof(why)) < 0) {
		fprintf(stderr, "hotlinectl: backup failed: %s\n", why);
		return 1;
	}
	printf("backup          %s (integrity_check ok)\n", path);
	print_copy(&info);
	return 0;
}

static int
cmd_restore(const char *db, const char *path)
{
	struct store_restore_report rep;
	struct store_copy_info info;
	char why[1024];

	/* Checked first on its own, so a bad copy is named as such
	 * before anything about the live database is looked at. */
	if (store_restore_check(path, &info, why, sizeof(why)) < 0) {
		fprintf(stderr, "hotlinectl: restore refused, nothing "
		    "changed: %s\n", why);
		return 1;
	}
	if (store_restore(db, path, &rep, why, sizeof(why)) < 0) {
		fprintf(stderr, "hotlinectl: restore refused, nothing "
		    "changed: %s\n", why);
		return 1;
	}
	printf("checked         %s (integrity_check ok)\n", path);
	if (rep.migrated_from > 0)
		printf("migrated        schema version %d to %d\n",
		    rep.migrated_from, rep.copy.schema_version);
	if (rep.kept[0] != '\0')
		printf("previous kept   %s%s\n", rep.kept, rep.kept_wal ?
		    " (with its -wal)" : "");
	else
		printf("previous kept   none (there was no database)\n");
	if (rep.removed_shm)
		printf("removed         the previous database's -shm\n");
	printf("restored        %s\n", db);
	print_copy(&rep.copy);
	printf("start the daemon again (systemctl start hotlined)\n");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Rotating the master key                                             */

static int
fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* key, as hex, into a new file at path (0600; never over an existing
 * one), fsynced with its directory. */
static int
write_key_file(const char *path, const unsigned char *key, char *err,
    size_t errlen)
{
	char hex[SEAL_KEY_HEX_SIZE + 1];
	size_t len;
	int fd;

	seal_key_hex(key, hex);
	len = strlen(hex);
	hex[len++] = '\n';
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", path,
		    strerror(errno));
		explicit_bzero(hex, sizeof(hex));
		return -1;
	}
	if (write(fd, hex, len) != (ssize_t)len || fsync(fd) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", path,
		    strerror(errno));
		close(fd);
		unlink(path);
		explicit_bzero(hex, sizeof(hex));
		return -1;
	}
	close(fd);
	explicit_bzero(hex, sizeof(hex));
	if (fsync_dir_of(path) < 0) {
		snprintf(err, errlen, "cannot sync the directory of %s: %s",
		    path, strerror(errno));
		return -1;
	}
	return 0;
}

/* A key file's key, when it holds one. */
static int
read_key_file(const char *path, unsigned char *key)
{
	char buf[256];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	n = seal_key_parse(buf, key);
	explicit_bzero(buf, sizeof(buf));
	return (int)n;
}

/*
 * rekey: a fresh master key, the key store's KEK rewrapped under it (one
 * key-store transaction), and the key put where the daemon reads it.
 * The new key is written (and fsynced) before the rewrap commits, so a
 * crash never leaves the key store under a key that is nowhere; by
 * default it goes to <data key file>.new and is renamed over the data
 * key file after the commit.  Run again after a crash between the two,
 * it finds the key store already under the .new key and finishes the
 * rename.  The daemon goes on meanwhile: its connections hold the KEK.
 */
static int
cmd_rekey(const struct config *cfg, const char *new_key_path)
{
	unsigned char old[SEAL_KEY_SIZE], fresh[SEAL_KEY_SIZE];
	char target[PATH_MAX + 8], why[PATH_MAX + 1024];
	char old_id[SEAL_KEY_ID_SIZE], new_id[SEAL_KEY_ID_SIZE];
	char store_id[SEAL_KEY_ID_SIZE];
	int64_t nkeys = 0;
	bool changed = false, resumed = false;
	int rc = 1;

	if (config_data_key(cfg, old, why, sizeof(why)) < 0) {
		fprintf(stderr, "hotlinectl: rekey: %s\n", why);
		return 1;
	}
	if (new_key_path == NULL && cfg->data_key_file == NULL) {
		fprintf(stderr, "hotlinectl: rekey: privacy.data_key comes from "
		    "the environment (%s): give --new-key FILE, then set it "
		    "to that file's content and restart the daemon\n",
		    cfg->data_key_env ? cfg->data_key_env : "?");
		goto out;
	}
	if (store_key_store_info(cfg->key_store, store_id, &nkeys, why,
	    sizeof(why)) < 0) {
		fprintf(stderr, "hotlinectl: rekey: %s\n", why);
		goto out;
	}
	if (new_key_path != NULL)
		snprintf(target, sizeof(target), "%s", new_key_path);
	else
		snprintf(target, sizeof(target), "%s.new", cfg->data_key_file);
	/* An interrupted rekey: the key store is under the .new key. */
	if (new_key_path == NULL && read_key_file(target, fresh) == 0) {
		if (seal_key_id(fresh, new_id) == 0 &&
		    strcmp(new_id, store_id) == 0)
			resumed = true;
		else {
			fprintf(stderr, "hotlinectl: rekey: %s exists and is not "
			    "the key the key store is under: remove it and run "
			    "rekey again\n", target);
			goto out;
		}
	} else if (seal_key_new(fresh) < 0 ||
	    write_key_file(target, fresh, why, sizeof(why)) < 0) {
		fprintf(stderr, "hotlinectl: rekey: %s%s\n", why,
		    new_key_path == NULL ? " (a read-only credentials "
		    "directory? give --new-key FILE)" : "");
		goto out;
	}
	if (!resumed && store_rekey(cfg->key_store, old, fresh, &changed,
	    old_id, new_id, why, sizeof(why)) < 0) {
		fprintf(stderr, "hotlinectl: rekey: %s\n", why);
		unlink(target);
		goto out;
	}
	if (resumed)
		snprintf(old_id, sizeof(old_id), "%s", "(before)");
	if (new_key_path == NULL) {
		if (rename(target, cfg->data_key_file) < 0 ||
		    fsync_dir_of(cfg->data_key_file) < 0) {
			fprintf(stderr, "hotlinectl: rekey: the key store is now "
			    "under the key in %s, but it could not replace %s: "
			    "%s; move it there by hand before the daemon next "
			    "starts\n", target, cfg->data_key_file,
			    strerror(errno));
			goto out;
		}
		printf("rekeyed         %s%s\n", cfg->key_store, resumed ?
		    " (an interrupted rekey, finished)" : "");
		printf("master key      %s -> %s (now in %s)\n", old_id,
		    new_id, cfg->data_key_file);
	} else {
		printf("rekeyed         %s\n", cfg->key_store);
		printf("master key      %s -> %s (in %s)\n", old_id, new_id,
		    target);
		printf("install it as privacy.data_key before the daemon next "
		    "starts: the old key opens nothing now\n");
	}
	printf("data keys       %" PRId64 " (unchanged; the running daemon "
	    "goes on)\n", nkeys);
	rc = 0;
out:
	explicit_bzero(old, sizeof(old));
	explicit_bzero(fresh, sizeof(fresh));
	return rc;
}

/* ------------------------------------------------------------------ */
/* Retention and erasure                                               */

static void
print_purge_counts(const struct store_purge_counts *c)
{
	for (int i = 0; i < STORE_PURGE_TABLE_COUNT; i++)
		printf("%-17s %" PRId64 "\n",
		    store_purge_table_name((enum store_purge_table)i),
		    c->rows[i]);
}

/*
 * The daemon's purge, now, on this connection: in capped steps of one
 * transaction each (the daemon's writer waits for none of them long),
 * then the freed pages given back and the WAL folded in and truncated,
 * so erased rows leave no old page image behind.  A dry run counts in
 * one read and changes nothing.
 */
static int
cmd_purge(struct store *st, const struct config *cfg, bool dry_run)
{
	struct store_purge_policy pol;
	struct store_purge_counts c = { 0 };
	char why[512], actor[64], detail[512];
	int64_t pages = 0, changed = 0;
	bool complete = true;

	retention_policy(cfg, (double)time(NULL), dry_run,
	    RETENTION_STEP_ROWS, &pol);
	do {
		c.more = false;
		if (store_purge(st, &pol, &c, why, sizeof(why)) < 0) {
			fprintf(stderr, "hotlinectl: purge failed: %s%s\n", why,
			    dry_run ? "" : " (the steps before it are kept; "
			    "run it again)");
			return 1;
		}
	} while (!dry_run && c.more);
	for (int i = 0; i < STORE_PURGE_TABLE_COUNT; i++)
		changed += c.rows[i];
	if (!dry_run && changed > 0) {
		retention_counts_format(&c, detail, sizeof(detail));
		if (store_audit_add(st, operator_name(actor, sizeof(actor)),
		    "retention.purged", 0, detail) < 0 ||
		    store_reclaim(st, &pages, why, sizeof(why)) < 0 ||
		    store_checkpoint(st, &complete, why, sizeof(why)) < 0) {
			fprintf(stderr, "hotlinectl: purged, but %s\n", why);
			return 1;
		}
	}
	printf("%s (retention %u days, audit %u days)\n", dry_run ?
	    "would purge, nothing changed" : "purged", cfg->retention_days,
	    cfg->audit_retention_days);
	print_purge_counts(&c);
	if (!dry_run) {
		printf("%-17s %" PRId64 "\n", "keys_destroyed", c.keys);
		printf("%-17s %" PRId64 "\n", "pages_freed", pages);
	}
	if (!complete)
		fprintf(stderr, "hotlinectl: note: a reader held the WAL; the "
		    "daemon's next checkpoint folds it in\n");
	return 0;
}

/* The caller the operator named: the pseudonym, or the number's (which
 * is never printed). */
static int
erase_target(const struct config *cfg, const char *caller,
    const char *number, char out[PRIVACY_PSEUDONYM_SIZE])
{
	const char *cc = cfg->nchannels > 0 &&
	    cfg->channels[0].default_country ?
	    cfg->channels[0].default_country : "84";
	char e164[PHONE_E164_SIZE];

	if (caller != NULL) {
		snprintf(out, PRIVACY_PSEUDONYM_SIZE, "%s", caller);
		return 0;
	}
	if (phone_normalize(number, cc, e164, sizeof(e164)) < 0) {
		fprintf(stderr, "hotlinectl: --number: not a phone number (give "
		    "it in E.164, e.g. +84…)\n");
		return EXIT_USAGE;
	}
	if (cfg->pseudonym_key == NULL || privacy_pseudonym(cfg->pseudonym_key,
	    cfg->pseudonym_key_len, e164, out) < 0) {
		explicit_bzero(e164, sizeof(e164));
		fprintf(stderr, "hotlinectl: cannot read privacy.pseudonym_key "
		    "to name the caller (run as the service user, with its "
		    "credentials)\n");
		return 1;
	}
	explicit_bzero(e164, sizeof(e164));
	return 0;
}

static int
cmd_erase(struct store *st, const struct config *cfg, const char *caller,
    const char *number)
{
	char target[PRIVACY_PSEUDONYM_SIZE], actor[64], why[256];
	struct store_erase_counts c;
	int64_t pages;
	bool complete;
	int rc;

	if ((rc = erase_target(cfg, caller, number, target)) != 0)
		return rc;
	switch (store_caller_erase(st, target, operator_name(actor,
	    sizeof(actor)), &c)) {
	case STORE_RESULT_OK:
		break;
	case STORE_RESULT_NOT_FOUND:
		fprintf(stderr, "hotlinectl: nothing is held under %s (unknown, "
		    "or already purged by retention)\n", target);
		return EXIT_NOTHING;
	case STORE_RESULT_CONFLICT:
	case STORE_RESULT_ERROR:
		fprintf(stderr, "hotlinectl: could not erase %s (is the "
		    "database writable?); nothing was changed\n", target);
		return 1;
	}
	printf("caller             %s\n", target);
	printf("tasks_closed       %" PRId64 "\n", c.tasks_closed);
	printf("leases_ended       %" PRId64 "\n", c.leases_ended);
	printf("tasks              %" PRId64 "\n", c.tasks);
	printf("notes              %" PRId64 "\n", c.notes);
	printf("inbound            %" PRId64 "\n", c.inbound);
	printf("outbound_cancelled %" PRId64 "\n", c.outbound_cancelled);
	printf("outbound           %" PRId64 "\n", c.outbound);
	printf("sessions           %" PRId64 "\n", c.sessions);
	printf("optouts_kept       %" PRId64 "\n", c.optouts);
	printf("in_flight          %" PRId64 "\n", c.in_flight);
	if (c.in_flight > 0)
		fprintf(stderr, "hotlinectl: note: %" PRId64 " text(s) to this "
		    "caller were being sent and are left to finish; run erase "
		    "again once they have\n", c.in_flight);
	/* Best effort: the erasure stands either way. */
	if (store_reclaim(st, &pages, why, sizeof(why)) < 0 ||
	    store_checkpoint(st, &complete, why, sizeof(why)) < 0)
		fprintf(stderr, "hotlinectl: note: erased, but freeing pages "
		    "failed: %s\n", why);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The command line                                                    */

/* A usage error: what was wrong, then the usage.  Returns EXIT_USAGE. */
static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("hotlinectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	return EXIT_USAGE;
}

/* Take one option into inv.  0, or -1 when it is not one of ours. */
static int
take_option(int ch, const char *arg, struct config_overrides *ov,
    struct invocation *inv)
{
	unsigned bit;

	switch (ch) {
	case 'd':
		ov->database = arg;
		return 0;
	case 'n':
		bit = OPT_CHANNEL;
		inv->channel = arg;
		break;
	case 'r':
		bit = OPT_ROLE;
		inv->role = arg;
		break;
	case 'a':
		bit = OPT_AS;
		inv->as = arg;
		break;
	case 'N':
		bit = OPT_NOTE;
		inv->note = arg;
		break;
	case 'R':
		bit = OPT_RETRY_AT;
		inv->retry_at = arg;
		break;
	case 'f':
		bit = OPT_FORCE;
		inv->force = true;
		break;
	case 'k':
		bit = OPT_NEW_KEY;
		inv->new_key = arg;
		break;
	case 'D':
		bit = OPT_DRY_RUN;
		inv->dry_run = true;
		break;
	case 'C':
		bit = OPT_CALLER;
		inv->caller = arg;
		break;
	case 'M':
		bit = OPT_NUMBER;
		inv->number = arg;
		break;
	case 'Y':
		bit = OPT_DAYS;
		inv->days = arg;
		break;
	default:
		return -1;
	}
	inv->opts |= bit;
	return 0;
}

/* Find the command inv names and check its arguments and options
 * against it.  0, or a usage error's exit code. */
static int
resolve(const char *name, struct invocation *inv)
{
	static const struct {
		unsigned bit;
		const char *name;
	} optnames[] = {
		{ OPT_CHANNEL, "--channel" }, { OPT_ROLE, "--role" },
		{ OPT_AS, "--as" }, { OPT_NOTE, "--note" },
		{ OPT_RETRY_AT, "--retry-at" }, { OPT_FORCE, "--force" },
		{ OPT_NEW_KEY, "--new-key" },
		{ OPT_DRY_RUN, "--dry-run" }, { OPT_CALLER, "--caller" },
		{ OPT_NUMBER, "--number" }, { OPT_DAYS, "--days" },
	};
	const struct command *c = NULL;
	bool known = false;

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, name) != 0)
			continue;
		known = true;
		if (commands[i].sub == NULL || (inv->nargs > 0 &&
		    strcmp(commands[i].sub, inv->args[0]) == 0)) {
			c = &commands[i];
			break;
		}
	}
	if (c == NULL)
		return usage_error(known ? "%s: add, revoke or list?" :
		    "unknown command \"%s\"", name);
	if (c->sub != NULL) {
		inv->nargs--;
		memmove(inv->args, inv->args + 1,
		    inv->nargs * sizeof(inv->args[0]));
	}
	if (inv->nargs != c->nargs)
		return usage_error("usage: hotlinectl -c FILE %s",
		    c->synopsis);
	for (size_t i = 0; i < sizeof(optnames) / sizeof(optnames[0]); i++)
		if ((inv->opts & optnames[i].bit) && !(c->opts &
		    optnames[i].bit)) {
			fprintf(stderr, "hotlinectl: %s does not take %s\n",
			    c->synopsis, optnames[i].name);
			usage(stderr);
			return EXIT_USAGE;
		}
	inv->cmd = c;
	return 0;
}

/* What the command's arguments say, checked before anything is opened:
 * a usage error changes nothing. */
static int
check_arguments(const struct invocation *inv, int64_t *id,
    enum auth_role *role, char retry_at[21])
{
	enum store_outcome outcome;

	switch (inv->cmd->id) {
	case CMD_STATS:
		if (inv->days != NULL && !days_parse(inv->days, NULL))
			return usage_error("--days \"%s\": an integer from 1 to "
			    "3660", inv->days);
		return 0;
	case CMD_QUEUE:
	case CMD_TOKEN_LIST:
	case CMD_SIMULATE:
	case CMD_PURGE:
		return 0;
	case CMD_ERASE:
		/* The number is never echoed back, not even in an error. */
		if ((inv->caller == NULL) == (inv->number == NULL))
			return usage_error("erase: give --caller C or --number "
			    "N (one of them)");
		if (inv->caller != NULL &&
		    !privacy_pseudonym_valid(inv->caller))
			return usage_error("--caller: a pseudonym, c_ and 12 "
			    "lowercase hex digits (as `queue` and the API show "
			    "it)");
		return 0;
	case CMD_REKEY:
		if (inv->new_key != NULL && inv->new_key[0] == '\0')
			return usage_error("--new-key: the path is empty");
		return 0;
	case CMD_BACKUP:
	case CMD_RESTORE:
		if (inv->args[0][0] == '\0')
			return usage_error("%s: the path is empty",
			    inv->cmd->name);
		return 0;
	case CMD_NEXT:
		if (inv->as != NULL && !name_valid(inv->as))
			return usage_error("--as \"%s\": a token's name, 1-64 "
			    "characters of A-Z a-z 0-9 . _ -", inv->as);
		return 0;
	case CMD_SHOW:
		if (!id_parse(inv->args[0], id))
			return usage_error("\"%s\" is not a task id",
			    inv->args[0]);
		return 0;
	case CMD_COMPLETE:
		if (!id_parse(inv->args[0], id))
			return usage_error("\"%s\" is not a task id",
			    inv->args[0]);
		if (queue_outcome_parse(inv->args[1], &outcome) < 0)
			return usage_error("outcome \"%s\": one of reached, "
			    "no_answer, wrong_number, unsafe", inv->args[1]);
		if (inv->note != NULL && strlen(inv->note) > NOTE_MAX)
			return usage_error("--note: at most %d bytes",
			    NOTE_MAX);
		if (inv->note != NULL &&
		    !smstext_utf8_valid(inv->note, strlen(inv->note)))
			return usage_error("--note: not valid UTF-8");
		if (inv->retry_at != NULL &&
		    strcmp(inv->args[1], "no_answer") != 0)
			return usage_error("--retry-at goes with "
			    "no_answer, not %s", inv->args[1]);
		if (inv->retry_at != NULL &&
		    !rfc3339_to_utc(inv->retry_at, retry_at))
			return usage_error("--retry-at \"%s\": an RFC 3339 "
			    "time such as 2026-11-29T10:00:00Z or "
			    "2026-11-29T17:00:00+07:00", inv->retry_at);
		return 0;
	case CMD_TOKEN_ADD:
		if (!name_valid(inv->args[0]))
			return usage_error("token name \"%s\": 1-64 characters "
			    "of A-Z a-z 0-9 . _ -", inv->args[0]);
		if (inv->role == NULL)
			return usage_error("token add %s: --role metrics, "
			    "counsellor, supervisor or admin is required",
			    inv->args[0]);
		if ((*role = auth_role_parse(inv->role)) == AUTH_NONE)
			return usage_error("--role \"%s\": metrics, counsellor, "
			    "supervisor or admin", inv->role);
		return 0;
	case CMD_TOKEN_REVOKE:
		if (!name_valid(inv->args[0]))
			return usage_error("token name \"%s\": 1-64 characters "
			    "of A-Z a-z 0-9 . _ -", inv->args[0]);
		return 0;
	}
	return 0;
}

/* Does the command read or write what is sealed? */
static bool
needs_keys(enum command_id id)
{
	switch (id) {
	case CMD_QUEUE:
	case CMD_NEXT:
	case CMD_SHOW:
	case CMD_COMPLETE:
	/* Erasure and retention destroy callers' data keys. */
	case CMD_PURGE:
	case CMD_ERASE:
		return true;
	case CMD_STATS:
	case CMD_TOKEN_ADD:
	case CMD_TOKEN_REVOKE:
	case CMD_TOKEN_LIST:
	case CMD_SIMULATE:
	case CMD_BACKUP:
	case CMD_RESTORE:
	case CMD_REKEY:
		break;
	}
	return false;
}

static int
run(const struct invocation *inv, const struct config *cfg,
    struct store *st, int64_t id, enum auth_role role,
    const char *retry_at)
{
	switch (inv->cmd->id) {
	case CMD_QUEUE:
	case CMD_NEXT:
	case CMD_SHOW:
	case CMD_COMPLETE:
		return run_queue_command(inv, cfg, st, id, retry_at);
	case CMD_STATS:
		return cmd_stats(st, inv->days);
	case CMD_TOKEN_ADD:
		return cmd_token_add(st, inv->args[0], role);
	case CMD_TOKEN_REVOKE:
		return cmd_token_revoke(st, inv->args[0]);
	case CMD_TOKEN_LIST:
		return cmd_token_list(st);
	case CMD_BACKUP:
		return cmd_backup(st, inv->args[0], inv->force);
	case CMD_PURGE:
		return cmd_purge(st, cfg, inv->dry_run);
	case CMD_ERASE:
		return cmd_erase(st, cfg, inv->caller, inv->number);
	case CMD_SIMULATE:
	case CMD_RESTORE:
	case CMD_REKEY:
		break;
	}
	return 1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "database", required_argument, NULL, 'd' },
		{ "channel", required_argument, NULL, 'n' },
		{ "role", required_argument, NULL, 'r' },
		{ "as", required_argument, NULL, 'a' },
		{ "note", required_argument, NULL, 'N' },
		{ "retry-at", required_argument, NULL, 'R' },
		{ "force", no_argument, NULL, 'f' },
		{ "new-key", required_argument, NULL, 'k' },
		{ "dry-run", no_argument, NULL, 'D' },
		{ "caller", required_argument, NULL, 'C' },
		{ "number", required_argument, NULL, 'M' },
		{ "days", required_argument, NULL, 'Y' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* The CLI reads no secret but the data key, and that one only for
	 * the commands that open callers' data (needs_keys). */
	struct config_overrides ov = { .skip_secrets = true };
	struct invocation inv = { 0 };
	const char *path = NULL, *cmd;
	struct config *cfg;
	struct store *st;
	struct store_keys keys = { 0 };
	unsigned char master[SEAL_KEY_SIZE];
	enum auth_role role = AUTH_NONE;
	int64_t id = 0;
	char *errs, why[512], retry_at[21] = "";
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			if (take_option(ch, optarg, &ov, &inv) < 0) {
				usage(stderr);
				return EXIT_USAGE;
			}
			break;
		}
	}
	if (path == NULL || optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[optind++];
	/*
	 * Options may also follow the command, mixed with its arguments
	 * ("complete 12 reached --note …"); after "--" everything is an
	 * argument, so a note may be given as "--note -- -…" too.
	 */
	while (optind < argc) {
		int at = optind;

		if ((ch = getopt_long(argc, argv, "+c:h", longopts,
		    NULL)) == -1) {
			bool rest = optind > at;    /* "--" */

			do {
				if (inv.nargs == MAX_ARGS)
					return usage_error("too many arguments "
					    "to %s", cmd);
				inv.args[inv.nargs++] = argv[optind++];
			} while (rest && optind < argc);
			continue;
		}
		if (take_option(ch, optarg, &ov, &inv) < 0) {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if ((rc = resolve(cmd, &inv)) != 0 ||
	    (rc = check_arguments(&inv, &id, &role, retry_at)) != 0)
		return rc;

	umask(077);
	/* erase --number needs the pseudonym key, and only it. */
	ov.pseudonym_key = inv.cmd->id == CMD_ERASE && inv.number != NULL;
	if ((errs = malloc(CONFIG_ERR_SIZE)) == NULL)
		return 1;
	if ((cfg = config_load(path, &ov, errs, CONFIG_ERR_SIZE)) == NULL) {
		fprintf(stderr, "hotlinectl: %s is not valid:\n%s\n", path,
		    errs);
		free(errs);
		return 1;
	}
	free(errs);

	if (inv.cmd->id == CMD_SIMULATE) {
		rc = cmd_simulate(cfg, inv.channel);
		config_free(cfg);
		return rc;
	}
	/* Restore opens no store: the database it replaces may be
	 * damaged, missing, or of another version. */
	if (inv.cmd->id == CMD_RESTORE) {
		rc = cmd_restore(cfg->database, inv.args[0]);
		config_free(cfg);
		return rc;
	}
	/* Rekey opens only the key store. */
	if (inv.cmd->id == CMD_REKEY) {
		rc = cmd_rekey(cfg, inv.new_key);
		config_free(cfg);
		return rc;
	}
	/* Commands that show or write a caller's number, notes or texts
	 * open them with the master key, read only for them. */
	if (needs_keys(inv.cmd->id)) {
		if (config_data_key(cfg, master, why, sizeof(why)) < 0) {
			fprintf(stderr, "hotlinectl: %s\n", why);
			config_free(cfg);
			return 1;
		}
		keys.path = cfg->key_store;
		keys.master = master;
	}
	st = store_open(cfg->database, STORE_OPEN_EXISTING,
	    keys.master ? &keys : NULL, why, sizeof(why));
	explicit_bzero(master, sizeof(master));
	if (st == NULL) {
		fprintf(stderr, "hotlinectl: %s\n", why);
		config_free(cfg);
		return 1;
	}
	rc = run(&inv, cfg, st, id, role, retry_at);
	store_close(st);
	config_free(cfg);
	return rc;
}
