"""Erasure of one caller on request (POST /v1/callers/{caller}/erase and
hotlinectl erase): open tasks closed as erased, the live lease ended, the
pending text never sent (checked at the fake aggregator), numbers, texts,
notes and menu answers gone from every table, the opt-out kept under the
pseudonym, one audit row, other callers intact, and twice is harmless."""

import sqlite3
import time

from base import DaemonTestCase
from harness import AT_TOKEN, number_forms

PHONE = "+84912345678"
OTHER = "+84987654321"
SECRET = "mango-lantern-8812"
# config/menu.json: Vietnamese, a counsellor, safe to call, then when
# (1 now, 4 evening), safe to text, send.
NOW_PATH = ["1", "1", "1", "1", "1", "1", "1"]
EVENING_PATH = ["1", "1", "1", "1", "4", "1", "1"]
TEXT_COLUMNS = {"tasks": ("msisdn", "caller", "preferred_time"),
                "task_notes": ("text",),
                "inbound": ("msisdn", "caller", "body"),
                "outbound": ("msisdn", "caller", "body"),
                "sessions": ("msisdn", "caller", "session_id", "state"),
                "optouts": ("caller",)}


class ErasureCase(DaemonTestCase):
    start_daemon = False

    def setUp(self):
        super().setUp()
        self.fa = self.fake_aggregator()
        cfg = self.daemon.config
        # "evening" opens in two hours: a text to an evening caller
        # waits, pending, in the outbox.
        hour = (time.gmtime().tm_hour + 7 + 2) % 24
        cfg["outbox"] = {"contact_windows": {
            "default": "00:00-24:00",
            "evening": "%02d:00-%02d:59" % (hour, hour)},
            "max_delay_seconds": 2}
        self.tokens = {}
        self.daemon.start()

    # Helpers ----------------------------------------------------------

    def request_callback(self, phone, session, path):
        for i in range(len(path) + 1):
            r = self.daemon.ussd("at", session, phone, "*".join(path[:i]),
                                 "?token=" + AT_TOKEN)
            self.assertEqual(r.status, 200)
        row = self.daemon.rows("SELECT id, caller FROM tasks WHERE msisdn "
                               "= ? AND status != 'closed'", phone)[0]
        return row["id"], row["caller"]

    def sent_to(self, phone):
        return [r for r in self.fa.requests("at")
                if r.fields.get("to") == phone]

    def assert_gone_everywhere(self, phone):
        """No form of the number and not the secret text in any row."""
        for table, cols in TEXT_COLUMNS.items():
            for row in self.daemon.rows("SELECT %s FROM %s" % (
                    ", ".join(cols), table)):
                for v in row.values():
                    v = v or ""
                    self.assertFalse(SECRET in v, "the text is in %s" %
                                     table)
                    for form in number_forms(phone):
                        self.assertFalse(form in v, "the number is in %s"
                                         % table)

    def erased_audit(self):
        return self.daemon.rows("SELECT actor, task_id, detail FROM audit "
                                "WHERE action = 'caller.erased'")

    def make_due_and_restart(self):
        """Stop; every pending or failed text due now and every window
        open, as if the evening came; start again."""
        self.assertEqual(self.daemon.stop(), 0)
        con = sqlite3.connect(self.daemon.db_path)
        with con:
            con.execute("UPDATE outbound SET next_attempt_at = strftime("
                        "'%Y-%m-%dT%H:%M:%fZ', 'now') WHERE status IN "
                        "('pending', 'failed')")
        con.close()
        self.daemon.config["outbox"]["contact_windows"]["evening"] = \
            "00:00-23:59"
        self.daemon.start()


class ApiErasure(ErasureCase):

    def test_supervisor_erases_a_caller_and_the_pending_text_never_goes(self):
        task, caller = self.request_callback(PHONE, "s-erase", EVENING_PATH)
        other, _ = self.request_callback(OTHER, "s-other", NOW_PATH)
        self.at_sms(PHONE, "help " + SECRET, "m-1")
        self.token("lan", "counsellor")
        self.token("sup", "supervisor")
        # A counsellor holds the task, notes it, and texts the caller:
        # the text waits for the evening.
        self.assertEqual(self.api("POST", "/v1/callbacks/%d/claim" % task,
                                  "lan").status, 200)
        self.assertEqual(self.api("POST", "/v1/callbacks/%d/notes" % task,
                                  "lan", {"text": "note " + SECRET}).status,
                         201)
        self.assertEqual(self.api("POST", "/v1/callbacks/%d/messages" %
                                  task, "lan",
                                  {"text": "text " + SECRET}).status, 202)
        self.wait(lambda: self.daemon.rows(
            "SELECT last_error FROM outbound WHERE task_id = ? AND "
            "purpose = 'message'", task)[0]["last_error"],
            "the text was never deferred")
        # The other caller is texted at once: the outbox works.
        self.assertEqual(self.api("POST", "/v1/callbacks/%d/claim" % other,
                                  "sup").status, 200)
        self.assertEqual(self.api("POST", "/v1/callbacks/%d/messages" %
                                  other, "sup", {"text": "control"}).status,
                         202)
        self.wait(lambda: self.sent_to(OTHER), "the control text never went")
        # PHONE got only the menu's first page, the answer anyone's text
        # gets (test_shared_phone.py).
        replied = len(self.sent_to(PHONE))
        self.assertEqual(replied, 1)

        path = "/v1/callers/%s/erase" % caller
        # Counsellors may not; nothing changes.
        r = self.api("POST", path, "lan")
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json()["error"]["code"], "forbidden")
        self.assertEqual(self.daemon.rows("SELECT status FROM tasks WHERE "
                                          "id = ?", task)[0]["status"],
                         "claimed")
        # A malformed pseudonym, and one nobody has.
        for bad in ("c_XYZ", "c_0123456789ab0", "c_0123456789AB", "84912"):
            r = self.api("POST", "/v1/callers/%s/erase" % bad, "sup")
            self.assertEqual(r.status, 400, bad)
            self.assertEqual(r.json()["error"]["code"], "bad_caller")
            self.assertIn("c_", r.json()["error"]["message"])
        r = self.api("POST", "/v1/callers/c_000000000000/erase", "sup")
        self.assertEqual(r.status, 404)

        r = self.api("POST", path, "sup")
        self.assertEqual(r.status, 200, r.body)
        got = r.json()
        self.assertEqual(got["caller"], caller)
        self.assertEqual(got["erased"]["tasks_closed"], 1)
        self.assertEqual(got["erased"]["leases_ended"], 1)
        self.assertEqual(got["erased"]["tasks"], 1)
        self.assertEqual(got["erased"]["notes"], 1)
        self.assertEqual(got["erased"]["inbound"], 1)
        self.assertEqual(got["erased"]["outbound_cancelled"], 1)
        # The USSD session and the SMS one its text opened.
        self.assertEqual(got["erased"]["sessions"], 2)
        self.assertEqual(got["in_flight"], 0)
        for form in number_forms(PHONE):
            self.assertNotIn(form, r.text)

        # The task: closed as erased, and nothing of the caller on it,
        # not even for a supervisor.
        r = self.api("GET", "/v1/callbacks/%d" % task, "sup")
        self.assertEqual(r.status, 200)
        page = r.json()
        self.assertEqual((page["status"], page["outcome"]),
                         ("closed", "erased"))
        self.assertIsNone(page.get("msisdn"))
        self.assertIsNone(page["caller"])
        self.assertIsNone(page["preferred_time"])
        self.assertEqual(page["notes"], [])
        self.assertEqual(page["messages"], [])
        for form in number_forms(PHONE):
            self.assertNotIn(form, r.text)
        self.assertNotIn(SECRET, r.text)
        # The counsellor no longer holds it.
        self.assertEqual(self.api("POST", "/v1/callbacks/%d/notes" % task,
                                  "lan", {"text": "x"}).status, 409)
        self.assert_gone_everywhere(PHONE)
        row = self.daemon.rows("SELECT status, last_error FROM outbound "
                               "WHERE task_id = ? AND purpose = 'message'",
                               task)[0]
        self.assertEqual((row["status"], row["last_error"]),
                         ("failed", "erased"))
        self.assertEqual(self.erased_audit(),
                         [{"actor": "sup", "task_id": None,
                           "detail": caller}])
        # The other caller is intact.
        self.assertEqual(self.daemon.rows(
            "SELECT msisdn, status FROM tasks WHERE id = ?", other),
            [{"msisdn": OTHER, "status": "claimed"}])
        self.assertIn("event=caller.erased", self.daemon.log_text())

        # Twice: 200, nothing more, still one audit row.
        r = self.api("POST", path, "sup")
        self.assertEqual(r.status, 200)
        self.assertEqual(set(r.json()["erased"].values()), {0})
        self.assertEqual(len(self.erased_audit()), 1)

        # Were it still pending, the evening would send it now: it is
        # never sent, while another text after it is.
        self.make_due_and_restart()
        self.assertEqual(self.api("POST", "/v1/callbacks/%d/messages" %
                                  other, "sup",
                                  {"text": "control 2"}).status, 202)
        self.wait(lambda: len(self.sent_to(OTHER)) == 2,
                  "the second control text never went")
        self.assertEqual(len(self.sent_to(PHONE)), replied)
        for req in self.fa.requests():
            self.assertNotIn(SECRET.encode(), req.raw_body)


class CtlErasure(ErasureCase):

    def test_erase_by_number_keeps_the_opt_out_and_prints_no_number(self):
        task, caller = self.request_callback(PHONE, "s-ctl", EVENING_PATH)
        other, _ = self.request_callback(OTHER, "s-other", NOW_PATH)
        self.at_sms(PHONE, SECRET, "m-1")
        # The caller opts out: one confirmation goes.
        self.at_sms(PHONE, "STOP", "m-2")
        self.wait(lambda: self.sent_to(PHONE), "no opt-out confirmation")

        for args, rc in ((["erase"], 2), (["erase", "--caller", "c_bad"], 2),
                         (["erase", "--caller", caller, "--number", PHONE],
                          2),
                         (["erase", "--number", "not-a-number"], 2),
                         (["erase", "--caller", "c_000000000000"], 3)):
            out = self.daemon.ctl(*args)
            self.assertEqual(out.returncode, rc, args)
            for form in number_forms(PHONE):
                self.assertNotIn(form, out.stdout + out.stderr)

        out = self.daemon.ctl("erase", "--number", PHONE)
        self.assertEqual(out.returncode, 0, out.stderr)
        for form in number_forms(PHONE):
            self.assertNotIn(form, out.stdout + out.stderr)
        lines = dict(line.split() for line in out.stdout.splitlines())
        self.assertEqual(lines["caller"], caller)
        self.assertEqual(lines["tasks_closed"], "1")
        self.assertEqual(lines["optouts_kept"], "1")
        self.assertEqual(int(lines["inbound"]), 2)
        self.assertEqual(self.daemon.rows("SELECT outcome FROM tasks WHERE "
                                          "id = ?", task)[0]["outcome"],
                         "erased")
        self.assert_gone_everywhere(PHONE)
        # The opt-out stays, by pseudonym only (it never held a number).
        self.assertEqual(self.daemon.rows("SELECT caller FROM optouts"),
                         [{"caller": caller}])
        self.assertEqual(self.erased_audit()[0]["detail"], caller)
        self.assertTrue(self.erased_audit()[0]["actor"].startswith("cli:"))
        self.assertEqual(self.daemon.rows("SELECT msisdn FROM tasks WHERE "
                                          "id = ?", other),
                         [{"msisdn": OTHER}])

        out = self.daemon.ctl("erase", "--caller", caller)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("tasks              0", out.stdout)
        self.assertEqual(len(self.erased_audit()), 1)

        # Still opted out: the caller writes again and is not texted,
        # even once the evening comes.
        before = len(self.sent_to(PHONE))
        self.at_sms(PHONE, "hello", "m-3")
        self.make_due_and_restart()
        self.token("sup", "supervisor")
        self.assertEqual(self.api("POST", "/v1/callbacks/%d/claim" % other,
                                  "sup").status, 200)
        self.assertEqual(self.api("POST", "/v1/callbacks/%d/messages" %
                                  other, "sup", {"text": "control"}).status,
                         202)
        self.wait(lambda: self.sent_to(OTHER), "the control text never went")
        self.assertEqual(len(self.sent_to(PHONE)), before)
