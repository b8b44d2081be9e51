"""Delivery reports: recorded durably, idempotent, never moving a
message's status backwards, accepted before the send is known."""

import sqlite3
import urllib.parse

from base import DaemonTestCase
from harness import AT_TOKEN

PHONE = "+84912345678"


class DeliveryReports(DaemonTestCase):

    def dlr(self, fields, channel="console", query=""):
        return self.daemon.request(
            "POST", "/v1/dlr/%s%s" % (channel, query),
            urllib.parse.urlencode(fields).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})

    def outbound(self, ref):
        con = sqlite3.connect(self.daemon.db_path, timeout=5)
        con.execute("INSERT INTO outbound(channel, msisdn, caller, body, "
                    "purpose, status, provider_ref, created_at, updated_at) "
                    "VALUES ('console', ?, 'c_000000000000', 'x', 'reply', "
                    "'sent', ?, 't', 't')", (PHONE, ref))
        con.commit()
        con.close()

    def status(self, ref):
        return self.daemon.rows("SELECT status, last_error FROM outbound "
                                "WHERE provider_ref = ?", ref)[0]

    def test_report_updates_status_forward_only(self):
        self.outbound("ATXid_1")
        r = self.dlr({"id": "ATXid_1", "status": "Success",
                      "phoneNumber": PHONE})
        self.assertEqual(r.status, 200)
        self.assertEqual(self.status("ATXid_1")["status"], "delivered")
        # A late or repeated report never moves it back.
        for status in ("Sent", "Buffered", "Success"):
            self.assertEqual(self.dlr({"id": "ATXid_1",
                                       "status": status}).status, 200)
        self.assertEqual(self.status("ATXid_1")["status"], "delivered")
        self.assertEqual(len(self.daemon.rows(
            "SELECT * FROM delivery_reports WHERE provider_ref = 'ATXid_1'")),
            2)
        self.assertIn("matched=true", self.daemon.log_text())

    def test_failure_keeps_the_provider_reason(self):
        self.outbound("ATXid_2")
        self.dlr({"id": "ATXid_2", "status": "Failed",
                  "failureReason": "UserInBlackList"})
        self.assertEqual(self.status("ATXid_2"),
                         {"status": "failed", "last_error": "UserInBlackList"})

    def test_report_before_the_send_is_known_is_kept(self):
        r = self.dlr({"id": "ATXid_early", "status": "Success"})
        self.assertEqual(r.status, 200)
        self.assertEqual(self.daemon.rows(
            "SELECT provider_ref, status FROM delivery_reports"),
            [{"provider_ref": "ATXid_early", "status": "delivered"}])
        self.assertIn("matched=false", self.daemon.log_text())

    def test_bad_reports_are_refused(self):
        r = self.dlr({"id": "x", "status": "Teleported"})
        self.assertEqual(r.status, 400)
        self.assertIn("status", r.json()["error"]["message"])
        self.assertEqual(self.dlr({"status": "Success"}).status, 400)
        self.assertEqual(self.dlr({"id": "x", "status": "Success"},
                                  "at").status, 403)
        self.assertEqual(self.dlr({"id": "x", "status": "Success"}, "at",
                                  "?token=" + AT_TOKEN).status, 200)
        self.assertEqual(len(self.daemon.rows(
            "SELECT * FROM delivery_reports")), 1)
