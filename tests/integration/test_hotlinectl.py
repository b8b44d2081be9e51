"""hotlinectl against the test daemon's config and database: API tokens,
and working the callback queue from a terminal (next, show, complete).

Exit codes scripts rely on: 0 done, 1 failed, 2 usage error, 3 nothing
to do (next on an empty queue)."""

import calendar
import hashlib
import os
import re
import sqlite3
import time
import urllib.parse

from base import DaemonTestCase

PHONE = "+84912345678"
OTHER = "+84987654321"

# config/menu.json: Vietnamese, talk to a counsellor, safe to call,
# the word "Cam", now, safe to text, send the request.
COUNSELLING_PATH = ["1", "1", "1", "1", "1", "1", "1"]
# The same, but texting is not safe.
NO_TEXT_PATH = ["1", "1", "1", "1", "1", "2", "1"]

TOKEN_RE = re.compile(r"^hl_[A-Za-z0-9_-]{43}$")


class CtlCase(DaemonTestCase):

    def ctl(self, *args, **kw):
        return self.daemon.ctl(*args, **kw)

    def request_callback(self, phone, session, path=COUNSELLING_PATH):
        """A caller finishes the USSD menu: one pending task."""
        for i in range(len(path) + 1):
            r = self.daemon.ussd("console", session, phone,
                                 "*".join(path[:i]))
            self.assertEqual(r.status, 200)
        rows = self.daemon.rows(
            "SELECT id FROM tasks WHERE msisdn = ? AND status != 'closed'",
            phone)
        self.assertEqual(len(rows), 1, "the session created no task")
        return rows[0]["id"]

    def task(self, task_id):
        return self.daemon.rows("SELECT * FROM tasks WHERE id = ?",
                                task_id)[0]

    def reveals(self, task_id=None):
        sql = "SELECT * FROM audit WHERE action = 'number.revealed'"
        if task_id is None:
            return self.daemon.rows(sql)
        return self.daemon.rows(sql + " AND task_id = ?", task_id)

    def snapshot(self):
        snap = {t: self.daemon.rows("SELECT * FROM %s ORDER BY id" % t)
                for t in ("tasks", "task_notes", "audit", "tokens")}
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

    # Output that may hold a number is checked with messages that quote
    # the pattern, never the output.

    def assert_match(self, text, pattern):
        self.assertTrue(re.search(pattern, text),
                        "no line matches %r" % pattern)

    def assert_has(self, text, needle):
        self.assertTrue(needle in text, "%r is missing" % needle)

    def assert_lacks(self, text, needle):
        self.assertFalse(needle in text, "%r is there" % needle)

    def assert_silent(self, out):
        self.assertTrue(out.stdout == "", "something was printed")

    def assert_shows_number(self, out, phone):
        # Never the number itself in a failure message.
        self.assertTrue(phone in out.stdout, "the number is not shown")

    def assert_no_number(self, out, phone):
        self.assertFalse(phone in out.stdout or phone in out.stderr,
                         "a number was printed")


class Tokens(CtlCase):

    def test_add_prints_the_token_once_and_stores_only_its_hash(self):
        out = self.ctl("token", "add", "lan", "--role", "counsellor")
        self.assertEqual(out.returncode, 0, out.stderr)
        token = out.stdout.strip()
        self.assertEqual(out.stdout, token + "\n")
        self.assertEqual(len(token), 46)
        self.assertRegex(token, TOKEN_RE)
        self.assertIn("only", out.stderr)
        self.assertNotIn(token, out.stderr)
        rows = self.daemon.rows("SELECT * FROM tokens")
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["name"], "lan")
        self.assertEqual(rows[0]["role"], "counsellor")
        self.assertIsNone(rows[0]["revoked_at"])
        self.assertEqual(rows[0]["hash"],
                         hashlib.sha256(token.encode()).hexdigest())
        # Not in the database file, its WAL, or the daemon's log.
        for suffix in ("", "-wal", "-shm"):
            path = self.daemon.db_path + suffix
            if os.path.exists(path):
                with open(path, "rb") as f:
                    data = f.read()
                self.assertNotIn(token.encode(), data,
                                 "the token is stored in " + suffix)
                self.assertNotIn(token[3:].encode(), data)
        self.assertNotIn(token, self.daemon.log_text())
        # Each token is new.
        out2 = self.ctl("token", "add", "minh", "--role", "supervisor")
        self.assertEqual(out2.returncode, 0, out2.stderr)
        self.assertNotEqual(out2.stdout.strip(), token)

    def test_duplicate_live_name_is_refused(self):
        self.assertEqual(self.ctl("token", "add", "lan", "--role",
                                  "counsellor").returncode, 0)
        before = self.snapshot()
        out = self.ctl("token", "add", "lan", "--role", "admin")
        self.assertEqual(out.returncode, 1)
        self.assertEqual(out.stdout, "")
        self.assertIn("a live token named lan exists; revoke it first",
                      out.stderr)
        self.assert_unchanged(before)

    def test_revoke_and_add_again(self):
        self.ctl("token", "add", "lan", "--role", "counsellor")
        out = self.ctl("token", "revoke", "lan")
        self.assertEqual(out.returncode, 0, out.stderr)
        rows = self.daemon.rows("SELECT * FROM tokens")
        self.assertIsNotNone(rows[0]["revoked_at"])
        # Revoked already, or never there: exit 1, saying so.
        for name in ("lan", "nobody"):
            out = self.ctl("token", "revoke", name)
            self.assertEqual(out.returncode, 1)
            self.assertIn("no live token named " + name, out.stderr)
        # The name is free again.
        out = self.ctl("token", "add", "lan", "--role", "counsellor")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(len(self.daemon.rows(
            "SELECT * FROM tokens WHERE revoked_at IS NULL")), 1)

    def test_list_shows_names_and_roles_never_hashes(self):
        tokens = []
        for name, role in (("lan", "counsellor"), ("minh", "supervisor"),
                           ("root.admin", "admin")):
            out = self.ctl("token", "add", name, "--role", role)
            tokens.append(out.stdout.strip())
        self.ctl("token", "revoke", "minh")
        out = self.ctl("token", "list")
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        self.assertEqual(len(lines), 4)
        self.assertIn("NAME", lines[0])
        self.assertIn("REVOKED", lines[0])
        self.assertTrue(lines[1].startswith("lan "))
        self.assertIn("counsellor", lines[1])
        self.assertTrue(lines[2].startswith("root.admin "))
        self.assertTrue(lines[3].startswith("minh "))   # revoked last
        self.assertRegex(lines[3], r"supervisor .*Z .*Z$")
        for token in tokens:
            self.assertNotIn(token, out.stdout)
        for row in self.daemon.rows("SELECT hash FROM tokens"):
            self.assertNotIn(row["hash"], out.stdout)
        self.assertNotIn(row["hash"][:16], out.stdout)

    def test_list_with_no_tokens(self):
        out = self.ctl("token", "list")
        self.assertEqual((out.returncode, out.stdout),
                         (0, "(no tokens)\n"))

    def test_usage_errors_store_nothing(self):
        before = self.snapshot()
        for args in (["token", "add", "lan"],
                     ["token", "add", "lan", "--role", "boss"],
                     ["token", "add", "has space", "--role", "admin"],
                     ["token", "add", "", "--role", "admin"],
                     ["token", "add", "x" * 65, "--role", "admin"],
                     ["token", "add", "lan/../x", "--role", "admin"],
                     ["token", "add", "--role", "admin"],
                     ["token", "add", "a", "b", "--role", "admin"],
                     ["token", "revoke"],
                     ["token", "list", "extra"],
                     ["token"],
                     ["token", "rotate", "lan"],
                     ["token", "list", "--role", "admin"]):
            out = self.ctl(*args)
            self.assertEqual(out.returncode, 2, args)
            self.assertIn("usage:", out.stderr, args)
            self.assertEqual(out.stdout, "", args)
        self.assert_unchanged(before)
        # 64 characters of the allowed set is a name.
        out = self.ctl("token", "add", "A-z_0.9" + "x" * 57, "--role",
                       "admin")
        self.assertEqual(out.returncode, 0, out.stderr)


class Queue(CtlCase):

    def test_next_on_an_empty_queue_exits_3(self):
        out = self.ctl("next")
        self.assertEqual(out.returncode, 3)
        self.assertIn("the queue is empty", out.stderr)
        self.assert_silent(out)
        # Claimed tasks with live leases and closed ones are not due.
        tid = self.request_callback(PHONE, "s1")
        self.assertEqual(self.ctl("next").returncode, 0)
        self.assertEqual(self.ctl("next").returncode, 3)
        self.assertEqual(self.ctl("complete", str(tid),
                                  "reached").returncode, 0)
        self.assertEqual(self.ctl("next").returncode, 3)

    def test_next_claims_and_shows_the_task_with_one_audit_row(self):
        tid = self.request_callback(PHONE, "s1")
        out = self.ctl("next")
        self.assertEqual(out.returncode, 0, out.stderr)
        t = self.task(tid)
        self.assertEqual(t["status"], "claimed")
        self.assertTrue(t["claimed_by"].startswith("cli:"))
        self.assertIsNotNone(t["lease_expires_at"])
        # The lease is queue.lease_seconds (900 s in the test config).
        lease = calendar.timegm(time.strptime(t["lease_expires_at"],
                                          "%Y-%m-%dT%H:%M:%SZ"))
        self.assertAlmostEqual(lease - time.time(), 900,
                               delta=30)
        self.assert_shows_number(out, PHONE)
        self.assert_match(out.stdout, r"(?m)^task +%d$" % tid)
        self.assert_match(out.stdout, r"(?m)^status +claimed$")
        self.assert_match(out.stdout, r"(?m)^topic +counselling$")
        self.assert_match(out.stdout, r"(?m)^caller +c_[0-9a-f]+$")
        reveals = self.reveals()
        self.assertEqual(len(reveals), 1)
        self.assertEqual(reveals[0]["task_id"], tid)
        self.assertEqual(reveals[0]["actor"], t["claimed_by"])
        claims = self.daemon.rows(
            "SELECT * FROM audit WHERE action = 'task.claimed'")
        self.assertEqual([a["task_id"] for a in claims], [tid])

    def test_next_takes_urgent_first_then_oldest(self):
        first = self.request_callback(PHONE, "s1")
        second = self.request_callback(OTHER, "s2")
        r = self.daemon.ussd("console", "s3", "+84911222333", "1*2")
        self.assertEqual(r.status, 200)
        urgent = self.daemon.rows(
            "SELECT id FROM tasks WHERE priority = 'urgent'")[0]["id"]
        order = []
        for _ in range(3):
            out = self.ctl("next")
            self.assertEqual(out.returncode, 0, out.stderr)
            order.append(int(re.search(r"(?m)^task +(\d+)$",
                                       out.stdout).group(1)))
        self.assertEqual(order, [urgent, first, second])
        self.assertEqual(self.ctl("next").returncode, 3)

    def test_next_as_a_token_name_claims_for_that_counsellor(self):
        tid = self.request_callback(PHONE, "s1")
        out = self.ctl("next", "--as", "lan")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.task(tid)["claimed_by"], "lan")
        # The operator saw the number: the audit row names the operator.
        reveals = self.reveals(tid)
        self.assertEqual(len(reveals), 1)
        self.assertTrue(reveals[0]["actor"].startswith("cli:"))
        self.assertIn("lan", reveals[0]["detail"])
        before = self.snapshot()
        for bad in ("", "la n", "x" * 65):
            out = self.ctl("next", "--as", bad)
            self.assertEqual(out.returncode, 2)
        self.assertEqual(self.ctl("next", "extra").returncode, 2)
        self.assert_unchanged(before)

    def test_show_prints_fields_notes_messages_and_audits_each_time(self):
        tid = self.request_callback(PHONE, "s1")
        # The caller texts us; one text tries to drive the terminal.
        for mid, text in (("m1", "Xin gọi lại sau 8 giờ tối"),
                          ("m2", "evil \x1b[2J\x1b]0;owned\x07 \u202e"
                                 "txet\r\nline two")):
            body = urllib.parse.urlencode({
                "from": PHONE, "to": "1567", "text": text, "id": mid,
                "date": "2026-11-29 03:00:00"}).encode()
            r = self.daemon.request(
                "POST", "/v1/sms/console", body,
                {"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(r.status, 200)
        self.assertEqual(self.ctl("complete", str(tid), "no_answer",
                                  "--note", "rang twice\nno voicemail",
                                  "--retry-at",
                                  "2030-01-01T00:00:00Z").returncode, 0)
        out = self.ctl("show", str(tid))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assert_shows_number(out, PHONE)
        s = out.stdout
        self.assert_match(s, r"(?m)^status +pending$")
        self.assert_match(s, r"(?m)^attempts +1$")
        self.assert_match(s, r"(?m)^retry at +2030-01-01T00:00:00Z$")
        self.assert_match(s, r"(?m)^safe to call +yes$")
        self.assert_match(s, r"(?m)^preferred time +now$")
        self.assert_match(s, r"(?m)^  \S+Z  cli:\S+: rang twice$")
        self.assert_has(s, "\n      no voicemail\n")
        self.assert_has(s, "Xin gọi lại sau 8 giờ tối")
        # Oldest first; no control character or bidi override reaches
        # the terminal; line breaks stay inside the message.
        self.assertLess(s.index("Xin gọi"), s.index("evil"))
        self.assert_has(s, "evil ?[2J?]0;owned? ?txet\n      line two")
        for c in ("\x1b", "\x07", "\r", "\u202e"):
            self.assert_lacks(s, c)
        self.assertEqual(len(self.reveals(tid)), 1)
        self.assertEqual(self.ctl("show", str(tid)).returncode, 0)
        self.assertEqual(len(self.reveals(tid)), 2)
        self.assertTrue(all(a["actor"].startswith("cli:")
                            for a in self.reveals(tid)))

    def test_show_unknown_or_malformed_id(self):
        self.request_callback(PHONE, "s1")
        out = self.ctl("show", "999")
        self.assertEqual(out.returncode, 1)
        self.assertIn("no task 999", out.stderr)
        for bad in ("0", "-1", "12x", "x", " 1", "+1",
                    "99999999999999999999"):
            out = self.ctl("show", bad)
            self.assertEqual(out.returncode, 2, bad)
            self.assertIn("usage:", out.stderr)
        self.assertEqual(self.ctl("show").returncode, 2)
        self.assertEqual(self.ctl("show", "1", "2").returncode, 2)
        self.assertEqual(self.reveals(), [])

    def test_show_prints_no_number_it_cannot_audit(self):
        tid = self.request_callback(PHONE, "s1")
        con = sqlite3.connect(self.daemon.db_path, timeout=1)
        self.addCleanup(con.close)
        con.execute("BEGIN IMMEDIATE")     # hold the write lock
        out = self.ctl("show", str(tid), timeout=60)
        con.rollback()
        self.assertEqual(out.returncode, 1)
        self.assert_silent(out)
        self.assert_no_number(out, PHONE)
        self.assertIn("no number is shown", out.stderr)
        self.assertEqual(self.reveals(), [])


class Complete(CtlCase):

    def test_bad_outcome_is_a_usage_error_and_changes_nothing(self):
        tid = self.request_callback(PHONE, "s1")
        before = self.snapshot()
        for args in (["complete", str(tid), "done"],
                     ["complete", str(tid), "unreached"],
                     ["complete", str(tid), "REACHED"],
                     ["complete", str(tid)],
                     ["complete", "x", "reached"],
                     ["complete", str(tid), "reached", "extra"],
                     ["complete", str(tid), "reached", "--as", "lan"],
                     ["complete", str(tid), "reached", "--retry-at",
                      "2030-01-01T00:00:00Z"],
                     ["complete", str(tid), "reached", "--note",
                      "x" * 4097],
                     ["complete", str(tid), "reached", "--note",
                      "bad \udcff byte"]):
            out = self.ctl(*args)
            self.assertEqual(out.returncode, 2, args[2:4])
            self.assertIn("usage:", out.stderr)
        out = self.ctl("complete", str(tid), "done")
        for allowed in ("reached", "no_answer", "wrong_number", "unsafe"):
            self.assertIn(allowed, out.stderr)
        self.assert_unchanged(before)

    def test_bad_retry_at_is_a_usage_error(self):
        tid = self.request_callback(PHONE, "s1")
        before = self.snapshot()
        for bad in ("2026-11-29 10:00:00Z", "2026-11-29T10:00:00",
                    "2026-02-30T10:00:00Z", "2026-11-29T24:00:00Z",
                    "2026-11-29T10:00:00+7:00", "2026-11-29T10:00:00+0700",
                    "2026-1-29T10:00:00Z", "tomorrow", "",
                    "2026-11-29T10:00:00.Z", "2026-11-29T10:00:00Zjunk",
                    "1969-12-31T23:59:59Z"):
            out = self.ctl("complete", str(tid), "no_answer",
                           "--retry-at", bad)
            self.assertEqual(out.returncode, 2, bad)
            self.assertIn("RFC 3339", out.stderr)
        self.assert_unchanged(before)

    def test_reached_closes_a_pending_task_claiming_it_first(self):
        tid = self.request_callback(PHONE, "s1")
        out = self.ctl("complete", str(tid), "reached", "--note",
                       "Đã gọi, ổn")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("closed", out.stdout)
        t = self.task(tid)
        self.assertEqual((t["status"], t["outcome"]), ("closed", "reached"))
        self.assertIsNotNone(t["closed_at"])
        self.assertIsNone(t["lease_expires_at"])
        notes = self.daemon.rows("SELECT * FROM task_notes")
        self.assertEqual([n["text"] for n in notes], ["Đã gọi, ổn"])
        self.assertTrue(notes[0]["author"].startswith("cli:"))
        actions = [a["action"] for a in self.daemon.rows(
            "SELECT action FROM audit WHERE task_id = ? ORDER BY id", tid)]
        self.assertEqual(actions, ["task.created", "task.claimed",
                                   "task.completed"])
        # Closed: a second outcome is refused and changes nothing.
        before = self.snapshot()
        out = self.ctl("complete", str(tid), "no_answer")
        self.assertEqual(out.returncode, 1)
        self.assertIn("task %d is closed" % tid, out.stderr)
        self.assert_unchanged(before)
        out = self.ctl("complete", "999", "reached")
        self.assertEqual(out.returncode, 1)
        self.assertIn("no task 999", out.stderr)
        self.assert_unchanged(before)

    def test_complete_after_next(self):
        tid = self.request_callback(PHONE, "s1")
        self.assertEqual(self.ctl("next").returncode, 0)
        out = self.ctl("complete", str(tid), "wrong_number")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.task(tid)["outcome"], "wrong_number")
        self.assertNotIn("over their claim", out.stderr)

    def test_operator_completes_over_a_counsellors_claim(self):
        tid = self.request_callback(PHONE, "s1")
        self.assertEqual(self.ctl("next", "--as", "lan").returncode, 0)
        out = self.ctl("complete", str(tid), "unsafe")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("held by lan", out.stderr)
        t = self.task(tid)
        self.assertEqual((t["status"], t["outcome"]), ("closed", "unsafe"))
        self.assertEqual(t["safe_to_sms"], 0)

    def test_no_answer_reschedules(self):
        tid = self.request_callback(PHONE, "s1")
        self.assertEqual(self.ctl("next").returncode, 0)
        out = self.ctl("complete", str(tid), "no_answer", "--retry-at",
                       "2030-06-01T17:30:00+07:00")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("back in the queue", out.stdout)
        t = self.task(tid)
        self.assertEqual(t["status"], "pending")
        self.assertEqual(t["attempts"], 1)
        self.assertEqual(t["retry_at"], "2030-06-01T10:30:00Z")
        self.assertIsNone(t["claimed_by"])
        self.assertIsNone(t["outcome"])
        # Not due yet: nothing to claim.
        self.assertEqual(self.ctl("next").returncode, 3)
        # The caller, who said texting is safe, is told we tried.
        missed = self.daemon.rows("SELECT * FROM outbound WHERE purpose = "
                                  "'missed_call'")
        self.assertEqual(len(missed), 1)
        self.assertEqual((missed[0]["task_id"], missed[0]["channel"]),
                         (tid, "console"))
        self.assertTrue(missed[0]["msisdn"] == PHONE, "sent elsewhere")
        # Other accepted forms: UTC with a fraction, a negative offset.
        for given, stored in (("2030-06-01T10:30:00.25Z",
                               "2030-06-01T10:30:00Z"),
                              ("2030-12-31t22:00:00-03:30",
                               "2031-01-01T01:30:00Z")):
            out = self.ctl("complete", str(tid), "no_answer",
                           "--retry-at", given)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(self.task(tid)["retry_at"], stored)

    def test_no_missed_call_text_when_texting_is_unsafe(self):
        tid = self.request_callback(PHONE, "s1", NO_TEXT_PATH)
        out = self.ctl("complete", str(tid), "no_answer")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.task(tid)["attempts"], 1)
        self.assertEqual(len(self.daemon.rows("SELECT * FROM outbound")),
                         0)

    def test_no_answer_without_retry_at_backs_off(self):
        tid = self.request_callback(PHONE, "s1")
        out = self.ctl("complete", str(tid), "no_answer")
        self.assertEqual(out.returncode, 0, out.stderr)
        t = self.task(tid)
        self.assertEqual((t["status"], t["attempts"]), ("pending", 1))
        due = calendar.timegm(time.strptime(t["retry_at"],
                                        "%Y-%m-%dT%H:%M:%SZ"))
        self.assertAlmostEqual(due - time.time(), 900,
                               delta=30)

    def test_no_answer_closes_as_unreached_after_max_attempts(self):
        tid = self.request_callback(PHONE, "s1")
        for attempt in range(1, 5):        # queue.max_attempts is 5
            out = self.ctl("complete", str(tid), "no_answer",
                           "--retry-at", "2000-01-01T00:00:00Z")
            self.assertEqual(out.returncode, 0, out.stderr)
            t = self.task(tid)
            self.assertEqual((t["status"], t["attempts"]),
                             ("pending", attempt))
        out = self.ctl("complete", str(tid), "no_answer")
        self.assertEqual(out.returncode, 0, out.stderr)
        t = self.task(tid)
        self.assertEqual((t["status"], t["outcome"], t["attempts"]),
                         ("closed", "unreached", 5))
        self.assertIn("unreached", out.stdout)


class ReachesTheDaemon(CtlCase):
    """What hotlinectl writes behind the daemon's back is acted on at
    once, not at the outbox's next idle look (30 s)."""
    start_daemon = False

    def test_a_missed_call_text_queued_by_hotlinectl_leaves_promptly(self):
        self.daemon.config["outbox"] = {
            "contact_windows": {"default": "00:00-24:00"}}
        self.daemon.start()
        tid = self.request_callback(PHONE, "s1")
        # Let the outbox settle into its idle wait first.
        time.sleep(1.5)
        self.assertEqual(self.ctl("next").returncode, 0)
        out = self.ctl("complete", str(tid), "no_answer")
        self.assertEqual(out.returncode, 0, out.stderr)
        deadline = time.monotonic() + 10
        while [r["status"] for r in self.daemon.rows(
                "SELECT status FROM outbound WHERE purpose = "
                "'missed_call'")] != ["delivered"]:
            self.assertLess(time.monotonic(), deadline, "the missed-call "
                            "text waited for the outbox's idle look")
            time.sleep(0.1)
