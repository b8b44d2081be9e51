/*
 * fuzz_webhook: the aggregators' side of the daemon, whole: the USSD
 * hop (ussd_hop_cb: verify, parse, normalise, pseudonym, menu replay,
 * store, frame), the inbound SMS (sms_inbound_cb, through the writer's
 * group commit, then conversation_process as the daemon runs it after
 * each commit) and the delivery report (sms_dlr_cb), with http.c
 * replaced by http_stub.c (exactly one reply; 4xx, never 5xx; messages
 * valid UTF-8 quoting no number), a real store in a scratch directory
 * and the real config loader (channels "console", "at" and an unsigned
 * Vonage "vg": the three whose requests need no signature the fuzzer
 * cannot forge).  Besides, nothing the daemon logs may quote a number
 * of the input, and a USSD page is framed CON/END and fits 160 octets.
 *
 * Input (fuzz.h): header lines, a blank line, the body.  The harness's
 * lines: ":route" ("ussd", "sms" or "dlr"; "ussd"), ":channel"
 * ("console"), ":method" (POST), ":query" (none), ":peer" (127.0.0.1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "app.h"
#include "config.h"
#include "conversation.h"
#include "fuzz.h"
#include "http_stub.h"
#include "inbox.h"
#include "log.h"
#include "sms.h"
#include "smstext.h"
#include "store.h"
#include "ussd.h"
#include "writer.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef FUZZ_MENU_PATH
#define FUZZ_MENU_PATH "config/menu.json"
#endif

static char dir[256], db[300], files[4][320];
static struct app app;
static FILE *logf;
static char logbuf[32768];

/* Before the scratch directory goes (atexit runs it first). */
static void
cleanup(void)
{
	writer_free(app.writer);
	inbox_free(app.inbox);
	store_close(app.store);
	config_free(app.config);
	if (app.base != NULL)
		event_base_free(app.base);
}

static void
write_file(size_t slot, const char *name, const char *text)
{
	FILE *f;

	snprintf(files[slot], sizeof(files[slot]), "%s/%s", dir, name);
	if ((f = fopen(files[slot], "w")) == NULL || fputs(text, f) < 0 ||
	    fclose(f) != 0) {
		perror(files[slot]);
		abort();
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct config_overrides ov = { 0 };
	struct store_keys keys;
	char err[4096], json[2048];

	(void)argc;
	(void)argv;
	fuzz_scratch_dir("webhook", dir, sizeof(dir));
	snprintf(db, sizeof(db), "%s/hotline.db", dir);
	write_file(0, "pseudonym.key", "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff\n");
	write_file(1, "secret", "t0k3n-secret-for-fuzzing\n");
	write_file(3, "data.key", "ffeeddccbbaa99887766554433221100"
	    "ffeeddccbbaa99887766554433221100\n");
	snprintf(json, sizeof(json), "{\"listen\": \"127.0.0.1:0\", "
	    "\"development\": true, "
	    "\"database\": \"%s\", \"menu\": \"%s\", \"channels\": ["
	    "{\"name\": \"console\", \"provider\": \"console\"}, "
	    "{\"name\": \"at\", \"provider\": \"africastalking\", "
	    "\"username\": \"u\", \"api_key\": {\"file\": \"secret\"}, "
	    "\"callback_token\": {\"file\": \"secret\"}, "
	    "\"fold_vietnamese\": true}, "
	    "{\"name\": \"vg\", \"provider\": \"vonage\", \"api_key\": \"k\", "
	    "\"api_secret\": {\"file\": \"secret\"}, \"language\": \"en\"}], "
	    "\"privacy\": {\"pseudonym_key\": {\"file\": "
	    "\"pseudonym.key\"}, \"data_key\": {\"file\": \"data.key\"}}}",
	    db, FUZZ_MENU_PATH);
	write_file(2, "hotlined.json", json);
	if ((app.config = config_load(files[2], &ov, err, sizeof(err))) ==
	    NULL) {
		fprintf(stderr, "config_load: %s\n", err);
		abort();
	}
	keys.path = app.config->key_store;
	keys.master = app.config->data_key;
	if ((app.store = store_open(db, STORE_OPEN_CREATE, &keys, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "store_open: %s\n", err);
		abort();
	}
	if ((app.base = event_base_new()) == NULL ||
	    (app.writer = writer_new(app.base, db, &keys, 64, err,
	    sizeof(err))) ==
	    NULL ||
	    (app.inbox = inbox_new(app.base, app.writer)) == NULL)
		abort();
	atexit(cleanup);
	/* Everything the handlers log, down to debug, into logbuf. */
	if ((logf = fmemopen(logbuf, sizeof(logbuf), "w")) == NULL)
		abort();
	log_init(logf, LOG_DEBUG);
	return 0;
}

/* A run of 8 digits standing alone in the log (not inside a
 * pseudonym's or an id's hex) that the input also holds. */
static void
check_log(const uint8_t *data, size_t size)
{
	const char *s = logbuf;
	size_t i = 0, run;
	char word[64];

	while (s[i] != '\0') {
		if (s[i] < '0' || s[i] > '9') {
			i++;
			continue;
		}
		for (run = 0; s[i + run] >= '0' && s[i + run] <= '9'; run++)
			;
		if (run >= 8 && run < sizeof(word) &&
		    (i == 0 || strchr("0123456789abcdefABCDEF_",
		    s[i - 1]) == NULL) && (s[i + run] == '\0' ||
		    strchr("abcdefABCDEF_", s[i + run]) == NULL)) {
			memcpy(word, s + i, run);
			word[run] = '\0';
			if (fuzz_quotes_digits(word, data, size, 8)) {
				fprintf(stderr, "fuzz: the log:\n%s\n", logbuf);
				fuzz_fail("the log quotes digits of the input");
			}
		}
		i += run;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_request r;
	struct http_request req = { 0 };
	const char *route, *v;
	http_handler_cb cb;

	fuzz_request_parse(&r, data, size);
	route = fuzz_request_get(&r, ":route");
	if (route == NULL || strcmp(route, "ussd") == 0) {
		cb = ussd_hop_cb;
		req.path = "/v1/ussd/{channel}";
	} else if (strcmp(route, "sms") == 0) {
		cb = sms_inbound_cb;
		req.path = "/v1/sms/{channel}";
	} else if (strcmp(route, "dlr") == 0) {
		cb = sms_dlr_cb;
		req.path = "/v1/dlr/{channel}";
	} else
		goto out;
	v = fuzz_request_get(&r, ":method");
	req.method_name = v ? v : "POST";
	req.method = strcmp(req.method_name, "GET") == 0 ? HTTP_GET :
	    strcmp(req.method_name, "POST") == 0 ? HTTP_POST : HTTP_OTHER;
	/* The routes take GET and POST only. */
	if (req.method == HTTP_OTHER)
		goto out;
	v = fuzz_request_get(&r, ":channel");
	req.channel = v ? v : "console";
	req.query = fuzz_request_get(&r, ":query");
	req.headers = &r;
	req.body = r.body;
	req.body_len = r.body_len;
	/* A peer comes from the socket (inet_ntop), never from the
	 * request: anything that is not an address is loopback. */
	v = fuzz_request_get(&r, ":peer");
	req.peer = v != NULL && http_address_valid(v) &&
	    strchr(v, '/') == NULL ? v : "127.0.0.1";
	req.data = data;
	req.size = size;

	rewind(logf);
	memset(logbuf, 0, sizeof(logbuf));
	cb(&req, &app);
	/* A hop or an inbound SMS is answered when the writer commits. */
	while (req.replies == 0 && writer_pending(app.writer) > 0)
		event_base_loop(app.base, EVLOOP_ONCE);
	if (req.replies != 1)
		fuzz_fail("a request left unanswered");
	/* What the daemon does after each commit: the stored texts go
	 * through the menu (keywords, opt-out, the SMS session's state
	 * read back from the store) and the replies into the outbox. */
	if (cb == sms_inbound_cb && req.status == 200) {
		char err[256];

		memset(err, 0x55, sizeof(err));
		err[0] = '\0';
		if (conversation_process(app.store, app.config, 16, err,
		    sizeof(err)) < 0) {
			fuzz_check_text("conversation_process err", err,
			    sizeof(err));
			fprintf(stderr, "fuzz: %s\n", err);
			fuzz_fail("conversation_process failed");
		}
	}
	/* A USSD page: framed, and within one screen's 160 octets. */
	if (cb == ussd_hop_cb && req.status == 200 &&
	    strcmp(req.channel, "vg") != 0) {
		struct smstext_measure m;

		if (strncmp(req.reply, "CON ", 4) != 0 &&
		    strncmp(req.reply, "END ", 4) != 0)
			fuzz_fail("a USSD reply neither CON nor END");
		if (smstext_measure(req.reply + 4, &m) < 0 ||
		    m.octets > SMSTEXT_USSD_OCTETS)
			fuzz_fail("a USSD page over 160 octets");
	}
	fflush(logf);
	check_log(data, size);
out:
	fuzz_request_clear(&r);
	return 0;
}
