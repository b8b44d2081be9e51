"""A stolen token is worth little: the hourly limit on the distinct
callers' numbers one token may see or text (queue.max_reveals_per_hour,
queue.supervisor_max_reveals_per_hour), tried the way a thief would."""

import json
import time

from test_api import ApiCase
from test_outbox import AlertReceiver

ALERT_SECRET = "alert-secret-for-reveal-tests"


class RevealLimit(ApiCase):
    start_daemon = False

    def setUp(self):
        super().setUp()
        self.receiver = AlertReceiver()
        self.addCleanup(self.receiver.stop)
        self.daemon.config["alerts"] = {
            "url": self.receiver.url, "secret": {"env": "HL_TEST_ALERT"}}
        self.daemon.env["HL_TEST_ALERT"] = ALERT_SECRET

    def start(self, **queue):
        self.daemon.config["queue"].update(queue)
        self.daemon.start()

    def walk(self, who, ids):
        """The thief's loop: claim, read the number, release, next."""
        seen, refused = {}, []
        for task_id in ids:
            r = self.api("POST", "/v1/callbacks/%d/claim" % task_id, who)
            if r.status == 429:
                refused.append(r)
                continue
            doc = self.ok(r)
            seen[task_id] = doc["msisdn"]
            self.ok(self.api("POST", "/v1/callbacks/%d/release" % task_id,
                             who))
        return seen, refused

    def assert_limit_error(self, r, limit_key):
        self.assertEqual(r.status, 429)
        err = r.json()["error"]
        self.assertEqual(err["code"], "reveal_limit")
        self.assertIn(limit_key, err["message"])
        wait = int(r.headers["Retry-After"])
        self.assertGreater(wait, 0)
        self.assertLessEqual(wait, 3600)

    def test_claim_release_walk_yields_at_most_the_limit(self):
        self.start()                  # the default: 12 an hour
        ids = self.insert_tasks(40)
        self.token("thief")
        seen, refused = self.walk("thief", ids)
        self.assertEqual(len(set(seen.values())), 12)
        self.assertEqual(len(refused), 40 - 12)
        self.assert_limit_error(refused[0], "queue.max_reveals_per_hour")
        # /next cannot get round it, and a refused claim took nothing.
        self.assert_limit_error(
            self.api("POST", "/v1/callbacks/next", "thief", body={}),
            "queue.max_reveals_per_hour")
        self.assertEqual(self.daemon.rows(
            "SELECT count(*) AS n FROM tasks WHERE status = 'claimed'")[0]
            ["n"], 0)
        # Releasing refunds nothing, but a caller already seen within
        # the hour costs nothing more: the counsellor can go back to it.
        again = ids[0]
        doc = self.ok(self.api("POST", "/v1/callbacks/%d/claim" % again,
                               "thief"))
        self.assertEqual(doc["msisdn"], seen[again])
        # Once logged, once audited, supervisors told once, no number.
        log = self.daemon.log_text()
        lines = [ln for ln in log.splitlines()
                 if "event=security.reveal_limit" in ln]
        self.assertEqual(len(lines), 1, "logged once, not per refusal")
        self.assertIn("token=thief", lines[0])
        audit = self.daemon.rows(
            "SELECT actor FROM audit WHERE action = 'security.reveal_limit'")
        self.assertEqual([a["actor"] for a in audit], ["thief"])
        deadline = time.monotonic() + 10
        while not self.receiver.posts:
            self.assertLess(time.monotonic(), deadline, "no alert POST")
            time.sleep(0.05)
        time.sleep(0.5)
        self.assertEqual(len(self.receiver.posts), 1)
        body = self.receiver.posts[0][1]
        doc = json.loads(body)
        self.assertEqual((doc["event"], doc["token"]),
                         ("reveal_limit", "thief"))
        for number in seen.values():
            self.assertNotIn(number.encode(), body)
            self.assertNotIn(number[1:].encode(), body)

    def test_the_limit_survives_a_restart_and_is_per_token(self):
        self.start(max_reveals_per_hour=3)
        ids = self.insert_tasks(6)
        self.token("thief")
        self.token("honest")
        seen, refused = self.walk("thief", ids)
        self.assertEqual((len(seen), len(refused)), (3, 3))
        self.daemon.stop()
        self.daemon.start()
        r = self.api("POST", "/v1/callbacks/%d/claim" % ids[5], "thief")
        self.assert_limit_error(r, "queue.max_reveals_per_hour")
        # Another counsellor's token has its own hour.
        doc = self.ok(self.api("POST", "/v1/callbacks/%d/claim" % ids[5],
                               "honest"))
        self.assertIn("msisdn", doc)

    def test_texting_callers_is_bound_by_the_same_limit(self):
        self.start(max_reveals_per_hour=2,
                   supervisor_max_reveals_per_hour=3)
        ids = self.insert_tasks(5)
        self.token("boss", role="supervisor")
        for n, task_id in enumerate(ids):
            self.token("c%d" % n)
            self.ok(self.api("POST", "/v1/callbacks/%d/claim" % task_id,
                             "c%d" % n))
        # A supervisor texts callers whose tasks others hold, without
        # claiming them: each new caller counts.
        statuses = [self.api("POST", "/v1/callbacks/%d/messages" % i,
                             "boss", body={"text": "hello"}).status
                    for i in ids]
        self.assertEqual(statuses, [202, 202, 202, 429, 429])
        self.assertEqual(self.daemon.rows(
            "SELECT count(*) AS n FROM outbound WHERE purpose = "
            "'message'")[0]["n"], 3)
        r = self.api("POST", "/v1/callbacks/%d/messages" % ids[3], "boss",
                     body={"text": "hello"})
        self.assert_limit_error(r, "supervisor_max_reveals_per_hour")
        # Reading a task's number is the same budget: a fourth caller's
        # task is shown without it, a caller already texted with it.
        doc = self.ok(self.api("GET", "/v1/callbacks/%d" % ids[4], "boss"))
        self.assertNotIn("msisdn", doc)
        self.assertEqual(doc["msisdn_withheld"], "reveal_limit")
        self.assertIn("notes", doc)
        self.assertIn("msisdn", self.ok(
            self.api("GET", "/v1/callbacks/%d" % ids[0], "boss")))

    def test_a_counsellor_who_texted_callers_cannot_claim_more(self):
        self.start(max_reveals_per_hour=2)
        ids = self.insert_tasks(3)
        self.token("thief")
        for task_id in ids[:2]:
            self.ok(self.api("POST", "/v1/callbacks/%d/claim" % task_id,
                             "thief"))
            self.ok(self.api("POST", "/v1/callbacks/%d/messages" % task_id,
                             "thief", body={"text": "hi"}), 202)
            self.ok(self.api("POST", "/v1/callbacks/%d/release" % task_id,
                             "thief"))
        r = self.api("POST", "/v1/callbacks/%d/claim" % ids[2], "thief")
        self.assert_limit_error(r, "queue.max_reveals_per_hour")

    def test_a_lease_not_taken_through_the_api_still_counts(self):
        # hotlinectl next --as NAME gives a lease the API never counted:
        # reading the task as its holder must count then.
        self.start(max_reveals_per_hour=2)
        ids = self.insert_tasks(3)
        self.token("thief")
        self.sql("UPDATE tasks SET status = 'claimed', claimed_by = "
                 "'thief', lease_expires_at = strftime('%Y-%m-%dT%H:%M:"
                 "%SZ', 'now', '+10 minutes')")
        shown = ["msisdn" in self.ok(self.api(
            "GET", "/v1/callbacks/%d" % task_id, "thief")) for task_id in ids]
        self.assertEqual(shown, [True, True, False])
