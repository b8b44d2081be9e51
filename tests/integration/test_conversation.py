"""The SMS conversation: menu over SMS, keywords, opt-out, floods."""

import sqlite3
import time
import urllib.parse

from base import DaemonTestCase

PHONE = "+84912345678"
OTHER = "+84987654321"


class Conversation(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.seq = 0

    def text(self, body, sender=PHONE, channel="console"):
        self.seq += 1
        r = self.daemon.request(
            "POST", "/v1/sms/" + channel,
            urllib.parse.urlencode({"from": sender, "to": "1567",
                                    "text": body,
                                    "id": "conv-%d" % self.seq}).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, r.body)
        self.wait_processed()

    def wait_processed(self):
        deadline = time.monotonic() + 10
        while self.daemon.rows("SELECT id FROM inbound WHERE processed_at "
                               "IS NULL"):
            self.assertLess(time.monotonic(), deadline, "never processed")
            time.sleep(0.02)

    def replies(self, msisdn=PHONE):
        return self.daemon.rows("SELECT body, purpose, status FROM outbound "
                                "WHERE msisdn = ? ORDER BY id", msisdn)

    def test_menu_over_sms_files_a_task(self):
        self.text("xin chào")
        first = self.replies()
        self.assertEqual(len(first), 1)
        self.assertIn("Chon ngon ngu", first[0]["body"])   # folded channel
        self.assertIn(first[0]["status"], ("pending", "sending", "delivered"))
        # vi, counsellor, safe to call, a word typed, evening, not safe
        # to text, send.
        for answer in ["1", "1", "1", "Mango", "4", "2", "1"]:
            self.text(answer)
        tasks = self.daemon.rows("SELECT * FROM tasks")
        self.assertEqual(len(tasks), 1)
        self.assertEqual((tasks[0]["topic"], tasks[0]["preferred_time"],
                          tasks[0]["safe_to_sms"], tasks[0]["channel"]),
                         ("counselling", "evening", 0, "console"))
        self.assertEqual(len(self.replies()), 8)
        self.assertIn("Cam on ban", self.replies()[-1]["body"])
        # The caller said texting is not safe: even the thanks stays
        # unsent (so does any page still waiting for the channel's rate
        # limit when the answer came).
        settled = self.wait_settled()
        self.assertEqual(settled[0]["status"], "delivered")
        self.assertEqual((settled[-1]["status"], settled[-1]["last_error"]),
                         ("failed", "unsafe_to_text"))

    def wait_settled(self, msisdn=PHONE):
        deadline = time.monotonic() + 10
        while True:
            rows = self.daemon.rows("SELECT status, last_error FROM outbound "
                                    "WHERE msisdn = ? ORDER BY id", msisdn)
            if all(r["status"] not in ("pending", "sending") for r in rows):
                return rows
            self.assertLess(time.monotonic(), deadline, "outbox never sent")
            time.sleep(0.05)

    def test_after_the_idle_time_the_next_text_starts_over(self):
        self.daemon.stop()
        self.daemon.config["sms"] = {"session_idle_seconds": 3}
        self.daemon.start()
        self.text("hello")
        self.text("1")                      # Vietnamese: the needs page
        self.assertIn("Ban can gi", self.replies()[-1]["body"])
        time.sleep(4.5)               # whole seconds are stored
        self.text("1")                      # too late: from the start
        self.assertIn("Chon ngon ngu", self.replies()[-1]["body"])

    def test_typo_repeats_the_page(self):
        self.text("hello")
        self.text("7")
        r = self.replies()
        self.assertIn("Lua chon khong hop le", r[-1]["body"])

    def test_opt_out_in_any_spelling_confirms_once_then_silence(self):
        self.text("hello")
        self.text("Dừng")
        confirmations = [r for r in self.replies()
                         if r["purpose"] == "opt_out_confirmation"]
        self.assertEqual(len(confirmations), 1)
        before = len(self.replies())
        for body in ("stop", "HỦY", "huy", "1", "menu"):
            self.text(body)
        self.assertEqual(len(self.replies()), before)
        self.assertEqual(len(self.daemon.rows("SELECT * FROM optouts")), 1)
        # Opting back in works and is confirmed.
        self.text("BATDAU")
        self.assertEqual(self.daemon.rows("SELECT * FROM optouts"), [])
        self.assertEqual(len(self.replies()), before + 1)

    def test_a_session_the_menu_no_longer_knows_starts_over(self):
        self.text("hello")
        con = sqlite3.connect(self.daemon.db_path, timeout=5)
        con.execute("UPDATE sessions SET state = '{\"node\": \"gone\"}', "
                    "node = 'gone'")
        con.commit()
        con.close()
        self.text("1")
        self.text("SOS", OTHER)
        self.assertIn("Chon ngon ngu", self.replies()[-1]["body"])
        self.assertEqual(self.daemon.rows("SELECT msisdn FROM tasks"),
                         [{"msisdn": OTHER}])
        self.assertEqual(self.daemon.rows(
            "SELECT count(*) AS n FROM inbound WHERE flags & 2")[0]["n"], 0)

    def test_urgent_keyword_files_an_urgent_task_before_any_menu(self):
        for body, sender in (("Cứu tôi", PHONE), ("sos", OTHER)):
            self.text(body, sender)
        tasks = self.daemon.rows("SELECT msisdn, priority, topic FROM tasks "
                                 "ORDER BY id")
        self.assertEqual(tasks, [
            {"msisdn": PHONE, "priority": "urgent", "topic": "urgent"},
            {"msisdn": OTHER, "priority": "urgent", "topic": "urgent"}])
        self.assertIn("113", self.replies()[0]["body"])

    def test_text_from_a_caller_with_an_open_task_joins_it(self):
        self.daemon.ussd("console", "u", PHONE, "1*1*1*1*1*1*1")
        self.text("I can talk after 9")
        # Answered as anyone is (test_shared_phone.py): silence would
        # tell whoever holds the phone that someone asked before.
        self.text("I can talk after 9", OTHER)
        self.assertEqual([r["body"] for r in self.replies()],
                         [r["body"] for r in self.replies(OTHER)])
        self.assertIn("Chon ngon ngu", self.replies()[0]["body"])
        row = self.daemon.rows("SELECT task_id FROM inbound")[0]
        self.assertIsNotNone(row["task_id"])
        # A keyword still acts.
        self.text("SOS")
        self.assertEqual(self.daemon.rows("SELECT priority FROM tasks"),
                         [{"priority": "urgent"}])

    def test_flood_is_stored_in_full_and_replies_are_limited(self):
        for i in range(25):
            self.text("help %d" % i)
        self.assertEqual(len(self.daemon.rows("SELECT * FROM inbound")), 25)
        self.assertLessEqual(len(self.replies()), 12)
        flagged = self.daemon.rows("SELECT count(*) AS n FROM inbound "
                                   "WHERE flags & 1")[0]["n"]
        self.assertGreaterEqual(flagged, 14)

    def test_messages_left_unprocessed_by_a_crash_are_processed_at_start(self):
        self.daemon.stop()
        con = sqlite3.connect(self.daemon.db_path)
        con.execute("INSERT INTO inbound(channel, provider_msg_id, caller, "
                    "msisdn, body, received_at, stored_at) VALUES "
                    "('console', 'orphan', 'c_000000000000', ?, 'SOS', '', "
                    "'2026-11-29T00:00:00Z')", (PHONE,))
        con.commit()
        con.close()
        self.daemon.start()
        self.wait_processed()
        self.assertEqual(self.daemon.rows("SELECT priority FROM tasks"),
                         [{"priority": "urgent"}])
