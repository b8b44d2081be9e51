/*
 * hotlinectl: the operator's command line.
 *
 *   hotlinectl -c FILE [--database PATH] queue
 *   hotlinectl -c FILE [--database PATH] stats
 *   hotlinectl -c FILE simulate [--channel NAME]
 *
 * Exit codes: 0 done, 1 failed (message on stderr), 2 usage error.
 */
#include <getopt.h>
#include <stdbool.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "menu.h"
#include "smstext.h"
#include "store.h"

#define CONFIG_ERR_SIZE 16384

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: hotlinectl -c FILE [--database PATH] COMMAND\n"
	    "commands:\n"
	    "  queue                     open callback tasks, urgent first "
	    "(shows numbers; each is audited)\n"
	    "  stats                     tasks and outbound texts by status\n"
	    "  simulate [--channel NAME] walk the menu as a caller would\n");
}

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
	    "%-16s %-3s %-12s %-4s %-4s %s", t->id, t->priority, t->status,
	    t->created_at, t->caller, t->msisdn,
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
cmd_queue(struct store *st)
{
	struct queue_listing q = { 0 };
	char actor[64], why[256] = "";
	int rc = 1;

	if (store_tasks_open_foreach(st, collect_task_cb, &q, why,
	    sizeof(why)) < 0 || q.failed) {
		fprintf(stderr, "hotlinectl: %s\n", q.failed ? "out of memory" :
		    why);
		goto out;
	}
	if (q.count > 0 && store_audit_tasks(st, operator_name(actor,
	    sizeof(actor)), "number.revealed", q.ids, q.count,
	    "hotlinectl queue", why, sizeof(why)) < 0) {
		fprintf(stderr, "hotlinectl: could not record the audit trail, "
		    "so no number is shown: %s\n", why);
		goto out;
	}
	printf("%-6s %-7s %-8s %-20s %-14s %-16s %-3s %-12s %-4s %-4s %s\n",
	    "ID", "PRIO", "STATUS", "CREATED", "CALLER", "NUMBER", "LNG",
	    "TOPIC", "CALL", "SMS", "WHEN");
	for (size_t i = 0; i < q.count; i++)
		printf("%s\n", q.lines[i]);
	if (q.count == 0)
		printf("(no open tasks)\n");
	rc = 0;
out:
	for (size_t i = 0; i < q.count; i++)
		free(q.lines[i]);
	free(q.lines);
	free(q.ids);
	return rc;
}

static int
cmd_stats(struct store *st)
{
	static const char *const statuses[] = { "pending", "claimed",
	    "closed" };
	static const char *const outbox_statuses[] = { "pending", "sending",
	    "sent", "delivered", "failed", "unknown" };
	char why[256];

	for (size_t i = 0; i < 3; i++) {
		int64_t n;

		if (store_tasks_count(st, statuses[i], &n, why,
		    sizeof(why)) < 0) {
			fprintf(stderr, "hotlinectl: %s\n", why);
			return 1;
		}
		printf("%-8s %" PRId64 "\n", statuses[i], n);
	}
	/* The outbox: what waits, what failed, what no report settled. */
	for (size_t i = 0; i < 6; i++) {
		int64_t n;

		if (store_outbox_count(st, outbox_statuses[i], &n) < 0) {
			fprintf(stderr, "hotlinectl: cannot count the outbox\n");
			return 1;
		}
		printf("outbox_%-9s %" PRId64 "\n", outbox_statuses[i], n);
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

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "database", required_argument, NULL, 'd' },
		{ "channel", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* The CLI reads no secret: it needs the database and the menu. */
	struct config_overrides ov = { .skip_secrets = true };
	const char *path = NULL, *channel = NULL, *cmd;
	struct config *cfg;
	struct store *st;
	char *errs, why[512];
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			ov.database = optarg;
			break;
		case 'n':
			channel = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (path == NULL || optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];
	/* Options may also follow the command ("simulate --channel x"). */
	while ((ch = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		if (ch == 'n')
			channel = optarg;
		else if (ch == 'd')
			ov.database = optarg;
		else {
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || (strcmp(cmd, "queue") != 0 &&
	    strcmp(cmd, "stats") != 0 && strcmp(cmd, "simulate") != 0)) {
		fprintf(stderr, "hotlinectl: unknown command or extra "
		    "arguments\n");
		usage(stderr);
		return 2;
	}

	umask(077);
	if ((errs = malloc(CONFIG_ERR_SIZE)) == NULL)
		return 1;
	if ((cfg = config_load(path, &ov, errs, CONFIG_ERR_SIZE)) == NULL) {
		fprintf(stderr, "hotlinectl: %s is not valid:\n%s\n", path,
		    errs);
		free(errs);
		return 1;
	}
	free(errs);

	if (strcmp(cmd, "simulate") == 0) {
		rc = cmd_simulate(cfg, channel);
		config_free(cfg);
		return rc;
	}
	if ((st = store_open(cfg->database, STORE_OPEN_EXISTING, why,
	    sizeof(why))) == NULL) {
		fprintf(stderr, "hotlinectl: %s\n", why);
		config_free(cfg);
		return 1;
	}
	rc = strcmp(cmd, "queue") == 0 ? cmd_queue(st) : cmd_stats(st);
	store_close(st);
	config_free(cfg);
	return rc;
}
