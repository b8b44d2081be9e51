"""Common test case: one fresh daemon per test, and after every test a
scan of its log for any form of any test phone number."""

import json
import time
import unittest
import urllib.parse

from fake_aggregator import FakeAggregator
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

    def fake_aggregator(self, **kwargs):
        """A FakeAggregator running for this test (stopped after it), the
        config's "at" channel sending to it."""
        fa = FakeAggregator(**kwargs).start()
        self.addCleanup(fa.stop)
        for ch in self.daemon.config["channels"]:
            if ch["name"] == "at":
                ch["send_url"] = fa.send_url("at")
        return fa

    def add_fa_channel(self, fa, **extra):
        """A second Africa's Talking channel, "fa", sending to fa with its
        secrets from the environment, as a deployment would set it."""
        ch = {"name": "fa", "provider": "africastalking",
              "username": "hotline", "api_key": {"env": "HL_TEST_AT_KEY"},
              "callback_token": {"env": "HL_TEST_AT_TOKEN"},
              "short_code": "1567", "rate_limit_per_second": 50,
              "send_url": fa.send_url("africastalking")}
        ch.update(extra)
        self.daemon.config["channels"].append(ch)

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

    def at_sms(self, phone, text, msg_id, channel="at"):
        """An inbound SMS on an Africa's Talking channel ("at")."""
        body = urllib.parse.urlencode({
            "from": phone, "to": "1567", "text": text, "id": msg_id,
            "date": "2026-11-29 03:00:00", "linkId": "",
            "networkCode": "45204"}).encode()
        r = self.daemon.request(
            "POST", "/v1/sms/%s?token=%s" % (channel, AT_TOKEN), body,
            {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200)

    def wait(self, cond, what, timeout=20):
        """Until cond() holds; fails with what after timeout seconds."""
        deadline = time.monotonic() + timeout
        while not cond():
            self.assertLess(time.monotonic(), deadline, what)
            time.sleep(0.05)
