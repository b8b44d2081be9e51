/*
 * hotlined: the hotline gateway daemon.
 *
 *   hotlined -c FILE [--listen HOST:PORT] [--database PATH]
 *            [--no-group-commit]
 *   hotlined --check-config -c FILE
 *
 * One event loop, and one writer thread that makes every change to the
 * database (writer.h).  TERM/INT: stop accepting, let in-flight requests
 * finish (bounded), close the store, exit 0.  HUP: load a new config and
 * swap it in only if it is valid.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "api.h"
#include "app.h"
#include "auth.h"
#include "config.h"
#include "console.h"
#include "conversation.h"
#include "health.h"
#include "http.h"
#include "http_client.h"
#include "inbox.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "retention.h"
#include "sdnotify.h"
#include "sms.h"
#include "store.h"
#include "ussd.h"
#include "webhook.h"
#include "writer.h"

#define MAX_BODY (64 * 1024)
/* Descriptors kept for the database, the log, outbound sends and
 * accept() itself beyond the connection limit. */
#define FD_RESERVE 64
#define REQUEST_TIMEOUT_SECONDS 15
#define DRAIN_SECONDS 10
#define CONFIG_ERR_SIZE 16384
/* Units of work sharing one commit at most; beyond a few dozen the fsync
 * is no longer the cost (reference/reliability.md §1.3), and a bound
 * keeps one transaction from holding the write lock for long. */
#define GROUP_COMMIT_MAX 256
/* Stored messages one conversation pass takes: a pass is one background
 * unit (writer.h), at least one of which rides in every batch of
 * webhooks, so it is kept short (64 held a batch for ~16 ms). */
#define CONVERSE_BATCH 32
#define CONVERSE_SWEEP_SECONDS 10
/* How often systemd's STATUS= line is refreshed. */
#define STATUS_SECONDS 10

struct daemon {
	struct app app;
	const char *config_path;
	struct config_overrides overrides;
	struct event *sig_term, *sig_int, *sig_hup, *drain_timer;
	struct event *converse_ev;    /* process stored SMS */
	struct timespec drain_deadline;
	time_t leases_checked;    /* monotonic seconds */
	/* One conversation pass at a time; another asked for meanwhile
	 * runs when it is done. */
	bool converse_running, converse_again;
	int converse_processed;   /* the pass's result, from the writer */
	char converse_error[256];
	const struct config *converse_config;
	int64_t leases_expired;
	bool draining;
	bool no_group_commit;     /* benchmarks: one commit per message */
	/* systemd: WATCHDOG=1 from a timer of the loop, so only a loop
	 * that turns keeps the service alive; STATUS= now and then. */
	struct event *watchdog_ev, *status_ev;
	struct health *health;    /* /readyz and its periodic check */
	struct retention *retention;  /* the periodic purge */
};

static void set_timezone(const struct config *cfg);
static bool http_settings_equal(const struct config *a,
    const struct config *b);

static void
usage(FILE *out)
{
	fprintf(out, "usage: hotlined -c FILE [--listen HOST:PORT] "
	    "[--database PATH] [--no-group-commit]\n"
	    "       hotlined --check-config -c FILE\n");
}

static void
print_config_errors(const char *path, const char *errs)
{
	fprintf(stderr, "hotlined: %s is not valid:\n", path);
	for (const char *p = errs; *p;) {
		const char *nl = strchr(p, '\n');
		int n = nl ? (int)(nl - p) : (int)strlen(p);

		fprintf(stderr, "  %.*s\n", n, p);
		p += n + (nl ? 1 : 0);
	}
}

/* Served by the loop itself: an answer proves the loop turns (a loop
 * wedged in a call answers nothing, and systemd's watchdog restarts
 * it).  Nothing else is checked: that is /readyz. */
static void
watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sdnotify("WATCHDOG=1");
}

/* systemd's status line: counts only, never a caller. */
static void
status_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	int64_t urgent = -1, normal = -1, pending = -1, sending = -1;
	char line[512], degraded[128];

	(void)fd;
	(void)what;
	if (!sdnotify_enabled())
		return;
	if (store_stat(d->app.store, STORE_STAT_OPEN_URGENT, &urgent) < 0 ||
	    store_stat(d->app.store, STORE_STAT_OPEN_NORMAL, &normal) < 0 ||
	    store_outbox_count(d->app.store, STORE_OUTBOUND_PENDING,
	    &pending) < 0 ||
	    store_outbox_count(d->app.store, STORE_OUTBOUND_SENDING,
	    &sending) < 0) {
		sdnotify("STATUS=cannot read the database");
		return;
	}
	health_degraded(d->health, degraded, sizeof(degraded));
	snprintf(line, sizeof(line), "STATUS=%s: queue %lld urgent, %lld "
	    "normal open; outbox %lld pending, %lld sending%s%s",
	    d->draining ? "stopping" : "serving", (long long)urgent,
	    (long long)normal, (long long)pending, (long long)sending,
	    degraded[0] ? "; degraded: " : "", degraded);
	sdnotify(line);
}

/* After READY=1: the watchdog (when systemd asked for one), the status
 * line, the health check.  -1 when a timer cannot be set. */
static int
start_timers(struct daemon *d)
{
	struct timeval status = { STATUS_SECONDS, 0 };
	uint64_t usec;

	if (sdnotify_watchdog_usec(&usec)) {
		/* Half the interval, as sd_watchdog_enabled(3) advises. */
		struct timeval half = { (time_t)(usec / 2 / 1000000),
		    (suseconds_t)(usec / 2 % 1000000) };
		char ms[24];

		if ((d->watchdog_ev = event_new(d->app.base, -1, EV_PERSIST,
		    watchdog_cb, d)) == NULL ||
		    event_add(d->watchdog_ev, &half) < 0)
			return -1;
		sdnotify("WATCHDOG=1");
		snprintf(ms, sizeof(ms), "%llu",
		    (unsigned long long)(usec / 1000));
		log_event(LOG_INFO, "daemon.watchdog", "interval_ms", ms,
		    NULL);
	}
	if (sdnotify_enabled()) {
		if ((d->status_ev = event_new(d->app.base, -1, EV_PERSIST,
		    status_cb, d)) == NULL ||
		    event_add(d->status_ev, &status) < 0)
			return -1;
		status_cb(-1, 0, d);
	}
	if (health_start(d->health) < 0 ||
	    retention_start(d->retention) < 0)
		return -1;
	return 0;
}

static int
expire_work(struct store *st, void *arg)
{
	struct daemon *d = arg;

	if (store_queue_expire_leases(st, &d->leases_expired) < 0) {
		log_event(LOG_ERROR, "store.failed", "op", "expire_leases",
		    NULL);
		return -1;
	}
	return 0;
}

static void
expire_done(enum writer_result result, void *arg)
{
	struct daemon *d = arg;
	char count[24];

	if (result == WRITER_COMMITTED && d->leases_expired > 0) {
		snprintf(count, sizeof(count), "%lld",
		    (long long)d->leases_expired);
		log_event(LOG_INFO, "task.lease_expired", "tasks", count,
		    NULL);
	}
}

/* A counsellor who took a task and went away gives it back when the
 * lease runs out. */
static void
expire_leases(struct daemon *d)
{
	struct timespec now;

	/* Once per sweep, not after every commit of a flood. */
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec - d->leases_checked < CONVERSE_SWEEP_SECONDS)
		return;
	d->leases_checked = now.tv_sec;
	d->leases_expired = 0;
	if (writer_submit_background(d->app.writer, expire_work, expire_done,
	    d) < 0)
		log_event(LOG_ERROR, "store.failed", "op", "expire_leases",
		    "error", "out of memory", NULL);
}

/* Writer thread: one pass over the stored, unprocessed messages.  The
 * config is the one of the submit; a reload frees it only after this
 * unit's completion (reload_cb). */
static int
converse_work(struct store *st, void *arg)
{
	struct daemon *d = arg;

	d->converse_processed = conversation_process(st, d->converse_config,
	    CONVERSE_BATCH, d->converse_error, sizeof(d->converse_error));
	return d->converse_processed < 0 ? -1 : 0;
}

static void
converse_done(enum writer_result result, void *arg)
{
	struct daemon *d = arg;
	struct timeval sweep = { CONVERSE_SWEEP_SECONDS, 0 };
	int n = result == WRITER_COMMITTED ? d->converse_processed : -1;

	d->converse_running = false;
	if (n < 0)
		log_event(LOG_ERROR, "conversation.failed", "error",
		    d->converse_processed < 0 ? d->converse_error :
		    "the batch was not committed", NULL);
	if (n > 0)
		outbox_kick(d->app.outbox);
	/* More behind it, or asked for meanwhile: after other work. */
	if (n == CONVERSE_BATCH || d->converse_again)
		event_active(d->converse_ev, EV_TIMEOUT, 0);
	else if (!d->draining)
		evtimer_add(d->converse_ev, &sweep);
	d->converse_again = false;
}

/* Stored messages are processed after their requests are answered, in
 * batches; a failed pass is retried by the periodic sweep. */
static void
converse_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	expire_leases(d);
	webhook_auth_flush(false);
	if (d->converse_running) {
		d->converse_again = true;
		return;
	}
	d->converse_config = d->app.config;
	d->converse_processed = 0;
	d->converse_error[0] = '\0';
	if (writer_submit_background(d->app.writer, converse_work,
	    converse_done, d) < 0) {
		struct timeval retry = { 1, 0 };

		log_event(LOG_ERROR, "conversation.failed", "error",
		    "out of memory", NULL);
		evtimer_add(d->converse_ev, &retry);
		return;
	}
	d->converse_running = true;
}

static void
converse_soon(void *arg)
{
	struct daemon *d = arg;

	event_active(d->converse_ev, EV_TIMEOUT, 0);
}

static double
seconds_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(deadline->tv_sec - now.tv_sec) +
	    (double)(deadline->tv_nsec - now.tv_nsec) / 1e9;
}

static void
drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tick = { 0, 50 * 1000 };
	size_t left;

	(void)fd;
	(void)what;
	/* Units waiting for a commit are committed and answered; sends
	 * already out get their answers (the rest wait for the next
	 * start). */
	left = http_server_inflight(d->app.http) +
	    outbox_in_flight(d->app.outbox) + writer_pending(d->app.writer);
	if (left == 0 || seconds_left(&d->drain_deadline) <= 0) {
		if (left > 0) {
			char nh[24], no[24];

			/* What was really left: replies not yet written to
			 * clients still connected, and sends still out (they
			 * are retried at the next start). */
			snprintf(nh, sizeof(nh), "%zu",
			    http_server_inflight(d->app.http));
			snprintf(no, sizeof(no), "%zu",
			    outbox_in_flight(d->app.outbox));
			log_event(LOG_WARN, "daemon.drain_timeout",
			    "unanswered_requests", nh, "sends_in_flight", no,
			    NULL);
		}
		event_base_loopexit(d->app.base, NULL);
		return;
	}
	evtimer_add(d->drain_timer, &tick);
}

static void
shutdown_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	if (d->draining)
		return;
	d->draining = true;
	sdnotify("STOPPING=1");
	status_cb(-1, 0, d);
	log_event(LOG_INFO, "daemon.stopping", "signal",
	    sig == SIGTERM ? "TERM" : "INT", NULL);
	http_server_stop_accepting(d->app.http);
	outbox_stop(d->app.outbox);
	clock_gettime(CLOCK_MONOTONIC, &d->drain_deadline);
	d->drain_deadline.tv_sec += DRAIN_SECONDS;
	drain_cb(-1, 0, d);
}

static int
barrier_work(struct store *st, void *arg)
{
	(void)st;
	(void)arg;
	return 0;
}

static void
config_retired(enum writer_result result, void *arg)
{
	(void)result;
	config_free(arg);
}

/* Units already submitted may still read the old config on the writer
 * thread; a background unit's completion runs after those of every unit
 * submitted before it (writer.h), so it goes after theirs. */
static void
retire_config(struct daemon *d, struct config *old)
{
	if (writer_submit_background(d->app.writer, barrier_work,
	    config_retired, old) < 0)
		log_event(LOG_ERROR, "config.reload_leak", "error", "out of "
		    "memory; the old configuration stays in memory", NULL);
}

static void
reload_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct config *fresh, *old = d->app.config;
	char *errs;

	(void)sig;
	(void)what;
	sdnotify("RELOADING=1");
	if ((errs = malloc(CONFIG_ERR_SIZE)) == NULL) {
		log_event(LOG_ERROR, "config.reload_failed", "error",
		    "out of memory", NULL);
		sdnotify("READY=1");
		return;
	}
	fresh = config_load(d->config_path, &d->overrides, errs,
	    CONFIG_ERR_SIZE);
	if (fresh == NULL) {
		log_event(LOG_ERROR, "config.reload_refused", "path",
		    d->config_path, "problems", errs, NULL);
	} else {
		if (strcmp(fresh->listen_host, old->listen_host) != 0 ||
		    fresh->listen_port != old->listen_port ||
		    strcmp(fresh->database, old->database) != 0)
			log_event(LOG_WARN, "config.restart_needed", "why",
			    "listen and database change only on restart",
			    NULL);
		if (!http_settings_equal(fresh, old))
			log_event(LOG_WARN, "config.restart_needed", "why",
			    "http settings change only on restart", NULL);
		/* TZ is read by the resolver's threads: set once. */
		if (strcmp(fresh->timezone, old->timezone) != 0)
			log_event(LOG_WARN, "config.restart_needed", "why",
			    "timezone changes only on restart", NULL);
		if (outbox_set_config(d->app.outbox, fresh) < 0) {
			log_event(LOG_ERROR, "config.reload_failed", "error",
			    "out of memory", NULL);
			config_free(fresh);
		} else {
			d->app.config = fresh;
			retire_config(d, old);
			log_set_level(fresh->log_level);
			log_event(LOG_INFO, "config.reloaded", "path",
			    d->config_path, NULL);
		}
	}
	free(errs);
	sdnotify("READY=1");
}

/* Contact windows are in the hotline's local time; logs stay in UTC.
 * Once, before any resolver thread reads the environment. */
static void
set_timezone(const struct config *cfg)
{
	setenv("TZ", cfg->timezone, 1);
	tzset();
}

static int
add_signal(struct daemon *d, struct event **ev, int sig,
    event_callback_fn cb)
{
	*ev = evsignal_new(d->app.base, sig, cb, d);
	return *ev == NULL || evsignal_add(*ev, NULL) < 0 ? -1 : 0;
}

static bool
http_settings_equal(const struct config *a, const struct config *b)
{
	if (a->http_max_connections != b->http_max_connections ||
	    a->http_max_connections_per_peer !=
	    b->http_max_connections_per_peer ||
	    a->http_request_deadline != b->http_request_deadline ||
	    a->http_ntrusted_proxies != b->http_ntrusted_proxies)
		return false;
	for (size_t i = 0; i < a->http_ntrusted_proxies; i++)
		if (strcmp(a->http_trusted_proxies[i],
		    b->http_trusted_proxies[i]) != 0)
			return false;
	return true;
}

/* Every connection is a descriptor: take all the kernel allows this
 * process (the unit sets LimitNOFILE), and say so when the connection
 * limit does not fit under it. */
/* Which master key the key store is under (its id, never the key) and
 * how many callers have data keys: what an operator checks after a
 * rekey or a restore. */
static void
log_keys(const struct config *cfg)
{
	char id[17], n[24], why[256];
	int64_t keys;

	if (store_key_store_info(cfg->key_store, id, &keys, why,
	    sizeof(why)) < 0)
		return;
	snprintf(n, sizeof(n), "%lld", (long long)keys);
	log_event(LOG_INFO, "store.keys", "key_store", cfg->key_store,
	    "master_key_id", id, "data_keys", n, NULL);
}

static void
raise_file_limit(const struct config *cfg)
{
	struct rlimit rl;
	char have[24], want[24];

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit up = { rl.rlim_max, rl.rlim_max };

		/* Refused under a seccomp filter: the unit's LimitNOFILE
		 * already set both. */
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	if (rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)cfg->http_max_connections + FD_RESERVE > rl.rlim_cur) {
		snprintf(have, sizeof(have), "%llu",
		    (unsigned long long)rl.rlim_cur);
		snprintf(want, sizeof(want), "%u", cfg->http_max_connections);
		log_event(LOG_WARN, "daemon.file_limit_low", "open_files",
		    have, "max_connections", want, "fix", "lower "
		    "http.max_connections or raise LimitNOFILE; beyond the "
		    "limit, accepting pauses", NULL);
	}
}

/* Freed pages go back to the file system after a purge only in
 * incremental auto_vacuum mode; a database older than it is rebuilt
 * once (VACUUM), here, before anything else uses it. */
static int
enable_reclaim(struct store *st, char *why, size_t len)
{
	struct timespec t0, t1;
	bool switched;
	char ms[24];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (store_auto_vacuum_enable(st, &switched, why, len) < 0)
		return -1;
	if (switched) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		snprintf(ms, sizeof(ms), "%lld", (long long)((t1.tv_sec -
		    t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
		log_event(LOG_INFO, "store.auto_vacuum_enabled", "ms", ms,
		    NULL);
	}
	return 0;
}

static int
run(struct daemon *d)
{
	struct config *cfg = d->app.config;
	struct http_limits limits = {
		.max_body = MAX_BODY,
		.timeout_seconds = REQUEST_TIMEOUT_SECONDS,
		.deadline_seconds = (int)cfg->http_request_deadline,
		.max_connections = cfg->http_max_connections,
		.max_connections_per_peer = cfg->http_max_connections_per_peer,
		.trusted_proxies = cfg->http_trusted_proxies,
		.ntrusted_proxies = cfg->http_ntrusted_proxies,
	};
	/* The master key is read once, here; the connections keep only the
	 * key store's KEK (store.h), so a rekey never stops them. */
	const struct store_keys keys = { .path = cfg->key_store,
	    .master = cfg->data_key };
	char why[512], port[8];
	int rc = 1;

	raise_file_limit(cfg);
	if (cfg->development)
		log_event(LOG_WARN, "daemon.development", "why",
		    "\"development\": true; the console channel takes "
		    "unauthenticated requests from this host; never in "
		    "production", NULL);

	if (http_client_global_init(why, sizeof(why)) < 0) {
		log_event(LOG_ERROR, "daemon.start_failed", "error", why, NULL);
		return 1;
	}
	/* Created and migrated here; from then on the loop only reads on
	 * this connection, and the writer makes every change. */
	if ((d->app.store = store_open(cfg->database, STORE_OPEN_CREATE, &keys,
	    why, sizeof(why))) == NULL ||
	    enable_reclaim(d->app.store, why, sizeof(why)) < 0 ||
	    store_read_only(d->app.store, why, sizeof(why)) < 0) {
		log_event(LOG_ERROR, "daemon.start_failed", "error", why, NULL);
		goto out;
	}
	log_keys(cfg);
	if ((d->app.base = event_base_new()) == NULL ||
	    (d->app.http = http_server_new(d->app.base, &limits)) == NULL ||
	    (d->app.writer = writer_new(d->app.base, cfg->database, &keys,
	    d->no_group_commit ? 1 : GROUP_COMMIT_MAX, why, sizeof(why))) ==
	    NULL ||
	    (d->app.inbox = inbox_new(d->app.base, d->app.writer)) == NULL ||
	    (d->drain_timer = evtimer_new(d->app.base, drain_cb, d)) == NULL ||
	    (d->converse_ev = evtimer_new(d->app.base, converse_cb, d)) ==
	    NULL ||
	    (d->app.http_client = http_client_new(d->app.base, why,
	    sizeof(why))) == NULL ||
	    (d->app.outbox = outbox_new(d->app.base, cfg, d->app.store,
	    d->app.writer, d->app.http_client)) == NULL ||
	    (d->app.auth_limiter = auth_limiter_new()) == NULL ||
	    (d->health = health_new(&d->app)) == NULL ||
	    (d->retention = retention_new(&d->app)) == NULL ||
	    add_signal(d, &d->sig_term, SIGTERM, shutdown_cb) < 0 ||
	    add_signal(d, &d->sig_int, SIGINT, shutdown_cb) < 0 ||
	    add_signal(d, &d->sig_hup, SIGHUP, reload_cb) < 0) {
		log_event(LOG_ERROR, "daemon.start_failed", "error",
		    "cannot set up the event loop", NULL);
		goto out;
	}
	if (http_server_route(d->app.http, "/healthz", HTTP_GET,
	    health_healthz_cb, d->health) < 0 ||
	    http_server_route(d->app.http, "/readyz", HTTP_GET,
	    health_readyz_cb, d->health) < 0 ||
	    http_server_route(d->app.http, "/v1/ussd/{channel}", HTTP_POST,
	    ussd_hop_cb, &d->app) < 0 ||
	    http_server_route(d->app.http, "/v1/sms/{channel}", HTTP_POST |
	    HTTP_GET, sms_inbound_cb, &d->app) < 0 ||
	    http_server_route(d->app.http, "/v1/dlr/{channel}", HTTP_POST |
	    HTTP_GET, sms_dlr_cb, &d->app) < 0 ||
	    api_routes(d->app.http, &d->app) < 0 ||
	    console_routes(d->app.http) < 0 ||
	    metrics_routes(d->app.http, &d->app) < 0 ||
	    http_server_listen(d->app.http, cfg->listen_host,
	    cfg->listen_port, why, sizeof(why)) < 0) {
		log_event(LOG_ERROR, "daemon.start_failed", "error", why, NULL);
		goto out;
	}
	set_timezone(cfg);
	inbox_on_commit(d->app.inbox, converse_soon, d);
	/* Rows left by the last run, and what falls due. */
	outbox_kick(d->app.outbox);
	/* Messages stored before a crash and never processed. */
	converse_soon(d);
	snprintf(port, sizeof(port), "%u", http_server_port(d->app.http));
	log_event(LOG_INFO, "daemon.listening", "host", cfg->listen_host,
	    "port", port, "database", cfg->database, NULL);
	sdnotify("READY=1");
	if (start_timers(d) < 0) {
		log_event(LOG_ERROR, "daemon.start_failed", "error",
		    "cannot set up the watchdog, status and health timers",
		    NULL);
		goto out;
	}

	if (event_base_dispatch(d->app.base) < 0) {
		log_event(LOG_ERROR, "daemon.loop_failed", NULL);
		goto out;
	}
	rc = 0;
out:
	/* Pending units are committed and answered before the server (and
	 * its connections) go. */
	writer_free(d->app.writer);
	inbox_free(d->app.inbox);
	health_free(d->health);
	retention_free(d->retention);
	http_server_free(d->app.http);
	/* Requests still out are cancelled: their rows stay `sending` and
	 * the next start settles them. */
	http_client_free(d->app.http_client);
	outbox_free(d->app.outbox);
	auth_limiter_free(d->app.auth_limiter);
	webhook_auth_flush(true);
	if (d->sig_term)
		event_free(d->sig_term);
	if (d->sig_int)
		event_free(d->sig_int);
	if (d->sig_hup)
		event_free(d->sig_hup);
	if (d->drain_timer)
		event_free(d->drain_timer);
	if (d->converse_ev)
		event_free(d->converse_ev);
	if (d->watchdog_ev)
		event_free(d->watchdog_ev);
	if (d->status_ev)
		event_free(d->status_ev);
	store_close(d->app.store);
	if (d->app.base)
		event_base_free(d->app.base);
	http_client_global_cleanup();
	if (rc == 0)
		log_event(LOG_INFO, "daemon.stopped", NULL);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "database", required_argument, NULL, 'd' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "no-group-commit", no_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d = { 0 };
	bool check_only = false;
	char *errs;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			d.config_path = optarg;
			break;
		case 'l':
			d.overrides.listen = optarg;
			break;
		case 'd':
			d.overrides.database = optarg;
			break;
		case 'C':
			check_only = true;
			break;
		case 'G':
			d.no_group_commit = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (d.config_path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}

	/* Memory holds callers' numbers: no core dumps, no ptrace by
	 * other users' processes. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* The database holds callers' numbers: only this user reads it,
	 * under systemd (UMask=0077) or not. */
	umask(077);
	signal(SIGPIPE, SIG_IGN);
	metrics_reset((double)time(NULL));
	log_init(stderr, LOG_INFO);
	log_capture_libevent();

	if ((errs = malloc(CONFIG_ERR_SIZE)) == NULL)
		return 1;
	d.app.config = config_load(d.config_path, &d.overrides, errs,
	    CONFIG_ERR_SIZE);
	if (d.app.config == NULL) {
		print_config_errors(d.config_path, errs);
		free(errs);
		return 1;
	}
	free(errs);
	if (check_only) {
		printf("%s: configuration and menu are valid\n",
		    d.config_path);
		config_free(d.app.config);
		return 0;
	}
	log_set_level(d.app.config->log_level);

	rc = run(&d);
	config_free(d.app.config);
	return rc;
}
