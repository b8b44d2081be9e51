#include "http_client.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include <curl/curl.h>

#include "log.h"

/* A Retry-After beyond a year is nonsense; capping it keeps a caller that
 * adds it to a clock from overflowing. */
#define RETRY_AFTER_MAX (366L * 24 * 60 * 60)
#define BODY_INITIAL 1024

struct http_client_xfer;
TAILQ_HEAD(xferlist, http_client_xfer);

/*
 * A request lives on exactly one list: active while its easy handle is in
 * the multi, done once curl has finished it (handle removed) until its
 * callback has run.
 */
struct http_client_xfer {
	TAILQ_ENTRY(http_client_xfer) entry;
	struct http_client *client;
	CURL *easy;
	struct curl_slist *headers;
	http_client_cb cb;
	void *arg;
	CURLcode result;
	char *body;
	size_t body_len;
	size_t body_cap;
	bool body_oom;
	long retry_after;
	char errbuf[CURL_ERROR_SIZE];
};

/* A socket curl asked us to watch; tied to it with curl_multi_assign. */
struct http_client_sock {
	TAILQ_ENTRY(http_client_sock) entry;
	struct http_client *client;
	struct event *ev;
};

struct http_client {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct xferlist active;
	struct xferlist done;
	TAILQ_HEAD(, http_client_sock) socks;
	size_t in_flight;
	bool closing;
	/* Set while callbacks run from the loop; http_client_free raises the
	 * flag it points at so the loop stops touching the freed client. */
	bool *freed;
};

static void	client_drain(struct http_client *);

int
http_client_global_init(char *err, size_t errlen)
{
	const curl_version_info_data *info;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "libcurl failed to initialise");
		return -1;
	}
	info = curl_version_info(CURLVERSION_NOW);
	if (info == NULL || !(info->features & CURL_VERSION_ASYNCHDNS)) {
		snprintf(err, errlen, "libcurl %s lacks asynchronous DNS; a "
		    "lookup would stall the event loop",
		    info ? info->version : "?");
		curl_global_cleanup();
		return -1;
	}
	return 0;
}

void
http_client_global_cleanup(void)
{
	curl_global_cleanup();
}

static void
sock_free(struct http_client_sock *s)
{
	TAILQ_REMOVE(&s->client->socks, s, entry);
	/* curl owns the fd and closes it after telling us to let go. */
	event_free(s->ev);
	free(s);
}

static void
sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_client_sock *s = arg;
	/* Not s->client after the action: curl may have freed s by then. */
	struct http_client *client = s->client;
	CURLMcode mc;
	int action = 0, running;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	mc = curl_multi_socket_action(client->multi, fd, action, &running);
	if (mc != CURLM_OK)
		log_event(LOG_ERROR, "http_client.multi", "error",
		    curl_multi_strerror(mc), NULL);
	client_drain(client);
}

static void
timer_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_client *client = arg;
	CURLMcode mc;
	int running;

	(void)fd;
	(void)what;
	mc = curl_multi_socket_action(client->multi, CURL_SOCKET_TIMEOUT, 0,
	    &running);
	if (mc != CURLM_OK)
		log_event(LOG_ERROR, "http_client.multi", "error",
		    curl_multi_strerror(mc), NULL);
	client_drain(client);
}

/*
 * CURLMOPT_SOCKETFUNCTION.  Runs inside curl, so it only adjusts libevent
 * state (curl_multi_assign is documented as safe here).
 */
static int
curl_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *socketp)
{
	struct http_client *client = userp;
	struct http_client_sock *s = socketp;
	short kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL)
			sock_free(s);
		return 0;
	}
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return -1;
		s->client = client;
		s->ev = event_new(client->base, fd, 0, sock_event_cb, s);
		if (s->ev == NULL) {
			free(s);
			return -1;
		}
		TAILQ_INSERT_TAIL(&client->socks, s, entry);
		if (curl_multi_assign(client->multi, fd, s) != CURLM_OK) {
			sock_free(s);
			return -1;
		}
	}
	kind = EV_PERSIST;
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		kind |= EV_READ;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		kind |= EV_WRITE;
	if (event_del(s->ev) == -1 ||
	    event_assign(s->ev, client->base, fd, kind, sock_event_cb,
	    s) == -1 ||
	    event_add(s->ev, NULL) == -1)
		return -1;
	return 0;
}

/*
 * CURLMOPT_TIMERFUNCTION: one timer for the whole multi.  Even a zero
 * timeout goes through the loop, since curl may not be re-entered from
 * here.
 */
static int
curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client *client = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0)
		return event_del(client->timer) == -1 ? -1 : 0;
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(client->timer, &tv) == -1 ? -1 : 0;
}

/* CURLOPT_WRITEFUNCTION: keep the first HTTP_CLIENT_BODY_MAX bytes, read
 * and drop the rest so the connection stays usable. */
static size_t
write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_client_xfer *r = userp;
	size_t n = size * nmemb, take, cap;
	char *p;

	take = HTTP_CLIENT_BODY_MAX - r->body_len;
	if (take > n)
		take = n;
	if (take == 0)
		return n;
	if (r->body_len + take + 1 > r->body_cap) {
		cap = r->body_cap ? r->body_cap : BODY_INITIAL;
		while (cap < r->body_len + take + 1)
			cap *= 2;
		if (cap > HTTP_CLIENT_BODY_MAX + 1)
			cap = HTTP_CLIENT_BODY_MAX + 1;
		if ((p = realloc(r->body, cap)) == NULL) {
			r->body_oom = true;
			return 0;
		}
		r->body = p;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, take);
	r->body_len += take;
	r->body[r->body_len] = '\0';
	return n;
}

/* Retry-After: delta-seconds or an HTTP-date; -1 when unparseable. */
static long
retry_after_parse(const char *v, size_t len)
{
	char date[64];
	time_t when, now;
	long secs = 0;
	size_t i;

	if (len == 0)
		return -1;
	for (i = 0; i < len && v[i] >= '0' && v[i] <= '9'; i++) {
		if (secs < RETRY_AFTER_MAX)
			secs = secs * 10 + (v[i] - '0');
	}
	if (i == len)
		return secs > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : secs;
	if (len >= sizeof(date))
		return -1;
	memcpy(date, v, len);
	date[len] = '\0';
	if ((when = curl_getdate(date, NULL)) == -1)
		return -1;
	now = time(NULL);
	if (when <= now)
		return 0;
	if (when - now > RETRY_AFTER_MAX)
		return RETRY_AFTER_MAX;
	return (long)(when - now);
}

/* CURLOPT_HEADERFUNCTION: called once per header line, CRLF included. */
static size_t
header_cb(char *data, size_t size, size_t nitems, void *userp)
{
	static const char name[] = "retry-after:";
	struct http_client_xfer *r = userp;
	size_t n = size * nitems, len = n;
	const char *v;

	/* A new status line starts a new response (e.g. after a 1xx). */
	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		r->retry_after = -1;
		return n;
	}
	if (n < sizeof(name) - 1 ||
	    strncasecmp(data, name, sizeof(name) - 1) != 0)
		return n;
	v = data + sizeof(name) - 1;
	len -= sizeof(name) - 1;
	while (len > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' ||
	    v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	r->retry_after = retry_after_parse(v, len);
	return n;
}

static void
request_free(struct http_client_xfer *r)
{
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->body);
	free(r);
}

static enum http_client_result
classify(CURL *easy, CURLcode cc)
{
	curl_off_t pretransfer = 0;

	switch (cc) {
	case CURLE_OK:
		return HTTP_CLIENT_RESPONSE;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return HTTP_CLIENT_NOT_SENT;
	default:
		break;
	}
	/* curl stamps pretransfer (at least 1 us) just before it writes the
	 * request; unset means not one byte of it left. */
	if (curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T,
	    &pretransfer) != CURLE_OK)
		return HTTP_CLIENT_AMBIGUOUS;
	return pretransfer == 0 ? HTTP_CLIENT_NOT_SENT : HTTP_CLIENT_AMBIGUOUS;
}

/*
 * curl's error buffer may name the host, which is fine, but the query
 * string can carry credentials or phone numbers: if it shows up, fall back
 * to the generic words.
 */
static const char *
error_text(struct http_client_xfer *r)
{
	const char *url = NULL, *q;

	if (r->body_oom)
		return "out of memory reading the response";
	if (r->errbuf[0] == '\0')
		return curl_easy_strerror(r->result);
	if (curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &url) !=
	    CURLE_OK || url == NULL)
		return curl_easy_strerror(r->result);
	if ((q = strchr(url, '?')) != NULL && q[1] != '\0' &&
	    strstr(r->errbuf, q + 1) != NULL)
		return curl_easy_strerror(r->result);
	return r->errbuf;
}

/* Run the callback once and free r, which is on no list by now. */
static void
request_finish(struct http_client_xfer *r, bool cancelled)
{
	struct http_client_response resp = {
		.status = 0,
		.body = "",
		.body_len = 0,
		.retry_after = -1,
		.error = "",
	};
	long status = 0;

	if (cancelled) {
		resp.result = HTTP_CLIENT_CANCELLED;
		resp.error = "cancelled: the HTTP client was shut down";
	} else if ((resp.result = classify(r->easy, r->result)) ==
	    HTTP_CLIENT_RESPONSE) {
		if (curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE,
		    &status) != CURLE_OK)
			status = 0;
		resp.status = status;
		if (r->body != NULL) {
			resp.body = r->body;
			resp.body_len = r->body_len;
		}
		resp.retry_after = r->retry_after;
	} else
		resp.error = error_text(r);
	r->client->in_flight--;
	r->cb(&resp, r->arg);
	request_free(r);
}

/*
 * After each curl_multi_socket_action: take every finished transfer out of
 * the multi first, then run the callbacks, so a callback that starts
 * another request (curl_multi_add_handle) never interleaves with
 * curl_multi_info_read.  A callback may even free the client: the
 * requests still waiting here are then cancelled by http_client_free, and
 * this loop stops at once.
 */
static void
client_drain(struct http_client *client)
{
	struct http_client_xfer *r;
	CURLMsg *msg;
	CURLMcode mc;
	char *priv;
	bool freed = false;
	int left;

	while ((msg = curl_multi_info_read(client->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    &priv) != CURLE_OK || priv == NULL)
			continue;
		r = (void *)priv;
		r->result = msg->data.result;
		/* msg dies with the removal below. */
		mc = curl_multi_remove_handle(client->multi, r->easy);
		if (mc != CURLM_OK)
			log_event(LOG_ERROR, "http_client.multi", "error",
			    curl_multi_strerror(mc), NULL);
		TAILQ_REMOVE(&client->active, r, entry);
		TAILQ_INSERT_TAIL(&client->done, r, entry);
	}
	client->freed = &freed;
	while ((r = TAILQ_FIRST(&client->done)) != NULL) {
		TAILQ_REMOVE(&client->done, r, entry);
		request_finish(r, false);
		if (freed)
			return;
	}
	client->freed = NULL;
}

struct http_client *
http_client_new(struct event_base *base, char *err, size_t errlen)
{
	struct http_client *client;

	if ((client = calloc(1, sizeof(*client))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	client->base = base;
	TAILQ_INIT(&client->active);
	TAILQ_INIT(&client->done);
	TAILQ_INIT(&client->socks);
	if ((client->timer = evtimer_new(base, timer_event_cb,
	    client)) == NULL) {
		snprintf(err, errlen, "cannot create the HTTP client timer");
		goto fail;
	}
	if ((client->multi = curl_multi_init()) == NULL) {
		snprintf(err, errlen, "curl_multi_init failed");
		goto fail;
	}
	if (curl_multi_setopt(client->multi, CURLMOPT_SOCKETFUNCTION,
	    curl_socket_cb) != CURLM_OK ||
	    curl_multi_setopt(client->multi, CURLMOPT_SOCKETDATA,
	    client) != CURLM_OK ||
	    curl_multi_setopt(client->multi, CURLMOPT_TIMERFUNCTION,
	    curl_timer_cb) != CURLM_OK ||
	    curl_multi_setopt(client->multi, CURLMOPT_TIMERDATA,
	    client) != CURLM_OK ||
	    /* No queue inside curl: a request handed over leaves at once.
	     * A transfer waiting here for a free connection would look sent
	     * to the outbox, which claimed its row, and a crash would write
	     * it off as unknown.  Callers cap their own concurrency (the
	     * outbox: outbox.max_in_flight per channel). */
	    curl_multi_setopt(client->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	    0L) != CURLM_OK ||
	    curl_multi_setopt(client->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
	    0L) != CURLM_OK) {
		snprintf(err, errlen, "libcurl refused a multi option");
		goto fail;
	}
	return client;
fail:
	if (client->multi != NULL)
		curl_multi_cleanup(client->multi);
	if (client->timer != NULL)
		event_free(client->timer);
	free(client);
	return NULL;
}

void
http_client_free(struct http_client *client)
{
	struct http_client_xfer *r;
	struct http_client_sock *s;
	CURLMcode mc;

	/* Also safe from a completion callback (see client_drain); a
	 * cancelled callback calling us again must not free twice. */
	if (client == NULL || client->closing)
		return;
	client->closing = true;

	while ((r = TAILQ_FIRST(&client->done)) != NULL) {
		TAILQ_REMOVE(&client->done, r, entry);
		request_finish(r, true);
	}
	while ((r = TAILQ_FIRST(&client->active)) != NULL) {
		TAILQ_REMOVE(&client->active, r, entry);
		mc = curl_multi_remove_handle(client->multi, r->easy);
		if (mc != CURLM_OK)
			log_event(LOG_ERROR, "http_client.multi", "error",
			    curl_multi_strerror(mc), NULL);
		request_finish(r, true);
	}

	/* Cached connections still hold sockets; stop watching them before
	 * curl closes them, and free what curl does not hand back. */
	TAILQ_FOREACH(s, &client->socks, entry)
		event_del(s->ev);
	curl_multi_cleanup(client->multi);
	while ((s = TAILQ_FIRST(&client->socks)) != NULL)
		sock_free(s);
	event_free(client->timer);
	if (client->freed != NULL)
		*client->freed = true;
	free(client);
}

/* Only a token of upper-case letters, so no request line can be forged. */
static bool
method_valid(const char *m)
{
	if (*m == '\0')
		return false;
	for (; *m != '\0'; m++)
		if (*m < 'A' || *m > 'Z')
			return false;
	return true;
}

static int
request_headers(struct http_client_xfer *r,
    const struct http_client_request *req, char *err, size_t errlen)
{
	struct curl_slist *l;
	size_t i;

	for (i = 0; i < req->nheaders; i++) {
		if (req->headers[i] == NULL ||
		    strpbrk(req->headers[i], "\r\n") != NULL) {
			snprintf(err, errlen, "header %zu is missing or holds "
			    "a line break", i);
			return -1;
		}
		if ((l = curl_slist_append(r->headers,
		    req->headers[i])) == NULL)
			goto oom;
		r->headers = l;
	}
	/* Waiting for 100 Continue only adds a round trip on small bodies. */
	if ((l = curl_slist_append(r->headers, "Expect:")) == NULL)
		goto oom;
	r->headers = l;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static CURLcode
request_method(CURL *e, const char *method,
    const struct http_client_request *req)
{
	const char *body = req->body != NULL ? req->body : "";
	CURLcode cc;

	if (strcmp(method, "GET") == 0)
		return curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	if (strcmp(method, "HEAD") == 0)
		return curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	/* Size first: COPYPOSTFIELDS copies that many bytes. */
	if ((cc = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)req->body_len)) != CURLE_OK ||
	    (cc = curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS,
	    body)) != CURLE_OK)
		return cc;
	if (strcmp(method, "POST") == 0)
		return CURLE_OK;
	return curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
}

int
http_client_send(struct http_client *client,
    const struct http_client_request *req, http_client_cb cb, void *arg,
    char *err, size_t errlen)
{
	struct http_client_xfer *r = NULL;
	const char *method = req->method != NULL ? req->method : "GET";
	CURLMcode mc;
	CURLcode cc;
	CURL *e;

	if (client->closing) {
		snprintf(err, errlen, "the HTTP client is shutting down");
		return -1;
	}
	if (req->url == NULL || cb == NULL) {
		snprintf(err, errlen, "a request needs a URL and a callback");
		return -1;
	}
	if (!method_valid(method)) {
		snprintf(err, errlen, "HTTP method must be upper-case letters");
		return -1;
	}
	if ((strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) &&
	    req->body_len > 0) {
		snprintf(err, errlen, "a %s request cannot carry a body",
		    method);
		return -1;
	}
	if (req->body == NULL && req->body_len > 0) {
		snprintf(err, errlen, "body_len without a body");
		return -1;
	}
	if (req->connect_timeout_ms < 0 || req->timeout_ms < 0) {
		snprintf(err, errlen, "timeouts cannot be negative");
		return -1;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->client = client;
	r->cb = cb;
	r->arg = arg;
	r->retry_after = -1;
	if (request_headers(r, req, err, errlen) == -1)
		goto fail;
	if ((r->easy = e = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "curl_easy_init failed");
		goto fail;
	}
	if ((cc = curl_easy_setopt(e, CURLOPT_PRIVATE, r)) != CURLE_OK ||
	    (cc = curl_easy_setopt(e, CURLOPT_ERRORBUFFER,
	    r->errbuf)) != CURLE_OK ||
	    (cc = curl_easy_setopt(e, CURLOPT_URL, req->url)) != CURLE_OK ||
	    (cc = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR,
	    "http,https")) != CURLE_OK ||
	    (cc = curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION,
	    0L)) != CURLE_OK ||
	    (cc = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L)) != CURLE_OK ||
	    (cc = curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    req->connect_timeout_ms)) != CURLE_OK ||
	    (cc = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
	    req->timeout_ms)) != CURLE_OK ||
	    (cc = curl_easy_setopt(e, CURLOPT_HTTPHEADER,
	    r->headers)) != CURLE_OK ||
	    (cc = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION,
	    write_cb)) != CURLE_OK ||
	    (cc = curl_easy_setopt(e, CURLOPT_WRITEDATA, r)) != CURLE_OK ||
	    (cc = curl_easy_setopt(e, CURLOPT_HEADERFUNCTION,
	    header_cb)) != CURLE_OK ||
	    (cc = curl_easy_setopt(e, CURLOPT_HEADERDATA, r)) != CURLE_OK ||
	    (cc = request_method(e, method, req)) != CURLE_OK) {
		snprintf(err, errlen, "libcurl refused the request: %s",
		    curl_easy_strerror(cc));
		goto fail;
	}
	if (req->userpwd != NULL &&
	    ((cc = curl_easy_setopt(e, CURLOPT_USERPWD,
	    req->userpwd)) != CURLE_OK ||
	    (cc = curl_easy_setopt(e, CURLOPT_HTTPAUTH,
	    (long)CURLAUTH_BASIC)) != CURLE_OK)) {
		snprintf(err, errlen, "libcurl refused the credentials: %s",
		    curl_easy_strerror(cc));
		goto fail;
	}
	/* libcurl resends a request, unasked, when a reused connection dies
	 * before an answer; a fresh connection it does not retry. */
	if (req->fresh_connection &&
	    ((cc = curl_easy_setopt(e, CURLOPT_FRESH_CONNECT,
	    1L)) != CURLE_OK ||
	    (cc = curl_easy_setopt(e, CURLOPT_FORBID_REUSE,
	    1L)) != CURLE_OK)) {
		snprintf(err, errlen, "libcurl refused a fresh connection: %s",
		    curl_easy_strerror(cc));
		goto fail;
	}
	/* Arms the timer at 0: the transfer starts from the loop, so cb can
	 * never run inside this call. */
	if ((mc = curl_multi_add_handle(client->multi, e)) != CURLM_OK) {
		snprintf(err, errlen, "curl_multi_add_handle: %s",
		    curl_multi_strerror(mc));
		goto fail;
	}
	TAILQ_INSERT_TAIL(&client->active, r, entry);
	client->in_flight++;
	return 0;
fail:
	request_free(r);
	return -1;
}

size_t
http_client_in_flight(const struct http_client *client)
{
	return client->in_flight;
}
