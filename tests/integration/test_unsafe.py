"""Outcome "unsafe" means silence, against the real daemon and a fake
aggregator: every text still pending for the caller is cancelled and
never reaches the aggregator, no follow-up is queued for them, the API
shows them as do-not-contact and refuses a counsellor's text, until the
caller writes or dials again themselves."""

import sqlite3
import time

from base import DaemonTestCase
from harness import AT_TOKEN

PHONE = "+84912345678"
OTHER = "+84987654321"
# Vietnamese, counsellor, safe to call, a word, now, safe to text, send.
SAFE_TO_TEXT = ["1", "1", "1", "1", "1", "1", "1"]
Q = "?token=" + AT_TOKEN


def closed_window():
    """A contact window one minute long, six hours from now in the
    hotline's time: every text to a caller waits (stays pending)."""
    t = time.gmtime(time.time() + 7 * 3600 + 6 * 3600)
    start = t.tm_hour * 60 + t.tm_min
    end = start + 1
    return "%02d:%02d-%02d:%02d" % (start // 60, start % 60, end // 60,
                                    end % 60)


class Unsafe(DaemonTestCase):
    start_daemon = False

    def setUp(self):
        super().setUp()
        self.fa = self.fake_aggregator(secrets={
            "at_api_key": "at-api-key", "at_username": "hotline"})
        self.add_fa_channel(self.fa)
        cfg = self.daemon.config
        cfg["outbox"] = {"contact_windows": {"default": closed_window()},
                         "max_delay_seconds": 2}
        self.daemon.start()
        self.tokens = {}
        self.token("lan")
        self.seq = 0

    # Helpers ----------------------------------------------------------

    def dial(self, session, path, phone=PHONE):
        for i in range(len(path) + 1):
            r = self.daemon.ussd("fa", session, phone, "*".join(path[:i]),
                                 Q)
            self.assertEqual(r.status, 200, r.body)

    def request_callback(self, phone, session):
        self.dial(session, SAFE_TO_TEXT, phone)
        rows = self.daemon.rows("SELECT id FROM tasks WHERE status != "
                                "'closed' ORDER BY id DESC LIMIT 1")
        return rows[0]["id"]

    def text_in(self, body, phone=PHONE):
        self.seq += 1
        self.at_sms(phone, body, "in-%d" % self.seq, channel="fa")

    def claim(self, task):
        r = self.api("POST", "/v1/callbacks/%d/claim" % task, "lan")
        self.assertEqual(r.status, 200, r.body[:200])

    def complete(self, task, outcome, **extra):
        body = dict(extra, outcome=outcome)
        r = self.api("POST", "/v1/callbacks/%d/complete" % task, "lan",
                     body)
        self.assertEqual(r.status, 200, r.body[:200])
        return r.json()

    def message(self, task, text):
        return self.api("POST", "/v1/callbacks/%d/messages" % task, "lan",
                        {"text": text})

    def task(self, task):
        r = self.api("GET", "/v1/callbacks/%d" % task, "lan")
        self.assertEqual(r.status, 200)
        return r.json()

    def outbound(self, phone):
        return self.daemon.rows("SELECT id, purpose, status, last_error "
                                "FROM outbound WHERE msisdn = ? ORDER BY id",
                                phone)

    def caller_of(self, task):
        return self.daemon.rows("SELECT caller FROM tasks WHERE id = ?",
                                task)[0]["caller"]

    def open_task(self, caller, safe_to_sms):
        """A task for the caller that they did not file themselves (an
        import, or one opened for them), written into the database."""
        con = sqlite3.connect(self.daemon.db_path, timeout=5)
        with con:
            cur = con.execute(
                "INSERT INTO tasks(caller, msisdn, channel, safe_to_sms, "
                "created_at, updated_at, alerted_at) VALUES (?, ?, 'fa', ?, "
                "strftime('%Y-%m-%dT%H:%M:%SZ','now'), "
                "strftime('%Y-%m-%dT%H:%M:%SZ','now'), 't')",
                (caller, PHONE, safe_to_sms))
            task = cur.lastrowid
        con.close()
        return task

    def open_window(self):
        """The window's hour comes: every waiting row is due now."""
        self.assertEqual(self.daemon.stop(), 0)
        con = sqlite3.connect(self.daemon.db_path, timeout=5)
        with con:
            con.execute("UPDATE outbound SET next_attempt_at = "
                        "strftime('%Y-%m-%dT%H:%M:%fZ','now')")
        con.close()
        self.daemon.config["outbox"]["contact_windows"] = {
            "default": "00:00-24:00"}
        self.daemon.start()

    # Tests ------------------------------------------------------------

    def test_unsafe_cancels_pending_texts_and_they_never_leave(self):
        task = self.request_callback(PHONE, "u1")
        other = self.request_callback(OTHER, "o1")
        self.claim(task)
        self.assertEqual(self.message(task, "first").status, 202)
        # No answer: the missed-call text is queued (waiting for the
        # window), and the task comes back.
        retry = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                              time.gmtime(time.time() + 1))
        done = self.complete(task, "no_answer", retry_at=retry)
        self.assertEqual(done["status"], "pending")
        self.claim(task)
        self.assertEqual(self.message(task, "second").status, 202)
        pending = self.outbound(PHONE)
        self.assertEqual(sorted(r["purpose"] for r in pending),
                         ["message", "message", "missed_call"])
        self.assertTrue(all(r["status"] == "pending" for r in pending))
        # Another caller's text waits too.
        self.token("sup", "supervisor")
        r = self.api("POST", "/v1/callbacks/%d/claim" % other, "sup")
        self.assertEqual(r.status, 200)
        r = self.api("POST", "/v1/callbacks/%d/messages" % other, "sup",
                     {"text": "control"})
        self.assertEqual(r.status, 202)

        done = self.complete(task, "unsafe")
        self.assertTrue(done["do_not_contact"])
        rows = self.outbound(PHONE)
        self.assertEqual([(r["status"], r["last_error"]) for r in rows],
                         [("failed", "do_not_contact")] * 3)
        self.assertEqual([r["status"] for r in self.outbound(OTHER)],
                         ["pending"])
        self.assertIn("event=caller.do_not_contact", self.daemon.log_text())
        self.assertIn("cancelled=3", self.daemon.log_text())

        # The window opens: the other caller's text goes, theirs never.
        self.open_window()
        self.fa.wait_for(1, "africastalking")
        deadline = time.monotonic() + 10
        while self.outbound(OTHER)[0]["status"] not in ("sent",
                                                        "delivered"):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        sent_to = [r.fields.get("to") for r in self.fa.requests()]
        self.assertNotIn(PHONE, sent_to)
        self.assertEqual(len(sent_to), 1)
        self.assertEqual([r["status"] for r in self.outbound(PHONE)],
                         ["failed"] * 3)

    def test_api_shows_do_not_contact_and_refuses_a_text(self):
        task = self.request_callback(PHONE, "u1")
        self.assertFalse(self.task(task)["do_not_contact"])
        self.claim(task)
        self.complete(task, "unsafe", note="someone else answered")
        self.assertTrue(self.task(task)["do_not_contact"])
        listed = self.api("GET", "/v1/callbacks?status=all", "lan").json()
        mine = [t for t in listed["tasks"] if t["id"] == task]
        self.assertTrue(mine[0]["do_not_contact"])
        # Any open task of theirs refuses a counsellor's text.
        second = self.open_task(self.caller_of(task), 1)
        self.assertTrue(self.task(second)["do_not_contact"])
        self.claim(second)
        r = self.message(second, "hello")
        self.assertEqual(r.status, 409)
        err = r.json()["error"]
        self.assertEqual(err["code"], "do_not_contact")
        self.assertIn("unsafe", err["message"])
        self.assertEqual(self.outbound(PHONE), [])

    def test_no_follow_up_while_the_mark_stands(self):
        task = self.request_callback(PHONE, "u1")
        self.claim(task)
        self.complete(task, "unsafe")
        # A task the caller did not file themselves, with a yes to texts:
        # its no_answer must not text them.
        second = self.open_task(self.caller_of(task), 1)
        self.assertTrue(self.task(second)["do_not_contact"])
        self.claim(second)
        self.assertEqual(self.message(second, "hi").status, 409)
        done = self.complete(second, "no_answer")
        self.assertEqual(done["status"], "pending")
        self.assertEqual(self.outbound(PHONE), [])

    def test_a_new_text_from_the_caller_lifts_the_mark(self):
        task = self.request_callback(PHONE, "u1")
        self.claim(task)
        self.complete(task, "unsafe")
        self.assertTrue(self.task(task)["do_not_contact"])
        self.text_in("toi an toan roi")
        deadline = time.monotonic() + 10
        while self.task(task)["do_not_contact"]:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        audit = self.daemon.rows("SELECT actor, detail FROM audit WHERE "
                                 "action = 'caller.contacted'")
        self.assertEqual(audit, [{"actor": "sms:fa",
                                  "detail": self.task(task)["caller"]}])
        # Their own answer (texting unsafe, recorded with the outcome)
        # still stands until they answer again.
        second = self.open_task(self.caller_of(task), None)
        self.assertFalse(self.task(second)["do_not_contact"])
        self.claim(second)
        r = self.message(second, "hello")
        self.assertEqual((r.status, r.json()["error"]["code"]),
                         (409, "unsafe_to_text"))

    def test_a_new_ussd_session_lifts_the_mark(self):
        task = self.request_callback(PHONE, "u1")
        self.claim(task)
        self.complete(task, "unsafe")
        # Another number dialling changes nothing for this caller.
        self.dial("o1", [], OTHER)
        self.assertTrue(self.task(task)["do_not_contact"])
        self.dial("u2", [])
        self.assertFalse(self.task(task)["do_not_contact"])
        self.assertEqual(len(self.daemon.rows(
            "SELECT 1 FROM audit WHERE action = 'caller.contacted' AND "
            "actor = 'ussd:fa'")), 1)
