"""Common test case: one fresh daemon per test, and after every test a
scan of its log for any form of any test phone number."""

import json
import time
import unittest
import urllib.parse

from harness import AT_TOKEN, TEST_NUMBERS, Daemon, number_forms


class DaemonTestCase(unittest.TestCase):
    start_daemon = True

    def setUp(self):
        self.tokens = {}
        self.daemon = Daemon()
        self.addCleanup(self.daemon.cleanup)
        if self.start_daemon:
            self.daemon.start()

    def tearDown(self):
        # Every test ends with a clean shutdown, so leaks and sanitizer
        # reports at exit are caught too.
        if self.daemon.proc is not None:
            self.assertEqual(self.daemon.stop(), 0, "hotlined did not "
                             "exit 0 on SIGTERM")
        log = self.daemon.log_text()
        for number in TEST_NUMBERS:
            for form in number_forms(number):
                # Never print the number itself in a failure message.
                self.assertNotIn(form, log,
                                 "a test phone number reached the log")
        for marker in ("ERROR: AddressSanitizer", "runtime error:",
                       "LeakSanitizer"):
            self.assertNotIn(marker, log, "sanitizer report in the log")

    # Helpers ----------------------------------------------------------

    def token(self, name, role="counsellor"):
        """An API token for name, made with hotlinectl, kept by name."""
        out = self.daemon.ctl("token", "add", name, "--role", role)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.tokens[name] = out.stdout.strip()

    def api(self, method, path, who, body=None):
        """A request to the API as who (a name given to token())."""
        h = {"Authorization": "Bearer " + self.tokens[who]}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        return self.daemon.request(method, path, data, h)

    def at_sms(self, phone, text, msg_id):
        """An inbound SMS on the Africa's Talking channel "at"."""
        body = urllib.parse.urlencode({
            "from": phone, "to": "1567", "text": text, "id": msg_id,
            "date": "2026-11-29 03:00:00", "linkId": "",
            "networkCode": "45204"}).encode()
        r = self.daemon.request(
            "POST", "/v1/sms/at?token=" + AT_TOKEN, body,
            {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200)

    def wait(self, cond, what, timeout=20):
        """Until cond() holds; fails with what after timeout seconds."""
        deadline = time.monotonic() + timeout
        while not cond():
            self.assertLess(time.monotonic(), deadline, what)
            time.sleep(0.05)
