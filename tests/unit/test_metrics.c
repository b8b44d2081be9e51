/* metrics: the counters and their text exposition (format 0.0.4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static int
setup(void **state)
{
	(void)state;
	metrics_reset(1700000000.5);
	return 0;
}

#define STR_(x) #x
#define STR(x) STR_(x)

static char *
render(const struct metrics_queue *q)
{
	size_t len = 0;
	char *text = metrics_render(q, &len);

	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

/* The whole line is in text (a sample's name, labels and value). */
static void
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
	fail_msg("no line \"%s\" in:\n%s", line, text);
}

static void
lacks(const char *text, const char *what)
{
	if (strstr(text, what) != NULL)
		fail_msg("\"%s\" should not be in:\n%s", what, text);
}

static bool
name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	    c == ':' || (!first && c >= '0' && c <= '9');
}

/* Every line as the format's grammar wants it: a # HELP and # TYPE for
 * each family, before its samples and only once; samples
 * name{label="value",...} value, values numbers, the text ending in a
 * newline. */
static void
well_formed(const char *text)
{
	char typed[64][80];
	size_t ntyped = 0;

	assert_true(text[0] != '\0' && text[strlen(text) - 1] == '\n');
	for (const char *line = text; *line != '\0';) {
		const char *end = strchr(line, '\n');
		char l[512], name[80], *v, *stop;
		size_t n = 0;

		assert_non_null(end);
		assert_true((size_t)(end - line) < sizeof(l));
		memcpy(l, line, (size_t)(end - line));
		l[end - line] = '\0';
		line = end + 1;
		if (strncmp(l, "# HELP ", 7) == 0)
			continue;
		if (strncmp(l, "# TYPE ", 7) == 0) {
			char *sp = strchr(l + 7, ' ');

			assert_non_null(sp);
			*sp = '\0';
			for (size_t i = 0; i < ntyped; i++)
				if (strcmp(typed[i], l + 7) == 0)
					fail_msg("%s typed twice", l + 7);
			assert_true(ntyped < 64);
			assert_true(strlen(l + 7) < sizeof(typed[0]));
			memcpy(typed[ntyped++], l + 7, strlen(l + 7) + 1);
			assert_true(strcmp(sp + 1, "counter") == 0 ||
			    strcmp(sp + 1, "gauge") == 0 ||
			    strcmp(sp + 1, "histogram") == 0);
			continue;
		}
		assert_true(name_char(l[0], true));
		while (name_char(l[n], n == 0))
			n++;
		assert_true(n < sizeof(name));
		memcpy(name, l, n);
		name[n] = '\0';
		v = l + n;
		if (*v == '{') {
			v++;
			while (*v != '}') {
				assert_true(name_char(*v, true));
				while (name_char(*v, false))
					v++;
				assert_int_equal(*v++, '=');
				assert_int_equal(*v++, '"');
				while (*v != '"') {
					assert_true(*v != '\0');
					v += *v == '\\' ? 2 : 1;
				}
				v++;
				if (*v == ',')
					v++;
			}
			v++;
		}
		assert_int_equal(*v++, ' ');
		if (strcmp(v, "+Inf") != 0) {
			strtod(v, &stop);
			assert_true(stop != v && *stop == '\0');
		}
		/* Its family (a histogram's series carry a suffix) was typed
		 * before it. */
		bool found = false;

		for (size_t i = 0; i < ntyped && !found; i++) {
			size_t t = strlen(typed[i]);

			found = strncmp(name, typed[i], t) == 0 &&
			    (name[t] == '\0' || strcmp(name + t, "_bucket") ==
			    0 || strcmp(name + t, "_sum") == 0 ||
			    strcmp(name + t, "_count") == 0);
		}
		if (!found)
			fail_msg("sample %s before its # TYPE", name);
	}
}

static void
counters_are_written_with_their_labels(void **state)
{
	char *text;

	(void)state;
	metrics_http_request("/v1/sms/{channel}", 200);
	metrics_http_request("/v1/sms/{channel}", 200);
	metrics_http_request("/v1/callbacks", 401);
	metrics_webhook(METRICS_KIND_SMS, "at", METRICS_WEBHOOK_STORED);
	metrics_webhook(METRICS_KIND_SMS, "at", METRICS_WEBHOOK_DUPLICATE);
	metrics_webhook(METRICS_KIND_USSD, "at",
	    METRICS_WEBHOOK_REFUSED_FORBIDDEN);
	metrics_ussd_hop("at", true, false);
	metrics_ussd_hop("at", false, true);
	metrics_task_created("at", true);
	metrics_send("at", METRICS_SEND_RETRY);
	metrics_send("at", METRICS_SEND_SENT);
	metrics_dlr("at", METRICS_DLR_DELIVERED);
	metrics_auth_refused(METRICS_AUTH_UNAUTHORIZED);
	metrics_reveal(METRICS_REVEAL_CLAIM);

	text = render(NULL);
	well_formed(text);
	has_line(text, "hotline_build_info{version=\"" HOTLINE_VERSION "\","
	    "schema_version=\"" STR(STORE_SCHEMA_VERSION) "\"} 1");
	has_line(text, "process_start_time_seconds 1700000000.500");
	has_line(text, "hotline_http_requests_total{"
	    "route=\"/v1/sms/{channel}\",code=\"200\"} 2");
	has_line(text, "hotline_http_requests_total{route=\"/v1/callbacks\","
	    "code=\"401\"} 1");
	has_line(text, "hotline_webhooks_total{channel=\"at\",kind=\"sms\","
	    "result=\"stored\"} 1");
	has_line(text, "hotline_webhooks_total{channel=\"at\",kind=\"sms\","
	    "result=\"duplicate\"} 1");
	has_line(text, "hotline_webhooks_total{channel=\"at\",kind=\"ussd\","
	    "result=\"refused_forbidden\"} 1");
	/* Known channels show every result, at 0 until it happens. */
	has_line(text, "hotline_webhooks_total{channel=\"at\",kind=\"dlr\","
	    "result=\"unavailable\"} 0");
	has_line(text, "hotline_ussd_hops_total{channel=\"at\"} 2");
	has_line(text, "hotline_ussd_sessions_started_total{channel=\"at\"} 1");
	has_line(text, "hotline_ussd_sessions_ended_total{channel=\"at\"} 1");
	has_line(text, "hotline_tasks_created_total{channel=\"at\","
	    "priority=\"urgent\"} 1");
	has_line(text, "hotline_tasks_created_total{channel=\"at\","
	    "priority=\"normal\"} 0");
	has_line(text, "hotline_sends_total{channel=\"at\","
	    "result=\"retry\"} 1");
	has_line(text, "hotline_sends_total{channel=\"at\",result=\"sent\"} 1");
	has_line(text, "hotline_delivery_reports_total{channel=\"at\","
	    "outcome=\"delivered\"} 1");
	has_line(text, "hotline_auth_refusals_total{reason=\"unauthorized\"} "
	    "1");
	has_line(text, "hotline_number_reveals_total{via=\"claim\"} 1");
	/* Not read from the store: said so, and the gauges left out. */
	has_line(text, "hotline_store_read_ok 0");
	lacks(text, "hotline_queue_tasks");
	/* Routes and codes that never happened are not written. */
	lacks(text, "code=\"500\"");
	lacks(text, "channel=\"other\"");
	free(text);
}

static void
histograms_are_cumulative(void **state)
{
	char *text;

	(void)state;
	metrics_commit(1, 0.0001);
	metrics_commit(3, 0.004);
	metrics_commit(300, 10);
	metrics_commit_failed();
	text = render(NULL);
	well_formed(text);
	has_line(text, "hotline_writer_batch_units_bucket{le=\"1\"} 1");
	has_line(text, "hotline_writer_batch_units_bucket{le=\"2\"} 1");
	has_line(text, "hotline_writer_batch_units_bucket{le=\"4\"} 2");
	has_line(text, "hotline_writer_batch_units_bucket{le=\"256\"} 2");
	has_line(text, "hotline_writer_batch_units_bucket{le=\"+Inf\"} 3");
	has_line(text, "hotline_writer_batch_units_sum 304");
	has_line(text, "hotline_writer_batch_units_count 3");
	has_line(text, "hotline_writer_commit_seconds_bucket{le=\"0.0005\"} 1");
	has_line(text, "hotline_writer_commit_seconds_bucket{le=\"0.005\"} 2");
	has_line(text, "hotline_writer_commit_seconds_bucket{le=\"5\"} 2");
	has_line(text, "hotline_writer_commit_seconds_bucket{le=\"+Inf\"} 3");
	has_line(text, "hotline_writer_commit_seconds_count 3");
	has_line(text, "hotline_writer_batches_failed_total 1");
	free(text);
}

static void
queue_gauges_come_from_the_read(void **state)
{
	struct metrics_queue q = { .ok = true };
	char *text;

	(void)state;
	q.tasks[0][0] = 2;        /* pending urgent */
	q.tasks[1][1] = 5;        /* claimed normal */
	q.oldest_pending[0] = 420;
	q.outbox[STORE_OUTBOUND_PENDING] = 7;
	q.outbox[STORE_OUTBOUND_FAILED] = 1;
	q.outbox_due[STORE_LANE_URGENT] = 3;
	text = render(&q);
	well_formed(text);
	has_line(text, "hotline_store_read_ok 1");
	has_line(text, "hotline_queue_tasks{status=\"pending\","
	    "priority=\"urgent\"} 2");
	has_line(text, "hotline_queue_tasks{status=\"claimed\","
	    "priority=\"normal\"} 5");
	has_line(text, "hotline_queue_oldest_pending_seconds{"
	    "priority=\"urgent\"} 420");
	has_line(text, "hotline_queue_oldest_pending_seconds{"
	    "priority=\"normal\"} 0");
	has_line(text, "hotline_outbox_rows{status=\"pending\"} 7");
	has_line(text, "hotline_outbox_rows{status=\"failed\"} 1");
	has_line(text, "hotline_outbox_rows{status=\"expired\"} 0");
	has_line(text, "hotline_outbox_due_rows{lane=\"urgent\"} 3");
	has_line(text, "hotline_outbox_due_rows{lane=\"followup\"} 0");
	free(text);
}

static void
unknown_routes_codes_and_channels_have_fixed_names(void **state)
{
	char name[16], *text;

	(void)state;
	metrics_http_request(NULL, 404);
	metrics_http_request("/healthz", 418);
	for (int i = 0; i < METRICS_CHANNELS_MAX + 3; i++) {
		snprintf(name, sizeof(name), "ch%d", i);
		metrics_send(name, METRICS_SEND_FAILED);
	}
	/* Nothing counted for no channel. */
	metrics_send(NULL, METRICS_SEND_FAILED);
	text = render(NULL);
	well_formed(text);
	has_line(text, "hotline_http_requests_total{route=\"unmatched\","
	    "code=\"404\"} 1");
	has_line(text, "hotline_http_requests_total{route=\"/healthz\","
	    "code=\"other\"} 1");
	has_line(text, "hotline_sends_total{channel=\"ch0\",result=\"failed\"} "
	    "1");
	has_line(text, "hotline_sends_total{channel=\"ch31\","
	    "result=\"failed\"} 1");
	lacks(text, "channel=\"ch32\"");
	has_line(text, "hotline_sends_total{channel=\"other\","
	    "result=\"failed\"} 3");
	free(text);
}

static void
label_values_are_escaped(void **state)
{
	char *text;

	(void)state;
	/* Config names cannot hold these; the text stays parseable if a
	 * later label could. */
	metrics_send("a\"b\\c\nd", METRICS_SEND_SENT);
	text = render(NULL);
	well_formed(text);
	has_line(text, "hotline_sends_total{channel=\"a\\\"b\\\\c\\nd\","
	    "result=\"sent\"} 1");
	free(text);
}

#define THREADS 4
#define ROUNDS 20000

static void *
count_from_a_thread(void *arg)
{
	static const char *const chans[] = { "a", "b", "c", "d", "e", "f" };

	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		metrics_send(chans[i % 6], METRICS_SEND_SENT);
		metrics_commit(1, 0.001);
	}
	return NULL;
}

static void
threads_count_without_losing_or_doubling(void **state)
{
	pthread_t t[THREADS];
	char line[96], *text;
	long total = 0;

	(void)state;
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL,
		    count_from_a_thread, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	text = render(NULL);
	well_formed(text);
	for (const char *c = "abcdef"; *c != '\0'; c++) {
		const char *p;
		char want[64];

		snprintf(want, sizeof(want), "hotline_sends_total{"
		    "channel=\"%c\",result=\"sent\"} ", *c);
		/* Each channel once: two threads never add one name twice. */
		assert_non_null(p = strstr(text, want));
		assert_null(strstr(p + 1, want));
		total += strtol(p + strlen(want), NULL, 10);
	}
	assert_int_equal(total, (long)THREADS * ROUNDS);
	snprintf(line, sizeof(line), "hotline_writer_batch_units_count %d",
	    THREADS * ROUNDS);
	has_line(text, line);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(counters_are_written_with_their_labels,
		    setup),
		cmocka_unit_test_setup(histograms_are_cumulative, setup),
		cmocka_unit_test_setup(queue_gauges_come_from_the_read, setup),
		cmocka_unit_test_setup(
		    unknown_routes_codes_and_channels_have_fixed_names, setup),
		cmocka_unit_test_setup(label_values_are_escaped, setup),
		cmocka_unit_test_setup(threads_count_without_losing_or_doubling,
		    setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
