"""hotlinectl backup and restore (issue #12, item 5).

A backup is taken while several threads post inbound SMS to the running
daemon; every message answered 2xx before the backup command started
must be in the copy, and in the database restored from it.  Restore is
refused while the daemon runs, and for a file that is damaged or not a
hotline database, leaving the database as it was.  Neither command
prints a phone number.
"""

import glob
import hashlib
import http.client
import os
import re
import sqlite3
import stat
import threading
import time
import urllib.parse

from base import DaemonTestCase
from harness import TEST_NUMBERS, number_forms

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TIME_RE = r"^newest message  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"


class Load(threading.Thread):
    """Posts inbound SMS from one number until stopped, recording each
    id answered 2xx with the monotonic time its answer arrived."""

    def __init__(self, port, phone, prefix):
        super().__init__(daemon=True)
        self.port, self.phone, self.prefix = port, phone, prefix
        self.acked = []             # (answered_at, id)
        self.failed = 0
        self.stop = threading.Event()

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=30)
        n = 0
        while not self.stop.is_set():
            msg_id = "%s-%06d" % (self.prefix, n)
            n += 1
            body = urllib.parse.urlencode({
                "from": self.phone, "to": "1567",
                "text": "load " + msg_id, "id": msg_id}).encode()
            try:
                conn.request("POST", "/v1/sms/console", body, FORM)
                r = conn.getresponse()
                r.read()
            except (OSError, http.client.HTTPException):
                self.failed += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                  timeout=30)
                continue
            if 200 <= r.status < 300:
                self.acked.append((time.monotonic(), msg_id))
            else:
                self.failed += 1
        conn.close()


def integrity(path):
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return [r[0] for r in con.execute("PRAGMA integrity_check")]
    finally:
        con.close()


def inbound_ids(path):
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return {r[0] for r in con.execute(
            "SELECT provider_msg_id FROM inbound")}
    finally:
        con.close()


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class BackupCase(DaemonTestCase):

    def ctl(self, *args, **kw):
        return self.daemon.ctl(*args, **kw)

    def path(self, name):
        return os.path.join(self.daemon.tmp, name)

    def assert_no_number(self, out):
        # Never the number itself in a failure message.
        for number in TEST_NUMBERS:
            for form in number_forms(number):
                self.assertFalse(form in out.stdout or form in out.stderr,
                                 "a phone number was printed")

    def post_sms(self, n, phone=TEST_NUMBERS[0]):
        """n new inbound SMS (ids never repeat within a test)."""
        for _ in range(n):
            self.seeded = getattr(self, "seeded", 0) + 1
            r = self.daemon.request(
                "POST", "/v1/sms/console", urllib.parse.urlencode({
                    "from": phone, "to": "1567", "text": "hello",
                    "id": "seed-%d" % self.seeded}).encode(), FORM)
            self.assertEqual(r.status, 200)

    def backup(self, name="backup.db"):
        dest = self.path(name)
        out = self.ctl("backup", dest)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assert_no_number(out)
        return dest, out

    def leftovers(self):
        """Temporary files either command could leave behind."""
        return (glob.glob(self.path(".*.tmp-*")) +
                glob.glob(self.daemon.db_path + ".restore-*"))


class Backup(BackupCase):

    def test_backup_under_load_restores_every_message_answered_before(self):
        loads = [Load(self.daemon.port, phone, "m%d" % i)
                 for i, phone in enumerate(TEST_NUMBERS[:4])]
        for t in loads:
            t.start()
        try:
            # Let the load build up, then back up in the middle of it.
            deadline = time.monotonic() + 30
            while (sum(len(t.acked) for t in loads) < 200 and
                   time.monotonic() < deadline):
                time.sleep(0.02)
            started = time.monotonic()
            dest = self.path("under-load.db")
            out = self.ctl("backup", dest)
            finished = time.monotonic()
            # More messages after the copy, so the live database and the
            # copy differ.
            time.sleep(0.3)
        finally:
            for t in loads:
                t.stop.set()
            for t in loads:
                t.join(60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assert_no_number(out)
        before = {i for t in loads for at, i in t.acked if at < started}
        every = {i for t in loads for _, i in t.acked}
        self.assertGreaterEqual(len(before), 200)
        self.assertGreater(len(every), len(before))

        # The copy: one file of its own, 0600, sound, with every message
        # acknowledged before the command started.
        self.assertEqual(stat.S_IMODE(os.stat(dest).st_mode), 0o600)
        self.assertFalse(os.path.exists(dest + "-wal"))
        self.assertFalse(os.path.exists(dest + "-shm"))
        self.assertEqual(self.leftovers(), [])
        self.assertEqual(integrity(dest), ["ok"])
        in_copy = inbound_ids(dest)
        self.assertEqual(len(before - in_copy), 0,
                         "%d acknowledged messages missing from the "
                         "backup" % len(before - in_copy))
        con = sqlite3.connect("file:%s?mode=ro" % dest, uri=True)
        try:
            mode = con.execute("PRAGMA journal_mode").fetchone()[0]
            newest = con.execute(
                "SELECT max(stored_at) FROM inbound").fetchone()[0]
        finally:
            con.close()
        self.assertEqual(mode, "delete")
        self.assertRegex(out.stdout, re.compile(TIME_RE, re.M))
        self.assertIn("newest message  %s\n" % newest, out.stdout)
        self.assertIn("size            %d bytes\n" % os.path.getsize(dest),
                      out.stdout)
        self.assertNotIn("load ", out.stdout)

        # Restored, with the daemon stopped.
        self.assertEqual(self.daemon.stop(), 0)
        live = inbound_ids(self.daemon.db_path)
        self.assertEqual(len(every - live), 0)
        out = self.ctl("restore", dest)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assert_no_number(out)
        db = self.daemon.db_path
        self.assertEqual(integrity(db), ["ok"])
        restored = inbound_ids(db)
        self.assertEqual(restored, in_copy)
        self.assertEqual(len(before - restored), 0)
        self.assertFalse(os.path.exists(db + "-wal"))
        self.assertFalse(os.path.exists(db + "-shm"))
        self.assertEqual(self.leftovers(), [])
        # The database it replaced is kept, whole.
        kept = glob.glob(db + ".before-restore-*")
        kept = [k for k in kept if not k.endswith(("-wal", "-shm"))]
        self.assertEqual(len(kept), 1, "no previous database kept")
        self.assertIn("previous kept   %s" % kept[0], out.stdout)
        self.assertEqual(inbound_ids(kept[0]), live)
        self.assertEqual(stat.S_IMODE(os.stat(db).st_mode), 0o600)

        # And the daemon runs on it.
        self.daemon.start()
        r = self.daemon.request("GET", "/readyz")
        self.assertEqual(r.status, 200)

    def test_backup_refuses_an_existing_path_unless_forced(self):
        self.post_sms(3)
        dest = self.path("exists.db")
        with open(dest, "w") as f:
            f.write("keep me\n")
        os.chmod(dest, 0o644)
        out = self.ctl("backup", dest)
        self.assertEqual(out.returncode, 1)
        self.assertIn("exists", out.stderr)
        self.assertIn("--force", out.stderr)
        with open(dest) as f:
            self.assertEqual(f.read(), "keep me\n")
        self.assertEqual(self.leftovers(), [])

        out = self.ctl("backup", dest, "--force")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(dest).st_mode), 0o600)
        self.assertEqual(integrity(dest), ["ok"])
        self.assertEqual(len(inbound_ids(dest)), 3)

    def test_backup_of_an_empty_database_says_none(self):
        dest, out = self.backup()
        self.assertIn("newest message  none\n", out.stdout)
        self.assertEqual(integrity(dest), ["ok"])

    def test_backup_into_a_missing_directory_fails_cleanly(self):
        out = self.ctl("backup", self.path("no/such/dir/b.db"))
        self.assertEqual(out.returncode, 1)
        self.assertIn("backup failed", out.stderr)

    def test_usage_errors(self):
        self.assertEqual(self.ctl("backup").returncode, 2)
        self.assertEqual(self.ctl("restore").returncode, 2)
        self.assertEqual(self.ctl("backup", "").returncode, 2)
        out = self.ctl("restore", self.path("x.db"), "--force")
        self.assertEqual(out.returncode, 2)
        self.assertIn("does not take --force", out.stderr)


class Restore(BackupCase):

    def test_restore_is_refused_while_the_daemon_runs(self):
        self.post_sms(3)
        dest, _ = self.backup()
        self.post_sms(2, TEST_NUMBERS[1])
        before = inbound_ids(self.daemon.db_path)
        self.assertEqual(len(before), 5)
        out = self.ctl("restore", dest)
        self.assertEqual(out.returncode, 1)
        self.assertIn("in use by process %d" % self.daemon.proc.pid,
                      out.stderr)
        self.assertIn("stop it first", out.stderr)
        self.assertEqual(out.stdout, "")
        self.assert_no_number(out)
        self.assertEqual(inbound_ids(self.daemon.db_path), before)
        self.assertEqual(glob.glob(self.daemon.db_path +
                                   ".before-restore-*"), [])
        self.assertEqual(self.leftovers(), [])
        # The daemon goes on.
        self.post_sms(1, TEST_NUMBERS[2])

    def refused(self, path, why):
        db = self.daemon.db_path
        before = digest(db)
        names = sorted(os.listdir(self.daemon.tmp))
        out = self.ctl("restore", path)
        self.assertEqual(out.returncode, 1, out.stdout)
        self.assertIn("restore refused, nothing changed", out.stderr)
        self.assertIn(why, out.stderr)
        self.assertEqual(out.stdout, "")
        self.assert_no_number(out)
        self.assertEqual(digest(db), before)
        self.assertEqual(sorted(os.listdir(self.daemon.tmp)), names)

    def test_damaged_or_foreign_files_are_refused(self):
        self.post_sms(40)
        good, _ = self.backup()
        self.assertEqual(self.daemon.stop(), 0)

        garbage = self.path("garbage.db")
        with open(garbage, "wb") as f:
            f.write(os.urandom(8192))
        self.refused(garbage, "not a hotline database")

        empty = self.path("empty.db")
        open(empty, "wb").close()
        self.refused(empty, "not a hotline database")

        foreign = self.path("foreign.db")
        con = sqlite3.connect(foreign)
        con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, t TEXT)")
        con.execute("PRAGMA user_version = 3")
        con.commit()
        con.close()
        self.refused(foreign, "not a hotline database")

        newer = self.path("newer.db")
        with open(good, "rb") as f, open(newer, "wb") as g:
            g.write(f.read())
        con = sqlite3.connect(newer)
        con.execute("PRAGMA user_version = 999")
        con.commit()
        con.close()
        self.refused(newer, "schema version 999 is newer")

        # A copy with a page of an index or table overwritten.
        corrupt = self.path("corrupt.db")
        with open(good, "rb") as f:
            data = bytearray(f.read())
        page = 4096
        self.assertGreater(len(data), 8 * page)
        for p in range(2, len(data) // page):
            data[p * page + 8:p * page + 200] = os.urandom(192)
        with open(corrupt, "wb") as f:
            f.write(data)
        self.refused(corrupt, "integrity_check")

        self.refused(self.path("missing.db"), "No such file")

        # The good one still goes in.
        out = self.ctl("restore", good)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(len(inbound_ids(self.daemon.db_path)), 40)

    def test_restore_moves_a_crashed_daemons_wal_aside(self):
        self.post_sms(5)
        dest, _ = self.backup()
        self.post_sms(3, TEST_NUMBERS[1])
        db = self.daemon.db_path
        # A crash: the WAL and its index stay behind, with commits the
        # database file does not hold yet.
        self.daemon.proc.kill()
        self.daemon.proc.wait()
        self.daemon.logfile.close()
        self.daemon.proc = None
        self.assertTrue(os.path.exists(db + "-wal"))
        out = self.ctl("restore", dest)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("(with its -wal)", out.stdout)
        self.assertFalse(os.path.exists(db + "-wal"))
        self.assertFalse(os.path.exists(db + "-shm"))
        self.assertEqual(len(inbound_ids(db)), 5)
        kept = [k for k in glob.glob(db + ".before-restore-*")
                if not k.endswith("-wal")]
        self.assertEqual(len(kept), 1)
        self.assertTrue(os.path.exists(kept[0] + "-wal"))
        # Opened with its WAL, the kept database has all 8 messages.
        con = sqlite3.connect(kept[0])
        try:
            n = con.execute("SELECT count(*) FROM inbound").fetchone()[0]
        finally:
            con.close()
        self.assertEqual(n, 8)
        self.daemon.start()
        self.assertEqual(self.daemon.request("GET", "/readyz").status, 200)


if __name__ == "__main__":
    import unittest
    unittest.main()
