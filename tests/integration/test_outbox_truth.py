"""Outbox truth: a text is claimed (committed as `sending`) only when its
request can leave at once, so after a kill -9 every row marked `unknown`
is one whose request really reached the aggregator.

Africa's Talking drops no repeated request, so its `unknown` rows are
never resent: a row claimed but stuck in a queue inside the daemon would
be a survivor's text written off unsent.  The fake aggregator records
every request it receives and holds the first ones open ("hang"), so
at the instant of the kill every claimed request is either in its
record or was never sent."""

import signal
import sqlite3
import time
import urllib.parse

from base import DaemonTestCase
from fake_aggregator import FakeAggregator

SECRETS = {"at_api_key": "at-api-key-for-outbox-truth",
           "at_username": "hotline"}
ROUNDS = 3


class OutboxTruth(DaemonTestCase):
    start_daemon = False

    def setUp(self):
        super().setUp()
        self.fa = FakeAggregator(secrets=SECRETS).start()
        self.addCleanup(self.fa.stop)
        self.daemon.config["channels"].append(
            {"name": "at2", "provider": "africastalking",
             "username": "hotline", "api_key": {"env": "HL_TEST_AT_KEY2"},
             "callback_token": {"env": "HL_TEST_AT_TOKEN"},
             "short_code": "1567", "send_url": self.fa.send_url("at"),
             "rate_limit_per_second": 1000})
        self.daemon.env["HL_TEST_AT_KEY2"] = SECRETS["at_api_key"]

    def queue_rows(self, count):
        """Rows to `count` different numbers, queued in a stopped
        daemon's database."""
        self.daemon.start()
        self.assertEqual(self.daemon.stop(), 0)
        con = sqlite3.connect(self.daemon.db_path)
        numbers = ["+8490%07d" % i for i in range(count)]
        with con:
            for n in numbers:
                con.execute(
                    "INSERT INTO outbound(channel, msisdn, caller, body, "
                    "purpose, send_key, next_attempt_at, created_at, "
                    "updated_at) VALUES ('at2', ?, 'c_test', 'hello', "
                    "'message', lower(hex(randomblob(8))), strftime("
                    "'%Y-%m-%dT%H:%M:%fZ','now'), strftime('%Y-%m-%dT%H:"
                    "%M:%SZ','now'), strftime('%Y-%m-%dT%H:%M:%SZ','now'))",
                    (n,))
        con.close()
        return numbers

    def count(self, status):
        return self.daemon.rows(
            "SELECT count(*) AS n FROM outbound WHERE status = ?",
            status)[0]["n"]

    def kill_while_sending(self, in_flight):
        """Start with the next `in_flight` requests held open, wait until
        the daemon has claimed a full window, then kill -9."""
        before = len(self.fa.requests("at"))
        self.fa.script("at", *["hang"] * in_flight)
        self.daemon.start()
        deadline = time.monotonic() + 15
        while self.count("sending") < in_flight:
            self.assertLess(time.monotonic(), deadline,
                            "the outbox never filled its window")
            time.sleep(0.05)
        # Whatever was claimed and can reach the fake has reached it.
        deadline = time.monotonic() + 3
        while (len(self.fa.requests("at")) - before < in_flight and
               time.monotonic() < deadline):
            time.sleep(0.05)
        self.daemon.stop(signal.SIGKILL)

    def recipients(self, requests):
        return [urllib.parse.parse_qs(r.raw_body.decode())["to"][0]
                for r in requests]

    def check(self, in_flight):
        self.daemon.config["outbox"] = {
            "max_in_flight": in_flight, "timeout_seconds": 60,
            "contact_windows": {"default": "00:00-24:00"}}
        numbers = self.queue_rows(in_flight * ROUNDS + 10)
        for _ in range(ROUNDS):
            self.kill_while_sending(in_flight)
        # The last start sends the rest; nothing hangs now.
        self.fa.unscript("at")
        self.daemon.start()
        deadline = time.monotonic() + 60
        while self.count("pending") + self.count("sending") > 0:
            self.assertLess(time.monotonic(), deadline, "rows never "
                            "settled")
            time.sleep(0.1)
        received = self.recipients(self.fa.requests("at"))
        delivered = self.recipients(
            [r for r in self.fa.requests("at") if r.answer == "ok"])
        unknown = [r["msisdn"] for r in self.daemon.rows(
            "SELECT msisdn FROM outbound WHERE status = 'unknown'")]
        sent = [r["msisdn"] for r in self.daemon.rows(
            "SELECT msisdn FROM outbound WHERE status = 'sent'")]
        self.assertEqual(len(unknown), in_flight * ROUNDS)
        never_left = [n for n in unknown if n not in received]
        # Counts only: a failure message names no number.
        self.assertEqual(len(never_left), 0, "%d of %d unknown rows never "
                         "reached the aggregator" %
                         (len(never_left), len(unknown)))
        self.assertEqual(len(delivered), len(set(delivered)),
                         "a recipient got a text twice")
        self.assertTrue(sorted(sent + unknown) == sorted(numbers),
                        "a row is neither sent nor unknown")
        self.assertTrue(sorted(delivered) == sorted(sent),
                        "the rows sent are not the texts delivered")

    def test_four_in_flight(self):
        self.check(4)

    def test_sixteen_in_flight(self):
        self.check(16)

    def test_the_maximum_in_flight(self):
        self.check(64)
