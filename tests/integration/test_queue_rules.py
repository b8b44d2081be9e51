"""The callback queue's rules are one module's (daemon/queue.c): the API
and hotlinectl, working the same tasks side by side, follow the same
claim order, leases, outcomes, backoff and follow-up, and every number
either shows leaves its audit row."""

import re
import time

from test_api import ApiCase, NO_TEXT_PATH, PHONE, OTHER, THIRD, parse_utc


class SameRules(ApiCase):

    def setUp(self):
        super().setUp()
        self.token("lan")
        self.token("minh")

    def ctl(self, *args):
        return self.daemon.ctl(*args)

    def ctl_task_id(self, out):
        self.assertEqual(out.returncode, 0, out.stderr)
        return int(re.search(r"(?m)^task +(\d+)$", out.stdout).group(1))

    def test_claim_order_is_the_same_from_both(self):
        first = self.request_callback(PHONE, "o1")
        second = self.request_callback(OTHER, "o2")
        r = self.daemon.ussd("console", "o3", THIRD, "1*2")
        self.assertEqual(r.status, 200)
        urgent = self.daemon.rows(
            "SELECT id FROM tasks WHERE priority = 'urgent'")[0]["id"]
        # Urgent first, then oldest, whoever asks next.
        self.assertEqual(self.ok(self.api("POST", "/v1/callbacks/next",
                                          "lan"))["id"], urgent)
        self.assertEqual(self.ctl_task_id(self.ctl("next")), first)
        self.assertEqual(self.ok(self.api("POST", "/v1/callbacks/next",
                                          "minh"))["id"], second)
        # Nothing left due for either.
        self.assertEqual(self.ctl("next").returncode, 3)
        self.token("sup", "supervisor")
        self.ok(self.api("POST", "/v1/callbacks/next", "sup"), 204)
        # Each claim that showed a number left one row, by who saw it.
        actors = [(a["actor"], a["task_id"]) for a in self.reveals()]
        self.assertEqual(len(actors), 3)
        self.assertEqual(actors[0], ("lan", urgent))
        self.assertTrue(actors[1][0].startswith("cli:"))
        self.assertEqual(actors[2], ("minh", second))

    def test_a_lease_given_by_hotlinectl_binds_the_api(self):
        tid = self.request_callback(PHONE, "l1")
        other = self.request_callback(OTHER, "l2")
        self.assertEqual(self.ctl_task_id(self.ctl("next", "--as", "lan")),
                         tid)
        # Another counsellor may not act on lan's lease, nor take it.
        before = self.snapshot()
        for path, body in (("complete", {"outcome": "reached"}),
                           ("release", None), ("claim", None),
                           ("notes", {"text": "x"})):
            self.assert_error(self.api("POST", "/v1/callbacks/%d/%s" % (
                tid, path), "minh", body), 409, "conflict")
        # lan holds one task: no other until this one is done.
        self.assert_error(self.api("POST", "/v1/callbacks/%d/claim" % other,
                                   "lan"), 409, "conflict")
        self.assert_unchanged(before)
        # lan goes on from the API.
        t = self.ok(self.api("POST", "/v1/callbacks/%d/complete" % tid,
                             "lan", {"outcome": "wrong_number"}))
        self.assertEqual((t["status"], t["outcome"]),
                         ("closed", "wrong_number"))
        # A task the API closed is closed for hotlinectl too.
        out = self.ctl("complete", str(tid), "reached")
        self.assertEqual(out.returncode, 1)
        self.assertIn("is closed", out.stderr)

    def test_no_answer_backoff_and_attempts_are_shared(self):
        """Misses recorded from either side count toward one
        max_attempts (5 in the test config), with the same backoff."""
        tid = self.request_callback(PHONE, "b1")
        # First miss, from the API: back in 900 s.
        self.ok(self.api("POST", "/v1/callbacks/%d/claim" % tid, "lan"))
        t = self.ok(self.api("POST", "/v1/callbacks/%d/complete" % tid,
                             "lan", {"outcome": "no_answer"}))
        self.assertEqual((t["status"], t["attempts"]), ("pending", 1))
        self.assertAlmostEqual(parse_utc(t["retry_at"]) - time.time(),
                               900, delta=30)
        # Second, from hotlinectl: 1800 s, the backoff of a second miss.
        out = self.ctl("complete", str(tid), "no_answer")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("attempt 2 of 5", out.stdout)
        row = self.task_row(tid)
        self.assertEqual((row["status"], row["attempts"]), ("pending", 2))
        self.assertAlmostEqual(parse_utc(row["retry_at"]) - time.time(),
                               1800, delta=30)
        # Alternate until the last attempt closes it as unreached.
        for n in (3, 4):
            if n % 2:
                self.ok(self.api("POST", "/v1/callbacks/%d/claim" % tid,
                                 "lan"))
                t = self.ok(self.api(
                    "POST", "/v1/callbacks/%d/complete" % tid, "lan",
                    {"outcome": "no_answer"}))
                self.assertEqual(t["attempts"], n)
            else:
                out = self.ctl("complete", str(tid), "no_answer")
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertEqual(self.task_row(tid)["attempts"], n)
        self.ok(self.api("POST", "/v1/callbacks/%d/claim" % tid, "lan"))
        t = self.ok(self.api("POST", "/v1/callbacks/%d/complete" % tid,
                             "lan", {"outcome": "no_answer"}))
        self.assertEqual((t["status"], t["outcome"], t["attempts"]),
                         ("closed", "unreached", 5))
        # One task.completed row per outcome, whoever recorded it.
        done = [a["detail"] for a in self.daemon.rows(
            "SELECT detail FROM audit WHERE action = 'task.completed' AND "
            "task_id = ? ORDER BY id", tid)]
        self.assertEqual(done, ["no_answer"] * 4 + ["unreached"])
        # Each miss told the caller (who said texting is safe) once.
        self.assertEqual(len(self.daemon.rows(
            "SELECT id FROM outbound WHERE purpose = 'missed_call' AND "
            "task_id = ?", tid)), 5)

    def test_unsafe_from_hotlinectl_stops_texts_from_the_api(self):
        tid = self.request_callback(PHONE, "u1")
        out = self.ctl("complete", str(tid), "unsafe")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.task_row(tid)["safe_to_sms"], 0)
        # A later task of the caller that did not ask again (say, from
        # an SMS): their latest answer, the counsellor's, stands.
        row = self.task_row(tid)
        self.sql("INSERT INTO tasks (caller, msisdn, channel, created_at, "
                 "updated_at, alerted_at) VALUES (?, ?, 'console', "
                 "strftime('%Y-%m-%dT%H:%M:%SZ','now'), strftime('%Y-%m-"
                 "%dT%H:%M:%SZ','now'), strftime('%Y-%m-%dT%H:%M:%SZ',"
                 "'now'))", row["caller"], row["msisdn"])
        again = self.daemon.rows("SELECT id FROM tasks WHERE status = "
                                 "'pending'")[0]["id"]
        self.ok(self.api("POST", "/v1/callbacks/%d/claim" % again, "lan"))
        before = self.snapshot()
        # The caller has not made contact since: do-not-contact stands
        # (test_unsafe.py: and once it lifts, their answer still does).
        self.assert_error(self.api("POST", "/v1/callbacks/%d/messages" %
                                   again, "lan", {"text": "hi"}), 409,
                          "do_not_contact")
        self.assert_unchanged(before)

    def test_no_missed_call_text_when_unsafe_from_either(self):
        api_task = self.request_callback(PHONE, "m1", NO_TEXT_PATH)
        ctl_task = self.request_callback(OTHER, "m2", NO_TEXT_PATH)
        self.ok(self.api("POST", "/v1/callbacks/%d/claim" % api_task, "lan"))
        self.ok(self.api("POST", "/v1/callbacks/%d/complete" % api_task,
                         "lan", {"outcome": "no_answer"}))
        out = self.ctl("complete", str(ctl_task), "no_answer")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.task_row(api_task)["attempts"], 1)
        self.assertEqual(self.task_row(ctl_task)["attempts"], 1)
        self.assertEqual(self.daemon.rows(
            "SELECT id FROM outbound WHERE purpose = 'missed_call'"), [])

    def test_refusals_from_either_side_write_nothing(self):
        """A closed task refuses an outcome from hotlinectl and a claim
        from the API alike, and neither leaves a row behind."""
        tid = self.request_callback(PHONE, "t1")
        self.ok(self.api("POST", "/v1/callbacks/%d/claim" % tid, "lan"))
        self.ok(self.api("POST", "/v1/callbacks/%d/complete" % tid, "lan",
                         {"outcome": "reached"}))
        before = self.snapshot()
        out = self.ctl("complete", str(tid), "reached")
        self.assertEqual(out.returncode, 1)
        self.assertEqual(out.stdout, "")
        self.assert_error(self.api("POST", "/v1/callbacks/%d/claim" % tid,
                                   "minh"), 409, "conflict")
        self.assert_unchanged(before)
