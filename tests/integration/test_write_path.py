"""The write path on a slow disk (issue #10): the daemon runs with
build/slowfsync.so preloaded, so every fsync sleeps first.  The loop must
go on answering what needs no disk (/healthz, GET /v1/callbacks) while a
commit waits; a reply that promises something is stored (an SMS 2xx, an
END that creates a task) leaves only after an fsync that began after its
request was sent; and everything queued meanwhile shares one commit.

The shim logs "start end" (CLOCK_MONOTONIC, the clock of time.monotonic)
for each fsync, so the tests compare events by order, never by speed.
"""

import http.client
import itertools
import os
import re
import threading
import time
import urllib.parse

from base import DaemonTestCase
from harness import ROOT, number_forms

SHIM = os.path.join(ROOT, "build", "slowfsync.so")
# The shipped menu: Vietnamese, counsellor, safe to call, the word
# "Cam", evening, not safe to text, send: the last hop creates a normal
# task and ENDs.
COUNSELLING_PATH = ["1", "1", "1", "1", "4", "2", "1"]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SESSIONS = 64


def caller(i):
    """The i-th test caller: a valid Vietnamese mobile number that is in
    no other test (each is checked against the log at the end)."""
    return "+8490777%04d" % i


class Probe(threading.Thread):
    """One request on its own connection, recording when it was sent,
    when its answer came, and its rank among the answers of a run."""

    def __init__(self, port, ranks, method, path, body=None, headers=None):
        super().__init__(daemon=True)
        self.port, self.ranks = port, ranks
        self.method, self.path = method, path
        self.body, self.headers = body, headers or {}
        self.sent_ev = threading.Event()
        self.sent = self.answered = self.rank = None
        self.status, self.text = None, ""

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=60)
        self.sent = time.monotonic()        # if connect() fails
        try:
            conn.connect()
            self.sent = time.monotonic()
            self.sent_ev.set()
            conn.request(self.method, self.path, self.body, self.headers)
            r = conn.getresponse()
            self.text = r.read().decode("utf-8", "replace")
            self.status = r.status
        except (OSError, http.client.HTTPException):
            self.status = 0         # the tests' status checks fail
        finally:
            self.answered = time.monotonic()
            self.rank = self.ranks()
            self.sent_ev.set()
            conn.close()


def ranker():
    """A thread-safe counter: the order in which answers arrived."""
    lock, count = threading.Lock(), itertools.count()

    def next_rank():
        with lock:
            return next(count)
    return next_rank


class SlowDiskCase(DaemonTestCase):
    """A daemon whose every fsync takes fsync_seconds."""
    start_daemon = False
    fsync_seconds = "1.5"

    def setUp(self):
        super().setUp()
        d = self.daemon
        self.assertTrue(os.path.exists(SHIM), "build/slowfsync.so is not "
                        "built (make build/slowfsync.so)")
        # Create and migrate the database, and make a token, at the disk's
        # normal speed: only the run under test is slow.
        d.start()
        out = d.ctl("token", "add", "lan", "--role", "counsellor")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.token = out.stdout.strip()
        self.assertEqual(d.stop(), 0)
        self.fsync_log = os.path.join(d.tmp, "fsync.log")
        d.env.update({
            "LD_PRELOAD": SHIM,
            "SLOWFSYNC_SECONDS": self.fsync_seconds,
            "SLOWFSYNC_LOG": self.fsync_log,
            # The shim comes before the ASan runtime in the link order.
            "ASAN_OPTIONS": d.env["ASAN_OPTIONS"] +
            ":verify_asan_link_order=0"})
        d.start(timeout=60)

    def tearDown(self):
        super().tearDown()
        log = self.daemon.log_text()
        for i in range(SESSIONS):
            for form in number_forms(caller(i)):
                self.assertNotIn(form, log, "a test caller reached the log")

    # Helpers ----------------------------------------------------------

    def fsyncs(self):
        """[(start, end)] of every fsync so far."""
        if not os.path.exists(self.fsync_log):
            return []
        with open(self.fsync_log) as f:
            return [tuple(map(float, line.split())) for line in f]

    def assert_waited_for_fsync(self, probe, what):
        """probe's answer came after an fsync that began after it was
        sent had ended."""
        self.assertTrue(any(probe.sent <= start and end <= probe.answered
                            for start, end in self.fsyncs()),
                        "%s was answered before any fsync begun after it "
                        "had ended" % what)

    def probe(self, ranks, method, path, body=None, headers=None):
        p = Probe(self.daemon.port, ranks, method, path, body, headers)
        p.start()
        self.assertTrue(p.sent_ev.wait(10), "a probe could not connect")
        return p

    def readers_answer_first(self, ranks, slow, what):
        """While slow waits for its commit, /healthz and GET /v1/callbacks
        sent after it from other connections are answered before it."""
        # Give the daemon time to read the slow request and hand it to the
        # writer (an fsync takes far longer): the readers then really come
        # while it waits.
        time.sleep(0.3)
        readers = [
            self.probe(ranks, "GET", "/healthz"),
            self.probe(ranks, "GET", "/v1/callbacks",
                       headers={"Authorization": "Bearer " + self.token})]
        for p in readers + [slow]:
            p.join(60)
            self.assertFalse(p.is_alive(), "a request was never answered")
        for p in readers:
            self.assertEqual(p.status, 200, p.path)
            self.assertLess(p.rank, slow.rank, "%s was answered after %s, "
                            "which waited for the disk" % (p.path, what))

    def sms_fields(self, i, msg_id):
        return urllib.parse.urlencode({
            "from": caller(i), "to": "1567", "text": "help",
            "id": msg_id}).encode()

    def ussd_fields(self, i, session, inputs):
        return urllib.parse.urlencode({
            "sessionId": session, "serviceCode": "*1567#",
            "phoneNumber": caller(i), "networkCode": "45204",
            "text": "*".join(inputs)}).encode()


class SlowDisk(SlowDiskCase):

    def test_sms_2xx_waits_for_its_fsync_while_reads_are_answered(self):
        ranks = ranker()
        sms = self.probe(ranks, "POST", "/v1/sms/console",
                         self.sms_fields(0, "slow-1"), FORM)
        self.readers_answer_first(ranks, sms, "the SMS")
        self.assertEqual(sms.status, 200, "the SMS was not acknowledged")
        self.assert_waited_for_fsync(sms, "the SMS")
        self.assertEqual(len(self.daemon.rows(
            "SELECT id FROM inbound WHERE provider_msg_id = 'slow-1'")), 1)

    def test_task_creating_end_waits_for_its_fsync(self):
        d = self.daemon
        for n in range(len(COUNSELLING_PATH)):
            r = d.request("POST", "/v1/ussd/console", self.ussd_fields(
                0, "slow-ussd", COUNSELLING_PATH[:n]), FORM, timeout=60)
            self.assertEqual(r.status, 200)
            self.assertTrue(r.text.startswith("CON "), "hop %d" % n)
        self.assertEqual(d.rows("SELECT id FROM tasks"), [])
        ranks = ranker()
        end = self.probe(ranks, "POST", "/v1/ussd/console",
                         self.ussd_fields(0, "slow-ussd", COUNSELLING_PATH),
                         FORM)
        self.readers_answer_first(ranks, end, "the final hop")
        self.assertEqual(end.status, 200)
        self.assertTrue(end.text.startswith("END "), "the last hop did not "
                        "end the session")
        self.assert_waited_for_fsync(end, "the END")
        tasks = d.rows("SELECT status FROM tasks")
        self.assertEqual(tasks, [{"status": "pending"}])


    def test_every_ussd_screen_waits_for_its_fsync(self):
        """2xx only after commit holds for every hop of a session, the
        screens between the first and the END too: each was answered
        after an fsync that began after it was sent had ended."""
        d = self.daemon
        ranks = ranker()
        for n in range(len(COUNSELLING_PATH) + 1):
            p = self.probe(ranks, "POST", "/v1/ussd/console",
                           self.ussd_fields(1, "every", COUNSELLING_PATH[:n]),
                           FORM)
            p.join(60)
            self.assertFalse(p.is_alive(), "hop %d was never answered" % n)
            self.assertEqual(p.status, 200, p.text)
            self.assert_waited_for_fsync(p, "hop %d" % n)
            # Answered means stored: the session has counted it.
            self.assertEqual(d.rows(
                "SELECT hops FROM sessions WHERE session_id = 'every'"),
                [{"hops": n + 1}])
        self.assertEqual(len(d.rows("SELECT id FROM tasks")), 1)


class GroupCommit(SlowDiskCase):
    """Many writers of one kind at once share commits: with every fsync
    slow, whatever queues during one commit goes into the next."""
    fsync_seconds = "1.0"

    def commits(self):
        return len(re.findall(r"event=store\.committed ",
                              self.daemon.log_text()))

    def concurrently(self, jobs):
        """Run each job (a function) on its own thread; wait for all."""
        threads = [threading.Thread(target=job, daemon=True)
                   for job in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
            self.assertFalse(t.is_alive(), "a request was never answered")

    def post(self, path, body):
        """(status, text); status 0 when the connection failed (a
        thread's exception would be lost)."""
        try:
            r = self.daemon.request("POST", path, body, FORM, timeout=60)
        except (OSError, http.client.HTTPException):
            return 0, ""
        return r.status, r.text

    def test_ussd_sessions_ending_in_tasks(self):
        results = {}
        start = threading.Barrier(SESSIONS, timeout=30)

        def session(i):
            def walk():
                start.wait()
                for n in range(len(COUNSELLING_PATH) + 1):
                    results[i] = self.post("/v1/ussd/console",
                                           self.ussd_fields(
                                               i, "group-%d" % i,
                                               COUNSELLING_PATH[:n]))
                    if results[i][0] != 200:
                        return
            return walk

        before = self.commits()
        self.concurrently([session(i) for i in range(SESSIONS)])
        commits = self.commits() - before
        for i in range(SESSIONS):
            self.assertEqual(results[i][0], 200, "session %d" % i)
            self.assertTrue(results[i][1].startswith("END "),
                            "session %d did not end" % i)
        per_caller = self.daemon.rows(
            "SELECT count(*) AS n FROM tasks GROUP BY msisdn")
        self.assertEqual(len(per_caller), SESSIONS, "tasks missing")
        self.assertEqual({r["n"] for r in per_caller}, {1},
                         "a task was stored twice")
        self.assertLess(commits, SESSIONS / 2, "%d commits for %d tasks "
                        "(and %d hops)" % (commits, SESSIONS, SESSIONS *
                                          (len(COUNSELLING_PATH) + 1)))

    def test_inbound_sms(self):
        results = {}

        def send(i):
            def job():
                results[i] = self.post("/v1/sms/console",
                                       self.sms_fields(i, "group-%d" % i))
            return job

        before = self.commits()
        self.concurrently([send(i) for i in range(SESSIONS)])
        commits = self.commits() - before
        self.assertEqual([results[i][0] for i in range(SESSIONS)],
                         [200] * SESSIONS)
        rows = self.daemon.rows("SELECT provider_msg_id, count(*) AS n "
                                "FROM inbound GROUP BY provider_msg_id")
        self.assertEqual(sorted(r["provider_msg_id"] for r in rows),
                         sorted("group-%d" % i for i in range(SESSIONS)))
        self.assertEqual({r["n"] for r in rows}, {1},
                         "a message was stored twice")
        self.assertLess(commits, SESSIONS / 2, "%d commits for %d messages"
                        % (commits, SESSIONS))

    def test_delivery_reports(self):
        results = {}

        def report(i):
            def job():
                results[i] = self.post("/v1/dlr/console",
                                       urllib.parse.urlencode({
                                           "id": "ATXid_group_%d" % i,
                                           "status": "Success"}).encode())
            return job

        before = self.commits()
        self.concurrently([report(i) for i in range(SESSIONS)])
        commits = self.commits() - before
        self.assertEqual([results[i][0] for i in range(SESSIONS)],
                         [200] * SESSIONS)
        rows = self.daemon.rows("SELECT provider_ref, count(*) AS n FROM "
                                "delivery_reports GROUP BY provider_ref")
        self.assertEqual(sorted(r["provider_ref"] for r in rows),
                         sorted("ATXid_group_%d" % i
                                for i in range(SESSIONS)))
        self.assertEqual({r["n"] for r in rows}, {1},
                         "a report was stored twice")
        self.assertLess(commits, SESSIONS / 2, "%d commits for %d reports"
                        % (commits, SESSIONS))
