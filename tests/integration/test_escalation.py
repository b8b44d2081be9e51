"""Escalation: an urgent task nobody claims is announced again to the
counsellors on call and the supervisors every alerts.escalate_after_seconds
until someone claims it, never with the caller's number, through the
outbox like any alert, and a restart does not announce it early."""

import calendar
import re
import time

from base import DaemonTestCase
from harness import number_forms

PHONE = "+84912345678"
ON_CALL = "+84933444555"
SUPERVISOR = "+84911222333"
AFTER = 2


def unix(ts):
    return calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))


class Escalation(DaemonTestCase):
    start_daemon = False

    def setUp(self):
        super().setUp()
        cfg = self.daemon.config
        # The console channel: delivered where it stands, nothing leaves.
        cfg["alerts"] = {"sms": [ON_CALL], "supervisors": [SUPERVISOR],
                         "channel": "console",
                         "escalate_after_seconds": AFTER}

    def urgent_task(self, session="esc-1"):
        for text in ("", "1", "1*2"):
            self.assertEqual(self.daemon.ussd("console", session, PHONE,
                                              text).status, 200)
        task = self.daemon.rows("SELECT id, priority FROM tasks")[0]
        self.assertEqual(task["priority"], "urgent")
        return task["id"]

    def alerts(self):
        return self.daemon.rows(
            "SELECT id, msisdn, body, status, task_id, created_at FROM "
            "outbound WHERE purpose = 'alert' ORDER BY id")

    def escalations(self):
        """Escalation texts: alert rows that are not the first alert's
        text (urgent_alert)."""
        rows = self.alerts()
        return [r for r in rows if r["body"] != rows[0]["body"]]

    def wait(self, what, cond, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            v = cond()
            if v:
                return v
            self.assertLess(time.monotonic(), deadline, what)
            time.sleep(0.1)

    def assert_no_caller_number(self):
        for r in self.alerts():
            for form in number_forms(PHONE):
                self.assertNotIn(form, r["body"],
                                 "an alert text carries the caller's "
                                 "number")

    def task_row(self, tid):
        return self.daemon.rows("SELECT status, escalations, escalated_at "
                                "FROM tasks WHERE id = ?", tid)[0]

    def test_unclaimed_urgent_task_is_escalated_until_claimed(self):
        self.daemon.start()
        tid = self.urgent_task()
        # The alert first, to the on-call list only.
        first = self.wait("no alert", lambda: self.alerts())
        self.assertEqual([r["msisdn"] == ON_CALL for r in first], [True])
        # Then escalations, to both lists, repeated.
        self.wait("not escalated twice",
                  lambda: self.task_row(tid)["escalations"] >= 2)
        rows = self.wait("escalation texts not delivered", lambda: (
            lambda e: e if len(e) >= 4 and
            all(r["status"] == "delivered" for r in e) else None)(
                self.escalations()))
        to = [r["msisdn"] for r in rows]
        self.assertTrue(to.count(ON_CALL) >= 2 and to.count(SUPERVISOR) >= 2,
                        "escalations did not reach both lists twice")
        for r in rows:
            self.assertEqual(r["task_id"], tid)
            self.assertIn("#%d" % tid, r["body"])
            self.assertNotEqual(r["body"], first[0]["body"])
        self.assert_no_caller_number()
        log = self.daemon.log_text()
        self.assertRegex(log, r"event=task\.escalated task=%d times=1 "
                         r"texts=2" % tid)
        self.assertRegex(log, r"event=task\.escalated task=%d times=2 "
                         % tid)
        # Claimed: no more.
        out = self.daemon.ctl("next", "--as", "alice")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.task_row(tid)["status"], "claimed")
        # A unit already in flight may still land; none after it.
        time.sleep(0.5)
        count = len(self.alerts())
        escalations = self.task_row(tid)["escalations"]
        time.sleep(AFTER * 2.5)
        self.assertEqual(len(self.alerts()), count,
                         "escalated after the task was claimed")
        self.assertEqual(self.task_row(tid)["escalations"], escalations)
        self.assert_no_caller_number()

    def test_once_per_interval_and_not_early_after_a_restart(self):
        after = 3
        self.daemon.config["alerts"]["escalate_after_seconds"] = after
        self.daemon.start()
        tid = self.urgent_task()
        self.wait("not escalated",
                  lambda: self.task_row(tid)["escalations"] >= 1)
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.start()
        self.wait("not escalated after the restart",
                  lambda: self.task_row(tid)["escalations"] >= 3,
                  timeout=40)
        self.assertEqual(self.daemon.stop(), 0)
        # Each round texts both numbers once (one unit: consecutive
        # rows); rounds are at least the interval apart, across the
        # restart too: never once per turn of the loop, never early.
        rows = self.escalations()
        n = self.task_row(tid)["escalations"]
        self.assertEqual(len(rows), 2 * n)
        for i in range(0, len(rows), 2):
            self.assertEqual([rows[i]["msisdn"], rows[i + 1]["msisdn"]],
                             [ON_CALL, SUPERVISOR])
        times = [unix(r["created_at"]) for r in rows[0::2]]
        for a, b in zip(times, times[1:]):
            # The store counts whole seconds.
            self.assertGreaterEqual(b - a, after - 1, times)
        log = self.daemon.log_text()
        self.assertEqual(len(re.findall(r"event=task\.escalated", log)),
                         len(times))

    def test_supervisor_also_on_call_gets_one_text(self):
        self.daemon.config["alerts"]["supervisors"] = [ON_CALL, SUPERVISOR,
                                                       ON_CALL]
        self.daemon.start()
        tid = self.urgent_task()
        self.wait("not escalated",
                  lambda: self.task_row(tid)["escalations"] >= 1)
        self.assertEqual(self.daemon.stop(), 0)
        rows = self.escalations()
        self.assertEqual(len(rows), 2 * self.task_row(tid)["escalations"])
        self.assertEqual([r["msisdn"] for r in rows[:2]],
                         [ON_CALL, SUPERVISOR])

    def test_supervisors_must_be_e164(self):
        self.daemon.config["alerts"]["supervisors"] = ["0912345678"]
        with self.assertRaises(RuntimeError) as cm:
            self.daemon.start()
        self.assertIn("alerts.supervisors[0]", str(cm.exception))
        self.assertIn("E.164", str(cm.exception))
