/*
 * config: hotlined.json, loaded with Jansson and validated strictly.
 *
 * Every problem is reported with the JSON path that holds it
 * (`channels[1].provider: unknown provider "twillio"`); an unknown key, a
 * wrong type or a missing value refuses the whole file.  Secrets are never
 * in the file: a secret value is {"env": "NAME"} or {"file": "path"}, a
 * relative path resolved against $CREDENTIALS_DIRECTORY when set (systemd
 * LoadCredential=), else against the config file's directory.
 */
#ifndef HOTLINE_CONFIG_H
#define HOTLINE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"

struct menu;
struct provider;

/* A provider-specific channel key with its value resolved. */
struct config_value {
	const char *name;   /* borrowed from the provider's key table */
	char *value;        /* strings and secrets; NULL for lists */
	char **list;        /* string lists */
	size_t count;
};

struct config_channel {
	char *name;
	const struct provider *provider;
	char *language;           /* NULL: the menu's default */
	bool fold_vietnamese;     /* off by default; on: GSM-7 texts, pages */
	char *default_country;    /* calling code for national numbers */
	char *send_url;           /* NULL: the provider's own */
	double rate_limit_per_second;
	struct config_value *values;
	size_t nvalues;
};

/* A time of day when a caller may be texted, in the hotline's zone:
 * [start, end) minutes after midnight; end < start wraps midnight. */
struct config_window {
	char *name;               /* a preferred_time answer, or "default" */
	unsigned start_min;
	unsigned end_min;
};

#define CONFIG_TEMPLATE_LANGUAGES 8

/* A text template, written in one or more languages. */
struct config_template {
	const char *name;         /* static: the known template names */
	char *language[CONFIG_TEMPLATE_LANGUAGES];
	char *text[CONFIG_TEMPLATE_LANGUAGES];
	size_t count;
};

struct config {
	char *listen_host;
	unsigned short listen_port;
	char *database;
	char *menu_path;          /* resolved against the config's directory */
	struct menu *menu;
	char *timezone;
	enum log_level log_level;
	struct config_channel *channels;
	size_t nchannels;
	unsigned lease_seconds;
	unsigned max_attempts;
	/* Distinct callers' numbers one token may see (or text) in a
	 * rolling hour: a stolen token is worth little. */
	unsigned max_reveals_per_hour;             /* counsellors */
	unsigned supervisor_max_reveals_per_hour;  /* supervisors, admins */
	unsigned sms_idle_seconds;        /* sms.session_idle_seconds */
	unsigned sms_reply_interval;      /* sms.auto_reply_interval_seconds */
	/* A USSD caller whose session dropped without END and who dials
	 * again within this many seconds is offered to continue; 0: off. */
	unsigned ussd_resume_seconds;     /* ussd.resume_seconds */
	unsigned retention_days;
	/* The audit trail is kept this long (>= retention_days). */
	unsigned audit_retention_days;
	/* The daemon's retention purge runs this often (seconds). */
	unsigned purge_interval;
	unsigned char *pseudonym_key;
	size_t pseudonym_key_len;
	/* privacy.data_key: the master key of encryption at rest (32 bytes;
	 * its credential holds 64 hex digits or base64).  has_data_key is
	 * false when secrets were skipped (the CLI reads it itself, with
	 * config_data_key, only for the commands that need it). */
	unsigned char data_key[32];
	bool has_data_key;
	char *data_key_file;      /* where it is read from: a resolved path, */
	char *data_key_env;       /* or an environment variable (one NULL) */
	char *key_store;          /* privacy.key_store; default database +
	                             ".keys" */
	char **alert_sms;         /* E.164 numbers told of urgent requests */
	size_t nalert_sms;
	char *alert_channel;      /* sends alerts.sms; NULL: the first that
	                             sends over the network, else console */
	char *alert_url;          /* POSTed a signed JSON alert, or NULL */
	char *alert_secret;       /* signs it (required with url) */
	char *alert_link;         /* console base URL for "{link}", or NULL */
	/* An urgent task still unclaimed this long after its alert is
	 * announced again to alert_sms and alert_supervisors, and again
	 * every as long until claimed; 0: never. */
	unsigned alert_escalate_after;    /* seconds */
	char **alert_supervisors; /* E.164 numbers told of escalations */
	size_t nalert_supervisors;
	/* outbox */
	unsigned outbox_max_attempts;
	unsigned outbox_max_delay;        /* seconds between retries, cap */
	unsigned outbox_max_in_flight;    /* per channel */
	unsigned outbox_connect_timeout;  /* seconds */
	unsigned outbox_timeout;          /* seconds, whole request */
	unsigned outbox_conversation;     /* seconds after a caller's last
	                                     message when replies go at once */
	struct config_window *windows;    /* "default" always present */
	size_t nwindows;
	struct config_template *templates;
	size_t ntemplates;
	/* "development": true allows the console channel, which takes
	 * unauthenticated requests from loopback. */
	bool development;
	/* http */
	unsigned http_max_connections;
	unsigned http_max_connections_per_peer;
	unsigned http_request_deadline;   /* seconds for a whole request */
	char **http_trusted_proxies;      /* addresses / CIDRs */
	size_t http_ntrusted_proxies;
	/* metrics: GET /metrics from loopback without a token (else a
	 * token of role metrics or higher); default true. */
	bool metrics_allow_loopback;
	/* health: when /readyz says 503, and how often it is logged */
	unsigned health_min_free_mb;      /* under the database; 0: off */
	unsigned health_outbox_stall;     /* seconds; 0: off */
	unsigned health_interval;         /* seconds between checks */
};

/* Command-line values that win over the file (NULL: keep the file's). */
struct config_overrides {
	const char *listen;       /* "HOST:PORT" */
	const char *database;
	/* Check each secret's form but read none (NULL values): operator
	 * tools run as the service user, who cannot read the credentials
	 * only systemd hands the daemon. */
	bool skip_secrets;
	/* With skip_secrets: read privacy.pseudonym_key all the same
	 * (hotlinectl erase --number turns a number into its pseudonym). */
	bool pseudonym_key;
};

/*
 * Load, resolve secrets, load and validate the menu.  On failure returns
 * NULL and writes every problem, one per line, into err.  The caller owns
 * the result (config_free).
 */
struct config *config_load(const char *path,
    const struct config_overrides *overrides, char *err, size_t errlen);
void config_free(struct config *config);

/* The channel named `name`, borrowed; NULL when there is none. */
const struct config_channel *config_channel_find(const struct config *config,
    const char *name);

/* The contact window for a preferred_time answer (NULL or unknown:
 * "default"), borrowed. */
const struct config_window *config_window_for(const struct config *config,
    const char *preferred_time);

/* Template `name` in `language` (NULL or unknown: the menu's default),
 * borrowed; NULL when there is no such template. */
const char *config_template(const struct config *config, const char *name,
    const char *language);

/* A provider key's value, borrowed; NULL when unset. */
const char *config_channel_value(const struct config_channel *channel,
    const char *key);
/* A provider list key; *count set, NULL when unset. */
char *const *config_channel_list(const struct config_channel *channel,
    const char *key, size_t *count);

/* Read privacy.data_key from its credential now (the CLI, which loads
 * the config without secrets).  0, or -1 with what to fix in err. */
int config_data_key(const struct config *config, unsigned char key[32],
    char *err, size_t errlen);

/* Split "HOST:PORT" / "[V6]:PORT".  Returns 0 or -1 with a reason. */
int config_parse_listen(const char *s, char *host, size_t hostlen,
    unsigned short *port, char *err, size_t errlen);

#endif
