"""Inbound SMS: durable before acknowledged, idempotent, authenticated."""

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

from base import DaemonTestCase
from harness import AT_TOKEN

PHONE = "+84912345678"
# Vietnamese with every kind of diacritic, and an emoji outside the BMP.
TEXT = "Tôi cần giúp đỡ, xin gọi lại sau 8 giờ tối 🙏"


class SmsInbound(DaemonTestCase):

    def sms(self, channel, fields, query="", method="POST"):
        body = urllib.parse.urlencode(fields).encode()
        if method == "GET":
            return self.daemon.request(
                "GET", "/v1/sms/%s?%s%s" % (channel, body.decode(),
                                            query.replace("?", "&")))
        return self.daemon.request(
            "POST", "/v1/sms/%s%s" % (channel, query), body,
            {"Content-Type": "application/x-www-form-urlencoded"})

    def at_fields(self, msg_id, text=TEXT, sender=PHONE):
        return {"from": sender, "to": "1567", "text": text, "id": msg_id,
                "date": "2026-11-29 03:00:00", "linkId": "",
                "networkCode": "45204"}

    def test_message_is_stored_byte_exact_and_acknowledged(self):
        r = self.sms("console", self.at_fields("m-1"))
        self.assertEqual(r.status, 200, r.body)
        rows = self.daemon.rows("SELECT * FROM inbound")
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["body"], TEXT)
        self.assertEqual(rows[0]["body"].encode(), TEXT.encode())
        self.assertEqual(rows[0]["msisdn"], PHONE)
        self.assertEqual(rows[0]["provider_msg_id"], "m-1")
        self.assertEqual(rows[0]["received_at"], "2026-11-29T03:00:00Z")
        self.assertTrue(rows[0]["caller"].startswith("c_"))
        log = self.daemon.log_text()
        self.assertIn("event=sms.stored", log)
        self.assertNotIn("giúp", log)
        self.assertNotIn("gi\\xc3", log)

    def test_retried_webhook_is_acknowledged_and_stores_nothing_new(self):
        for _ in range(3):
            r = self.sms("console", self.at_fields("m-dup"))
            self.assertEqual(r.status, 200)
        self.assertEqual(len(self.daemon.rows("SELECT * FROM inbound")), 1)
        self.assertIn("event=sms.duplicate", self.daemon.log_text())
        # The same id on another channel is another message.
        self.assertEqual(self.sms("unfolded", self.at_fields("m-dup")).status,
                         200)
        self.assertEqual(len(self.daemon.rows("SELECT * FROM inbound")), 2)

    def test_plus_and_percent_2b_both_decode_to_the_number(self):
        # A literal '+' in form data is a space; %2B is a plus.  Both
        # must end as the same E.164 number.
        r = self.daemon.request(
            "POST", "/v1/sms/console",
            b"from=+84912345678&to=1567&text=hi&id=plus-raw",
            {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, r.body)
        r = self.daemon.request(
            "POST", "/v1/sms/console",
            b"from=%2B84912345678&to=1567&text=a+b%2Bc&id=plus-enc",
            {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, r.body)
        rows = self.daemon.rows("SELECT msisdn, body FROM inbound ORDER BY id")
        self.assertEqual([r["msisdn"] for r in rows], [PHONE, PHONE])
        self.assertEqual(rows[1]["body"], "a b+c")

    def test_text_from_a_caller_with_an_open_task_is_attached_to_it(self):
        self.daemon.ussd("console", "u1", PHONE, "1*2")     # urgent task
        task = self.daemon.rows("SELECT id FROM tasks")[0]["id"]
        self.sms("console", self.at_fields("after-task"))
        self.sms("console", self.at_fields("other", sender="+84987654321"))
        rows = self.daemon.rows(
            "SELECT provider_msg_id, task_id FROM inbound ORDER BY id")
        self.assertEqual(rows, [{"provider_msg_id": "after-task",
                                 "task_id": task},
                                {"provider_msg_id": "other",
                                 "task_id": None}])

    def test_africastalking_needs_its_token(self):
        for query in ("", "?token=nope"):
            r = self.sms("at", self.at_fields("at-1"), query)
            self.assertEqual(r.status, 403)
            self.assertEqual(r.json()["error"]["code"], "forbidden")
        self.assertEqual(self.daemon.rows("SELECT * FROM inbound"), [])
        r = self.sms("at", self.at_fields("at-1"), "?token=" + AT_TOKEN)
        self.assertEqual(r.status, 200)
        self.assertEqual(len(self.daemon.rows("SELECT * FROM inbound")), 1)

    def test_malformed_messages_are_refused_and_store_nothing(self):
        cases = [
            ({"from": PHONE, "text": "x"}, 400, "id"),
            ({"id": "a", "text": "x"}, 400, "from"),
            ({"id": "a", "from": PHONE}, 400, "text"),
            ({"id": "a", "from": "not a number", "text": "x"}, 400,
             "phone number"),
        ]
        for fields, status, word in cases:
            r = self.sms("console", fields)
            self.assertEqual(r.status, status, fields)
            self.assertIn(word, r.json()["error"]["message"])
        r = self.daemon.request(
            "POST", "/v1/sms/console",
            b"id=bad&from=%2B84912345678&text=%C3%28",
            {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 400)
        self.assertIn("UTF-8", r.json()["error"]["message"])
        r = self.daemon.request("POST", "/v1/sms/console", b"{}",
                                {"Content-Type": "application/json"})
        self.assertEqual(r.status, 415)
        r = self.daemon.request(
            "POST", "/v1/sms/console",
            b"id=big&from=%2B84912345678&text=" + b"x" * (70 * 1024),
            {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 413)
        self.assertEqual(self.daemon.rows("SELECT * FROM inbound"), [])

    def test_a_failed_commit_is_503_and_the_retry_is_stored(self):
        # Another process holds the write lock past the busy timeout:
        # the commit fails, and the aggregator is told to retry.
        import sqlite3
        con = sqlite3.connect(self.daemon.db_path, timeout=1)
        self.addCleanup(con.close)
        con.execute("BEGIN IMMEDIATE")
        r = self.sms("console", self.at_fields("locked-1"))
        con.rollback()
        self.assertEqual(r.status, 503)
        self.assertIn("Retry-After", r.headers)
        self.assertEqual(r.json()["error"]["code"], "unavailable")
        self.assertEqual(self.daemon.rows("SELECT * FROM inbound"), [])
        r = self.sms("console", self.at_fields("locked-1"))
        self.assertEqual(r.status, 200)
        self.assertEqual(len(self.daemon.rows("SELECT * FROM inbound")), 1)

    def test_concurrent_messages_are_all_stored_once(self):
        statuses = []

        def send(n):
            for i in range(20):
                statuses.append(self.sms(
                    "console", self.at_fields("c-%d-%d" % (n, i))).status)

        threads = [threading.Thread(target=send, args=(n,))
                   for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(statuses, [200] * 160)
        self.assertEqual(self.daemon.rows(
            "SELECT count(*) AS n, count(DISTINCT provider_msg_id) AS d "
            "FROM inbound"), [{"n": 160, "d": 160}])


class SmsCrash(DaemonTestCase):
    """kill -9 while a client sends as fast as it can: every message that
    got a 2xx is in the database exactly once after a restart."""

    def test_kill_9_loses_no_acknowledged_message(self):
        acked_path = os.path.join(self.daemon.tmp, "acked.txt")
        client = subprocess.Popen(
            [sys.executable, os.path.join(os.path.dirname(__file__),
                                          "sms_flood.py"),
             str(self.daemon.port), acked_path, "3000", "16"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if os.path.exists(acked_path) and \
                    os.path.getsize(acked_path) > 20000:
                break
            time.sleep(0.05)
        self.daemon.stop(signal.SIGKILL)
        out, err = client.communicate(timeout=120)
        self.assertEqual(client.returncode, 0, err.decode()[-2000:])
        with open(acked_path) as f:
            acked = [line.strip() for line in f if line.strip()]
        self.assertGreater(len(acked), 100)
        self.daemon.start()
        rows = self.daemon.rows("SELECT provider_msg_id FROM inbound")
        stored = [r["provider_msg_id"] for r in rows]
        self.assertEqual(len(stored), len(set(stored)), "duplicates")
        missing = set(acked) - set(stored)
        self.assertEqual(missing, set(), "acknowledged but lost")
        con = self.daemon.db()
        self.assertEqual(con.execute("PRAGMA integrity_check").fetchone()[0],
                         "ok")
        con.close()
