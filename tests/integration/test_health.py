"""Health: /readyz answers 503 with the reason when the database takes no
write, free disk under it is short, or texts wait with no send succeeding;
each degraded condition is logged once an interval, its end once."""

import re
import signal
import sqlite3
import time

from base import DaemonTestCase
from fake_aggregator import FakeAggregator

PHONE = "+84912345678"
ON_CALL = "+84933444555"


class Health(DaemonTestCase):
    start_daemon = False

    def setUp(self):
        super().setUp()
        self.daemon.config["health"] = {"interval_seconds": 1}

    def readyz(self, timeout=20):
        return self.daemon.request("GET", "/readyz", timeout=timeout)

    def wait_log(self, pattern, count=1, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            n = len(re.findall(pattern, self.daemon.log_text()))
            if n >= count:
                return n
            self.assertLess(time.monotonic(), deadline,
                            "no %r in the log" % pattern)
            time.sleep(0.1)

    def assert_not_ready(self, reason, *words):
        r = self.readyz()
        self.assertEqual(r.status, 503, r.body)
        err = r.json()["error"]
        self.assertEqual(err["code"], "not_ready")
        self.assertIn(reason, err["reasons"])
        for w in words:
            self.assertIn(w, err["message"])
        return err

    def reload(self, **health):
        self.daemon.config["health"].update(health)
        self.daemon.write_config()
        self.daemon.send_signal(signal.SIGHUP)
        self.wait_log(r"event=config\.reloaded")

    def test_ready_and_healthz_while_all_is_well(self):
        self.daemon.start()
        r = self.readyz()
        self.assertEqual((r.status, r.json()), (200, {"status": "ready"}))
        r = self.daemon.request("GET", "/healthz")
        self.assertEqual((r.status, r.json()), (200, {"status": "ok"}))
        time.sleep(1.5)
        self.assertNotIn("health.degraded", self.daemon.log_text())

    def test_free_disk_below_the_minimum(self):
        # About a petabyte: no test machine has that free.
        self.daemon.config["health"]["min_free_mb"] = 1000000000
        self.daemon.start()
        err = self.assert_not_ready("disk_low", "health.min_free_mb",
                                    "free space")
        self.assertEqual(err["reasons"], ["disk_low"])
        self.wait_log(r"event=health\.degraded reason=disk_low", 2)
        # Once an interval, not once a request.
        before = len(re.findall(r"health\.degraded", self.daemon.log_text()))
        for _ in range(20):
            self.assertEqual(self.readyz().status, 503)
        after = len(re.findall(r"health\.degraded", self.daemon.log_text()))
        self.assertLess(after - before, 10)
        # The /healthz of a loop that turns still answers.
        self.assertEqual(self.daemon.request("GET", "/healthz").status, 200)
        # Fixed (here: the minimum lowered): ready, and one line says so.
        self.reload(min_free_mb=0)
        self.wait_log(r"event=health\.recovered reason=disk_low")
        self.assertEqual(self.readyz().status, 200)
        time.sleep(2.5)
        log = self.daemon.log_text()
        self.assertEqual(len(re.findall(
            r"event=health\.recovered reason=disk_low", log)), 1)
        tail = log[log.index("event=health.recovered"):]
        self.assertNotIn("health.degraded", tail)

    def test_outbox_with_no_successful_send(self):
        cfg = self.daemon.config
        # The "at" channel sends to a port nobody listens on.
        cfg["alerts"] = {"sms": [ON_CALL], "channel": "at",
                         "escalate_after_seconds": 0}
        cfg["outbox"] = {"max_delay_seconds": 1, "max_attempts": 100}
        cfg["health"]["outbox_stall_seconds"] = 2
        self.daemon.start()
        self.assertEqual(self.readyz().status, 200)
        for text in ("", "1", "1*2"):
            self.assertEqual(self.daemon.ussd("console", "h-1", PHONE,
                                              text).status, 200)
        self.wait_log(r"event=outbox\.retry", 2)
        self.wait_log(r"event=health\.degraded reason=outbox_stalled")
        self.assert_not_ready("outbox_stalled",
                              "health.outbox_stall_seconds", "aggregator")
        # The aggregator comes back (here: the channel now points at
        # one): the alert is sent, the outbox is healthy again.
        fa = FakeAggregator(secrets={"at_api_key": "at-api-key",
                                     "at_username": "hotline"}).start()
        self.addCleanup(fa.stop)
        cfg["channels"][1]["send_url"] = fa.send_url("at")
        self.reload()
        self.wait_log(r"event=outbox\.sent")
        self.wait_log(r"event=health\.recovered reason=outbox_stalled")
        self.assertEqual(self.readyz().status, 200)

    def test_rows_deferred_to_a_contact_window_are_not_a_stall(self):
        self.daemon.config["health"]["outbox_stall_seconds"] = 1
        self.daemon.start()
        # A text waiting for the caller's window, never tried: not stuck.
        con = sqlite3.connect(self.daemon.db_path, timeout=10)
        with con:
            con.execute(
                "INSERT INTO outbound(channel, msisdn, caller, body, "
                "purpose, send_key, next_attempt_at, created_at, "
                "updated_at) VALUES ('console', ?, 'c_test', 'later', "
                "'missed_call', 'deferred-key', '2999-01-01T00:00:00Z', "
                "'2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')",
                (PHONE,))
        con.close()
        time.sleep(2.5)
        self.assertEqual(self.readyz().status, 200)
        self.assertNotIn("reason=outbox_stalled", self.daemon.log_text())

    def test_database_not_writable(self):
        self.daemon.start()
        self.assertEqual(self.readyz().status, 200)
        # Another process holds the write lock past the busy timeout.
        con = sqlite3.connect(self.daemon.db_path, timeout=10,
                              isolation_level=None, check_same_thread=False)
        self.addCleanup(con.close)
        con.execute("BEGIN IMMEDIATE")
        err = self.assert_not_ready("database_not_writable",
                                    "disk space and permissions")
        self.assertEqual(err["reasons"], ["database_not_writable"])
        self.wait_log(r"event=health\.degraded "
                      r"reason=database_not_writable", timeout=30)
        con.execute("ROLLBACK")
        self.wait_log(r"event=health\.recovered "
                      r"reason=database_not_writable", timeout=30)
        self.assertEqual(self.readyz().status, 200)

    def test_health_keys_are_checked(self):
        self.daemon.config["health"] = {"min_free_mb": -1,
                                        "stall_seconds": 5}
        try:
            self.daemon.start()
        except RuntimeError as e:
            self.assertIn("health.min_free_mb", str(e))
            self.assertIn("health.stall_seconds", str(e))
        else:
            self.fail("a bad health section was accepted")
