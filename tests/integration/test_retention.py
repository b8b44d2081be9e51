"""Retention, enforced: hotlinectl purge [--dry-run] while the daemon runs
(the dry run changes nothing and counts what the real run does), what
stays (open tasks and everything of their callers, the statistics of
past days) and what goes (numbers, texts, notes, menu answers), nothing
of it left in the database file's bytes; the daemon's own periodic purge;
incremental vacuum switched on for an old database; the config's
checks."""

import os
import re
import sqlite3
import subprocess
import time

from base import DaemonTestCase
from harness import AT_TOKEN, HOTLINED, number_forms

PHONE = "+84912345678"
OTHER = "+84987654321"
THIRD = "+84911222333"
SECRET = "walnut-harbour-3391"
NOW_PATH = ["1", "1", "1", "1", "1", "1", "1"]
TABLES = ("tasks", "task_notes", "inbound", "outbound", "sessions",
          "delivery_reports", "audit", "optouts", "stats_daily")
AGE = "-100 days"          # past privacy.retention_days (90)


class RetentionCase(DaemonTestCase):
    start_daemon = False

    def setUp(self):
        super().setUp()
        self.fa = self.fake_aggregator()
        self.daemon.config["outbox"] = {
            "contact_windows": {"default": "00:00-24:00"}}
        self.tokens = {}

    def request_callback(self, phone, session):
        for i in range(len(NOW_PATH) + 1):
            r = self.daemon.ussd("at", session, phone,
                                 "*".join(NOW_PATH[:i]),
                                 "?token=" + AT_TOKEN)
            self.assertEqual(r.status, 200)
        return self.daemon.rows("SELECT id FROM tasks WHERE msisdn = ? AND "
                                "status != 'closed'", phone)[0]["id"]

    def populate(self):
        """A closed task (PHONE: a message, a note, a text sent), an open
        one (OTHER: its message), a texter with no task (THIRD: a
        message and the menu's reply).  Returns (closed, open) ids."""
        self.daemon.start()
        self.token("sup", "supervisor")
        closed = self.request_callback(PHONE, "s-1")
        opened = self.request_callback(OTHER, "s-2")
        self.at_sms(PHONE, "help " + SECRET, "m-1")
        self.at_sms(OTHER, "keep " + SECRET, "m-2")
        self.at_sms(THIRD, "hello " + SECRET, "m-3")
        self.assertEqual(self.api("POST", "/v1/callbacks/%d/claim" % closed,
                                  "sup").status, 200)
        self.assertEqual(self.api("POST", "/v1/callbacks/%d/notes" % closed,
                                  "sup", {"text": "note " + SECRET}).status,
                         201)
        self.assertEqual(self.api("POST", "/v1/callbacks/%d/messages" %
                                  closed, "sup",
                                  {"text": "text " + SECRET}).status, 202)
        self.wait(lambda: len(self.fa.requests("at")) >= 2,
                  "the texts never went")
        self.assertEqual(self.api("POST", "/v1/callbacks/%d/complete" %
                                  closed, "sup",
                                  {"outcome": "reached"}).status, 200)
        self.wait(lambda: not self.daemon.rows(
            "SELECT 1 FROM outbound WHERE status IN ('pending', 'sending')"),
            "texts still waiting")
        self.assertEqual(self.daemon.stop(), 0)
        return closed, opened

    def age(self):
        """Everything written so far becomes 100 days old (audit rows
        too, but those are kept for a year; one is made older)."""
        con = sqlite3.connect(self.daemon.db_path)
        with con:
            t = "strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', %s, '" + AGE + "')"
            con.execute("UPDATE tasks SET created_at = %s, updated_at = %s, "
                        "first_completed_at = CASE WHEN first_completed_at "
                        "IS NOT NULL THEN %s END, closed_at = CASE WHEN "
                        "closed_at IS NOT NULL THEN %s END" % (
                            t % "created_at", t % "updated_at",
                            t % "first_completed_at", t % "closed_at"))
            con.execute("UPDATE task_notes SET created_at = %s" %
                        (t % "created_at"))
            con.execute("UPDATE inbound SET stored_at = %s" %
                        (t % "stored_at"))
            con.execute("UPDATE outbound SET created_at = %s" %
                        (t % "created_at"))
            con.execute("UPDATE sessions SET created_at = %s, updated_at = "
                        "%s" % (t % "created_at", t % "updated_at"))
            con.execute("INSERT INTO delivery_reports(channel, provider_ref, "
                        "status, received_at) VALUES ('at', 'old-ref', "
                        "'delivered', strftime('%Y-%m-%dT%H:%M:%SZ', 'now', "
                        "'" + AGE + "'))")
            con.execute("INSERT INTO audit(at, actor, action) VALUES ("
                        "strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-400 days'), "
                        "'sup', 'task.claimed')")
        con.close()

    def dump(self):
        return {t: self.daemon.rows("SELECT * FROM %s ORDER BY 1, 2" % t)
                for t in TABLES}

    def stats(self):
        r = self.api("GET", "/v1/stats?days=120", "sup")
        self.assertEqual(r.status, 200, r.body)
        s = r.json()
        s.pop("oldest_pending_seconds")     # moves with the clock
        return s

    @staticmethod
    def counts(out):
        return {m.group(1): int(m.group(2)) for m in
                re.finditer(r"^(\w+)\s+(\d+)$", out, re.M)
                if m.group(1) not in ("pages_freed", "keys_destroyed")}

    def assert_file_clean(self, phone, secret):
        """Neither the number in any form nor the text in the database
        file or its WAL."""
        for suffix in ("", "-wal"):
            path = self.daemon.db_path + suffix
            if not os.path.exists(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            self.assertFalse(secret.encode() in data,
                             "the text is in the file" + suffix)
            for form in number_forms(phone):
                self.assertFalse(form.encode() in data,
                                 "the number is in the file" + suffix)


class CtlPurge(RetentionCase):

    def test_purge_while_running_takes_the_old_and_keeps_the_stats(self):
        closed, opened = self.populate()
        self.age()
        self.daemon.start()
        before_stats = self.stats()
        before_ctl = self.daemon.ctl("stats", "--days", "120")
        self.assertEqual(before_ctl.returncode, 0, before_ctl.stderr)
        # The day 100 days ago holds the two tasks, their texts and
        # sessions, the closed one's outcome and its time to first call.
        old = [d for d in before_stats["days"]
               if d["day"] == time.strftime("%Y-%m-%d", time.gmtime(
                   time.time() - 100 * 86400))]
        self.assertEqual(len(old), 1, [d["day"] for d in
                                       before_stats["days"]])
        old = old[0]
        self.assertEqual((old["tasks"], old["by_channel"],
                          old["by_priority"], old["outcomes"]),
                         (2, {"at": 2}, {"normal": 2}, {"reached": 1}))
        self.assertEqual(old["texts_in"], 3)
        self.assertGreaterEqual(old["texts_out"], 2)
        # Every text opens an SMS session, an open task or not.
        self.assertEqual(old["sessions"], {"ussd": 2, "sms": 3})
        self.assertIsNotNone(old["median_seconds_to_first_call"])
        before = self.dump()

        dry = self.daemon.ctl("purge", "--dry-run")
        self.assertEqual(dry.returncode, 0, dry.stderr)
        self.assertIn("nothing changed", dry.stdout)
        self.assertTrue(self.dump() == before, "the dry run changed rows")
        want = self.counts(dry.stdout)
        self.assertEqual(set(want), {"tasks", "task_notes", "inbound",
                                     "outbound", "sessions",
                                     "delivery_reports", "audit"})
        self.assertEqual((want["tasks"], want["task_notes"],
                          want["delivery_reports"], want["audit"]),
                         (1, 1, 1, 1))
        # PHONE's message and THIRD's; OTHER's stays with the open task.
        self.assertEqual(want["inbound"], 2)
        self.assertGreaterEqual(want["outbound"], 2)
        # PHONE's USSD and SMS sessions and THIRD's; OTHER's stay.
        self.assertEqual(want["sessions"], 3)

        real = self.daemon.ctl("purge")
        self.assertEqual(real.returncode, 0, real.stderr)
        self.assertEqual(self.counts(real.stdout), want)
        # PHONE and THIRD are left with nothing sealed: their keys go
        # (their rows in any older backup are unreadable now); OTHER,
        # with an open task, keeps theirs.
        self.assertIn("keys_destroyed    2\n", real.stdout)
        self.assertNotIn("keys_destroyed", dry.stdout)
        for out in (dry, real):
            for phone in (PHONE, OTHER, THIRD):
                for form in number_forms(phone):
                    self.assertNotIn(form, out.stdout + out.stderr)
            self.assertNotIn("c_", out.stdout)

        # The running daemon reads the same figures for the past.
        self.assertEqual(self.stats(), before_stats)
        self.assertEqual(self.daemon.ctl("stats", "--days", "120").stdout,
                         before_ctl.stdout)
        # What stays: the closed task, anonymous; the open one whole.
        task = self.daemon.rows("SELECT * FROM tasks WHERE id = ?",
                                closed)[0]
        self.assertEqual((task["msisdn"], task["caller"], task["status"],
                          task["outcome"], task["topic"] is not None),
                         ("", "", "closed", "reached", True))
        self.assertIsNone(task["preferred_time"])
        self.assertEqual(self.daemon.rows("SELECT msisdn FROM tasks WHERE "
                                          "id = ?", opened),
                         [{"msisdn": OTHER}])
        self.assertEqual(len(self.daemon.rows(
            "SELECT 1 FROM inbound WHERE msisdn = ?", OTHER)), 1)
        self.assertEqual(self.daemon.rows(
            "SELECT count(*) AS n FROM inbound WHERE msisdn IN (?, ?)",
            PHONE, THIRD)[0]["n"], 0)
        self.assertEqual(self.daemon.rows("SELECT count(*) AS n FROM "
                                          "task_notes")[0]["n"], 0)
        self.assertEqual(self.daemon.rows(
            "SELECT action FROM audit WHERE action = 'retention.purged'"),
            [{"action": "retention.purged"}])
        # A second purge finds nothing.
        again = self.daemon.ctl("purge")
        self.assertEqual(set(self.counts(again.stdout).values()), {0})

        # Stopped, the database file holds neither PHONE's number nor
        # the texts of the purged.
        self.assertEqual(self.daemon.stop(), 0)
        self.assert_file_clean(PHONE, "help " + SECRET)
        self.assert_file_clean(THIRD, "text " + SECRET)
        self.assert_file_clean(THIRD, "note " + SECRET)
        con = sqlite3.connect(self.daemon.db_path)
        self.assertEqual(con.execute("PRAGMA auto_vacuum").fetchone()[0], 2)
        self.assertEqual(con.execute("PRAGMA freelist_count").fetchone()[0],
                         0)
        con.close()


class DaemonPurge(RetentionCase):

    def test_the_daemon_purges_on_its_own_and_again_each_interval(self):
        self.daemon.config["privacy"]["purge_interval_seconds"] = 1
        closed, opened = self.populate()
        self.age()
        self.daemon.start()
        self.wait(lambda: len(re.findall(r"event=retention\.purged ",
                                         self.daemon.log_text(
                                             since_start=True))) >= 2,
                  "the periodic purge did not run twice")
        lines = re.findall(r"event=retention\.purged .*",
                           self.daemon.log_text(since_start=True))
        self.assertIn("tasks=1 task_notes=1 inbound=2", lines[0])
        self.assertIn("tasks=0 task_notes=0 inbound=0", lines[1])
        self.assertEqual(self.daemon.rows("SELECT msisdn FROM tasks WHERE "
                                          "id = ?", closed),
                         [{"msisdn": ""}])
        self.assertEqual(self.daemon.rows("SELECT msisdn FROM tasks WHERE "
                                          "id = ?", opened),
                         [{"msisdn": OTHER}])


class Vacuum(RetentionCase):

    def test_an_old_database_is_switched_to_incremental_vacuum_once(self):
        self.daemon.start()
        self.assertEqual(self.daemon.stop(), 0)
        con = sqlite3.connect(self.daemon.db_path, isolation_level=None)
        con.execute("PRAGMA auto_vacuum = NONE")
        con.execute("VACUUM")
        self.assertEqual(con.execute("PRAGMA auto_vacuum").fetchone()[0], 0)
        con.close()
        self.daemon.start()
        self.assertIn("event=store.auto_vacuum_enabled",
                      self.daemon.log_text(since_start=True))
        self.assertEqual(self.daemon.stop(), 0)
        con = sqlite3.connect(self.daemon.db_path)
        self.assertEqual(con.execute("PRAGMA auto_vacuum").fetchone()[0], 2)
        con.close()
        self.daemon.start()
        self.assertNotIn("event=store.auto_vacuum_enabled",
                         self.daemon.log_text(since_start=True))


class Config(RetentionCase):

    def check(self, privacy):
        self.daemon.config["privacy"].update(privacy)
        self.daemon.write_config()
        return subprocess.run([HOTLINED, "--check-config", "-c",
                               self.daemon.config_path], capture_output=True,
                              text=True, env=self.daemon.env,
                              cwd=self.daemon.tmp, timeout=30)

    def test_audit_retention_must_outlive_retention(self):
        r = self.check({"retention_days": 90, "audit_retention_days": 30})
        self.assertEqual(r.returncode, 1)
        self.assertIn("privacy.audit_retention_days: must be at least "
                      "privacy.retention_days (90)", r.stderr)
        r = self.check({"purge_interval_seconds": 0})
        self.assertEqual(r.returncode, 1)
        self.assertIn("privacy.purge_interval_seconds", r.stderr)
        r = self.check({"retention_days": 30, "audit_retention_days": 30,
                        "purge_interval_seconds": 3600})
        self.assertEqual(r.returncode, 0, r.stderr)
