#!/usr/bin/env python3
"""The counsellors' web console in a real browser, against the real daemon.

Starts hotlined (tests/integration/harness.py: a fresh database, port 0),
makes a counsellor token with hotlinectl, files two callback tasks by
USSD (the second from a caller who texted STOP), then runs
console.test.js: headless Chromium (Debian's package) driven by
playwright-core signs in, takes the next task, is refused a second one
while holding it, sees the number leave when the lease runs out (the test
ages the lease in the database) and claims again, reads the answers,
notes, texts the caller, records "reached", meets the opt-out refusal,
releases, claims the second task, sees its number leave when it is given
back behind the page's back (in the database), claims and closes it.  Afterwards the database must show
what the page did, and the daemon's log no phone number.

Screenshot: tests/output/console.png (console-failure.png on a failure).
Prints a closing 'N passed, N failed' line; exits non-zero on any failure.
"""

import json
import os
import re
import subprocess
import sys
import time
import unicodedata
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from base import DaemonTestCase  # noqa: E402

PHONE = "+84912345678"      # files the task that is reached
OTHER = "+84987654321"      # opted out of texts, then files a task
OUTPUT = os.path.join(ROOT, "tests", "output")
SCREENSHOT = os.path.join(OUTPUT, "console.png")
NODE_SCRIPT = os.path.join(HERE, "console.test.js")
CSP = {"default-src 'none'", "script-src 'self'", "style-src 'self'",
       "connect-src 'self'", "img-src 'self'", "base-uri 'none'",
       "form-action 'none'", "frame-ancestors 'none'"}

# config/menu.json: Vietnamese, talk to a counsellor, safe to call,
# the word "Chuối" (2), in the morning, safe to text, send the request.
USSD_HOPS = ["", "1", "1*1", "1*1*1", "1*1*1*2", "1*1*1*2*2", "1*1*1*2*2*1",
             "1*1*1*2*2*1*1"]
WORD = "Chuối"
# The same with the word skipped (8).
NO_WORD_HOPS = [h.replace("1*1*1*2", "1*1*1*8", 1) for h in USSD_HOPS]
ANSWERS = {
    "vi": ["Khi nào liên lạc an toàn?", "Buổi sáng",
           "Gọi lại số này có an toàn không?"],
    "en": ["When is it safe to contact you?", "Morning",
           "Is it safe to call you back on this number?"],
}


def fold(text):
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text)
                   if not unicodedata.combining(c))


class ConsoleInBrowser(DaemonTestCase):

    def file_task(self, phone, session, hops=USSD_HOPS):
        for i, text in enumerate(hops):
            r = self.daemon.ussd("console", session, phone, text)
            self.assertEqual(r.status, 200, "USSD hop %d answered %d" %
                             (i, r.status))
        self.assertTrue(r.text.startswith("END"), "the menu did not end")
        rows = self.daemon.rows(
            "SELECT id FROM tasks WHERE msisdn = ? AND status = 'pending'",
            phone)
        self.assertEqual(len(rows), 1, "the USSD session filed no task")
        return rows[0]["id"]

    def opt_out(self, phone):
        r = self.daemon.request(
            "POST", "/v1/sms/console",
            urllib.parse.urlencode({"from": phone, "to": "1567",
                                    "text": "STOP",
                                    "id": "browser-stop-1"}).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200)
        deadline = time.monotonic() + 10
        # Opt-outs are kept by pseudonym: found through the STOP itself.
        while not self.daemon.rows("SELECT 1 FROM optouts o JOIN inbound i "
                                   "ON i.caller = o.caller WHERE "
                                   "i.msisdn = ?", phone):
            self.assertLess(time.monotonic(), deadline, "STOP not processed")
            time.sleep(0.05)

    def counsellor_token(self, name):
        r = self.daemon.ctl("token", "add", name, "--role", "counsellor")
        self.assertEqual(r.returncode, 0, "hotlinectl token add failed: " +
                         r.stderr)
        m = re.search(r"\bhl_[A-Za-z0-9_-]{43}\b", r.stdout)
        self.assertIsNotNone(m, "hotlinectl token add printed no token")
        return m.group(0)

    def test_console_is_served_with_a_strict_policy(self):
        for path, ctype in (("/console/", "text/html"),
                            ("/console/index.html", "text/html"),
                            ("/console/console.js", "javascript"),
                            ("/console/console.css", "text/css")):
            r = self.daemon.request("GET", path)
            self.assertEqual(r.status, 200, path)
            headers = {k.lower(): v for k, v in r.headers.items()}
            self.assertIn(ctype, headers.get("content-type", ""), path)
            policy = {d.strip() for d in
                      headers.get("content-security-policy", "").split(";")}
            self.assertLessEqual(CSP, policy, path + ": CSP is missing "
                                 "directives")
        page = self.daemon.request("GET", "/console/").text
        # No inline script, style or handler: the policy would refuse it.
        self.assertNotRegex(page, r"<script(?![^>]*\bsrc=)")
        self.assertNotRegex(page, r"<style|\sstyle=|\son[a-z]+=")
        self.assertNotRegex(page, r"(src|href)=\"(https?:)?//")

    def test_counsellor_works_a_callback_in_the_browser(self):
        token = self.counsellor_token("lan")
        first = self.file_task(PHONE, "browser-1")
        self.opt_out(OTHER)
        # Tasks are taken oldest first; created_at has whole seconds.
        time.sleep(1.1)
        second = self.file_task(OTHER, "browser-2", NO_WORD_HOPS)

        plan = {
            "task": first, "opted_out_task": second,
            "number": PHONE, "other_number": OTHER,
            "answers": ANSWERS,
            # The first caller's verification word; the second chose
            # none.
            "word": WORD,
            "note": "Ghi chú từ trình duyệt: gọi lại sau 18 giờ",
            "outcome_note": "Đã nói chuyện; người gọi an toàn",
            "sms": "Chào bạn, tư vấn viên sẽ gọi lại trong chiều nay.",
            "screenshot": SCREENSHOT,
            # The test ages a lease and gives a task back behind the
            # page's back, as the clock or a supervisor would.
            "database": self.daemon.db_path,
        }
        os.makedirs(OUTPUT, exist_ok=True)
        env = dict(os.environ, CONSOLE_URL=self.daemon.url(""),
                   CONSOLE_TOKEN=token, TEST_PLAN=json.dumps(plan))
        run = subprocess.run(["node", NODE_SCRIPT], cwd=HERE, env=env,
                             capture_output=True, text=True, timeout=300)
        # The script prints steps, never the token or a number.
        sys.stdout.write(run.stdout)
        sys.stdout.write(run.stderr)
        self.assertEqual(run.returncode, 0, "the browser test failed")
        self.assertTrue(os.path.getsize(SCREENSHOT) > 0, "no screenshot")

        task = self.daemon.rows("SELECT * FROM tasks WHERE id = ?", first)[0]
        self.assertEqual((task["status"], task["outcome"]),
                         ("closed", "reached"))
        notes = [n["text"] for n in self.daemon.rows(
            "SELECT text FROM task_notes WHERE task_id = ? AND "
            "author = 'lan' ORDER BY id", first)]
        self.assertIn(plan["note"], notes)
        self.assertIn(plan["outcome_note"], notes)
        texts = self.daemon.rows(
            "SELECT body FROM outbound WHERE task_id = ?", first)
        self.assertEqual(len(texts), 1, "the caller was not texted once")
        # Stored as written; a folding channel may strip the diacritics.
        self.assertIn(texts[0]["body"], (plan["sms"], fold(plan["sms"])))

        other = self.daemon.rows("SELECT * FROM tasks WHERE id = ?",
                                 second)[0]
        self.assertEqual((other["status"], other["outcome"]),
                         ("closed", "wrong_number"))
        self.assertEqual(self.daemon.rows(
            "SELECT id FROM outbound WHERE task_id = ?", second), [],
            "a text to a caller who opted out was queued")

        for task_id in (first, second):
            revealed = self.daemon.rows(
                "SELECT actor FROM audit WHERE action = 'number.revealed' "
                "AND task_id = ?", task_id)
            self.assertTrue(revealed, "no audit row for the number shown "
                            "on task %d" % task_id)
            self.assertEqual({r["actor"] for r in revealed}, {"lan"})


def main():
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(
        ConsoleInBrowser)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(
        suite)
    failed = len({test.id() for test, _ in result.failures + result.errors})
    passed = result.testsRun - failed - len(result.skipped)
    print("browser: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
