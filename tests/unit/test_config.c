/* config: every kind of mistake is refused with its JSON path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "provider.h"

static char dir[PATH_MAX];
static char menu_abs[PATH_MAX + 32];

/* 32 bytes, 0x00 to 0x1f. */
#define DATA_KEY_HEX "000102030405060708090a0b0c0d0e0f" \
	"101112131415161718191a1b1c1d1e1f"

static int
setup(void **state)
{
	char cwd[PATH_MAX];
	FILE *f;
	char p[PATH_MAX + 32];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/hotline-test-config-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(menu_abs, sizeof(menu_abs), "%s/config/menu.json", cwd);
	snprintf(p, sizeof(p), "%s/pseudonym.key", dir);
	assert_non_null(f = fopen(p, "w"));
	fputs("0123456789abcdef0123456789abcdef\n", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/data.key", dir);
	assert_non_null(f = fopen(p, "w"));
	fputs(DATA_KEY_HEX "\n", f);
	fclose(f);
	unsetenv("CREDENTIALS_DIRECTORY");
	return 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Write a config whose fragments are spliced in; %MENU% becomes the
 * shipped menu's absolute path. */
static const char *
write_config(const char *json)
{
	static char path[PATH_MAX + 32];
	char buf[8192];
	const char *m = strstr(json, "%MENU%");
	FILE *f;

	if (m != NULL)
		snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(m - json), json,
		    menu_abs, m + 6);
	else
		snprintf(buf, sizeof(buf), "%s", json);
	snprintf(path, sizeof(path), "%s/hotlined.json", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs(buf, f);
	fclose(f);
	return path;
}

#define PRIVACY_ONLY \
	"\"privacy\": {\"pseudonym_key\": {\"file\": \"pseudonym.key\"}, " \
	"\"data_key\": {\"file\": \"data.key\"}}"
/* Most configs here have a console channel, which needs development. */
#define BASE_PRIVACY "\"development\": true, " PRIVACY_ONLY
#define CONSOLE "{\"name\": \"console\", \"provider\": \"console\"}"

static struct config *
load(const char *json, char *err, size_t errlen)
{
	return config_load(write_config(json), NULL, err, errlen);
}

static void
valid_config_loads_with_defaults(void **state)
{
	char err[4096];
	struct config *c;

	(void)state;
	c = load("{\"listen\": \"127.0.0.1:8080\", \"database\": \"x.db\", "
	    "\"menu\": \"%MENU%\", \"channels\": [" CONSOLE "], "
	    BASE_PRIVACY "}", err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(c->listen_host, "127.0.0.1");
	assert_int_equal(c->listen_port, 8080);
	assert_string_equal(c->timezone, "Asia/Ho_Chi_Minh");
	assert_int_equal(c->pseudonym_key_len, 32);
	assert_int_equal(c->nchannels, 1);
	assert_false(c->channels[0].fold_vietnamese);
	assert_int_equal(c->outbox_max_attempts, 25);
	assert_int_equal(config_window_for(c, "evening")->start_min, 18 * 60);
	assert_int_equal(config_window_for(c, "now")->start_min, 8 * 60);
	assert_string_equal(config_template(c, "urgent_alert", "en"),
	    "Urgent callback request #{task}. {link}");
	assert_string_equal(c->channels[0].default_country, "84");
	assert_ptr_equal(c->channels[0].provider, &provider_console);
	assert_non_null(c->menu);
	assert_true(c->development);
	assert_int_equal(c->http_max_connections, 512);
	assert_int_equal(c->http_max_connections_per_peer, 64);
	assert_int_equal(c->http_request_deadline, 20);
	assert_int_equal(c->http_ntrusted_proxies, 0);
	assert_int_equal(c->ussd_resume_seconds, 600);
	config_free(c);
}

struct bad_case {
	const char *name;
	const char *json;
	const char *expect;	/* substring of the error */
};

static const struct bad_case bad_cases[] = {
	{ "unknown top-level key",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE "], " BASE_PRIVACY ", "
	  "\"colour\": 1}", "colour: unknown key" },
	{ "unknown provider names the channel index",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE ", {\"name\": \"tw\", "
	  "\"provider\": \"twillio\"}], " BASE_PRIVACY "}",
	  "channels[1].provider: unknown provider \"twillio\"" },
	{ "wrong type",
	  "{\"listen\": 8080, \"database\": \"x\", \"menu\": \"%MENU%\", "
	  "\"channels\": [" CONSOLE "], " BASE_PRIVACY "}",
	  "listen: must be a string, not an integer" },
	{ "missing required value",
	  "{\"listen\": \"127.0.0.1:1\", \"menu\": \"%MENU%\", "
	  "\"channels\": [" CONSOLE "], " BASE_PRIVACY "}",
	  "database: missing" },
	{ "bad listen address",
	  "{\"listen\": \"localhost\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE "], " BASE_PRIVACY "}",
	  "listen: \"localhost\" is not HOST:PORT" },
	{ "port out of range",
	  "{\"listen\": \"127.0.0.1:70000\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE "], " BASE_PRIVACY "}",
	  "listen: \"127.0.0.1:70000\": port must be 0-65535" },
	{ "resume window out of range",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE "], " BASE_PRIVACY ", "
	  "\"ussd\": {\"resume_seconds\": 90000}}",
	  "ussd.resume_seconds: must be between 0 and 86400" },
	{ "unknown ussd key",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE "], " BASE_PRIVACY ", "
	  "\"ussd\": {\"resume\": 600}}",
	  "ussd.resume: unknown key" },
	{ "unreadable menu",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"/nonexistent/menu.json\", \"channels\": [" CONSOLE "], "
	  BASE_PRIVACY "}", "menu: cannot read /nonexistent/menu.json" },
	{ "secret written in the file is refused",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [{\"name\": \"at\", \"provider\": "
	  "\"africastalking\", \"username\": \"u\", \"api_key\": "
	  "{\"env\": \"HOME\"}, \"callback_token\": \"plaintext\"}], "
	  BASE_PRIVACY "}",
	  "channels[0].callback_token: a secret must be {\"env\"" },
	{ "data key missing",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"development\": true, \"channels\": [" CONSOLE "], "
	  "\"privacy\": {\"pseudonym_key\": {\"file\": \"pseudonym.key\"}}}",
	  "privacy.data_key: missing (required" },
	{ "data key that is no key",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"development\": true, \"channels\": [" CONSOLE "], "
	  "\"privacy\": {\"pseudonym_key\": {\"file\": \"pseudonym.key\"}, "
	  "\"data_key\": {\"file\": \"pseudonym.key\"}}}",
	  "privacy.data_key: must be 32 random bytes" },
	{ "data key written in the file is refused",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"development\": true, \"channels\": [" CONSOLE "], "
	  "\"privacy\": {\"pseudonym_key\": {\"file\": \"pseudonym.key\"}, "
	  "\"data_key\": \"" DATA_KEY_HEX "\"}}",
	  "privacy.data_key: a secret must be {\"env\"" },
	{ "unset environment variable",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE "], \"privacy\": "
	  "{\"pseudonym_key\": {\"env\": \"HOTLINE_TEST_UNSET_VAR\"}}}",
	  "privacy.pseudonym_key: environment variable "
	  "HOTLINE_TEST_UNSET_VAR is not set" },
	{ "provider key missing",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [{\"name\": \"at\", \"provider\": "
	  "\"africastalking\", \"username\": \"u\", \"api_key\": "
	  "{\"env\": \"HOME\"}}], " BASE_PRIVACY "}",
	  "channels[0].callback_token: missing (required by provider" },
	{ "key of another provider",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [{\"name\": \"c\", \"provider\": "
	  "\"console\", \"auth_token\": \"x\"}], " BASE_PRIVACY "}",
	  "channels[0].auth_token: unknown key for provider \"console\"" },
	{ "duplicate channel",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE ", " CONSOLE "], "
	  BASE_PRIVACY "}",
	  "channels[1].name: duplicate channel name \"console\"" },
	{ "bad log level",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE "], " BASE_PRIVACY ", "
	  "\"log\": {\"level\": \"loud\"}}", "log.level: \"loud\" is not" },
	{ "channel language not in menu",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [{\"name\": \"c\", \"provider\": "
	  "\"console\", \"language\": \"fr\"}], " BASE_PRIVACY "}",
	  "channels[0].language: \"fr\" is not a language of the menu" },
	{ "template that names what a survivor hides",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE "], " BASE_PRIVACY ", "
	  "\"outbox\": {\"templates\": {\"missed_call\": {\"vi\": "
	  "\"Đường dây hỗ trợ nạn nhân BUÔN NGƯỜI\"}}}}",
	  "outbox.templates.missed_call.vi: mentions \"buon nguoi\"" },
	{ "contact window that is not a time range",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE "], " BASE_PRIVACY ", "
	  "\"outbox\": {\"contact_windows\": {\"evening\": \"18-21\"}}}",
	  "outbox.contact_windows.evening: must be \"HH:MM-HH:MM\"" },
	{ "alert url without a secret",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE "], " BASE_PRIVACY ", "
	  "\"alerts\": {\"url\": \"https://alerts.example.org/hook\"}}",
	  "alerts.secret: missing (required with alerts.url" },
	{ "alert channel that does not exist",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE "], " BASE_PRIVACY ", "
	  "\"alerts\": {\"channel\": \"sms\", \"sms\": [\"+84900000001\"]}}",
	  "alerts.channel: \"sms\" is not a channel" },
	{ "plain http send_url off loopback",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [{\"name\": \"c\", \"provider\": "
	  "\"console\", \"send_url\": \"http://example.org/\"}], "
	  BASE_PRIVACY "}", "channels[0].send_url: must be an https://" },
	{ "short pseudonym key",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE "], \"privacy\": "
	  "{\"pseudonym_key\": {\"env\": \"HOTLINE_TEST_SHORT_KEY\"}}}",
	  "privacy.pseudonym_key: must be at least 16 bytes" },
	{ "send_url that only looks like loopback",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [{\"name\": \"c\", \"provider\": "
	  "\"console\", \"send_url\": \"http://127.0.0.1.evil.example/\"}], "
	  BASE_PRIVACY "}", "channels[0].send_url: must be an https://" },
	{ "listen on a host name",
	  "{\"listen\": \"nosuchhost.invalid:8080\", \"database\": \"x\", "
	  "\"menu\": \"%MENU%\", \"channels\": [" CONSOLE "], " BASE_PRIVACY
	  "}", "host must be an IP address" },
	{ "console channel on a public address",
	  "{\"listen\": \"0.0.0.0:8080\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE "], " BASE_PRIVACY "}",
	  "channels[0].provider: the console channel needs a loopback" },
	{ "allow_ips entry that is no address",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [{\"name\": \"at\", \"provider\": "
	  "\"africastalking\", \"username\": \"u\", \"api_key\": "
	  "{\"env\": \"HOME\"}, \"callback_token\": {\"env\": \"HOME\"}, "
	  "\"allow_ips\": [\"10.0.0.0/8\", \"10.0.0.0/33\"]}], "
	  BASE_PRIVACY "}",
	  "channels[0].allow_ips[1]: \"10.0.0.0/33\" is not an IP address" },
	{ "sms setting out of range",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE "], " BASE_PRIVACY ", "
	  "\"sms\": {\"session_idle_seconds\": 0}}",
	  "sms.session_idle_seconds: must be between 1 and 604800" },
	{ "console channel without development",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE "], " PRIVACY_ONLY "}",
	  "channels[0].provider: the console channel takes requests "
	  "without authentication" },
	{ "development that is no boolean",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE "], \"development\": 1, "
	  PRIVACY_ONLY "}", "development: must be true or false" },
	{ "callback token of ours too short",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [{\"name\": \"at\", \"provider\": "
	  "\"africastalking\", \"username\": \"u\", \"api_key\": "
	  "{\"env\": \"HOTLINE_TEST_LONG_KEY\"}, \"callback_token\": "
	  "{\"env\": \"HOTLINE_TEST_SHORT_KEY\"}}], " PRIVACY_ONLY "}",
	  "channels[0].callback_token: the secret is 5 bytes; use at least "
	  "16" },
	{ "json provider secret that is only whitespace",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [{\"name\": \"j\", \"provider\": "
	  "\"json\", \"secret\": {\"env\": \"HOTLINE_TEST_BLANK_KEY\"}}], "
	  PRIVACY_ONLY "}",
	  "channels[0].secret: the secret is only whitespace" },
	{ "provider-issued key that is only whitespace",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [{\"name\": \"at\", \"provider\": "
	  "\"africastalking\", \"username\": \"u\", \"api_key\": "
	  "{\"env\": \"HOTLINE_TEST_BLANK_KEY\"}, \"callback_token\": "
	  "{\"env\": \"HOTLINE_TEST_LONG_KEY\"}}], " PRIVACY_ONLY "}",
	  "channels[0].api_key: the secret is only whitespace" },
	{ "alert secret too short",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE "], " BASE_PRIVACY ", "
	  "\"alerts\": {\"url\": \"https://a.example/\", \"secret\": "
	  "{\"env\": \"HOTLINE_TEST_SHORT_KEY\"}}}",
	  "alerts.secret: the secret is 5 bytes" },
	{ "trusted proxy that is no address",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE "], " BASE_PRIVACY ", "
	  "\"http\": {\"trusted_proxies\": [\"10.0.0.0/8\", \"proxy\"]}}",
	  "http.trusted_proxies[1]: must be an IP address or CIDR" },
	{ "connection limit of zero",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE "], " BASE_PRIVACY ", "
	  "\"http\": {\"max_connections\": 0}}",
	  "http.max_connections: must be between 1 and 1000000" },
	{ "unknown http key",
	  "{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", \"menu\": "
	  "\"%MENU%\", \"channels\": [" CONSOLE "], " BASE_PRIVACY ", "
	  "\"http\": {\"timeout\": 5}}", "http.timeout: unknown key" },
	{ "not JSON",
	  "{\"listen\": ", "line 1" },
};

static void
each_mistake_names_its_path(void **state)
{
	char err[4096];

	(void)state;
	setenv("HOTLINE_TEST_SHORT_KEY", "short", 1);
	setenv("HOTLINE_TEST_LONG_KEY", "a-long-enough-test-secret", 1);
	setenv("HOTLINE_TEST_BLANK_KEY", " \t  \t  \t  \t  \t  ", 1);
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]);
	    i++) {
		struct config *c = load(bad_cases[i].json, err, sizeof(err));

		if (c != NULL || strstr(err, bad_cases[i].expect) == NULL) {
			print_error("case \"%s\": expected \"%s\", got \"%s\"\n",
			    bad_cases[i].name, bad_cases[i].expect,
			    c ? "(loaded)" : err);
			config_free(c);
			fail();
		}
	}
}

static void
every_problem_is_reported_at_once(void **state)
{
	char err[4096];
	int lines = 1;

	(void)state;
	assert_null(load("{\"listen\": \"nope\", \"menu\": \"%MENU%\", "
	    "\"channels\": [{\"name\": \"a\", \"provider\": \"twillio\"}], "
	    "\"privacy\": {}, \"extra\": true}", err, sizeof(err)));
	for (const char *p = err; *p; p++)
		lines += *p == '\n';
	assert_true(lines >= 5);
	assert_non_null(strstr(err, "listen:"));
	assert_non_null(strstr(err, "database: missing"));
	assert_non_null(strstr(err, "channels[0].provider"));
	assert_non_null(strstr(err, "privacy.pseudonym_key: missing"));
	assert_non_null(strstr(err, "extra: unknown key"));
}

static void
secret_files_resolve_against_credentials_directory(void **state)
{
	char err[4096], cred[PATH_MAX + 64];
	struct config *c;
	FILE *f;

	(void)state;
	snprintf(cred, sizeof(cred), "%s/creds", dir);
	assert_int_equal(mkdir(cred, 0700), 0);
	snprintf(cred, sizeof(cred), "%s/creds/pseudonym.key", dir);
	assert_non_null(f = fopen(cred, "w"));
	fputs("from-credentials-directory-key\n", f);
	fclose(f);
	snprintf(cred, sizeof(cred), "%s/creds/data.key", dir);
	assert_non_null(f = fopen(cred, "w"));
	fputs(DATA_KEY_HEX "\n", f);
	fclose(f);
	snprintf(cred, sizeof(cred), "%s/creds", dir);
	setenv("CREDENTIALS_DIRECTORY", cred, 1);
	c = load("{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", "
	    "\"menu\": \"%MENU%\", \"channels\": [" CONSOLE "], "
	    BASE_PRIVACY "}", err, sizeof(err));
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_non_null(c);
	assert_memory_equal(c->pseudonym_key, "from-credentials-directory-key",
	    c->pseudonym_key_len);
	assert_true(c->has_data_key);
	assert_int_equal(c->data_key[31], 0x1f);
	config_free(c);
}

/* The data key: read as 32 bytes; the key store beside the database
 * unless named; the CLI, loading without secrets, reads it later. */
static void
data_key_and_key_store_load(void **state)
{
	struct config_overrides ov = { .database = "/tmp/other.db",
	    .skip_secrets = true };
	unsigned char key[32];
	char err[4096];
	struct config *c;

	(void)state;
	c = load("{\"listen\": \"127.0.0.1:1\", \"database\": \"x.db\", "
	    "\"menu\": \"%MENU%\", \"channels\": [" CONSOLE "], "
	    BASE_PRIVACY "}", err, sizeof(err));
	assert_non_null(c);
	assert_true(c->has_data_key);
	for (int i = 0; i < 32; i++)
		assert_int_equal(c->data_key[i], i);
	assert_string_equal(c->key_store, "x.db.keys");
	config_free(c);

	c = config_load(write_config("{\"listen\": \"127.0.0.1:1\", "
	    "\"database\": \"x.db\", \"menu\": \"%MENU%\", \"channels\": ["
	    CONSOLE "], " BASE_PRIVACY "}"), &ov, err, sizeof(err));
	assert_non_null(c);
	assert_false(c->has_data_key);
	assert_string_equal(c->key_store, "/tmp/other.db.keys");
	assert_int_equal(config_data_key(c, key, err, sizeof(err)), 0);
	assert_int_equal(key[31], 0x1f);
	config_free(c);

	c = load("{\"listen\": \"127.0.0.1:1\", \"database\": \"x.db\", "
	    "\"menu\": \"%MENU%\", \"development\": true, \"channels\": ["
	    CONSOLE "], \"privacy\": {\"pseudonym_key\": {\"file\": "
	    "\"pseudonym.key\"}, \"data_key\": {\"file\": \"data.key\"}, "
	    "\"key_store\": \"/elsewhere/keys.db\"}}", err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(c->key_store, "/elsewhere/keys.db");
	config_free(c);
}

static void
command_line_overrides_the_file(void **state)
{
	struct config_overrides ov = { "[::1]:9099", "/tmp/other.db" };
	char err[4096];
	struct config *c;

	(void)state;
	c = config_load(write_config("{\"listen\": \"127.0.0.1:1\", "
	    "\"database\": \"x\", \"menu\": \"%MENU%\", \"channels\": ["
	    CONSOLE "], " BASE_PRIVACY "}"), &ov, err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(c->listen_host, "::1");
	assert_int_equal(c->listen_port, 9099);
	assert_string_equal(c->database, "/tmp/other.db");
	config_free(c);

	ov.listen = "nonsense";
	assert_null(config_load(write_config("{\"listen\": \"127.0.0.1:1\", "
	    "\"database\": \"x\", \"menu\": \"%MENU%\", \"channels\": ["
	    CONSOLE "], " BASE_PRIVACY "}"), &ov, err, sizeof(err)));
	assert_non_null(strstr(err, "--listen:"));
}

static void
provider_keys_are_resolved(void **state)
{
	char err[4096];
	struct config *c;
	const struct config_channel *ch;
	size_t n;

	(void)state;
	setenv("HOTLINE_TEST_TOKEN", "s3cret-token-0123456", 1);
	c = load("{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", "
	    "\"menu\": \"%MENU%\", \"channels\": [{\"name\": \"at\", "
	    "\"provider\": \"africastalking\", \"username\": \"hl\", "
	    "\"api_key\": {\"env\": \"HOTLINE_TEST_TOKEN\"}, "
	    "\"callback_token\": {\"env\": \"HOTLINE_TEST_TOKEN\"}, "
	    "\"allow_ips\": [\"10.0.0.0/8\", \"127.0.0.1\"], "
	    "\"fold_vietnamese\": false, \"default_country\": \"254\"}], "
	    "\"http\": {\"max_connections\": 100, "
	    "\"max_connections_per_peer\": 5, \"request_deadline_seconds\": 7, "
	    "\"trusted_proxies\": [\"127.0.0.1\", \"fd00::/8\"]}, "
	    PRIVACY_ONLY "}", err, sizeof(err));
	assert_non_null(c);
	ch = config_channel_find(c, "at");
	assert_non_null(ch);
	assert_null(config_channel_find(c, "nope"));
	assert_string_equal(config_channel_value(ch, "callback_token"),
	    "s3cret-token-0123456");
	assert_string_equal(config_channel_value(ch, "username"), "hl");
	assert_non_null(config_channel_list(ch, "allow_ips", &n));
	assert_int_equal(n, 2);
	assert_false(ch->fold_vietnamese);
	assert_string_equal(ch->default_country, "254");
	assert_false(c->development);
	assert_int_equal(c->http_max_connections, 100);
	assert_int_equal(c->http_max_connections_per_peer, 5);
	assert_int_equal(c->http_request_deadline, 7);
	assert_int_equal(c->http_ntrusted_proxies, 2);
	assert_string_equal(c->http_trusted_proxies[1], "fd00::/8");
	config_free(c);
}

/* A channel that sets no rate sends at its provider's documented
 * throughput (console: no limit); one that sets it keeps it. */
static void
channel_rate_defaults_to_the_providers(void **state)
{
	char err[4096];
	struct config *c;

	(void)state;
	setenv("HOTLINE_TEST_TOKEN", "s3cret-token", 1);
	c = load("{\"listen\": \"127.0.0.1:1\", \"database\": \"x\", "
	    "\"menu\": \"%MENU%\", \"channels\": [" CONSOLE ", {\"name\": "
	    "\"tw\", \"provider\": \"twilio\", \"account_sid\": \"AC1\", "
	    "\"auth_token\": {\"env\": \"HOTLINE_TEST_TOKEN\"}, "
	    "\"public_url\": \"https://gw.example.org\"}, {\"name\": \"tw1\", "
	    "\"provider\": \"twilio\", \"account_sid\": \"AC1\", "
	    "\"auth_token\": {\"env\": \"HOTLINE_TEST_TOKEN\"}, "
	    "\"public_url\": \"https://gw.example.org\", "
	    "\"rate_limit_per_second\": 1}], " BASE_PRIVACY "}", err,
	    sizeof(err));
	if (c == NULL)
		print_error("%s\n", err);
	assert_non_null(c);
	assert_true(config_channel_find(c, "tw")->rate_limit_per_second ==
	    100.0);
	assert_true(config_channel_find(c, "tw1")->rate_limit_per_second ==
	    1.0);
	assert_true(c->channels[0].rate_limit_per_second == 0.0);
	config_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_config_loads_with_defaults),
		cmocka_unit_test(data_key_and_key_store_load),
		cmocka_unit_test(channel_rate_defaults_to_the_providers),
		cmocka_unit_test(each_mistake_names_its_path),
		cmocka_unit_test(every_problem_is_reported_at_once),
		cmocka_unit_test(secret_files_resolve_against_credentials_directory),
		cmocka_unit_test(command_line_overrides_the_file),
		cmocka_unit_test(provider_keys_are_resolved),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
