"""The outbox: every provider's send request, retries, ambiguous failures,
opt-outs and contact windows at send time, urgent alerts, kill -9.

A FakeAggregator on loopback speaks each provider's real send API; the
daemon's channels point their send_url at it.
"""

import base64
import hashlib
import hmac
import json
import signal
import sqlite3
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from base import DaemonTestCase
from fake_aggregator import FakeAggregator
from harness import AT_TOKEN

PHONE = "+84912345678"
OTHER = "+84987654321"
ON_CALL = "+84933444555"
TEXT = "Chúng tôi đã nhận tin & sẽ gọi lại = 100% 🙏"
TW_SID = "AC0123456789abcdef0123456789abcdef"
TW_PUBLIC = "https://gw.example.org"
SECRETS = {
    "at_api_key": "at-api-key", "at_username": "hotline",
    "twilio_sid": TW_SID, "twilio_token": "tw-token",
    "vonage_key": "vg-key", "vonage_secret": "vg-secret",
    "esms_api_key": "es-key", "esms_secret_key": "es-secret",
    "vcom_client_id": "demo", "vcom_secure_key": "vc-secure",
    "json_secret": "json-secret-for-tests",
}
ALERT_SECRET = "alert-secret-for-tests"


class AlertReceiver:
    """Records POSTs (the alerts.url end)."""

    def __init__(self):
        self.posts = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                outer.posts.append((dict(self.headers.items()),
                                    self.rfile.read(n)))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/alert" % self.server.server_port
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Outbox(DaemonTestCase):
    start_daemon = False

    def setUp(self):
        super().setUp()
        self.fa = FakeAggregator(secrets=SECRETS).start()
        self.addCleanup(self.fa.stop)
        cfg = self.daemon.config
        fa = self.fa
        common = {"rate_limit_per_second": 50}
        cfg["channels"] += [
            dict(common, name="at2", provider="africastalking",
                 username="hotline", api_key={"env": "HL_TEST_AT_KEY"},
                 callback_token={"env": "HL_TEST_AT_TOKEN"},
                 short_code="1567", send_url=fa.send_url("at")),
            dict(common, name="tw", provider="twilio", account_sid=TW_SID,
                 auth_token={"env": "HL_TEST_TW"}, public_url=TW_PUBLIC,
                 send_url=fa.send_url("twilio")),
            dict(common, name="vg", provider="vonage", api_key="vg-key",
                 api_secret={"env": "HL_TEST_VG"}, send_url=fa.url),
            dict(common, name="es", provider="esms",
                 api_key={"env": "HL_TEST_ES_KEY"},
                 secret_key={"env": "HL_TEST_ES_SECRET"}, cpid="CP0001",
                 private_key={"env": "HL_TEST_ES_SECRET"},
                 brandname="HOTLINE", send_url=fa.url),
            dict(common, name="vc", provider="vcom", client_id="demo",
                 secure_key={"env": "HL_TEST_VC"}, service_id="7068",
                 send_url=fa.url),
            dict(common, name="js", provider="json",
                 secret={"env": "HL_TEST_JS"}, send_url=fa.send_url("json"),
                 **{"from": "1567"}),
        ]
        cfg["channels"][-4]["from"] = "HOTLINE"     # vonage needs a sender
        # Any hour is inside the window unless a test says otherwise.
        cfg["outbox"] = {"contact_windows": {"default": "00:00-24:00"},
                         "max_delay_seconds": 2, "timeout_seconds": 2,
                         "connect_timeout_seconds": 2}
        self.daemon.env.update({
            "HL_TEST_TW": "tw-token", "HL_TEST_VG": "vg-secret",
            "HL_TEST_ES_KEY": "es-key", "HL_TEST_ES_SECRET": "es-secret",
            "HL_TEST_VC": "vc-secure", "HL_TEST_JS": "json-secret-for-tests",
            "HL_TEST_ALERT": ALERT_SECRET})

    # Helpers ----------------------------------------------------------

    def queue(self, rows, inbound=(), tasks=(), optouts=()):
        """Put rows in the outbox of a stopped daemon (created first), as
        if queued before a restart; the daemon sends them on start."""
        if not self.daemon.proc and not self.daemon.port:
            self.daemon.start()
        if self.daemon.proc:
            self.assertEqual(self.daemon.stop(), 0)
        con = sqlite3.connect(self.daemon.db_path)
        # Rows written in clear, as before encryption (the store reads
        # them as they are); each number its own caller, since lookups
        # (opt-outs, the caller's answers) go by pseudonym.
        def caller(msisdn):
            # Never the digits themselves: pseudonyms reach the log.
            return "c_" + hashlib.sha256(msisdn.encode()).hexdigest()[:12]
        for channel, msisdn, body in inbound:
            con.execute(
                "INSERT INTO inbound(channel, provider_msg_id, caller, msisdn,"
                " body, received_at, stored_at, processed_at) VALUES (?, ?, "
                "?, ?, ?, '', '2020-01-01T00:00:00Z', "
                "'2020-01-01T00:00:00Z')",
                (channel, "1297875832", caller(msisdn), msisdn, body))
        for msisdn, safe_to_sms, preferred in tasks:
            con.execute(
                "INSERT INTO tasks(caller, msisdn, channel, safe_to_sms, "
                "preferred_time, created_at, updated_at, alerted_at) VALUES "
                "(?, ?, 'console', ?, ?, 't', 't', 't')",
                (caller(msisdn), msisdn, safe_to_sms, preferred))
        for msisdn in optouts:
            con.execute("INSERT INTO optouts(caller, opted_out_at) "
                        "VALUES (?, 't')", (caller(msisdn),))
        for channel, msisdn, body, purpose in rows:
            con.execute(
                "INSERT INTO outbound(channel, msisdn, caller, body, purpose,"
                " send_key, next_attempt_at, created_at, updated_at) VALUES "
                "(?, ?, ?, ?, ?, lower(hex(randomblob(8))), "
                "strftime('%Y-%m-%dT%H:%M:%fZ','now'), "
                "strftime('%Y-%m-%dT%H:%M:%SZ','now'), "
                "strftime('%Y-%m-%dT%H:%M:%SZ','now'))",
                (channel, msisdn, caller(msisdn), body, purpose))
        con.commit()
        con.close()
        self.daemon.start()

    def outbound(self):
        return self.daemon.rows("SELECT * FROM outbound ORDER BY id")

    def wait_status(self, want, timeout=15):
        """Wait until every row's status is in want; return the rows."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.outbound()
            if rows and all(r["status"] in want for r in rows):
                return rows
            self.assertLess(time.monotonic(), deadline,
                            "rows never settled: %r" %
                            [(r["id"], r["status"], r["last_error"])
                             for r in rows])
            time.sleep(0.05)

    # Tests ------------------------------------------------------------

    def test_each_provider_request_is_exactly_right(self):
        self.queue([(ch, PHONE, TEXT, "message")
                    for ch in ("at2", "tw", "vg", "es", "vc", "js")],
                   inbound=[("vc", PHONE, "HOTLINE GIUP")])
        rows = {r["channel"]: r for r in self.wait_status(("sent",))}
        reqs = {r.provider: r for r in self.fa.wait_for(6)}
        self.assertEqual(len(self.fa.requests()), 6)

        def form(pairs):
            return "&".join(k + "=" + urllib.parse.quote_plus(v, safe="")
                            for k, v in pairs).encode()

        at = reqs["africastalking"]
        self.assertEqual(at.path, "/version1/messaging")
        self.assertEqual(at.headers["apiKey"], "at-api-key")
        self.assertEqual(at.raw_body, form([
            ("username", "hotline"), ("to", PHONE), ("message", TEXT),
            ("from", "1567")]))
        # Vietnamese and emoji percent-encoded byte by byte.
        self.assertIn(b"Ch%C3%BAng+t%C3%B4i+%C4%91%C3%A3", at.raw_body)
        self.assertIn(b"%26+s%E1%BA%BD", at.raw_body)

        tw = reqs["twilio"]
        self.assertEqual(tw.path, "/2010-04-01/Accounts/%s/Messages.json"
                         % TW_SID)
        self.assertEqual(tw.headers["Authorization"], "Basic " +
                         base64.b64encode(b"%s:tw-token" % TW_SID.encode())
                         .decode())
        self.assertEqual(tw.raw_body, form([
            ("To", PHONE), ("Body", TEXT),
            ("StatusCallback", TW_PUBLIC + "/v1/dlr/tw?ref=" +
             rows["tw"]["send_key"])]))
        self.assertEqual(rows["tw"]["provider_ref"], tw.message_id)

        vg = reqs["vonage"]
        self.assertEqual((vg.fields["to"], vg.fields["type"],
                          vg.fields["client-ref"], vg.fields["text"]),
                         (PHONE[1:], "unicode", rows["vg"]["send_key"], TEXT))

        es = reqs["esms"]
        self.assertEqual(es.fields["Phone"], PHONE[1:])
        self.assertEqual((es.fields["IsUnicode"], es.fields["RequestId"],
                          es.fields["Content"], es.fields["SmsType"]),
                         ("1", rows["es"]["send_key"], TEXT, "2"))
        # UTF-8 in the JSON, not \\u escapes.
        self.assertIn(TEXT.encode(), es.raw_body)

        vc = reqs["vcom"]
        self.assertEqual((vc.fields["request_id"], vc.fields["command_code"],
                          vc.fields["mt_code"], vc.fields["is_charged"]),
                         ("1297875832", "HOTLINE", rows["vc"]["send_key"], 0))

        js = reqs["json"]
        self.assertEqual(js.fields, {"id": rows["js"]["send_key"],
                                     "to": PHONE, "from": "1567",
                                     "text": TEXT})
        self.assertRegex(js.headers["X-Hotline-Signature"],
                         r"^t=\d+,v1=[0-9a-f]{64}$")

        # Every provider took it (the fake checked keys, checksums and
        # signatures); references and segment counts are recorded.
        self.assertEqual(len(self.fa.deliveries()), 6)
        for ch in ("at2", "tw", "vg", "es", "js"):
            self.assertTrue(rows[ch]["provider_ref"], ch)
        for r in rows.values():
            self.assertEqual((r["encoding"], r["segments"], r["attempts"]),
                             ("ucs2", 1, 1))

    def test_server_errors_are_retried_with_backoff_then_given_up(self):
        self.daemon.config["outbox"]["max_attempts"] = 4
        self.fa.script("at", "5xx", "5xx", "5xx", "5xx", "5xx")
        self.queue([("at2", PHONE, "hello", "message")])
        reqs = self.fa.wait_for(4, "at")
        row = self.wait_status(("failed",))[0]
        self.assertEqual(row["attempts"], 4)
        self.assertEqual(row["last_error"],
                         "gave up after 4 attempts: HTTP 500")
        # Full jitter under a doubling ceiling capped at 2 s.
        gaps = [b.time - a.time for a, b in zip(reqs, reqs[1:])]
        for n, gap in enumerate(gaps, start=1):
            self.assertLess(gap, min(2 ** (n - 1), 2) + 0.5, gaps)
        time.sleep(2.5)
        self.assertEqual(len(self.fa.requests("at")), 4)   # it stopped
        # Counted, for the operator.
        self.assertRegex(self.daemon.ctl("stats").stdout,
                         r"(?m)^outbox_failed\s+1$")

    def test_429_waits_for_retry_after(self):
        self.fa.script("twilio", ("429", 2), "ok")
        self.queue([("tw", PHONE, "hello", "message")])
        reqs = self.fa.wait_for(2, "twilio")
        self.assertGreaterEqual(reqs[1].time - reqs[0].time, 1.9)
        row = self.wait_status(("sent",))[0]
        self.assertEqual(row["attempts"], 2)

    def test_permanent_refusal_is_not_retried(self):
        self.fa.script("twilio", "4xx")
        self.queue([("tw", PHONE, "hello", "message")])
        row = self.wait_status(("failed",))[0]
        self.assertIn("21610", row["last_error"])
        time.sleep(1.5)
        self.assertEqual(len(self.fa.requests("twilio")), 1)

    def test_timeout_is_unknown_until_a_report_names_our_key(self):
        self.fa.script("twilio", "hang")
        self.queue([("tw", PHONE, "hello", "message")])
        row = self.wait_status(("unknown",))[0]
        time.sleep(2.5)
        self.assertEqual(len(self.fa.requests("twilio")), 1)   # no resend
        # Twilio's status callback carries our key in its URL.
        path = "/v1/dlr/tw?ref=" + row["send_key"]
        params = {"MessageSid": "SM" + "ab" * 16, "MessageStatus":
                  "delivered", "AccountSid": TW_SID}
        data = TW_PUBLIC + path + "".join(
            k + v for k, v in sorted(params.items()))
        sig = base64.b64encode(hmac.new(b"tw-token", data.encode(),
                                        hashlib.sha1).digest()).decode()
        r = self.daemon.request(
            "POST", path, urllib.parse.urlencode(params).encode(),
            {"Content-Type": "application/x-www-form-urlencoded",
             "X-Twilio-Signature": sig})
        self.assertEqual(r.status, 200, r.body)
        row = self.wait_status(("delivered",))[0]
        self.assertEqual(row["provider_ref"], "SM" + "ab" * 16)

    def test_dropped_connection_is_resent_where_the_key_dedups(self):
        self.fa.script("esms", "close")
        self.queue([("es", PHONE, "hello", "message")])
        self.wait_status(("sent",))
        reqs = self.fa.requests("esms")
        self.assertEqual(len(reqs), 2)
        self.assertEqual(reqs[0].fields["RequestId"],
                         reqs[1].fields["RequestId"])
        self.assertEqual(len(self.fa.deliveries("esms")), 1)

    def test_dropped_connection_is_not_resent_by_libcurl_either(self):
        # One at a time, so a kept connection would be reused for the
        # second send, and libcurl would resend it on its own when the
        # connection dies.  Twilio sends use fresh connections instead.
        self.daemon.config["outbox"]["max_in_flight"] = 1
        self.fa.script("twilio", "ok", "close")
        self.queue([("tw", PHONE, "first", "message"),
                    ("tw", PHONE, "second", "message")])
        rows = self.wait_status(("sent", "unknown"))
        self.assertEqual([r["status"] for r in rows], ["sent", "unknown"])
        time.sleep(1)
        self.assertEqual([r.answer for r in self.fa.requests("twilio")],
                         ["ok", "close"])

    def test_opt_out_and_unsafe_are_checked_at_send_time(self):
        self.queue([("at2", PHONE, "queued before the opt-out", "message"),
                    ("at2", OTHER, "to a caller who said no texts",
                     "message"),
                    ("at2", PHONE, "the one confirmation",
                     "opt_out_confirmation")],
                   tasks=[(OTHER, 0, None)], optouts=[PHONE])
        rows = self.wait_status(("failed", "sent"))
        self.assertEqual([(r["status"], r["last_error"]) for r in rows],
                         [("failed", "opted_out"),
                          ("failed", "unsafe_to_text"),
                          ("sent", None)])
        self.assertEqual(len(self.fa.requests("at")), 1)

    def test_stop_fails_a_reply_waiting_for_its_retry(self):
        self.fa.script("at", "5xx")
        self.daemon.config["outbox"]["max_delay_seconds"] = 30
        self.daemon.config["outbox"]["max_attempts"] = 2
        self.daemon.start()
        fields = {"from": PHONE, "to": "1567", "text": "hello", "id": "m1",
                  "date": "2026-11-29 03:00:00", "linkId": "",
                  "networkCode": "45204"}
        for f in (fields, dict(fields, text="STOP", id="m2")):
            r = self.daemon.request(
                "POST", "/v1/sms/at2?token=" + AT_TOKEN,
                urllib.parse.urlencode(f).encode(),
                {"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(r.status, 200, r.body)
            if f["id"] == "m1":
                self.fa.wait_for(1, "at")
        rows = self.wait_status(("failed", "sent"))
        self.assertEqual([(r["purpose"], r["status"]) for r in rows],
                         [("reply", "failed"),
                          ("opt_out_confirmation", "sent")])
        self.assertEqual(rows[0]["last_error"], "opted_out")
        sent = [r.fields["message"] for r in self.fa.requests("at")]
        self.assertEqual(len(sent), 2)     # the failed try, the confirmation

    def test_later_texts_wait_for_the_callers_window(self):
        # A window that opens in two hours, local time.
        hour = (time.gmtime().tm_hour + 7 + 2) % 24
        self.daemon.config["outbox"]["contact_windows"] = {
            "default": "00:00-24:00",
            "evening": "%02d:00-%02d:59" % (hour, hour)}
        self.queue([("at2", PHONE, "a counsellor's message", "message")],
                   tasks=[(PHONE, 1, "evening")])
        deadline = time.monotonic() + 10
        while not self.outbound()[0]["last_error"]:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        row = self.outbound()[0]
        self.assertEqual((row["status"], row["attempts"]), ("pending", 0))
        self.assertEqual(row["last_error"],
                         "waiting for the caller's contact window")
        opens = time.strptime(row["next_attempt_at"][:16], "%Y-%m-%dT%H:%M")
        self.assertEqual((opens.tm_hour + 7) % 24, hour)
        self.assertEqual(opens.tm_min, 0)
        self.assertEqual(self.fa.requests(), [])

    def test_urgent_request_alerts_on_call_counsellors(self):
        receiver = AlertReceiver()
        self.addCleanup(receiver.stop)
        self.daemon.config["alerts"] = {
            "sms": [ON_CALL], "channel": "at2", "url": receiver.url,
            "secret": {"env": "HL_TEST_ALERT"},
            "console_url": "https://hotline.example.org/console/"}
        self.daemon.start()
        for text in ("", "1", "1*2"):
            r = self.daemon.request(
                "POST", "/v1/ussd/console", urllib.parse.urlencode({
                    "sessionId": "s-urgent", "serviceCode": "*111#",
                    "phoneNumber": PHONE, "text": text}).encode(),
                {"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(r.status, 200, r.body)
        task = self.daemon.rows("SELECT id, priority FROM tasks")[0]
        self.assertEqual(task["priority"], "urgent")
        sms = self.fa.wait_for(1, "at")[0]
        self.assertEqual(sms.fields["to"], ON_CALL)
        self.assertEqual(sms.fields["message"],
                         "Yêu cầu khẩn #%d. https://hotline.example.org/"
                         "console/#task-%d" % (task["id"], task["id"]))
        deadline = time.monotonic() + 10
        while not receiver.posts:
            self.assertLess(time.monotonic(), deadline, "no alert POST")
            time.sleep(0.05)
        headers, body = receiver.posts[0]
        t, v1 = [p.split("=", 1)[1] for p in
                 headers["X-Hotline-Signature"].split(",")]
        self.assertEqual(v1, hmac.new(ALERT_SECRET.encode(),
                                      t.encode() + b"." + body,
                                      hashlib.sha256).hexdigest())
        doc = json.loads(body)
        self.assertEqual((doc["event"], doc["task_id"]),
                         ("urgent_request", task["id"]))
        for form in (PHONE, PHONE[1:], "0" + PHONE[3:]):
            self.assertNotIn(form, sms.fields["message"])
            self.assertNotIn(form.encode(), body)

    def test_kill_9_mid_send_never_sends_a_row_twice(self):
        self.daemon.config["outbox"]["timeout_seconds"] = 30
        self.fa.script("twilio", *["hang"] * 4)
        self.fa.script("json", *["hang"] * 4)
        self.queue([(ch, PHONE, "row %d" % i, "message")
                    for i in range(10) for ch in ("tw", "js")])
        self.fa.wait_for(4, "twilio")
        self.fa.wait_for(4, "json")
        self.daemon.stop(signal.SIGKILL)
        self.daemon.start()
        rows = self.wait_status(("sent", "unknown"), timeout=30)
        tw = [r for r in rows if r["channel"] == "tw"]
        js = [r for r in rows if r["channel"] == "js"]
        # Twilio drops no repeated request: what was out stays unknown,
        # never resent.
        tw_reqs = [urllib.parse.parse_qs(r.raw_body.decode())
                   ["StatusCallback"][0].rsplit("=", 1)[1]
                   for r in self.fa.requests("twilio")]
        for r in tw:
            self.assertEqual(tw_reqs.count(r["send_key"]), 1, r["status"])
        self.assertEqual(sum(r["status"] == "unknown" for r in tw), 4)
        # json drops a repeated id: resent, delivered exactly once.
        self.assertTrue(all(r["status"] == "sent" for r in js))
        keys = [d["key"] for d in self.fa.deliveries("json")]
        self.assertEqual(sorted(keys), sorted(r["send_key"] for r in js))

    def test_sigterm_waits_a_bounded_time_and_leaves_the_rest(self):
        self.daemon.config["outbox"]["timeout_seconds"] = 60
        self.fa.script("twilio", "hang")
        self.queue([("tw", PHONE, "hello", "message")])
        self.fa.wait_for(1, "twilio")
        started = time.monotonic()
        self.assertEqual(self.daemon.stop(), 0)
        # The drain gives in-flight sends a bounded time, not 60 s.
        self.assertLess(time.monotonic() - started, 15)
        self.assertEqual(self.outbound()[0]["status"], "sending")
        # The next start cannot know whether it went out: unknown, and
        # Twilio is not asked again.
        self.daemon.start()
        row = self.wait_status(("unknown",))[0]
        self.assertEqual(row["last_error"], "interrupted mid-send")
        time.sleep(1)
        self.assertEqual(len(self.fa.requests("twilio")), 1)
