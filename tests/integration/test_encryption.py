"""Encryption at rest against the real daemon (README: "Encryption at
rest"): after USSD, SMS, counsellor notes and texts with distinctive
numbers and words, neither the database file nor its WAL nor the key
store holds any form of a number or any of the words, read as raw bytes
and through the sqlite3 CLI's .dump, with the daemon running and after
it stopped; `hotlinectl rekey` keeps every row readable while the daemon
runs and after it restarts, and the old master key opens nothing."""

import json
import os
import subprocess
import time
import urllib.parse

import sealed
from base import DaemonTestCase
from harness import number_forms

PHONE = "+84912345678"      # the USSD caller
OTHER = "+84987654321"      # the SMS caller
SMS_TEXT = "Xin giup toi ZEBRA7731 toi dang o nha tro"
NOTE_TEXT = "Ghi chu QUOKKA5521 goi lai sau tam gio"
OUT_TEXT = "Chung toi se goi lai PELICAN8820"
WORDS = ["ZEBRA7731", "QUOKKA5521", "PELICAN8820", SMS_TEXT, NOTE_TEXT,
         OUT_TEXT]

# config/menu.json: Vietnamese, counselling, safe to call, a verification
# word (the first), now, safe to text, send.
COUNSELLING_PATH = ["1", "1", "1", "1", "1", "1", "1"]


class EncryptionCase(DaemonTestCase):
    start_daemon = False

    def setUp(self):
        super().setUp()
        # Texts may go at any hour the test runs ("now" alone means
        # daytime).
        self.daemon.config["outbox"] = {
            "contact_windows": {"default": "00:00-24:00"}}
        self.daemon.start()
        self.seq = 0
        out = self.daemon.ctl("token", "add", "ana", "--role", "counsellor")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.token = out.stdout.strip()

    def api(self, method, path, body=None):
        h = {"Authorization": "Bearer " + self.token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        return self.daemon.request(method, path, data, h)

    def ussd_request(self, phone, session):
        for i in range(len(COUNSELLING_PATH) + 1):
            r = self.daemon.ussd("console", session, phone,
                                 "*".join(COUNSELLING_PATH[:i]))
            self.assertEqual(r.status, 200)

    def sms(self, sender, text):
        self.seq += 1
        r = self.daemon.request(
            "POST", "/v1/sms/console",
            urllib.parse.urlencode({"from": sender, "to": "1567",
                                    "text": text,
                                    "id": "enc-%d" % self.seq}).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200)
        self.wait(lambda: not self.unprocessed(),
                  "the message was never processed")

    def unprocessed(self):
        # Raw: this needs no key (the test may hold a stale one).
        con = self.daemon.db(raw=True)
        try:
            return con.execute("SELECT id FROM inbound WHERE processed_at "
                               "IS NULL").fetchall()
        finally:
            con.close()

    def wait(self, cond, why, timeout=15):
        deadline = time.monotonic() + timeout
        while not cond():
            self.assertLess(time.monotonic(), deadline, why)
            time.sleep(0.05)

    def claim(self):
        r = self.api("POST", "/v1/callbacks/next")
        self.assertEqual(r.status, 200)
        t = r.json()
        # Never the number itself in a failure message.
        self.assertTrue(t.get("msisdn") == PHONE,
                        "the lease holder sees the number")
        return t["id"]

    def walk(self):
        """USSD, SMS, a note and a counsellor's text, all stored."""
        self.ussd_request(PHONE, "enc-ussd")
        self.sms(OTHER, SMS_TEXT)
        tid = self.claim()
        r = self.api("POST", "/v1/callbacks/%d/notes" % tid,
                     {"text": NOTE_TEXT})
        self.assertEqual(r.status, 201)
        r = self.api("POST", "/v1/callbacks/%d/messages" % tid,
                     {"text": OUT_TEXT})
        self.assertEqual(r.status, 202)
        self.wait(lambda: self.daemon.rows(
            "SELECT 1 FROM outbound WHERE body = ? AND status IN "
            "('sent', 'delivered')", OUT_TEXT), "the text never left")
        return tid

    # What must never be found -----------------------------------------

    def needles(self):
        forms = set()
        for number in (PHONE, OTHER):
            forms |= number_forms(number)
        return sorted(forms, key=len) + WORDS

    def assert_clean_bytes(self, path, what):
        for suffix in ("", "-wal"):
            p = path + suffix
            if not os.path.exists(p):
                continue
            with open(p, "rb") as f:
                data = f.read()
            for needle in self.needles():
                # The needle is never printed: it may be a number.
                self.assertNotIn(needle.encode(), data,
                                 "%s%s holds a test number or text "
                                 "(%d bytes)" % (what, suffix, len(needle)))

    def assert_clean_dump(self, path, what):
        out = subprocess.run(["sqlite3", "-readonly", path, ".dump"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr[:200])
        self.assertIn("CREATE TABLE", out.stdout)
        for needle in self.needles():
            self.assertNotIn(needle, out.stdout, "%s's .dump holds a test "
                             "number or text" % what)

    def assert_clean(self):
        self.assert_clean_bytes(self.daemon.db_path, "the database")
        self.assert_clean_bytes(self.daemon.key_store_path, "the key store")
        self.assert_clean_dump(self.daemon.db_path, "the database")
        self.assert_clean_dump(self.daemon.key_store_path, "the key store")

    def assert_readable(self):
        """The positive control: opened with the key, all of it is
        there (so the scans above look where the data is)."""
        self.assertTrue(self.daemon.rows(
            "SELECT 1 FROM tasks WHERE msisdn = ?", PHONE))
        self.assertTrue(self.daemon.rows(
            "SELECT 1 FROM inbound WHERE msisdn = ? AND body = ?", OTHER,
            SMS_TEXT))
        self.assertTrue(self.daemon.rows(
            "SELECT 1 FROM task_notes WHERE text = ?", NOTE_TEXT))
        self.assertTrue(self.daemon.rows(
            "SELECT 1 FROM outbound WHERE msisdn = ? AND body = ?", PHONE,
            OUT_TEXT))
        self.assertTrue(self.daemon.rows(
            "SELECT 1 FROM sessions WHERE msisdn = ? AND state IS NOT NULL",
            OTHER))


class AtRest(EncryptionCase):

    def test_no_number_or_text_in_the_files_while_running_and_after(self):
        self.walk()
        self.assert_readable()
        # Running: the newest pages are in the WAL.
        self.assertTrue(os.path.getsize(self.daemon.db_path + "-wal") > 0)
        self.assert_clean()
        self.assertEqual(self.daemon.stop(), 0)
        self.assert_clean()
        self.assert_readable()

    def test_an_api_read_opens_what_is_sealed(self):
        tid = self.walk()
        r = self.api("GET", "/v1/callbacks/%d" % tid)
        self.assertEqual(r.status, 200)
        detail = r.json()
        self.assertIn(OUT_TEXT, [m["text"] for m in detail["messages"]])
        self.assertIn(NOTE_TEXT, [n["text"] for n in detail["notes"]])
        # The word the caller chose: sealed in the file, open for the
        # lease holder.
        self.assertTrue(detail["verification_word"])
        con = self.daemon.db(raw=True)
        try:
            (word,), = con.execute("SELECT verification FROM tasks "
                                   "WHERE id = ?", (tid,)).fetchall()
        finally:
            con.close()
        self.assertTrue(word.startswith("s1."), "the word is not sealed")


class Rekey(EncryptionCase):

    def read(self, path):
        with open(path) as f:
            return f.read().strip()

    def test_rekey_while_running_keeps_every_row_readable(self):
        tid = self.walk()
        old = self.read(self.daemon.data_key_path)
        out = self.daemon.ctl("rekey")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("rekeyed", out.stdout)
        new = self.read(self.daemon.data_key_path)
        self.assertNotEqual(old, new)
        self.assertEqual(len(new), 64)
        self.assertFalse(os.path.exists(self.daemon.data_key_path + ".new"))
        self.assertEqual(os.stat(self.daemon.data_key_path).st_mode & 0o777,
                         0o600)

        # The running daemon goes on: the holder sees the number, the
        # texts open, and new callers are stored and answered.
        r = self.api("POST", "/v1/callbacks/%d/claim" % tid)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.json().get("msisdn") == PHONE, "number shown")
        r = self.api("GET", "/v1/callbacks/%d" % tid)
        self.assertIn(NOTE_TEXT, [n["text"] for n in r.json()["notes"]])
        self.sms("+84911222333", "after the rekey")
        self.assert_readable()

        # The old master key opens nothing.
        with self.assertRaises(ValueError):
            sealed.Keys(self.daemon.key_store_path, bytes.fromhex(old))
        with open(self.daemon.data_key_path + ".old", "w") as f:
            f.write(old + "\n")
        cfg = dict(self.daemon.config)
        cfg["privacy"] = dict(cfg["privacy"], data_key={"file":
                                                        "data.key.old"})
        old_cfg = os.path.join(self.daemon.tmp, "old.json")
        with open(old_cfg, "w") as f:
            json.dump(cfg, f)
        out = subprocess.run([self.daemon_ctl(), "-c", old_cfg, "show",
                              str(tid)], capture_output=True, text=True,
                             cwd=self.daemon.tmp, timeout=30)
        self.assertEqual(out.returncode, 1)
        self.assertIn("privacy.data_key is key", out.stderr)

        # Restarted, the daemon reads the new key: everything opens.
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.start()
        r = self.api("POST", "/v1/callbacks/%d/claim" % tid)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.json().get("msisdn") == PHONE, "number shown")
        self.assert_readable()
        out = self.daemon.ctl("show", str(tid))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(NOTE_TEXT, out.stdout)

    def test_rekey_to_a_new_key_file_leaves_the_configured_one(self):
        self.walk()
        old = self.read(self.daemon.data_key_path)
        target = os.path.join(self.daemon.tmp, "next.key")
        out = self.daemon.ctl("rekey", "--new-key", target)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("install it as privacy.data_key", out.stdout)
        self.assertEqual(self.read(self.daemon.data_key_path), old)
        self.assertEqual(os.stat(target).st_mode & 0o777, 0o600)
        # The daemon still runs on the KEK it holds.
        self.sms("+84911222333", "still stored")
        # Once installed, the new key opens everything.
        os.replace(target, self.daemon.data_key_path)
        self.assert_readable()
        # A file already there is never overwritten.
        with open(target, "w") as f:
            f.write("keep me\n")
        out = self.daemon.ctl("rekey", "--new-key", target)
        self.assertEqual(out.returncode, 1)
        self.assertEqual(self.read(target), "keep me")

    def daemon_ctl(self):
        from harness import HOTLINECTL
        return HOTLINECTL
