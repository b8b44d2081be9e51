"""Alerts are rows of the urgent lane like any text: alerts.sms rows carry
the alerts channel they are texted through, alerts.url rows belong to the
webhook's own sender ("@alerts"), retried like any send (its id is the
receiver's idempotency key), and an urgent task's alerts are queued once,
across restarts."""

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from base import DaemonTestCase
from fake_aggregator import FakeAggregator

PHONE = "+84912345678"
ON_CALL = "+84933444555"
SECRETS = {"at_api_key": "at-api-key-for-alerts", "at_username": "hotline"}
ALERT_SECRET = "alert-secret-for-alert-tests"


class Receiver:
    """alerts.url: answers each POST with the next scripted status (then
    204) and records it."""

    def __init__(self, *statuses):
        self.posts = []
        self.statuses = list(statuses)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                outer.posts.append(self.rfile.read(n))
                status = outer.statuses.pop(0) if outer.statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/alert" % self.server.server_port
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class OutboxAlerts(DaemonTestCase):
    start_daemon = False

    def setUp(self):
        super().setUp()
        self.fa = FakeAggregator(secrets=SECRETS).start()
        self.addCleanup(self.fa.stop)
        self.receiver = Receiver(503)
        self.addCleanup(self.receiver.stop)
        cfg = self.daemon.config
        cfg["channels"].append(
            {"name": "at2", "provider": "africastalking",
             "username": "hotline", "api_key": {"env": "HL_TEST_AT_KEY2"},
             "callback_token": {"env": "HL_TEST_AT_TOKEN"},
             "short_code": "1567", "send_url": self.fa.send_url("at")})
        cfg["alerts"] = {"sms": [ON_CALL], "channel": "at2",
                         "url": self.receiver.url,
                         "secret": {"env": "HL_TEST_ALERT"}}
        cfg["outbox"] = {"contact_windows": {"default": "00:00-24:00"},
                         "max_delay_seconds": 1}
        self.daemon.env.update({"HL_TEST_AT_KEY2": SECRETS["at_api_key"],
                                "HL_TEST_ALERT": ALERT_SECRET})

    def alert_rows(self):
        return self.daemon.rows(
            "SELECT channel, msisdn, lane, status, attempts, task_id FROM "
            "outbound WHERE purpose = 'alert' ORDER BY channel")

    def wait_settled(self, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            rows = self.alert_rows()
            if len(rows) == 2 and all(r["status"] == "sent" for r in rows):
                return rows
            self.assertLess(time.monotonic(), deadline,
                            "alerts never sent: %r" %
                            [(r["channel"], r["status"]) for r in rows])
            time.sleep(0.05)

    def test_each_alert_is_a_row_of_its_sender_in_the_urgent_lane(self):
        self.daemon.start()
        for text in ("", "1", "1*2"):
            r = self.daemon.request(
                "POST", "/v1/ussd/console", urllib.parse.urlencode({
                    "sessionId": "s-alert", "serviceCode": "*111#",
                    "phoneNumber": PHONE, "text": text}).encode(),
                {"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(r.status, 200, r.body)
        task = self.daemon.rows("SELECT id, priority FROM tasks")[0]
        self.assertEqual(task["priority"], "urgent")
        rows = self.wait_settled()
        # The text goes through the alerts channel, the POST through the
        # webhook's own queue; both urgent (lane 0), both for this task.
        self.assertEqual([(r["channel"], r["lane"], r["task_id"])
                          for r in rows],
                         [("@alerts", 0, task["id"]),
                          ("at2", 0, task["id"])])
        self.assertTrue(rows[1]["msisdn"] == ON_CALL,
                        "the text is not to the counsellor on call")
        self.assertEqual(rows[0]["msisdn"], "-")
        # The receiver's 503 was retried with the same id.
        self.assertEqual(rows[0]["attempts"], 2)
        ids = [json.loads(b)["id"] for b in self.receiver.posts]
        self.assertEqual(ids, ["urgent-%d" % task["id"]] * 2)
        self.assertEqual(len(self.fa.requests("at")), 1)
        # Queued once: a restart finds the task alerted.
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.start()
        time.sleep(1.5)
        self.assertEqual(len(self.alert_rows()), 2)
        self.assertEqual(len(self.receiver.posts), 2)
        self.assertEqual(len(self.fa.requests("at")), 1)
