"""The counsellors' API (docs/api.md) against the real daemon: the queue
from a USSD request to a closed task, concurrent claims, leases, roles,
tokens, who may see a caller's number, and refusals that change nothing.

Tokens are made the way an operator makes them: hotlinectl token add."""

import calendar
import hashlib
import json
import sqlite3
import threading
import time
import urllib.parse

from base import DaemonTestCase
from harness import TEST_NUMBERS, number_forms

PHONE = "+84912345678"
OTHER = "+84987654321"
THIRD = "+84911222333"

# config/menu.json: Vietnamese, talk to a counsellor, safe to call,
# the word "Cam", now, safe to text (yes), send the request.
COUNSELLING_PATH = ["1", "1", "1", "1", "1", "1", "1"]
# The same, but texting is not safe.
NO_TEXT_PATH = ["1", "1", "1", "1", "1", "2", "1"]


def utc(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def parse_utc(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def scrub(body):
    """A response body fit for a failure message: no test number in
    any form."""
    text = body[:300].decode("utf-8", "replace")
    for number in TEST_NUMBERS:
        for form in sorted(number_forms(number), key=len, reverse=True):
            text = text.replace(form, "<number>")
    return text


class ApiCase(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.tokens = {}

    # Set-up helpers ----------------------------------------------------

    def token(self, name, role="counsellor"):
        out = self.daemon.ctl("token", "add", name, "--role", role)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.tokens[name] = out.stdout.strip()
        return self.tokens[name]

    def request_callback(self, phone, session, path=COUNSELLING_PATH):
        """A caller walks the USSD menu to a callback request."""
        for i in range(len(path) + 1):
            r = self.daemon.ussd("console", session, phone,
                                 "*".join(path[:i]))
            self.assertEqual(r.status, 200)
        rows = self.daemon.rows(
            "SELECT id FROM tasks WHERE msisdn = ? AND status != 'closed'",
            phone)
        self.assertEqual(len(rows), 1, "the session created no task")
        return rows[0]["id"]

    def insert_tasks(self, count, prefix="+8490000", created_at=None):
        """Pending tasks written straight into the running daemon's
        database (alerted, so no alert fires), each for its own number
        (one open task per number).  Returns their ids."""
        con = sqlite3.connect(self.daemon.db_path, timeout=10)
        try:
            ids = []
            with con:
                for i in range(count):
                    cur = con.execute(
                        "INSERT INTO tasks (caller, msisdn, channel, "
                        "created_at, updated_at, alerted_at) VALUES (?, ?, "
                        "'console', COALESCE(?, strftime('%Y-%m-%dT%H:%M:"
                        "%SZ','now')), strftime('%Y-%m-%dT%H:%M:%SZ','now'),"
                        " strftime('%Y-%m-%dT%H:%M:%SZ','now'))",
                        # One open task per caller (pseudonym).
                        ("c_" + hashlib.sha256(("%s%04d" % (
                            prefix, i)).encode()).hexdigest()[:12],
                         "%s%04d" % (prefix, i), created_at))
                    ids.append(cur.lastrowid)
            return ids
        finally:
            con.close()

    def sql(self, statement, *args):
        con = sqlite3.connect(self.daemon.db_path, timeout=10)
        try:
            with con:
                con.execute(statement, args)
        finally:
            con.close()

    # HTTP --------------------------------------------------------------

    def api(self, method, path, who=None, body=None, raw=None,
            headers=None):
        h = dict(headers or {})
        if who is not None:
            h["Authorization"] = "Bearer " + self.tokens.get(who, who)
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        return self.daemon.request(method, path, data, h)

    def ok(self, r, status=200):
        self.assertEqual(r.status, status, scrub(r.body))
        if status == 204:
            self.assertEqual(r.body, b"")
            return None
        self.assertTrue(r.headers["Content-Type"].startswith(
            "application/json"))
        return r.json()

    def assert_error(self, r, status, code=None, names=None):
        self.assertEqual(r.status, status, scrub(r.body))
        self.assertTrue(r.headers["Content-Type"].startswith(
            "application/json"))
        err = r.json()["error"]
        if code is not None:
            self.assertEqual(err["code"], code, err)
        self.assertGreater(len(err["message"]), 10)
        if names is not None:
            self.assertIn(names, err["message"])
        return err

    def assert_no_number(self, r, phone=PHONE):
        text = r.body.decode("utf-8")
        for form in number_forms(phone):
            # Never the number itself in a failure message.
            self.assertFalse(form in text, "a form of the number is in "
                             "the response")

    # Database ----------------------------------------------------------

    def snapshot(self):
        snap = {t: self.daemon.rows("SELECT * FROM %s ORDER BY id" % t)
                for t in ("tasks", "task_notes", "audit")}
        # The daemon's outbox moves a row's status on its own: compare
        # which rows exist.
        snap["outbound"] = self.daemon.rows(
            "SELECT id, channel, msisdn, body, purpose, task_id FROM "
            "outbound ORDER BY id")
        return snap

    def assert_unchanged(self, before):
        # Rows hold numbers: name the table that changed, not its rows.
        after = self.snapshot()
        for table in before:
            self.assertTrue(before[table] == after[table],
                            "%s changed (%d rows before, %d after)" % (
                                table, len(before[table]),
                                len(after[table])))

    def reveals(self):
        return self.daemon.rows("SELECT * FROM audit WHERE action = "
                                "'number.revealed' ORDER BY id")

    def task_row(self, task_id):
        return self.daemon.rows("SELECT * FROM tasks WHERE id = ?",
                                task_id)[0]


class Cycle(ApiCase):

    def test_whole_cycle_from_ussd_to_a_closed_task(self):
        tid = self.request_callback(PHONE, "cycle")
        self.token("lan")

        t = self.ok(self.api("POST", "/v1/callbacks/next", "lan"))
        self.assertEqual(t["id"], tid)
        self.assertEqual((t["status"], t["claimed_by"], t["attempts"]),
                         ("claimed", "lan", 0))
        self.assertTrue(t["msisdn"] == PHONE, "next carries the number")
        self.assertEqual(t["number_hint"], "\u2026" + PHONE[-2:])
        self.assertTrue(t["caller"].startswith("c_"))
        self.assertEqual((t["topic"], t["language"], t["channel"]),
                         ("counselling", "vi", "console"))
        self.assertIs(t["safe_to_call"], True)
        self.assertIs(t["safe_to_sms"], True)
        self.assertIsNone(t["outcome"])
        self.assertGreater(parse_utc(t["lease_expires_at"]),
                           time.time() + 800)      # lease_seconds 900

        note = self.ok(self.api("POST", "/v1/callbacks/%d/notes" % tid,
                                "lan", {"text": "Gọi lúc 20h"}), 201)
        self.assertEqual((note["author"], note["text"]),
                         ("lan", "Gọi lúc 20h"))
        self.assertIsInstance(note["id"], int)
        self.assertTrue(note["created_at"].endswith("Z"))

        sent = self.ok(self.api("POST", "/v1/callbacks/%d/messages" % tid,
                                "lan", {"text": "Chúng tôi sẽ gọi lại"}),
                       202)
        self.assertEqual(sent["status"], "pending")
        rows = self.daemon.rows("SELECT * FROM outbound WHERE id = ?",
                                sent["id"])
        self.assertEqual(len(rows), 1)
        self.assertEqual((rows[0]["purpose"], rows[0]["channel"],
                          rows[0]["task_id"], rows[0]["body"]),
                         ("message", "console", tid, "Chúng tôi sẽ gọi lại"))
        self.assertTrue(rows[0]["msisdn"] == PHONE, "sent to the caller")

        detail = self.ok(self.api("GET", "/v1/callbacks/%d?lang=en" % tid,
                                  "lan"))
        self.assertTrue(detail.get("msisdn") == PHONE,
                        "the holder sees the number")
        self.assertEqual([n["text"] for n in detail["notes"]],
                         ["Gọi lúc 20h"])
        outs = [m for m in detail["messages"] if m["direction"] == "out"]
        self.assertIn("Chúng tôi sẽ gọi lại", [m["text"] for m in outs])
        self.assertTrue(all("status" in m for m in outs))
        self.assertIn(("When is it safe to contact you?", "Now"),
                      [(a["question"], a["answer"])
                       for a in detail["answers"]])

        # No answer: back in the queue at retry_at, not before.
        due = int(time.time()) + 3
        t = self.ok(self.api("POST", "/v1/callbacks/%d/complete" % tid,
                             "lan", {"outcome": "no_answer",
                                     "retry_at": utc(due)}))
        self.assertEqual((t["status"], t["attempts"], t["retry_at"]),
                         ("pending", 1, utc(due)))
        self.assertIsNone(t["outcome"])
        # The caller said texting is safe: told that we tried.
        self.assertEqual([(m["task_id"], m["channel"]) for m in
                          self.daemon.rows("SELECT * FROM outbound WHERE "
                                           "purpose = 'missed_call'")],
                         [(tid, "console")])
        self.ok(self.api("POST", "/v1/callbacks/next", "lan"), 204)
        deadline = time.time() + 15
        while True:
            r = self.api("POST", "/v1/callbacks/next", "lan")
            if r.status == 200:
                break
            self.ok(r, 204)
            self.assertLess(time.time(), deadline, "never came back")
            time.sleep(0.2)
        self.assertGreaterEqual(time.time(), due - 1)
        t = r.json()
        self.assertEqual((t["id"], t["status"], t["attempts"]),
                         (tid, "claimed", 1))

        t = self.ok(self.api("POST", "/v1/callbacks/%d/complete" % tid,
                             "lan", {"outcome": "reached",
                                     "note": "Đã nói chuyện"}))
        self.assertEqual((t["status"], t["outcome"]), ("closed", "reached"))
        row = self.task_row(tid)
        self.assertEqual((row["status"], row["outcome"], row["attempts"]),
                         ("closed", "reached", 1))
        self.assertEqual([n["text"] for n in self.daemon.rows(
            "SELECT text FROM task_notes ORDER BY id")],
            ["Gọi lúc 20h", "Đã nói chuyện"])
        self.ok(self.api("POST", "/v1/callbacks/next", "lan"), 204)
        # Closed: no more outcomes, notes or claims.
        before = self.snapshot()
        for path, body in (("complete", {"outcome": "reached"}),
                           ("notes", {"text": "late"}), ("claim", None)):
            self.assert_error(self.api("POST", "/v1/callbacks/%d/%s" % (
                tid, path), "lan", body), 409, "conflict")
        self.assert_unchanged(before)

    def test_stats(self):
        self.token("lan")
        tid = self.request_callback(PHONE, "s1")
        self.request_callback(OTHER, "s2")
        self.ok(self.api("POST", "/v1/callbacks/next", "lan"))
        self.ok(self.api("POST", "/v1/callbacks/%d/complete" % tid, "lan",
                         {"outcome": "reached"}))
        s = self.ok(self.api("GET", "/v1/stats", "lan"))
        self.assertEqual(s["tasks"], {"pending": 1, "claimed": 0,
                                      "closed": 1})
        self.assertEqual(s["open_by_priority"], {"urgent": 0, "normal": 1})
        self.assertGreaterEqual(s["oldest_pending_seconds"], 0)
        self.assertEqual(s["outcomes_today"]["reached"], 1)
        self.assertEqual(s["outcomes_today"]["no_answer"], 0)
        self.assertGreaterEqual(s["median_seconds_to_first_call"], 0)
        self.assertEqual(set(s["outbox"]), {"pending", "sending", "sent",
                                            "delivered", "failed",
                                            "unknown", "expired"})


class Queue(ApiCase):

    def test_fifty_pairs_of_concurrent_next_never_share_a_task(self):
        # Fifty callers each: above the default hourly reveal limit.
        self.daemon.stop()
        self.daemon.config["queue"]["max_reveals_per_hour"] = 51
        self.daemon.start()
        self.token("lan")
        self.token("minh")
        ids = set(self.insert_tasks(100))
        got = {"lan": [], "minh": []}
        failures = []

        def claim(who, barrier):
            barrier.wait(10)
            try:
                r = self.api("POST", "/v1/callbacks/next", who)
                if r.status != 200:
                    failures.append(r.status)
                    return
                got[who].append(r.json()["id"])
                # One task at a time: finish it before the next.
                r = self.api("POST", "/v1/callbacks/%d/complete" %
                             got[who][-1], who, {"outcome": "reached"})
                if r.status != 200:
                    failures.append(r.status)
            except Exception as e:          # reported below
                failures.append(repr(e))

        for _ in range(50):
            barrier = threading.Barrier(2)
            threads = [threading.Thread(target=claim, args=(who, barrier))
                       for who in ("lan", "minh")]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
        self.assertEqual(failures, [])
        claimed = got["lan"] + got["minh"]
        self.assertEqual(len(claimed), 100)
        self.assertEqual(len(set(claimed)), 100, "a task was given twice")
        self.assertEqual(set(claimed), ids)
        self.assertEqual((len(got["lan"]), len(got["minh"])), (50, 50))
        for who in ("lan", "minh"):
            rows = self.daemon.rows(
                "SELECT id FROM tasks WHERE claimed_by = ?", who)
            self.assertEqual(sorted(r["id"] for r in rows),
                             sorted(got[who]))
        self.assertEqual(len(self.reveals()), 100)
        self.ok(self.api("POST", "/v1/callbacks/next", "lan"), 204)
        log = self.daemon.log_text()
        self.assertNotIn("+8490000", log)
        self.assertNotIn("8490000", log)

    def test_next_takes_urgent_first_then_oldest(self):
        self.token("lan")
        older, newer = self.insert_tasks(2, created_at=None)
        self.sql("UPDATE tasks SET created_at = '2026-01-01T00:00:00Z' "
                 "WHERE id = ?", newer)
        self.sql("UPDATE tasks SET created_at = '2026-01-02T00:00:00Z' "
                 "WHERE id = ?", older)
        urgent = self.insert_tasks(1, prefix="+8490001")[0]
        self.sql("UPDATE tasks SET priority = 'urgent' WHERE id = ?", urgent)
        order = []
        for _ in range(3):
            order.append(self.ok(self.api("POST", "/v1/callbacks/next",
                                          "lan"))["id"])
            # One task at a time: done with it before the next.
            self.ok(self.api("POST", "/v1/callbacks/%d/complete" % order[-1],
                             "lan", {"outcome": "reached"}))
        self.assertEqual(order, [urgent, newer, older])

    def test_an_expired_lease_returns_the_task_to_pending(self):
        self.token("lan")
        tid = self.request_callback(PHONE, "lapse")
        self.assertEqual(self.ok(self.api("POST", "/v1/callbacks/next",
                                          "lan"))["id"], tid)
        self.sql("UPDATE tasks SET lease_expires_at = "
                 "'2000-01-01T00:00:00Z' WHERE id = ?", tid)
        deadline = time.monotonic() + 20
        while True:
            t = self.ok(self.api("GET", "/v1/callbacks?status=all",
                                 "lan"))["tasks"][0]
            if t["status"] == "pending":
                break
            self.assertLess(time.monotonic(), deadline, "lease never lapsed")
            time.sleep(0.2)
        self.assertIsNone(t["claimed_by"])
        audit = self.daemon.rows("SELECT actor FROM audit WHERE action = "
                                 "'task.lease_expired' AND task_id = ?", tid)
        self.assertEqual(audit, [{"actor": "daemon"}])

    def test_an_expired_lease_lets_another_counsellor_take_the_task(self):
        self.token("lan")
        self.token("minh")
        tid = self.request_callback(PHONE, "lease")
        self.assertEqual(self.ok(self.api("POST", "/v1/callbacks/next",
                                          "lan"))["id"], tid)
        # A live lease: nothing for minh, and no claiming it either.
        self.ok(self.api("POST", "/v1/callbacks/next", "minh"), 204)
        self.assert_error(self.api("POST", "/v1/callbacks/%d/claim" % tid,
                                   "minh"), 409, "conflict")
        # queue.lease_seconds is at least 30: age the lease instead.
        self.sql("UPDATE tasks SET lease_expires_at = "
                 "'2000-01-01T00:00:00Z' WHERE id = ?", tid)
        t = self.ok(self.api("POST", "/v1/callbacks/next", "minh"))
        self.assertEqual((t["id"], t["claimed_by"]), (tid, "minh"))
        self.assertTrue(t["msisdn"] == PHONE, "the new holder sees it")
        # lan's lease is gone: lan may no longer act on it or see it.
        before = self.snapshot()
        self.assert_error(self.api("POST", "/v1/callbacks/%d/complete" %
                                   tid, "lan", {"outcome": "reached"}),
                          409, "conflict")
        self.assert_error(self.api("POST", "/v1/callbacks/%d/notes" % tid,
                                   "lan", {"text": "mine"}), 409,
                          "conflict")
        self.assert_unchanged(before)
        r = self.api("GET", "/v1/callbacks/%d" % tid, "lan")
        self.ok(r)
        self.assert_no_number(r)
        # An expired lease can also be claimed by id.
        self.sql("UPDATE tasks SET lease_expires_at = "
                 "'2000-01-01T00:00:00Z' WHERE id = ?", tid)
        t = self.ok(self.api("POST", "/v1/callbacks/%d/claim" % tid, "lan"))
        self.assertEqual(t["claimed_by"], "lan")
        self.ok(self.api("POST", "/v1/callbacks/%d/complete" % tid, "lan",
                         {"outcome": "wrong_number"}))

    def test_list_pages_stay_stable_while_tasks_arrive(self):
        self.token("lan")
        first = self.insert_tasks(5, prefix="+8490002")
        page = self.ok(self.api("GET", "/v1/callbacks?limit=2", "lan"))
        seen = [t["id"] for t in page["tasks"]]
        self.assertEqual(seen, first[:2])
        self.assertIsInstance(page["next_cursor"], str)
        later = self.insert_tasks(3, prefix="+8490003")
        cursor = page["next_cursor"]
        while cursor is not None:
            page = self.ok(self.api(
                "GET", "/v1/callbacks?limit=2&cursor=" +
                urllib.parse.quote(cursor), "lan"))
            seen += [t["id"] for t in page["tasks"]]
            cursor = page["next_cursor"]
            self.assertLess(len(seen), 20, "paging never ends")
        self.assertEqual(seen, first + later)
        closed = self.ok(self.api("GET", "/v1/callbacks?status=closed",
                                  "lan"))
        self.assertEqual((closed["tasks"], closed["next_cursor"]),
                         ([], None))


class Roles(ApiCase):

    def setUp(self):
        super().setUp()
        for name, role in (("lan", "counsellor"), ("minh", "counsellor"),
                           ("sup", "supervisor"), ("adm", "admin")):
            self.token(name, role)
        self.tid = self.request_callback(PHONE, "roles")
        self.ok(self.api("POST", "/v1/callbacks/next", "lan"))

    def test_a_counsellor_cannot_act_on_a_task_another_holds(self):
        tid = self.tid
        before = self.snapshot()
        for path, body in (("complete", {"outcome": "reached"}),
                           ("complete", {"outcome": "no_answer"}),
                           ("notes", {"text": "not mine"}),
                           ("release", None),
                           ("messages", {"text": "hello"}),
                           ("claim", None)):
            self.assert_error(self.api("POST", "/v1/callbacks/%d/%s" % (
                tid, path), "minh", body), 409, "conflict")
        self.assert_unchanged(before)
        self.assertEqual(self.task_row(tid)["claimed_by"], "lan")

    def test_a_supervisor_can(self):
        tid = self.tid
        self.ok(self.api("POST", "/v1/callbacks/%d/notes" % tid, "sup",
                         {"text": "checked"}), 201)
        r = self.api("GET", "/v1/callbacks/%d" % tid, "sup")
        self.assertTrue(self.ok(r).get("msisdn") == PHONE,
                        "a supervisor sees the number")
        t = self.ok(self.api("POST", "/v1/callbacks/%d/release" % tid,
                             "sup"))
        self.assertEqual(t["status"], "pending")
        self.assertIsNone(t["claimed_by"])
        self.ok(self.api("POST", "/v1/callbacks/next", "lan"))
        t = self.ok(self.api("POST", "/v1/callbacks/%d/complete" % tid,
                             "adm", {"outcome": "unsafe"}))
        self.assertEqual((t["status"], t["outcome"]), ("closed", "unsafe"))
        self.assertIs(t["safe_to_sms"], False)
        self.assertEqual([n["author"] for n in self.daemon.rows(
            "SELECT author FROM task_notes")], ["sup"])

    def test_holder_can_release(self):
        t = self.ok(self.api("POST", "/v1/callbacks/%d/release" % self.tid,
                             "lan"))
        self.assertEqual((t["status"], t["claimed_by"]), ("pending", None))
        self.assertEqual(self.ok(self.api("POST", "/v1/callbacks/next",
                                          "minh"))["id"], self.tid)

    def test_only_supervisors_read_the_audit(self):
        self.assert_error(self.api("GET", "/v1/audit", "lan"), 403,
                          "forbidden")
        for who in ("sup", "adm"):
            a = self.ok(self.api("GET", "/v1/audit", who))
            actions = [e["action"] for e in a["entries"]]
            self.assertIn("number.revealed", actions)
            self.assertIn("task.created", actions)
            ids = [e["id"] for e in a["entries"]]
            self.assertEqual(ids, sorted(ids, reverse=True))
            for e in a["entries"]:
                self.assertEqual(set(e), {"id", "at", "actor", "action",
                                          "task_id", "detail"})
        # Paging: newest first, no entry twice.
        page = self.ok(self.api("GET", "/v1/audit?limit=1", "sup"))
        self.assertEqual(len(page["entries"]), 1)
        nxt = self.ok(self.api("GET", "/v1/audit?limit=1&cursor=" +
                               urllib.parse.quote(page["next_cursor"]),
                               "sup"))
        self.assertLess(nxt["entries"][0]["id"], page["entries"][0]["id"])

    def test_audit_holds_one_row_per_response_that_carried_the_number(self):
        tid = self.tid
        calls = [("GET", "/v1/callbacks/%d" % tid, "lan"),
                 ("GET", "/v1/callbacks/%d" % tid, "minh"),
                 ("GET", "/v1/callbacks", "lan"),
                 ("GET", "/v1/callbacks?status=all", "sup"),
                 ("GET", "/v1/callbacks/%d" % tid, "sup"),
                 ("GET", "/v1/callbacks/%d" % tid, "adm"),
                 ("GET", "/v1/callbacks/%d" % tid, "lan"),
                 ("POST", "/v1/callbacks/%d/release" % tid, "lan"),
                 ("GET", "/v1/callbacks/%d" % tid, "lan"),
                 ("POST", "/v1/callbacks/%d/claim" % tid, "minh"),
                 ("GET", "/v1/callbacks/%d" % tid, "minh")]
        shown = [("lan", tid)]                 # the set-up's next
        for method, path, who in calls:
            r = self.api(method, path, who)
            doc = self.ok(r)
            if "msisdn" in doc:
                shown.append((who, tid))
            else:
                self.assert_no_number(r)
        # holder, supervisor, admin, holder, claim, new holder.
        self.assertEqual(len(shown), 7)
        self.assertEqual([(a["actor"], a["task_id"]) for a in
                          self.reveals()], shown)


class NumbersStayHidden(ApiCase):

    def test_lists_and_unclaimed_tasks_never_carry_a_number(self):
        self.token("lan")
        self.token("sup", "supervisor")
        tid = self.request_callback(PHONE, "hidden1")
        other = self.request_callback(OTHER, "hidden2")
        r = self.api("GET", "/v1/callbacks/%d" % tid, "lan")
        t = self.ok(r)
        self.assertFalse("msisdn" in t, "a number in the task")
        self.assertEqual(t["number_hint"], "\u2026" + PHONE[-2:])
        self.assert_no_number(r, PHONE)
        self.assertEqual(self.ok(self.api("POST", "/v1/callbacks/next",
                                          "lan"))["id"], tid)
        # lan now holds one task; neither lan nor a supervisor gets a
        # number from a list, in any form, under any filter.
        for who in ("lan", "sup"):
            for query in ("", "?status=open", "?status=all",
                          "?status=pending", "?status=claimed",
                          "?limit=1"):
                r = self.api("GET", "/v1/callbacks" + query, who)
                doc = self.ok(r)
                for t in doc["tasks"]:
                    self.assertFalse("msisdn" in t, "a number in the task")
                    self.assertTrue(t["number_hint"].startswith("\u2026"))
                    self.assertLessEqual(len(t["number_hint"]), 3)
                for phone in (PHONE, OTHER):
                    self.assert_no_number(r, phone)
        # Another counsellor's view of a claimed task, and of the
        # unclaimed one, shows no number either.
        self.token("minh")
        for task in (tid, other):
            r = self.api("GET", "/v1/callbacks/%d" % task, "minh")
            self.assertFalse("msisdn" in self.ok(r), "a number in the task")
            self.assert_no_number(r, PHONE)
            self.assert_no_number(r, OTHER)
        self.assertEqual(len(self.reveals()), 1)     # the next only


class Tokens(ApiCase):

    def test_no_or_bad_token_is_401_with_a_json_error(self):
        self.token("lan")
        self.request_callback(PHONE, "auth")
        before = self.snapshot()
        for headers in ({}, {"Authorization": "Bearer"},
                        {"Authorization": "Bearer hl_short"},
                        {"Authorization": "Basic bGFuOnB3"},
                        {"Authorization": self.tokens["lan"]},
                        {"Authorization": "Bearer hl_" + "A" * 43}):
            r = self.daemon.request("POST", "/v1/callbacks/next", None,
                                    headers)
            self.assert_error(r, 401, "unauthorized")
        for path in ("/v1/callbacks", "/v1/stats", "/v1/audit"):
            r = self.daemon.request("GET", path)
            self.assert_error(r, 401, "unauthorized")
        self.assert_unchanged(before)
        self.assertNotIn(self.tokens["lan"], self.daemon.log_text())

    def test_a_revoked_token_is_refused_at_once(self):
        self.token("lan")
        self.ok(self.api("GET", "/v1/callbacks", "lan"))
        out = self.daemon.ctl("token", "revoke", "lan")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assert_error(self.api("GET", "/v1/callbacks", "lan"), 401,
                          "unauthorized")
        # A new token under the same name works; the old one still not.
        old = self.tokens["lan"]
        self.token("lan")
        self.ok(self.api("GET", "/v1/callbacks", "lan"))
        self.assert_error(self.api("GET", "/v1/callbacks", old), 401,
                          "unauthorized")

    def test_failed_sign_ins_are_rate_limited_per_address(self):
        self.token("lan")
        for i in range(10):
            r = self.api("GET", "/v1/callbacks", "hl_%043d" % i)
            self.assert_error(r, 401, "unauthorized")
        r = self.api("GET", "/v1/callbacks", "hl_%043d" % 11)
        self.assert_error(r, 429, "too_many_attempts")
        self.assertGreater(int(r.headers["Retry-After"]), 0)
        # A colleague behind the same address still signs in.
        self.ok(self.api("GET", "/v1/callbacks", "lan"))

    def test_a_counsellor_holds_one_task_at_a_time(self):
        self.token("lan")
        first = self.request_callback(PHONE, "one")
        second = self.request_callback(OTHER, "two")
        self.assertEqual(self.ok(self.api("POST", "/v1/callbacks/next",
                                          "lan"))["id"], first)
        before = len(self.reveals())
        # A stolen token cannot walk the queue for its numbers.
        self.assert_error(self.api("POST", "/v1/callbacks/next", "lan"),
                          409, "conflict")
        self.assert_error(self.api("POST", "/v1/callbacks/%d/claim" % second,
                                   "lan"), 409, "conflict")
        self.assertEqual(len(self.reveals()), before)
        # Released, the next one may be taken.
        self.ok(self.api("POST", "/v1/callbacks/%d/release" % first, "lan"))
        self.ok(self.api("POST", "/v1/callbacks/%d/claim" % second, "lan"))

    def test_head_shows_and_audits_nothing(self):
        self.token("sup", "supervisor")
        tid = self.request_callback(PHONE, "head")
        before = len(self.reveals())
        r = self.api("HEAD", "/v1/callbacks/%d" % tid, "sup")
        self.assertEqual(r.status, 200)
        self.assertEqual(len(self.reveals()), before)

    def test_a_supervisor_does_not_take_over_a_live_lease(self):
        self.token("lan")
        self.token("sup", "supervisor")
        tid = self.request_callback(PHONE, "takeover")
        self.ok(self.api("POST", "/v1/callbacks/next", "lan"))
        self.assert_error(self.api("POST", "/v1/callbacks/%d/claim" % tid,
                                   "sup"), 409, "conflict")
        # It may release it (say the counsellor left) or complete it.
        self.ok(self.api("POST", "/v1/callbacks/%d/release" % tid, "sup"))


class BadInput(ApiCase):

    def setUp(self):
        super().setUp()
        self.token("lan")
        self.token("minh")
        self.tid = self.request_callback(PHONE, "bad")
        self.ok(self.api("POST", "/v1/callbacks/next", "lan"))

    def test_refusals_change_nothing(self):
        tid = self.tid
        c = "/v1/callbacks/%d/complete" % tid
        n = "/v1/callbacks/%d/notes" % tid
        m = "/v1/callbacks/%d/messages" % tid
        before = self.snapshot()
        # Unknown task.
        for method, path, body in (
                ("GET", "/v1/callbacks/999", None),
                ("POST", "/v1/callbacks/999/claim", None),
                ("POST", "/v1/callbacks/999/release", None),
                ("POST", "/v1/callbacks/999/complete",
                 {"outcome": "reached"}),
                ("POST", "/v1/callbacks/999/notes", {"text": "x"}),
                ("POST", "/v1/callbacks/999/messages", {"text": "x"}),
                ("GET", "/v1/callbacks/abc", None),
                ("GET", "/v1/callbacks/0", None)):
            self.assert_error(self.api(method, path, "lan", body), 404,
                              "not_found")
        # Malformed JSON.
        for path, raw in ((c, b"{\"outcome\": "), (n, b"not json"),
                          (m, b"[\"text\"]"), (c, b"\xff\xfe")):
            self.assert_error(self.api("POST", path, "lan", raw=raw), 400,
                              "bad_json")
        # Wrong types, unknown outcome, bad retry_at: the field named.
        for path, body, field in (
                (c, {"outcome": 5}, "outcome"),
                (c, {"outcome": None}, "outcome"),
                (c, {}, "outcome"),
                (c, {"outcome": "done"}, "outcome"),
                (c, {"outcome": "unreached"}, "outcome"),
                (c, {"outcome": "reached", "note": ["x"]}, "note"),
                (c, {"outcome": "no_answer", "retry_at": 5}, "retry_at"),
                (c, {"outcome": "no_answer", "retry_at": "tomorrow"},
                 "retry_at"),
                (c, {"outcome": "no_answer",
                     "retry_at": "2026-11-29 10:00:00"}, "retry_at"),
                (n, {"text": 12}, "text"),
                (n, {}, "text"),
                (m, {"text": True}, "text")):
            self.assert_error(self.api("POST", path, "lan", body), 400,
                              "bad_field", field)
        # Over 4 KiB (bytes: 1366 three-byte characters are 4098).
        for path, body, field in (
                (n, {"text": "x" * 4097}, "text"),
                (n, {"text": "ệ" * 1366}, "text"),
                (c, {"outcome": "reached", "note": "x" * 4097}, "note"),
                (m, {"text": "x" * 4097}, "text")):
            self.assert_error(self.api("POST", path, "lan", body), 400,
                              "bad_field", field)
        # Bad list parameters.
        for query, field in (("limit=0", "limit"), ("limit=201", "limit"),
                             ("limit=x", "limit"), ("status=done", "status"),
                             ("cursor=zzz", "cursor")):
            self.assert_error(self.api("GET", "/v1/callbacks?" + query,
                                       "lan"), 400, "bad_field", field)
        # Someone else's task, and an empty queue.
        self.assert_error(self.api("POST", c, "minh",
                                   {"outcome": "reached"}), 409, "conflict")
        self.ok(self.api("POST", "/v1/callbacks/next", "minh"), 204)
        self.assert_unchanged(before)
        # Exactly 4 KiB is fine.
        self.ok(self.api("POST", n, "lan", {"text": "x" * 4096}), 201)

    def test_retry_at_must_be_a_real_rfc3339_time(self):
        c = "/v1/callbacks/%d/complete" % self.tid
        before = self.snapshot()
        for bad in ("2030-02-30T10:00:00Z",       # no such day
                    "2030-1-5T10:00:00Z",         # one-digit fields
                    "2030-01-05T1:02:03Z",
                    "2030-01-05T10:00:00.Z",      # a dot, no fraction
                    "2030-01-05T10:00:00+7:00",
                    "2030-01-05T10:00:00",        # no zone
                    "2030-01-05T24:00:00Z"):
            self.assert_error(self.api("POST", c, "lan",
                                       {"outcome": "no_answer",
                                        "retry_at": bad}),
                              400, "bad_field", "retry_at")
        self.assert_unchanged(before)
        # Beyond a month is a task forgotten.
        self.assert_error(self.api("POST", c, "lan",
                                   {"outcome": "no_answer",
                                    "retry_at": "2099-06-01T10:00:00Z"}),
                          400, "bad_field", "retry_at")
        self.assert_unchanged(before)
        # An offset is turned into the store's UTC form.
        day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86400))
        t = self.ok(self.api("POST", c, "lan",
                             {"outcome": "no_answer",
                              "retry_at": day + "T17:30:00+07:00"}))
        self.assertEqual(t["retry_at"], day + "T10:30:00Z")
        self.assertEqual(self.task_row(self.tid)["retry_at"],
                         day + "T10:30:00Z")

    def test_pending_task_needs_a_claim_before_notes_or_outcome(self):
        tid = self.tid
        self.ok(self.api("POST", "/v1/callbacks/%d/release" % tid, "lan"))
        before = self.snapshot()
        self.assert_error(self.api("POST", "/v1/callbacks/%d/complete" %
                                   tid, "lan", {"outcome": "reached"}),
                          409, "conflict")
        self.assert_error(self.api("POST", "/v1/callbacks/%d/notes" % tid,
                                   "lan", {"text": "x"}), 409, "conflict")
        self.assert_unchanged(before)


class Texting(ApiCase):

    def wait_for(self, sql, *args):
        deadline = time.monotonic() + 10
        while not self.daemon.rows(sql, *args):
            self.assertLess(time.monotonic(), deadline, "never happened")
            time.sleep(0.05)

    def messages(self):
        return self.daemon.rows("SELECT * FROM outbound WHERE purpose = "
                                "'message'")

    def test_a_caller_who_opted_out_is_not_texted(self):
        self.token("lan")
        tid = self.request_callback(PHONE, "optout")
        r = self.daemon.request(
            "POST", "/v1/sms/console",
            urllib.parse.urlencode({"from": PHONE, "to": "1567",
                                    "text": "STOP",
                                    "id": "stop-1"}).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200)
        self.wait_for("SELECT * FROM optouts")
        self.wait_for("SELECT * FROM inbound WHERE processed_at IS NOT "
                      "NULL")
        self.ok(self.api("POST", "/v1/callbacks/next", "lan"))
        before = self.snapshot()
        err = self.assert_error(self.api(
            "POST", "/v1/callbacks/%d/messages" % tid, "lan",
            {"text": "hello"}), 409, "opted_out")
        self.assertIn("opted out", err["message"])
        self.assertEqual(len(self.messages()), 0)
        self.assert_unchanged(before)

    def test_a_caller_who_said_texting_is_unsafe_is_not_texted(self):
        self.token("lan")
        tid = self.request_callback(PHONE, "unsafe", NO_TEXT_PATH)
        self.ok(self.api("POST", "/v1/callbacks/next", "lan"))
        before = self.snapshot()
        self.assert_error(self.api(
            "POST", "/v1/callbacks/%d/messages" % tid, "lan",
            {"text": "hello"}), 409, "unsafe_to_text")
        self.assert_unchanged(before)
        self.ok(self.api("POST", "/v1/callbacks/%d/complete" % tid, "lan",
                         {"outcome": "reached"}))
        # Also when a counsellor recorded it as unsafe.
        other = self.request_callback(OTHER, "unsafe2")
        self.ok(self.api("POST", "/v1/callbacks/next", "lan"))
        self.ok(self.api("POST", "/v1/callbacks/%d/complete" % other, "lan",
                         {"outcome": "unsafe"}))
        self.token("sup", "supervisor")
        self.assert_error(self.api(
            "POST", "/v1/callbacks/%d/messages" % other, "sup",
            {"text": "hello"}), 409)
        self.assertEqual(len(self.messages()), 0)


class HostileBodies(ApiCase):
    """Inputs the fuzzer found or that a hand-made parser gets wrong."""

    def test_an_unknown_field_cut_mid_character_is_a_400(self):
        self.token("lan")
        task = self.insert_tasks(1)[0]
        self.ok(self.api("POST", "/v1/callbacks/%d/claim" % task, "lan"))
        key = "a" * 39 + "\u00e1"
        for route, extra in (("complete", {"outcome": "reached"}),
                             ("notes", {"text": "x"}),
                             ("messages", {"text": "x"})):
            r = self.api("POST", "/v1/callbacks/%d/%s" % (task, route),
                         "lan", raw=json.dumps(dict(extra, **{key: 1}),
                                               ensure_ascii=False).encode())
            err = self.assert_error(r, 400, "bad_field")
            self.assertIn("a" * 39, err["message"])

    def test_a_cursor_that_is_not_hex_is_refused(self):
        self.token("lan")
        self.insert_tasks(3)
        for cursor in ("+1+1+1+1", " 1 1", "zz", "-1"):
            r = self.api("GET", "/v1/callbacks?cursor=" +
                         urllib.parse.quote(cursor), "lan")
            self.assert_error(r, 400)
