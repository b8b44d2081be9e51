/*
 * app: what the daemon's handlers share.  A plain struct with no
 * functions: hotlined.c owns every member and its lifetime.
 */
#ifndef HOTLINE_APP_H
#define HOTLINE_APP_H

struct auth_limiter;
struct config;
struct event_base;
struct http_client;
struct http_server;
struct inbox;
struct outbox;
struct store;
struct writer;

struct app {
	struct event_base *base;
	struct config *config;    /* replaced whole on a good SIGHUP */
	struct store *store;      /* the loop's connection: reads only */
	struct writer *writer;    /* every write, off the loop */
	struct http_server *http;
	struct inbox *inbox;      /* group commit of inbound messages */
	struct http_client *http_client;
	struct outbox *outbox;    /* sends the outbound rows */
	struct auth_limiter *auth_limiter;  /* failed API logins */
};

#endif
