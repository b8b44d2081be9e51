"""USSD session resume against the real daemon: a caller whose session
dropped (no END) and who dials again within ussd.resume_seconds is
offered to continue or start over; after END, past the window, or from
another phone, the menu starts fresh."""

import sqlite3
import time
import urllib.parse

from base import DaemonTestCase

PHONE = "+84912345678"
OTHER = "+84987654321"

# The shipped menu: 1 Vietnamese / 2 English; need: 1 counsellor; safe to
# call 1 yes 2 no; when 1 now .. 4 evening; safe to text 1 yes 2 no;
# confirm 1 send 2 cancel.
TO_WHEN = ["2", "1", "1", "1"]       # English, counsellor, safe to call,
                                     # a verification word
FROM_WHEN = ["4", "2", "1"]          # evening, no texts, send
OFFER_EN = "Continue where you stopped?"


class UssdResume(DaemonTestCase):

    def hop(self, session, path, phone=PHONE, channel="console"):
        r = self.daemon.ussd(channel, session, phone, "*".join(path))
        self.assertEqual(r.status, 200, r.body)
        return r.text

    def walk(self, session, inputs, phone=PHONE):
        """Every hop of a session, as the aggregator sends them."""
        return [self.hop(session, inputs[:i], phone)
                for i in range(len(inputs) + 1)]

    def drop_at_when(self, session="s-drop", phone=PHONE):
        pages = self.walk(session, TO_WHEN, phone)
        self.assertTrue(pages[-1].startswith("CON "))
        self.assertIn("When is it safe", pages[-1])
        return pages[-1]

    def fresh_first_page(self):
        # A number that never dialled: what a first-time caller sees.
        return self.hop("s-fresh-%d" % time.monotonic_ns(), [],
                        "+84933444555")

    def test_drop_then_continue_files_the_answers_of_both_sessions(self):
        when_page = self.drop_at_when()
        self.assertEqual(self.daemon.rows("SELECT * FROM tasks"), [])
        offer = self.hop("s-again", [])
        self.assertTrue(offer.startswith("CON "), offer)
        self.assertIn(OFFER_EN, offer)
        self.assertIn("1. Continue", offer)
        self.assertIn("2. Start over", offer)
        # Continue: the page they were on, their answers kept.
        self.assertEqual(self.hop("s-again", ["1"]), when_page)
        pages = [self.hop("s-again", ["1"] + FROM_WHEN[:i])
                 for i in range(1, len(FROM_WHEN) + 1)]
        self.assertTrue(pages[-1].startswith("END "), pages[-1])
        tasks = self.daemon.rows("SELECT * FROM tasks")
        self.assertEqual(len(tasks), 1)
        t = tasks[0]
        # From the first session: language, topic, safe to call; from
        # the second: time and texting.
        self.assertEqual((t["language"], t["topic"], t["safe_to_call"],
                          t["preferred_time"], t["safe_to_sms"]),
                         ("en", "counselling", 1, "evening", 0))
        log = self.daemon.log_text()
        self.assertIn("event=ussd.resume", log)
        self.assertIn("resume=offered", log)
        self.assertIn("resume=continued", log)
        # A retried hop of the resumed session gives the same page and
        # files nothing twice.
        again = self.hop("s-again", ["1"] + FROM_WHEN)
        self.assertEqual(again, pages[-1])
        self.assertEqual(len(self.daemon.rows("SELECT * FROM tasks")), 1)
        # The request is filed: the next call starts fresh.
        self.assertEqual(self.hop("s-third", []), self.fresh_first_page())

    def test_start_over_begins_fresh(self):
        self.drop_at_when()
        self.assertIn(OFFER_EN, self.hop("s-again", []))
        first = self.fresh_first_page()
        self.assertEqual(self.hop("s-again", ["2"]), first)
        # Vietnamese this time, counsellor, not safe to call, now, texts
        # ok, send: nothing of the first session's answers survives.
        path = ["2", "1", "1", "2", "1", "1", "1"]
        pages = [self.hop("s-again", path[:i])
                 for i in range(2, len(path) + 1)]
        self.assertTrue(pages[-1].startswith("END "), pages[-1])
        t = self.daemon.rows("SELECT * FROM tasks")[0]
        self.assertEqual((t["language"], t["safe_to_call"],
                          t["preferred_time"], t["safe_to_sms"]),
                         ("vi", 0, "now", 1))
        self.assertIn("resume=restarted", self.daemon.log_text())

    def test_a_typo_at_the_offer_shows_it_again(self):
        self.drop_at_when()
        self.hop("s-again", [])
        page = self.hop("s-again", ["7"])
        self.assertIn("Not a valid choice", page)
        self.assertIn(OFFER_EN, page)
        self.assertIn("When is it safe", self.hop("s-again", ["7", "1"]))

    def test_dropping_at_the_offer_keeps_the_same_offer(self):
        when_page = self.drop_at_when()
        self.assertIn(OFFER_EN, self.hop("s-again", []))
        self.assertIn(OFFER_EN, self.hop("s-third", []))
        self.assertEqual(self.hop("s-third", ["1"]), when_page)

    def test_past_the_window_starts_fresh(self):
        self.drop_at_when()
        con = sqlite3.connect(self.daemon.db_path, timeout=5)
        con.execute("UPDATE sessions SET updated_at = "
                    "strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-601 seconds')")
        con.commit()
        con.close()
        self.assertEqual(self.hop("s-late", []), self.fresh_first_page())

    def test_a_small_window_runs_out(self):
        self.daemon.stop()
        self.daemon.config["ussd"] = {"resume_seconds": 1}
        self.daemon.start()
        self.drop_at_when()
        time.sleep(2.2)                   # whole seconds are stored
        self.assertEqual(self.hop("s-late", []), self.fresh_first_page())

    def test_zero_turns_resume_off(self):
        self.daemon.stop()
        self.daemon.config["ussd"] = {"resume_seconds": 0}
        self.daemon.start()
        self.drop_at_when()
        self.assertEqual(self.hop("s-again", []), self.fresh_first_page())

    def test_after_end_starts_fresh(self):
        # A filed request (END), and a cancelled one (END, no task).
        for i, path in enumerate((TO_WHEN + FROM_WHEN,
                                  TO_WHEN + ["4", "2", "2"])):
            pages = self.walk("s-end-%d" % i, path)
            self.assertTrue(pages[-1].startswith("END "), pages[-1])
            self.assertEqual(self.hop("s-next-%d" % i, []),
                             self.fresh_first_page())

    def test_a_text_since_the_drop_closes_the_offer(self):
        self.drop_at_when()
        r = self.daemon.request(
            "POST", "/v1/sms/console",
            urllib.parse.urlencode({"from": PHONE, "to": "1567",
                                    "text": "hello", "id": "m1"}).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200)
        deadline = time.monotonic() + 10
        while not self.daemon.rows("SELECT 1 FROM sessions WHERE kind = "
                                   "'sms'"):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)
        # The dropped session a few seconds older than the text.
        con = sqlite3.connect(self.daemon.db_path, timeout=5)
        con.execute("UPDATE sessions SET updated_at = "
                    "strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-5 seconds') "
                    "WHERE kind = 'ussd'")
        con.commit()
        con.close()
        self.assertEqual(self.hop("s-again", []), self.fresh_first_page())

    def test_another_phone_never_sees_the_offer(self):
        when_page = self.drop_at_when()
        # Another number, a new session: fresh, no trace of the first.
        other = self.hop("s-other", [], OTHER)
        self.assertEqual(other, self.fresh_first_page())
        self.assertNotIn(OFFER_EN, self.hop("s-other", ["1"], OTHER))
        # Another number on the dropped session's own id is refused and
        # shown nothing of it.
        r = self.daemon.ussd("console", "s-drop", OTHER, "")
        self.assertNotEqual(r.status, 200)
        self.assertNotIn("When is it safe", r.text)
        # The caller still gets their own offer after all that.
        self.assertIn(OFFER_EN, self.hop("s-mine", []))
        self.assertEqual(self.hop("s-mine", ["1"]), when_page)
        # And the other number, dropping in turn, gets only its own.
        self.walk("s-other2", ["1", "1"], OTHER)
        self.assertIn("Tiep tuc", self.hop("s-other3", [], OTHER))
        self.assertIn("Goi lai so nay co an toan",
                      self.hop("s-other3", ["1"], OTHER))
