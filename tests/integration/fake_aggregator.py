"""A fake SMS aggregator: one real HTTP/1.1 server on 127.0.0.1 that
speaks the send APIs of every provider the daemon calls (Africa's
Talking, Twilio, Vonage, eSMS.vn, V-COM and the generic signed json
provider), as documented in reference/aggregators.md and DESIGN.md.

    fa = FakeAggregator(secrets={"at_api_key": "k", "at_username": "u"})
    fa.start()
    channel["send_url"] = fa.send_url("africastalking")   # == fa.url
    fa.script("africastalking", "5xx", ("429", 2), "ok")
    ...
    fa.wait_for(3, "africastalking")
    fa.deliveries("africastalking")
    fa.stop()

Every request is recorded (raw bytes and decoded fields) together with
what it was answered.  Scripted answers are consumed in order, one per
request that reaches a provider's send route; with the queue empty the
provider answers "ok".  Transport-level answers ("5xx", "429", "hang",
"close", "garbled") are given without looking at the request; "ok" and
"4xx" first check credentials (a bad one is answered as the provider
answers it, recorded as "auth"), then the required fields, then "4xx"
rejects and "ok" accepts (or, for eSMS, V-COM and json, recognises a
repeated idempotency key and answers it as that provider does).

"echo" is a refusal whose error words quote the text and the number
that were sent, in each provider's own error shape (with its HTTP 4xx
status where the provider uses one, else its 200 with an error code):
some real providers do that, and the daemon must keep none of it.

A secret missing from `secrets` is not checked.

Beware libcurl's own retry: when a *reused* keep-alive connection is
closed without a single byte of answer, libcurl silently resends the
request once on a fresh connection.  So a scripted "close" on a reused
connection is invisible to the daemon (the fake records "close" then the
next answer, usually "ok": the send arrives twice).  Script
("close", "close") for the daemon to see the failure.
"""

import base64
import hashlib
import hmac
import json
import re
import socket
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROVIDERS = ("africastalking", "twilio", "vonage", "esms", "vcom", "json")
ALIASES = {"at": "africastalking", "nexmo": "vonage", "vihat": "esms",
           "v-com": "vcom"}
ANSWERS = ("ok", "4xx", "5xx", "429", "hang", "close", "garbled", "echo")

AT_PATH = "/version1/messaging"
TWILIO_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")
VONAGE_PATH = "/sms/json"
ESMS_PATH = "/MainService.svc/json/SendMultipleMessage_V4_post_json/"
VCOM_PATH = "/api/v2/send-mt"
JSON_PATH = "/json/send"

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
JSON_MAX_SKEW = 300


def _canon(provider):
    if provider is None:
        return None
    p = ALIASES.get(provider.lower(), provider.lower())
    if p not in PROVIDERS:
        raise ValueError("unknown provider %r (one of %s)" %
                         (provider, ", ".join(PROVIDERS)))
    return p


def _answer_kind(answer):
    """Validate a scripted answer; return it normalised."""
    if isinstance(answer, (tuple, list)):
        if len(answer) != 2 or str(answer[0]) != "429":
            raise ValueError("a tuple answer is (\"429\", seconds|None), "
                             "not %r" % (answer,))
        return ("429", answer[1])
    if answer in ("429", 429):
        return ("429", None)
    if answer not in ANSWERS:
        raise ValueError("unknown answer %r (one of %s, or (\"429\", n))" %
                         (answer, ", ".join(ANSWERS)))
    return answer


def _media_type(value):
    return (value or "").split(";", 1)[0].strip().lower()


class Headers(dict):
    """A dict of request headers (names as sent) whose lookups ignore
    case.  A header sent twice holds its values joined by ", "."""

    def __init__(self, pairs=()):
        super().__init__()
        self._lower = {}
        for name, value in pairs:
            key = self._lower.get(name.lower())
            if key is None:
                self._lower[name.lower()] = name
                super().__setitem__(name, value)
            else:
                super().__setitem__(key, dict.__getitem__(self, key) +
                                    ", " + value)

    def _key(self, name):
        if isinstance(name, str):
            return self._lower.get(name.lower(), name)
        return name

    def __getitem__(self, name):
        return super().__getitem__(self._key(name))

    def __contains__(self, name):
        return super().__contains__(self._key(name))

    def get(self, name, default=None):
        return super().get(self._key(name), default)


class Request:
    """One request the fake received.

    provider   canonical provider name, None for an unknown path
    method, path (without the query string), query (dict, first values),
    target (the raw request-target), headers (Headers), raw_body (bytes),
    fields     form fields (first values) or the JSON object ({} if none)
    time       time.monotonic() when the request was fully read
    answer     "ok", "4xx", "5xx", "429", "hang", "close", "garbled",
               "auth", "duplicate", "bad_request", "not_found",
               "method_not_allowed" (or "fake_error": a bug in the fake)
    status     the HTTP status answered (None for hang/close)
    message_id the provider message id answered for an accepted send
    """

    def __init__(self, provider, method, target, headers, raw_body,
                 fields, time_, answer=None):
        self.provider = provider
        self.method = method
        self.target = target
        split = urllib.parse.urlsplit(target)
        self.path = split.path
        self.query = {k: v[0] for k, v in urllib.parse.parse_qs(
            split.query, keep_blank_values=True).items()}
        self.headers = headers
        self.raw_body = raw_body
        self.fields = fields
        self.time = time_
        self.answer = answer
        self.status = None
        self.message_id = None

    def __repr__(self):
        # No fields: they hold phone numbers, which tests keep out of
        # failure messages.
        return "<Request %s %s %s -> %s %s>" % (
            self.provider, self.method, self.path, self.answer, self.status)


class _Reply:
    def __init__(self, answer, status=None, body=b"", content_type=JSON,
                 headers=(), message_id=None, delivery=None):
        self.answer = answer
        self.status = status
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.body = body
        self.content_type = content_type
        self.headers = list(headers)
        self.message_id = message_id
        self.delivery = delivery


def _json_reply(answer, status, obj, **kw):
    return _Reply(answer, status, obj, JSON, **kw)


def _text_reply(answer, status, text, **kw):
    return _Reply(answer, status, text, "text/plain; charset=utf-8", **kw)


# Provider-shaped transport failures -------------------------------------

def _server_error(provider):
    if provider == "africastalking":
        return _text_reply("5xx", 500, "Internal Server Error")
    if provider == "twilio":
        return _json_reply("5xx", 500, {
            "code": 20500, "message": "Internal Server Error",
            "more_info": "https://www.twilio.com/docs/errors/20500",
            "status": 500})
    if provider == "vonage":
        return _json_reply("5xx", 500, {
            "type": "https://developer.nexmo.com/api-errors#internal-error",
            "title": "Internal Error",
            "detail": "An internal error occurred", "instance": str(
                uuid.uuid4())})
    if provider == "esms":
        return _Reply("5xx", 500, "<html><body><h1>Request Error</h1>"
                      "<p>The server encountered an error processing the "
                      "request.</p></body></html>", "text/html")
    if provider == "vcom":
        return _json_reply("5xx", 500, {"data": {
            "code": 500, "status": "error",
            "message": "internal server error"}})
    return _json_reply("5xx", 500, {"error": {
        "code": "internal_error", "message": "internal error, retry later"}})


def _echo(provider, f):
    """A refusal quoting what was sent: the text and the number."""
    def field(*names):
        for n in names:
            if isinstance(f.get(n), str):
                return f[n]
        return ""
    text = field("message", "Body", "text", "Content")
    to = field("to", "To", "Phone")
    words = "Message '%s' to %s rejected" % (text, to)
    if provider == "africastalking":
        return _text_reply("echo", 400, words)
    if provider == "twilio":
        return _json_reply("echo", 400, {
            "code": 21610, "message": words,
            "more_info": "https://www.twilio.com/docs/errors/21610",
            "status": 400})
    if provider == "vonage":
        return _json_reply("echo", 200, {"message-count": "1", "messages": [
            {"to": to, "status": "6", "error-text": words}]})
    if provider == "esms":
        return _json_reply("echo", 400, {"CodeResult": "118",
                                         "ErrorMessage": words})
    if provider == "vcom":
        return _json_reply("echo", 400, {"errors": {
            "code": 106, "status": "error", "message": words}})
    return _json_reply("echo", 422, {"error": {
        "code": "text_refused", "message": words}})


def _too_many(provider, retry_after):
    headers = []
    if retry_after is not None:
        if isinstance(retry_after, float) and retry_after.is_integer():
            retry_after = int(retry_after)
        headers.append(("Retry-After", str(retry_after)))
    if provider == "africastalking":
        return _text_reply("429", 429, "Too Many Requests", headers=headers)
    if provider == "twilio":
        body = {"code": 20429, "message": "Too Many Requests",
                "more_info": "https://www.twilio.com/docs/errors/20429",
                "status": 429}
    elif provider == "vonage":
        body = {"message-count": "1", "messages": [{
            "status": "1", "error-text": "Throughput Rate Exceeded - "
            "please wait [ 1000 ] and retry"}]}
    elif provider == "esms":
        body = {"CodeResult": "-1", "ErrorMessage": "Too many requests"}
    elif provider == "vcom":
        body = {"data": {"code": 429, "status": "error",
                         "message": "too many requests"}}
    else:
        body = {"error": {"code": "rate_limited",
                          "message": "too many requests, retry later"}}
    return _json_reply("429", 429, body, headers=headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    # Sixteen connections at once must not overflow the accept queue.
    request_queue_size = 128

    def __init__(self, fake):
        self.fake = fake
        self.track_lock = threading.Lock()
        self.conns = set()
        self.threads = set()
        self.closing = False
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request, client_address):
        t = threading.Thread(target=self.process_request_thread,
                             args=(request, client_address),
                             name="fake-aggregator-conn", daemon=True)
        with self.track_lock:
            if self.closing:
                self.shutdown_request(request)
                return
            self.conns.add(request)
            self.threads.add(t)
        t.start()

    def shutdown_request(self, request):
        with self.track_lock:
            self.conns.discard(request)
            self.threads.discard(threading.current_thread())
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        pass  # a client that went away is no failure of the fake


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeAggregator/1.0"
    # Headers and body go in two writes: without this every answer on a
    # kept connection waits ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    timeout = 120  # an idle keep-alive connection is closed after this

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):
        pass  # request lines may carry phone numbers; stay quiet

    def do_POST(self):
        self._serve()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST

    def do_HEAD(self):
        self._serve(head=True)

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("eof in chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n",
                                                              b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        if len(body) != length:
            raise ConnectionError("eof in body")
        return body

    def _serve(self, head=False):
        fake = self.server.fake
        try:
            body = self._read_body()
        except (ValueError, ConnectionError, OSError):
            self.close_connection = True
            return
        headers = Headers(self.headers.items())
        req = Request(None, self.command, self.path, headers, body, {},
                      time.monotonic())
        try:
            reply = fake._handle(req)
        except Exception:  # a bug in the fake: say so loudly
            text = traceback.format_exc()
            sys.stderr.write("fake aggregator failed:\n" + text)
            reply = _text_reply("fake_error", 500, text)
        req.answer = reply.answer
        req.status = reply.status
        req.message_id = reply.message_id
        fake._record(req, reply.delivery)

        if reply.answer == "hang":
            self.close_connection = True
            fake._stopping.wait()
            self._drop()
            return
        if reply.answer == "close":
            self.close_connection = True
            self._drop()
            return
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            if not head:
                self.wfile.write(reply.body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _drop(self):
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class FakeAggregator:
    def __init__(self, secrets=None):
        self.secrets = dict(secrets or {})
        self._lock = threading.Condition()
        self._requests = []
        self._deliveries = []
        self._scripts = {p: [] for p in PROVIDERS}
        self._seen = {p: {} for p in PROVIDERS}  # key -> message id
        self._stopping = threading.Event()
        self._server = None
        self._thread = None
        self.url = None
        self.port = None

    # Lifecycle --------------------------------------------------------

    def start(self):
        if self._server is not None:
            raise RuntimeError("FakeAggregator already started")
        self._stopping.clear()
        self._server = _Server(self)
        self.port = self._server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name="fake-aggregator", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout=5):
        """Stop serving; hung and idle connections are closed.  Safe to
        call twice."""
        server = self._server
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        self._thread.join(timeout)
        with server.track_lock:
            server.closing = True
            conns = list(server.conns)
            threads = list(server.threads)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        server.server_close()
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def send_url(self, provider):
        """What a channel's send_url should be to reach this fake: the
        API base, or for json the full URL."""
        if _canon(provider) == "json":
            return self.url + JSON_PATH
        return self.url

    # Scripting and inspection -----------------------------------------

    def script(self, provider, *answers):
        p = _canon(provider)
        kinds = [_answer_kind(a) for a in answers]
        with self._lock:
            self._scripts[p].extend(kinds)

    def unscript(self, provider):
        """Drop the scripted answers not yet consumed."""
        with self._lock:
            self._scripts[_canon(provider)].clear()

    def pending_script(self, provider):
        """Scripted answers not yet consumed."""
        with self._lock:
            return list(self._scripts[_canon(provider)])

    def requests(self, provider=None):
        p = _canon(provider)
        with self._lock:
            return [r for r in self._requests
                    if p is None or r.provider == p]

    def deliveries(self, provider=None):
        p = _canon(provider)
        with self._lock:
            return [dict(d) for d in self._deliveries
                    if p is None or d["provider"] == p]

    def wait_for(self, n, provider=None, timeout=10):
        p = _canon(provider)
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                got = [r for r in self._requests
                       if p is None or r.provider == p]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "fake aggregator: waited %.1fs for %d request(s)%s, "
                        "got %d: %r" % (timeout, n,
                                        " to " + p if p else "", len(got),
                                        got))
                self._lock.wait(left)

    def _record(self, req, delivery):
        with self._lock:
            self._requests.append(req)
            if delivery is not None:
                self._deliveries.append(delivery)
            self._lock.notify_all()

    def _next_answer(self, provider):
        with self._lock:
            queue = self._scripts[provider]
            return queue.pop(0) if queue else "ok"

    def _secret_ok(self, name, value):
        want = self.secrets.get(name)
        if want is None:
            return True
        return isinstance(value, str) and hmac.compare_digest(
            value.encode(), str(want).encode())

    def _remember(self, provider, key, message_id):
        """True if `key` is new (and now remembered)."""
        with self._lock:
            seen = self._seen[provider]
            if key in seen:
                return False, seen[key]
            seen[key] = message_id
            return True, message_id

    # Dispatch ---------------------------------------------------------

    def _route(self, path):
        if path == AT_PATH:
            return "africastalking"
        if TWILIO_PATH.match(path):
            return "twilio"
        if path == VONAGE_PATH:
            return "vonage"
        if path in (ESMS_PATH, ESMS_PATH.rstrip("/")):
            return "esms"
        if path == VCOM_PATH:
            return "vcom"
        if path == JSON_PATH:
            return "json"
        return None

    def _handle(self, req):
        provider = self._route(req.path)
        req.provider = provider
        if provider is None:
            return _text_reply("not_found", 404, "Not Found")
        if req.method != "POST":
            return _Reply("method_not_allowed", 405, "Method Not Allowed",
                          "text/plain", headers=[("Allow", "POST")])
        expects_json = provider in ("esms", "vcom", "json")
        ctype = _media_type(req.headers.get("Content-Type"))
        fields, form_error = {}, None
        if ctype == JSON or (expects_json and ctype != FORM):
            try:
                value = json.loads(req.raw_body.decode("utf-8"))
                if isinstance(value, dict):
                    fields = value
                else:
                    form_error = "the body is not a JSON object"
            except (UnicodeDecodeError, ValueError):
                form_error = "the body is not valid JSON"
        else:
            fields = {k: v[0] for k, v in urllib.parse.parse_qs(
                req.raw_body.decode("utf-8", "replace"),
                keep_blank_values=True, encoding="utf-8",
                errors="replace").items()}
        req.fields = fields
        if form_error is None:
            if expects_json and ctype != JSON:
                form_error = "Content-Type must be application/json"
            elif provider in ("africastalking", "twilio") and ctype != FORM:
                form_error = "Content-Type must be " + FORM
            elif provider == "vonage" and ctype not in (FORM, JSON):
                form_error = "Content-Type must be %s or %s" % (FORM, JSON)

        answer = self._next_answer(provider)
        if answer == "5xx":
            return _server_error(provider)
        if isinstance(answer, tuple):
            return _too_many(provider, answer[1])
        if answer in ("hang", "close"):
            return _Reply(answer)
        if answer == "garbled":
            return _Reply("garbled", 200, "<html>oops", "text/html")
        if answer == "echo" and form_error is None:
            return _echo(provider, fields)
        return getattr(self, "_" + provider)(req, fields, answer == "4xx",
                                             form_error)

    # Africa's Talking -------------------------------------------------

    def _africastalking(self, req, f, reject, form_error):
        if not (self._secret_ok("at_api_key", req.headers.get("apiKey")) and
                self._secret_ok("at_username", f.get("username"))):
            return _text_reply("auth", 401,
                               "The supplied authentication is invalid")
        if form_error:
            return _text_reply("bad_request", 400, form_error)
        for name in ("username", "to", "message"):
            if not f.get(name):
                return _text_reply("bad_request", 400, "Request is missing "
                                   "required form field '%s'" % name)
        to = f["to"]
        if reject:
            return _json_reply("4xx", 201, {"SMSMessageData": {
                "Message": "Sent to 0/1 Total Cost: 0",
                "Recipients": [{"statusCode": 403, "number": to,
                                "status": "InvalidPhoneNumber", "cost": "0",
                                "messageId": "None"}]}})
        mid = "ATXid_" + uuid.uuid4().hex
        return _json_reply("ok", 201, {"SMSMessageData": {
            "Message": "Sent to 1/1 Total Cost: KES 0.8000",
            "Recipients": [{"statusCode": 101, "number": to,
                            "status": "Success", "cost": "KES 0.8000",
                            "messageId": mid}]}},
            message_id=mid, delivery={"provider": "africastalking", "to": to,
                                      "text": f["message"], "key": None})

    # Twilio -----------------------------------------------------------

    def _twilio(self, req, f, reject, form_error):
        sid = TWILIO_PATH.match(req.path).group(1)
        user = password = None
        auth = req.headers.get("Authorization") or ""
        if auth[:6].lower() == "basic ":
            try:
                user, _, password = base64.b64decode(
                    auth[6:].strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                pass
        if not (user is not None and user == sid and
                self._secret_ok("twilio_sid", sid) and
                self._secret_ok("twilio_token", password)):
            return _json_reply("auth", 401, {
                "code": 20003, "message": "Authenticate",
                "more_info": "https://www.twilio.com/docs/errors/20003",
                "status": 401},
                headers=[("WWW-Authenticate", 'Basic realm="Twilio API"')])

        def error(code, message, status=400, answer="bad_request"):
            return _json_reply(answer, status, {
                "code": code, "message": message,
                "more_info": "https://www.twilio.com/docs/errors/%d" % code,
                "status": status})
        if form_error:
            return error(20001, form_error)
        if not f.get("To"):
            return error(21604, "A 'To' phone number is required.")
        if not f.get("Body") and not f.get("MediaUrl"):
            return error(21602, "Message body is required.")
        if reject:
            return error(21610, "Attempt to send to unsubscribed recipient",
                         answer="4xx")
        mid = "SM" + uuid.uuid4().hex
        now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        uri = "/2010-04-01/Accounts/%s/Messages/%s" % (sid, mid)
        return _json_reply("ok", 201, {
            "account_sid": sid, "api_version": "2010-04-01",
            "body": f["Body"], "date_created": now, "date_sent": None,
            "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None,
            "from": f.get("From"),
            "messaging_service_sid": f.get("MessagingServiceSid"),
            "num_media": "0", "num_segments": "1", "price": None,
            "price_unit": "USD", "sid": mid, "status": "queued",
            "subresource_uris": {"media": uri + "/Media.json"},
            "to": f["To"], "uri": uri + ".json"},
            message_id=mid, delivery={"provider": "twilio", "to": f["To"],
                                      "text": f["Body"], "key": None})

    # Vonage -----------------------------------------------------------

    def _vonage(self, req, f, reject, form_error):
        def status(answer, code, text, http=200):
            msg = {"status": code, "error-text": text}
            if isinstance(f.get("to"), str):
                msg = {"to": f["to"], **msg}
            return _json_reply(answer, http, {"message-count": "1",
                                              "messages": [msg]})
        if not (self._secret_ok("vonage_key", f.get("api_key")) and
                self._secret_ok("vonage_secret", f.get("api_secret"))):
            return status("auth", "4", "Bad Credentials")
        if form_error:
            return status("bad_request", "3", "Invalid Message: " +
                          form_error)
        for name in ("from", "to", "text"):
            if not f.get(name):
                return status("bad_request", "2", "Missing %s param" % name)
        if reject:
            return status("4xx", "6", "Unroutable message - rejected")
        mid = uuid.uuid4().hex[:16].upper()
        msg = {"to": f["to"], "message-id": mid, "status": "0",
               "remaining-balance": "3.14", "message-price": "0.03",
               "network": "45201"}
        if f.get("client-ref"):
            msg["client-ref"] = f["client-ref"]
        return _json_reply("ok", 200, {"message-count": "1",
                                       "messages": [msg]},
                           message_id=mid,
                           delivery={"provider": "vonage", "to": f["to"],
                                     "text": f["text"], "key": None})

    # eSMS.vn ----------------------------------------------------------

    def _esms(self, req, f, reject, form_error):
        def code(answer, c, message, **kw):
            return _json_reply(answer, 200, {"CodeResult": c,
                                             "ErrorMessage": message}, **kw)
        if form_error:
            return code("bad_request", "99", form_error)
        if not (self._secret_ok("esms_api_key", f.get("ApiKey")) and
                self._secret_ok("esms_secret_key", f.get("SecretKey"))):
            return code("auth", "101", "Sai ApiKey hoac SecretKey")
        for name in ("Phone", "Content", "SmsType"):
            if f.get(name) in (None, ""):
                return code("bad_request", "99", "Thieu tham so " + name)
        if reject:
            return code("4xx", "99", "Loi khong xac dinh")
        request_id = f.get("RequestId") or None
        mid = str(uuid.uuid4())
        if request_id is not None:
            new, _ = self._remember("esms", request_id, mid)
            if not new:
                return code("duplicate", "124", "RequestId da ton tai")
        return _json_reply("ok", 200, {"CodeResult": "100",
                                       "CountRegenerate": 0, "SMSID": mid},
                           message_id=mid,
                           delivery={"provider": "esms", "to": f["Phone"],
                                     "text": f["Content"],
                                     "key": request_id})

    # V-COM ------------------------------------------------------------

    def _vcom(self, req, f, reject, form_error):
        def data(answer, c, message, status="error"):
            return _json_reply(answer, 200, {"data": {
                "code": c, "status": status, "message": message}})
        if form_error:
            return data("bad_request", 106, "invalid params")
        for name in ("client_id", "request_id", "mt_code", "message",
                     "time", "checksum"):
            if f.get(name) in (None, ""):
                return data("bad_request", 106, "invalid params")
        t = f["time"]
        if isinstance(t, bool) or not isinstance(t, int):
            return data("bad_request", 106, "invalid params")
        if not self._secret_ok("vcom_client_id", f["client_id"]):
            return data("auth", 106, "checksum invalid")
        secure_key = self.secrets.get("vcom_secure_key")
        if secure_key is not None:
            want = vcom_checksum(f["client_id"], f["request_id"],
                                 f["mt_code"], secure_key, t)
            if not (isinstance(f["checksum"], str) and hmac.compare_digest(
                    f["checksum"].encode(), want.encode())):
                return data("auth", 106, "checksum invalid")
        if reject:
            return data("4xx", 106, "invalid params")
        key = (f["request_id"], f["mt_code"])
        new, _ = self._remember("vcom", key, None)
        if not new:
            return data("duplicate", 104, "request exists")
        return _json_reply("ok", 200, {"data": {
            "code": 200, "status": "success", "message": ""}},
            delivery={"provider": "vcom", "to": None,
                      "text": f["message"], "key": key})

    # Generic json -----------------------------------------------------

    def _json(self, req, f, reject, form_error):
        def error(answer, status, c, message):
            return _json_reply(answer, status, {"error": {
                "code": c, "message": message}})
        secret = self.secrets.get("json_secret")
        if secret is not None:
            problem = self._json_signature_problem(
                req.headers.get("X-Hotline-Signature"), req.raw_body,
                str(secret))
            if problem:
                return error("auth", 401, "bad_signature", problem)
        if form_error:
            return error("bad_request", 400, "bad_request", form_error)
        for name in ("id", "to", "text"):
            if not isinstance(f.get(name), str) or not f[name]:
                return error("bad_request", 400, "bad_request",
                             "the field %s is missing or not a string; send "
                             "{\"id\", \"to\", \"from\", \"text\"}" % name)
        if reject:
            return error("4xx", 400, "invalid_recipient", "recipient refused")
        mid = "js-" + f["id"]
        new, _ = self._remember("json", f["id"], mid)
        if not new:
            return _json_reply("duplicate", 200, {"id": mid}, message_id=mid)
        return _json_reply("ok", 200, {"id": mid}, message_id=mid,
                           delivery={"provider": "json", "to": f["to"],
                                     "text": f["text"], "key": f["id"]})

    @staticmethod
    def _json_signature_problem(header, body, secret):
        if not header:
            return "the X-Hotline-Signature header is missing"
        parts = {}
        v1 = []
        for item in header.split(","):
            k, sep, v = item.strip().partition("=")
            if not sep:
                return "X-Hotline-Signature must be t=UNIX,v1=HEX"
            if k == "v1":
                v1.append(v)
            else:
                parts[k] = v
        if "t" not in parts or not v1:
            return "X-Hotline-Signature must be t=UNIX,v1=HEX"
        try:
            t = int(parts["t"])
        except ValueError:
            return "the signature timestamp t is not an integer"
        if abs(time.time() - t) > JSON_MAX_SKEW:
            return "the signature timestamp is more than %d s from our " \
                "clock" % JSON_MAX_SKEW
        want = hmac.new(secret.encode(), parts["t"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
        if not any(hmac.compare_digest(want, v.lower()) for v in v1):
            return "the signature does not match the body"
        return None


def json_signature(secret, body, t=None):
    """The X-Hotline-Signature value for `body` (bytes) at time t."""
    t = int(time.time()) if t is None else int(t)
    mac = hmac.new(secret.encode(), str(t).encode() + b"." + body,
                   hashlib.sha256).hexdigest()
    return "t=%d,v1=%s" % (t, mac)


def vcom_checksum(client_id, request_id, mt_code, secure_key, t):
    """V-COM's MT checksum: Base64(SHA-256(client_id request_id mt_code
    secure_key time))."""
    return base64.b64encode(hashlib.sha256(
        (str(client_id) + str(request_id) + str(mt_code) + str(secure_key) +
         str(t)).encode()).digest()).decode()
