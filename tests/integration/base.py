"""Common test case: one fresh daemon per test, and after every test a
scan of its log for any form of any test phone number."""

import unittest

from harness import TEST_NUMBERS, Daemon, number_forms


class DaemonTestCase(unittest.TestCase):
    start_daemon = True

    def setUp(self):
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
