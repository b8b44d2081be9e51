"""Overload: a campaign day.  The outbox's lanes (urgent first, then
confirmations, first replies, conversation pages, counsellors' texts,
follow-ups), callers taking turns inside a lane, pages expiring once
their caller went idle, per-provider default rates, and keyword
confirmations that the flood limiter never swallows.

Inbound texts arrive on a signed json channel whose replies go to a
FakeAggregator, which records the order the sends arrive in.
"""

import hashlib
import hmac
import http.client
import json
import re
import threading
import time

from base import DaemonTestCase
from fake_aggregator import FakeAggregator

PHONE = "+84912345678"
OTHER = "+84987654321"
THIRD = "+84911222333"
ON_CALL = "+84933444555"
JSON_SECRET = "json-secret-for-lane-tests"
# The flood's numbers: not in harness.TEST_NUMBERS, so scanned here.
FLOOD_NUMBER = "+8490%07d"
FLOOD_FORMS = re.compile(r"(?<!\d)(?:\+?84|0)90\d{7}(?!\d)")


class Lanes(DaemonTestCase):
    start_daemon = False

    def setUp(self):
        super().setUp()
        self.fa = FakeAggregator(secrets={"json_secret": JSON_SECRET}).start()
        self.addCleanup(self.fa.stop)
        cfg = self.daemon.config
        cfg["log"]["level"] = "info"
        cfg["channels"].append({
            "name": "js", "provider": "json", "secret": {"env": "HL_TEST_JS"},
            "send_url": self.fa.send_url("json"), "from": "1567"})
        # One request at a time, so the order the fake records is the
        # order the outbox sent in (four at once may overtake each other).
        cfg["outbox"] = {"contact_windows": {"default": "00:00-24:00"},
                         "max_delay_seconds": 2, "timeout_seconds": 2,
                         "connect_timeout_seconds": 2, "max_in_flight": 1}
        self.daemon.env["HL_TEST_JS"] = JSON_SECRET

    def channel(self, **keys):
        self.daemon.config["channels"][-1].update(keys)

    # Helpers ----------------------------------------------------------

    def signed(self, doc):
        body = json.dumps(doc).encode()
        t = str(int(time.time())).encode()
        mac = hmac.new(JSON_SECRET.encode(), t + b"." + body,
                       hashlib.sha256).hexdigest()
        return body, {"Content-Type": "application/json",
                      "X-Hotline-Signature": "t=%s,v1=%s" % (t.decode(), mac)}

    def text(self, phone, msg_id, text):
        body, headers = self.signed({"id": msg_id, "from": phone,
                                     "to": "1567", "text": text})
        r = self.daemon.request("POST", "/v1/sms/js", body, headers)
        self.assertEqual(r.status, 200, r.body)

    def flood(self, numbers, conns=8):
        """One text from each number, over keep-alive connections."""
        failures = []

        def worker(part):
            conn = http.client.HTTPConnection("127.0.0.1", self.daemon.port,
                                              timeout=30)
            try:
                for i, phone in part:
                    body, headers = self.signed({
                        "id": "flood-%d" % i, "from": phone, "to": "1567",
                        "text": "xin chào"})
                    conn.request("POST", "/v1/sms/js", body, headers)
                    r = conn.getresponse()
                    r.read()
                    if r.status != 200:
                        failures.append(r.status)
                        return
            finally:
                conn.close()

        items = list(enumerate(numbers))
        threads = [threading.Thread(target=worker, args=(items[n::conns],))
                   for n in range(conns)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [], "an inbound text was refused")

    def sent_to(self):
        return [d["to"] for d in self.fa.deliveries("json")]

    def wait_sent(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            sent = self.sent_to()
            if pred(sent):
                return sent
            self.assertLess(time.monotonic(), deadline, what)
            time.sleep(0.05)

    def wait_processed(self, timeout=30):
        deadline = time.monotonic() + timeout
        while self.daemon.rows("SELECT id FROM inbound WHERE processed_at "
                               "IS NULL LIMIT 1"):
            self.assertLess(time.monotonic(), deadline,
                            "inbound texts left unprocessed")
            time.sleep(0.05)

    # Tests ------------------------------------------------------------

    def test_sos_alert_overtakes_a_backlog_and_first_replies_keep_order(self):
        # 10,000 callers at 20 sends a second is a backlog of over eight
        # minutes; storing and answering them takes ~30 s here (ASan).
        count = 10000
        self.channel(rate_limit_per_second=20)
        self.daemon.config["alerts"] = {"sms": [ON_CALL], "channel": "js"}
        self.daemon.start(timeout=30)
        numbers = [FLOOD_NUMBER % i for i in range(count)]
        self.flood(numbers)
        self.text(PHONE, "sos-1", "SOS")
        # The alert leaves as soon as the SOS is read, not after the
        # thousands of first replies queued before it.
        sent = self.wait_sent(lambda s: ON_CALL in s and PHONE in s, 90,
                              "the alert and the SOS answer waited behind "
                              "the backlog")
        backlog = self.daemon.rows(
            "SELECT count(*) AS n FROM outbound WHERE channel = 'js' AND "
            "status = 'pending'")[0]["n"]
        self.assertGreater(backlog, count // 2,
                           "the backlog drained: the test proves nothing")
        # First replies leave in the order their texts arrived.
        arrival = {r["msisdn"]: r["id"] for r in self.daemon.rows(
            "SELECT msisdn, id FROM inbound WHERE channel = 'js'")}
        firsts = [arrival[to] for to in sent if to not in (ON_CALL, PHONE)]
        self.assertGreater(len(firsts), 20)
        self.assertEqual(firsts, sorted(firsts),
                         "first replies left out of arrival order")
        self.assertEqual(len(set(firsts)), len(firsts), "a reply went twice")
        self.assertEqual(self.daemon.stop(), 0)
        self.assertIsNone(FLOOD_FORMS.search(self.daemon.log_text()),
                          "a flood number reached the log")

    def test_a_flooding_caller_does_not_delay_the_others(self):
        # No flood limiter, so every text of the flooder gets its page.
        self.daemon.config["sms"] = {"auto_reply_interval_seconds": 0}
        self.channel(rate_limit_per_second=2)
        self.daemon.start()
        for n, phone in enumerate((PHONE, OTHER, THIRD)):
            self.text(phone, "hi-%d" % n, "xin chào")
        self.wait_sent(lambda s: len(s) >= 3, 15, "no first replies")
        for n in range(15):
            self.text(PHONE, "again-%d" % n, "9")     # not a choice
        self.text(OTHER, "other-1", "1")
        self.text(THIRD, "third-1", "1")
        sent = self.wait_sent(lambda s: OTHER in s[3:] and THIRD in s[3:],
                              30, "the others' pages never left")[3:]
        # Callers take turns: the others' pages are not queued behind the
        # flooder's fifteen.
        self.assertLessEqual(sent.index(OTHER), 4, sent)
        self.assertLessEqual(sent.index(THIRD), 4, sent)

    def test_a_page_for_a_caller_gone_idle_expires_unsent(self):
        self.daemon.config["sms"] = {"session_idle_seconds": 2}
        self.channel(rate_limit_per_second=1)
        self.daemon.start()
        self.text(PHONE, "a-1", "xin chào")
        self.wait_sent(lambda s: PHONE in s, 15, "no first reply")
        # Six new callers' first replies, at one a second, hold the page
        # back well past the two idle seconds.
        for n in range(6):
            self.text(FLOOD_NUMBER % n, "b-%d" % n, "xin chào")
        self.text(PHONE, "a-2", "1")
        sent = self.wait_sent(lambda s: len(s) >= 7, 30,
                              "the first replies were not all sent")
        deadline = time.monotonic() + 10
        while True:
            rows = self.daemon.rows(
                "SELECT o.status, o.last_error FROM outbound o JOIN inbound "
                "i ON i.id = o.inbound_id WHERE i.provider_msg_id = 'a-2'")
            if rows and rows[0]["status"] != "pending":
                break
            self.assertLess(time.monotonic(), deadline, "page never judged")
            time.sleep(0.1)
        self.assertEqual(rows[0]["status"], "expired")
        self.assertEqual(sent.count(PHONE), 1, "the late page was sent")
        # The first replies, as late, all went: an acknowledgement never
        # expires.
        for n in range(6):
            self.assertIn(FLOOD_NUMBER % n, sent)
        token = self.daemon.ctl("token", "add", "sup", "--role",
                                "supervisor").stdout.strip()
        r = self.daemon.request("GET", "/v1/stats", headers={
            "Authorization": "Bearer " + token})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["outbox"]["expired"], 1)
        out = self.daemon.ctl("stats")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"(?m)^outbox_expired\s+1$")
        self.assertEqual(self.daemon.stop(), 0)
        self.assertIsNone(FLOOD_FORMS.search(self.daemon.log_text()))

    def test_stop_then_start_after_a_burst_are_both_confirmed_in_order(self):
        self.channel(rate_limit_per_second=50)
        self.daemon.start()
        for n in range(15):                 # a flood: > 10 in a minute
            self.text(PHONE, "burst-%d" % n, "9")
            self.text(OTHER, "other-%d" % n, "9")
        self.text(PHONE, "stop", "STOP")
        self.text(PHONE, "start", "START")
        self.text(OTHER, "menu", "MENU")    # restart: its page goes too
        with open(self.daemon.config["menu"]) as f:
            strings = json.load(f)["strings"]
        out, back = strings["opted_out"]["vi"], strings["opted_in"]["vi"]
        deadline = time.monotonic() + 15
        while True:
            texts = [d["text"] for d in self.fa.deliveries("json")]
            if out in texts and back in texts:
                break
            self.assertLess(time.monotonic(), deadline,
                            "a keyword confirmation was swallowed")
            time.sleep(0.05)
        self.assertLess(texts.index(out), texts.index(back))
        self.assertEqual((texts.count(out), texts.count(back)), (1, 1))
        # The limiter still holds the flood's own automatic replies back.
        limited = self.daemon.rows(
            "SELECT count(*) AS n FROM outbound o JOIN inbound i ON i.id = "
            "o.inbound_id WHERE i.provider_msg_id IN ('burst-11', "
            "'burst-12', 'burst-13', 'burst-14')")[0]["n"]
        self.assertEqual(limited, 0, "the flood was answered in full")
        deadline = time.monotonic() + 15
        while [r["status"] for r in self.daemon.rows(
                "SELECT o.status FROM outbound o JOIN inbound i ON i.id = "
                "o.inbound_id WHERE i.provider_msg_id = 'menu'")] != ["sent"]:
            self.assertLess(time.monotonic(), deadline,
                            "the restart's page was swallowed")
            time.sleep(0.05)
        # But a flooding sender who repeats a keyword is answered once
        # an interval: HELP cannot jump the queue all day.
        for n in range(3):
            self.text(OTHER, "menu-again-%d" % n, "MENU")
            self.text(PHONE, "start-again-%d" % n, "START")
        deadline = time.monotonic() + 15
        while self.daemon.rows(
                "SELECT count(*) AS n FROM inbound WHERE provider_msg_id "
                "LIKE '%-again-%' AND processed_at IS NOT NULL")[0]["n"] < 6:
            self.assertLess(time.monotonic(), deadline, "not processed")
            time.sleep(0.05)
        again = self.daemon.rows(
            "SELECT count(*) AS n FROM outbound o JOIN inbound i ON i.id = "
            "o.inbound_id WHERE i.provider_msg_id LIKE '%-again-%'")[0]["n"]
        self.assertEqual(again, 0, "a repeated keyword was answered again")

    def test_console_has_no_rate_limit_by_default(self):
        # Was 1 a second on every channel: 16,000 replies, 4.5 hours.
        self.daemon.start()
        for n in range(40):
            body = ("from=%%2B8490%07d&to=1567&text=hi&id=c-%d" %
                    (n, n)).encode()
            r = self.daemon.request(
                "POST", "/v1/sms/console", body,
                {"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(r.status, 200, r.body)
        deadline = time.monotonic() + 15
        while True:
            n = self.daemon.rows("SELECT count(*) AS n FROM outbound WHERE "
                                 "channel = 'console' AND status = "
                                 "'delivered'")[0]["n"]
            if n == 40:
                break
            self.assertLess(time.monotonic(), deadline,
                            "console replies trickled out (%d of 40)" % n)
            time.sleep(0.1)
        self.assertEqual(self.daemon.stop(), 0)
        self.assertIsNone(FLOOD_FORMS.search(self.daemon.log_text()))
