"""Claims through the writer: a channel's due rows are read on the loop's
connection, which cannot see a claim still in flight on the writer's, so
the outbox must not read and claim them again meanwhile, and a claim that
moved no row must not send it.

Everything that makes the outbox look again at once: hundreds of rows,
answers arriving, rows queued by another process holding the write lock
(the writer's claims wait behind it while kicks pile up), hotlinectl
commits, inbound texts, and config reloads.  Every row must reach the
fake aggregator exactly once, and be claimed exactly once."""

import collections
import re
import signal
import sqlite3
import threading
import time
import urllib.parse

from base import DaemonTestCase
from fake_aggregator import FakeAggregator

SECRETS = {"at_api_key": "at-api-key-for-claims", "at_username": "hotline",
           "json_secret": "json-secret-for-claims"}
# Not in harness.TEST_NUMBERS: the log is scanned for them here.
NUMBER = "+8491%07d"
FORMS = re.compile(r"(?<!\d)(?:\+?84|0)9[12]\d{7}(?!\d)")


class OutboxClaims(DaemonTestCase):
    start_daemon = False

    def setUp(self):
        super().setUp()
        self.fa = FakeAggregator(secrets=SECRETS).start()
        self.addCleanup(self.fa.stop)
        cfg = self.daemon.config
        cfg["channels"] += [
            # Africa's Talking drops no repeated request: a second claim
            # of a row would be a second text.
            {"name": "at2", "provider": "africastalking",
             "username": "hotline", "api_key": {"env": "HL_TEST_AT_KEY2"},
             "callback_token": {"env": "HL_TEST_AT_TOKEN"},
             "short_code": "1567", "send_url": self.fa.send_url("at"),
             "rate_limit_per_second": 1000},
            {"name": "js", "provider": "json", "secret": {"env": "HL_TEST_JS"},
             "send_url": self.fa.send_url("json"), "from": "1567",
             "rate_limit_per_second": 1000},
        ]
        cfg["outbox"] = {"contact_windows": {"default": "00:00-24:00"},
                         "max_in_flight": 16, "timeout_seconds": 20}
        self.daemon.env.update({"HL_TEST_AT_KEY2": SECRETS["at_api_key"],
                                "HL_TEST_JS": SECRETS["json_secret"]})
        self.next_number = 0

    def insert(self, con, count, hold=0.0):
        """Queue count rows on each channel in one transaction of another
        connection, keeping the write lock for `hold` seconds."""
        con.execute("BEGIN IMMEDIATE")
        for _ in range(count):
            for channel in ("at2", "js"):
                con.execute(
                    "INSERT INTO outbound(channel, msisdn, caller, body, "
                    "purpose, send_key, next_attempt_at, created_at, "
                    "updated_at) VALUES (?, ?, 'c_test', 'hello', 'message',"
                    " lower(hex(randomblob(8))), strftime('%Y-%m-%dT%H:%M:"
                    "%fZ','now'), strftime('%Y-%m-%dT%H:%M:%SZ','now'), "
                    "strftime('%Y-%m-%dT%H:%M:%SZ','now'))",
                    (channel, NUMBER % self.next_number))
                self.next_number += 1
        time.sleep(hold)
        con.execute("COMMIT")

    def test_every_row_is_claimed_and_sent_exactly_once(self):
        self.daemon.start()
        self.assertEqual(self.daemon.stop(), 0)
        con = sqlite3.connect(self.daemon.db_path, timeout=30,
                              isolation_level=None)
        self.insert(con, 150)
        self.daemon.start()
        failures = []

        def other_process():
            # Rows queued behind the daemon's back while it claims: each
            # commit is a kick, and the held lock keeps claims in flight.
            try:
                c = sqlite3.connect(self.daemon.db_path, timeout=30,
                                    isolation_level=None)
                for _ in range(15):
                    self.insert(c, 10, hold=0.05)
                    time.sleep(0.02)
                c.close()
            except Exception as e:              # noqa: BLE001
                failures.append("insert: %s" % type(e).__name__)

        def hotlinectl():
            for n in range(6):
                r = self.daemon.ctl("token", "add", "claims-%d" % n,
                                    "--role", "counsellor")
                if r.returncode != 0:
                    failures.append("hotlinectl: %d" % r.returncode)

        def inbound():
            for n in range(30):
                body = ("from=%%2B8492%07d&to=1567&text=hi&id=cl-%d" %
                        (n, n)).encode()
                r = self.daemon.request(
                    "POST", "/v1/sms/console", body,
                    {"Content-Type": "application/x-www-form-urlencoded"})
                if r.status != 200:
                    failures.append("inbound: %d" % r.status)

        threads = [threading.Thread(target=f)
                   for f in (other_process, hotlinectl, inbound)]
        for t in threads:
            t.start()
        for _ in range(3):
            time.sleep(0.3)
            self.daemon.send_signal(signal.SIGHUP)
        for t in threads:
            t.join()
        self.assertEqual(failures, [])
        total = self.next_number
        self.assertEqual(total, 2 * (150 + 15 * 10))

        deadline = time.monotonic() + 120
        while self.daemon.rows(
                "SELECT count(*) AS n FROM outbound WHERE channel IN "
                "('at2', 'js') AND status = 'sent'")[0]["n"] < total:
            left = self.daemon.rows(
                "SELECT status, count(*) AS n FROM outbound WHERE channel "
                "IN ('at2', 'js') AND status != 'sent' GROUP BY status")
            self.assertLess(time.monotonic(), deadline,
                            "rows never all sent: %r" %
                            [(r["status"], r["n"]) for r in left])
            time.sleep(0.1)
        # Answers still on their way would be second requests.
        time.sleep(1)
        rows = self.daemon.rows(
            "SELECT channel, msisdn, send_key, attempts FROM outbound "
            "WHERE channel IN ('at2', 'js')")
        self.assertEqual(len(rows), total)
        self.assertEqual([r for r in rows if r["attempts"] != 1], [],
                         "a row was claimed more than once")

        at_to = collections.Counter(
            urllib.parse.parse_qs(r.raw_body.decode())["to"][0]
            for r in self.fa.requests("at"))
        js_ids = collections.Counter(r.fields["id"]
                                     for r in self.fa.requests("json"))
        # Counts only: a failure message names no number.
        self.assertEqual(sum(1 for n in at_to.values() if n > 1), 0,
                         "a recipient got a text twice")
        self.assertEqual(sum(1 for n in js_ids.values() if n > 1), 0,
                         "a json row was sent twice")
        self.assertTrue(set(at_to) == {r["msisdn"] for r in rows
                                       if r["channel"] == "at2"},
                        "the texts sent are not the rows queued")
        self.assertEqual(set(js_ids), {r["send_key"] for r in rows
                                       if r["channel"] == "js"})
        self.assertEqual(self.daemon.stop(), 0)
        log = self.daemon.log_text()
        self.assertNotIn("store.failed", log)
        self.assertIsNone(FORMS.search(log), "a number reached the log")
