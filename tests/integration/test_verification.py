"""The verification word (issue #11, item 4): a caller who is safe to
call picks a word from a list (USSD) or types one (SMS); the counsellor
holding the task's lease sees it beside the number, and nobody else, in
no list, statistics, audit entry, log line, metric or text.

The word is looked for case-insensitively everywhere it must not be.
"""

import json
import time
import urllib.parse

from harness import AT_TOKEN
from test_api import ApiCase, PHONE, OTHER, scrub

# The shipped menu in English: counsellor, safe to call, word 5
# ("Coconut"), now, safe to text, send.
EN_PATH = ["2", "1", "1", "5", "1", "1", "1"]
EN_WORD = "Coconut"
# The same with the word skipped (option 8).
SKIP_PATH = ["2", "1", "1", "8", "1", "1", "1"]
# A word typed over SMS; nothing else in a test says it.
TYPED_WORD = "Zephyrine"


class VerificationCase(ApiCase):
    start_daemon = False

    def setUp(self):
        super().setUp()
        self.fa = self.fake_aggregator()
        cfg = self.daemon.config
        # Any hour is inside the window: the follow-up goes at once.
        cfg["outbox"] = {"contact_windows": {"default": "00:00-24:00"},
                         "max_delay_seconds": 2, "timeout_seconds": 2,
                         "connect_timeout_seconds": 2}
        self.daemon.start()
        self.sms_seq = 0

    # Helpers ----------------------------------------------------------

    def walk(self, phone, session, path, channel="console"):
        for i in range(len(path) + 1):
            r = self.daemon.ussd(channel, session, phone,
                                 "*".join(path[:i]))
            self.assertEqual(r.status, 200)
        self.assertTrue(r.text.startswith("END "), "the menu did not end")
        rows = self.daemon.rows(
            "SELECT id FROM tasks WHERE msisdn = ? AND status != 'closed'",
            phone)
        self.assertEqual(len(rows), 1, "the session created no task")
        return rows[0]["id"]

    def text(self, body, sender=PHONE):
        """An SMS on the Africa's Talking channel, processed."""
        self.sms_seq += 1
        r = self.daemon.request(
            "POST", "/v1/sms/at?token=" + AT_TOKEN,
            urllib.parse.urlencode({
                "from": sender, "to": "1567", "text": body,
                "id": "verify-%d" % self.sms_seq,
                "date": "2026-11-29 03:00:00", "linkId": "",
                "networkCode": "45204"}).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, scrub(r.body))
        deadline = time.monotonic() + 10
        while self.daemon.rows("SELECT id FROM inbound WHERE processed_at "
                               "IS NULL"):
            self.assertLess(time.monotonic(), deadline, "never processed")
            time.sleep(0.02)

    def last_reply(self, phone=PHONE):
        rows = self.daemon.rows("SELECT body FROM outbound WHERE msisdn = ? "
                                "ORDER BY id DESC LIMIT 1", phone)
        return rows[0]["body"] if rows else ""

    def settled(self, timeout=15):
        """Every outbound row sent, or finally refused."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.daemon.rows("SELECT id, status, purpose, body FROM "
                                    "outbound ORDER BY id")
            if all(r["status"] not in ("pending", "sending") for r in rows):
                return rows
            self.assertLess(time.monotonic(), deadline, "outbox never "
                            "settled: %r" % [(r["purpose"], r["status"])
                                             for r in rows])
            time.sleep(0.05)

    # Failure messages name the place, never print what was searched:
    # it may hold a caller's number.

    def assert_absent(self, where, text, word):
        self.assertFalse(word.lower() in (text or "").lower(),
                         "the verification word is in %s" % where)

    def assert_number(self, text, where):
        self.assertTrue(PHONE in text, "the number is not in " + where)

    def get(self, task, who):
        return self.ok(self.api("GET", "/v1/callbacks/%d" % task, who))

    def assert_no_word_key(self, doc, who):
        self.assertFalse("verification_word" in doc, "%s was given the "
                         "verification word" % who)
        self.assert_absent("an answer to " + who, json.dumps(
            doc, ensure_ascii=False), EN_WORD)

    def assert_nowhere_else(self, word):
        """Lists, statistics, audit, metrics, hotlinectl's listing and
        statistics, the whole log: none has the word."""
        for who in ("alice", "bob", "sup"):
            for path in ("/v1/callbacks?status=all", "/v1/stats"):
                r = self.api("GET", path, who)
                self.assertEqual(r.status, 200)
                self.assert_absent(path + " for " + who,
                                   r.body.decode("utf-8"), word)
        r = self.api("GET", "/v1/audit?limit=200", "sup")
        self.assertEqual(r.status, 200)
        self.assert_absent("the audit trail", r.body.decode("utf-8"), word)
        r = self.daemon.request("GET", "/metrics")
        self.assertEqual(r.status, 200)
        self.assert_absent("/metrics", r.body.decode("utf-8"), word)
        for args in (("queue",), ("stats",)):
            out = self.daemon.ctl(*args)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assert_absent("hotlinectl " + args[0], out.stdout, word)
        self.assert_absent("the log", self.daemon.log_text(), word)
        for row in self.daemon.rows("SELECT body FROM outbound"):
            self.assert_absent("an outbound text", row["body"], word)
        for req in self.fa.requests():
            self.assert_absent("a request to the aggregator",
                               req.raw_body.decode("utf-8", "replace"),
                               word)
            self.assert_absent("a request to the aggregator",
                               urllib.parse.unquote_plus(
                                   req.raw_body.decode("utf-8", "replace")),
                               word)

    # Tests ------------------------------------------------------------

    def test_ussd_word_is_shown_to_the_lease_holder_only(self):
        for name, role in (("alice", "counsellor"), ("bob", "counsellor"),
                           ("sup", "supervisor")):
            self.token(name, role)
        task = self.walk(PHONE, "v-1", EN_PATH)

        # Its place is the task: the ended session's menu state, opened
        # with the test's key, keeps no copy (a state it would resume
        # from is the only one that needs it).
        states = [r["state"] for r in self.daemon.rows(
            "SELECT state FROM sessions WHERE kind = 'ussd'")]
        self.assertTrue(states and all('"node"' in s for s in states),
                        "no opened session state to look in")
        for s in states:
            self.assert_absent("the ended session's state", s, EN_WORD)

        # Before anyone holds it: nobody sees it, the supervisor (who
        # is shown the number) included.
        self.assert_no_word_key(self.get(task, "alice"), "a counsellor "
                                "without the lease")
        doc = self.get(task, "sup")
        self.assertTrue(doc.get("msisdn") == PHONE, "no number for a "
                        "supervisor")
        self.assert_no_word_key(doc, "a supervisor without the lease")

        # The claim shows the number, and the word beside it.
        claim = self.ok(self.api("POST", "/v1/callbacks/next", "alice",
                                 body={}))
        self.assertEqual(claim["id"], task)
        self.assertTrue(claim.get("msisdn") == PHONE, "no number in the "
                        "claim")
        self.assertEqual(claim["verification_word"], EN_WORD)
        doc = self.get(task, "alice")
        self.assertTrue(doc.get("msisdn") == PHONE, "no number for the "
                        "holder")
        self.assertEqual(doc["verification_word"], EN_WORD)
        # Not among the answers listed for counsellors.
        self.assertNotIn("verification", [a["field"] for a in
                                          doc["answers"]])
        self.assert_absent("the answers", json.dumps(
            doc["answers"], ensure_ascii=False), EN_WORD)

        # Another counsellor, a supervisor: not the holder, no word.
        self.assert_no_word_key(self.get(task, "bob"), "another counsellor")
        doc = self.get(task, "sup")
        self.assertTrue(doc.get("msisdn") == PHONE, "no number for a "
                        "supervisor")
        self.assert_no_word_key(doc, "a supervisor")
        # Nor the operator, who does not hold it either.
        out = self.daemon.ctl("show", str(task))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assert_number(out.stdout, "hotlinectl show")
        self.assert_absent("hotlinectl show (not the holder)", out.stdout,
                           EN_WORD)
        self.assert_absent("hotlinectl show (not the holder)", out.stdout,
                           "verification")

        # A HEAD shows nothing at all.
        r = self.api("HEAD", "/v1/callbacks/%d" % task, "alice")
        self.assertEqual((r.status, r.body), (200, b""))

        # The call found nobody: the missed-call text goes (texting is
        # safe) and never carries the word.
        self.ok(self.api("POST", "/v1/callbacks/%d/complete" % task,
                         "alice", body={"outcome": "no_answer"}))
        rows = self.settled()
        self.assertIn("missed_call", [r["purpose"] for r in rows])
        # Back in the queue: its holder is gone, so is the word.
        self.assert_no_word_key(self.get(task, "alice"), "the former holder")
        self.assert_nowhere_else(EN_WORD)

    def test_a_lease_given_by_the_operator_shows_the_word_to_its_holder(self):
        self.token("alice")
        task = self.walk(PHONE, "v-2", EN_PATH)
        # next --as: the operator claims for alice and sees the number,
        # but alice holds the lease: the word is hers.
        out = self.daemon.ctl("next", "--as", "alice")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assert_number(out.stdout, "hotlinectl next --as")
        self.assert_absent("hotlinectl next --as", out.stdout, EN_WORD)
        doc = self.get(task, "alice")
        self.assertEqual(doc["verification_word"], EN_WORD)
        self.ok(self.api("POST", "/v1/callbacks/%d/release" % task, "alice"))

        # The operator taking the task themselves holds it: as the API
        # shows its holder, hotlinectl shows the word with the number.
        out = self.daemon.ctl("next")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assert_number(out.stdout, "hotlinectl next")
        self.assertTrue("\nverification    %s\n" % EN_WORD in out.stdout,
                        "hotlinectl next does not show its holder the word")
        out = self.daemon.ctl("show", str(task))
        self.assertTrue("\nverification    %s\n" % EN_WORD in out.stdout,
                        "hotlinectl show does not show the holder the word")
        # Completed: no longer held, no word.
        out = self.daemon.ctl("complete", str(task), "reached")
        self.assertEqual(out.returncode, 0, out.stderr)
        out = self.daemon.ctl("show", str(task))
        self.assert_absent("hotlinectl show of a closed task", out.stdout,
                           EN_WORD)
        self.assert_absent("the log", self.daemon.log_text(), EN_WORD)

    def test_a_skipped_word_is_null_for_the_holder(self):
        self.token("alice")
        task = self.walk(PHONE, "v-3", SKIP_PATH)
        claim = self.ok(self.api("POST", "/v1/callbacks/%d/claim" % task,
                                 "alice"))
        self.assertTrue("verification_word" in claim, "the holder is not "
                        "told that no word was chosen")
        self.assertIsNone(claim["verification_word"])
        self.assertIsNone(self.get(task, "alice")["verification_word"])

    def test_not_safe_to_call_asks_no_word(self):
        self.token("alice")
        # vi, counsellor, not safe to call, now, safe to text, send.
        task = self.walk(OTHER, "v-4", ["1", "1", "2", "1", "1", "1"])
        claim = self.ok(self.api("POST", "/v1/callbacks/next", "alice",
                                 body={}))
        self.assertEqual(claim["id"], task)
        self.assertIsNone(claim["verification_word"])

    def test_a_word_typed_over_sms_reaches_the_holder_and_no_text(self):
        for name, role in (("alice", "counsellor"), ("bob", "counsellor"),
                           ("sup", "supervisor")):
            self.token(name, role)
        # English, counsellor, safe to call: the word's page.
        for body in ("hello", "2", "1", "1"):
            self.text(body)
        page = self.last_reply()
        self.assertIn("Pick a word", page)
        self.assertIn("Or text another word (2-20 letters", page)
        # Two words: a clear re-prompt, the same page again.
        self.text("my secret")
        page = self.last_reply()
        self.assertTrue(page.startswith("Not a valid choice.\nPick a word"),
                        page)
        self.assertIn("2-20 letters", page)
        # The word, then now, safe to text, send.
        self.text(TYPED_WORD)
        self.assertIn("When is it safe", self.last_reply())
        for body in ("1", "1", "1"):
            self.text(body)
        self.assertIn("Thank you", self.last_reply())
        tasks = self.daemon.rows("SELECT id, channel FROM tasks")
        self.assertEqual(len(tasks), 1)
        task = tasks[0]["id"]

        # The texts answering the word's question keep no trace of it,
        # nor of the attempt before it, and the finished conversation
        # keeps no copy.
        redacted = self.daemon.rows("SELECT body, flags FROM inbound WHERE "
                                    "flags & 4 != 0 ORDER BY id")
        self.assertEqual(len(redacted), 2)
        for row in self.daemon.rows("SELECT body FROM inbound"):
            self.assert_absent("an inbound row", row["body"], TYPED_WORD)
            self.assert_absent("an inbound row", row["body"], "my secret")
        for row in self.daemon.rows("SELECT state FROM sessions"):
            self.assert_absent("a session's state", row["state"],
                               TYPED_WORD)

        claim = self.ok(self.api("POST", "/v1/callbacks/next", "alice",
                                 body={}))
        self.assertEqual(claim["verification_word"], TYPED_WORD)
        doc = self.get(task, "alice")
        self.assertEqual(doc["verification_word"], TYPED_WORD)
        history = json.dumps(doc["messages"], ensure_ascii=False)
        self.assert_absent("the caller's history", history, TYPED_WORD)
        self.assert_absent("the caller's history", history, "my secret")
        self.assertIn("hello", history)      # the rest is there
        for who in ("bob", "sup"):
            doc = self.get(task, who)
            self.assertFalse("verification_word" in doc, who + " was "
                             "given the verification word")
            self.assert_absent("an answer to " + who, json.dumps(
                doc, ensure_ascii=False), TYPED_WORD)

        # A counsellor's text and the missed-call text: neither can
        # carry it (nothing that builds a text can read it).
        self.ok(self.api("POST", "/v1/callbacks/%d/messages" % task, "alice",
                         body={"text": "We will call again later."}), 202)
        self.ok(self.api("POST", "/v1/callbacks/%d/complete" % task,
                         "alice", body={"outcome": "no_answer"}))
        rows = self.settled()
        purposes = [r["purpose"] for r in rows]
        self.assertIn("message", purposes)
        self.assertIn("missed_call", purposes)
        self.assertTrue(all(r["status"] in ("sent", "delivered")
                            for r in rows), [r["status"] for r in rows])
        self.assertEqual(len(self.fa.requests("at")), len(rows))
        self.assert_nowhere_else(TYPED_WORD)

    def test_console_carries_the_script_with_no_inline_code(self):
        page = self.daemon.request("GET", "/console/")
        self.assertEqual(page.status, 200)
        html = page.text
        self.assertIn('id="call-script"', html)
        self.assertIn('id="script-steps"', html)
        # The strict policy stands: no inline script, style or handler.
        self.assertNotRegex(html, r"<script(?![^>]*\bsrc=)")
        self.assertNotRegex(html, r"<style|\sstyle=|\son[a-z]+=")
        js = self.daemon.request("GET", "/console/console.js").text
        for text in ("verification_word", "script_time", "script_word",
                     "script_other", "script_outcome",
                     "Is this a good time to talk?",
                     "Bây giờ nói chuyện có tiện không?",
                     "Sorry, wrong number", "Xin lỗi, tôi gọi nhầm số"):
            self.assertIn(text, js)
        # Nothing is written as HTML: the word reaches the page as text.
        self.assertNotRegex(js, r"\.(innerHTML|outerHTML)\b|"
                                r"insertAdjacentHTML|document\.write")
