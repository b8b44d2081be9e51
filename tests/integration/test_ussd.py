"""A survivor's USSD call, end to end, against the real daemon."""

import http.client
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.parse

from base import DaemonTestCase
from harness import AT_TOKEN, HOTLINED, ROOT

PHONE = "+84912345678"
OTHER = "+84987654321"

# The shipped menu: 1 Vietnamese / 2 English; need: 1 counsellor,
# 2 urgent, 3 information, 4 report; safe to call 1 yes 2 no; (after a
# yes) the verification word 1..7, 8 skip; when 1 now .. 4 evening;
# safe to text 1 yes 2 no; confirm 1 send 2 cancel.
COUNSELLING_PATH = ["1", "1", "1", "1", "4", "2", "1"]

GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;"
           "<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyz"
           "äöñüà")
GSM7_EXT = set("^{}\\[~]|€\f")


def ussd_octets(page):
    if all(c in GSM7 or c in GSM7_EXT for c in page):
        septets = sum(2 if c in GSM7_EXT else 1 for c in page)
        return (septets * 7 + 7) // 8
    return len(page.encode("utf-16-be"))


class UssdSession(DaemonTestCase):

    def walk(self, channel, session, phone, inputs, query=""):
        """Send every hop of a session as the aggregator would: the
        whole input path so far, '*'-joined.  Returns the replies."""
        replies = []
        for i in range(len(inputs) + 1):
            r = self.daemon.ussd(channel, session, phone,
                                 "*".join(inputs[:i]), query)
            self.assertEqual(r.status, 200, r.body)
            self.assertTrue(r.headers["Content-Type"].startswith(
                "text/plain"))
            replies.append(r.text)
        return replies

    def test_full_session_creates_a_callback_task(self):
        replies = self.walk("console", "ATUid_full", PHONE,
                            COUNSELLING_PATH)
        for page in replies[:-1]:
            self.assertTrue(page.startswith("CON "), page)
        self.assertTrue(replies[-1].startswith("END "), replies[-1])
        tasks = self.daemon.rows("SELECT * FROM tasks")
        self.assertEqual(len(tasks), 1)
        t = tasks[0]
        self.assertEqual(t["msisdn"], PHONE)
        self.assertEqual(t["status"], "pending")
        self.assertEqual(t["priority"], "normal")
        self.assertEqual(t["language"], "vi")
        self.assertEqual(t["topic"], "counselling")
        self.assertEqual(t["safe_to_call"], 1)
        self.assertEqual(t["preferred_time"], "evening")
        self.assertEqual(t["safe_to_sms"], 0)
        self.assertEqual(t["channel"], "console")
        self.assertTrue(t["caller"].startswith("c_"))
        self.assertNotIn(PHONE[1:], t["caller"])
        sessions = self.daemon.rows("SELECT * FROM sessions")
        self.assertEqual(len(sessions), 1)
        self.assertEqual(sessions[0]["hops"], len(COUNSELLING_PATH) + 1)
        self.assertEqual(sessions[0]["task_id"], t["id"])
        self.assertIsNotNone(sessions[0]["ended_at"])
        audit = self.daemon.rows("SELECT * FROM audit")
        self.assertEqual([a["action"] for a in audit], ["task.created"])
        log = self.daemon.log_text()
        self.assertIn("event=task.created", log)
        self.assertIn("caller=" + t["caller"], log)

    def test_a_session_id_another_phone_holds_is_refused(self):
        """A session id belongs to the phone that opened it: another
        phone's hops with it, first or deeper, are refused and change
        nothing of the session."""
        d = self.daemon
        self.walk("console", "ATUid_owned", PHONE, ["2", "1"])
        for path in ("", "2", "2*1", "2*1*1"):
            r = d.ussd("console", "ATUid_owned", OTHER, path)
            self.assertEqual(r.status, 400, r.body)
            self.assertIn("sessionId is already in use", r.text)
        self.assertEqual(d.rows(
            "SELECT hops FROM sessions WHERE session_id = 'ATUid_owned'"),
            [{"hops": 3}])
        self.assertEqual(d.rows("SELECT id FROM tasks"), [])
        # The owner goes on where they were.
        r = d.ussd("console", "ATUid_owned", PHONE, "2*1*1")
        self.assertEqual(r.status, 200, r.body)

    def test_english_session_records_english(self):
        replies = self.walk("console", "ATUid_en", PHONE,
                            ["2", "4", "2", "1", "1", "1"])
        self.assertTrue(replies[-1].startswith("END "))
        t = self.daemon.rows("SELECT * FROM tasks")[0]
        self.assertEqual(t["language"], "en")
        self.assertEqual(t["topic"], "report")
        self.assertEqual(t["safe_to_call"], 0)
        self.assertEqual(t["preferred_time"], "now")
        self.assertEqual(t["safe_to_sms"], 1)

    def test_urgent_creates_an_urgent_task_at_once(self):
        replies = self.walk("console", "ATUid_urgent", PHONE, ["1", "2"])
        self.assertTrue(replies[-1].startswith("END "))
        tasks = self.daemon.rows("SELECT * FROM tasks")
        self.assertEqual(len(tasks), 1)
        self.assertEqual(tasks[0]["priority"], "urgent")
        self.assertEqual(tasks[0]["topic"], "urgent")
        self.assertIn("priority=urgent", self.daemon.log_text())

    def test_same_caller_again_updates_the_one_open_task(self):
        self.walk("console", "s-first", PHONE, COUNSELLING_PATH)
        self.walk("console", "s-second", PHONE, ["1", "2"])
        tasks = self.daemon.rows("SELECT * FROM tasks")
        self.assertEqual(len(tasks), 1)
        self.assertEqual(tasks[0]["priority"], "urgent")
        self.assertEqual(tasks[0]["preferred_time"], "evening")
        self.assertIn("event=task.updated", self.daemon.log_text())
        # A different caller gets a task of their own.
        self.walk("console", "s-other", OTHER, COUNSELLING_PATH)
        self.assertEqual(len(self.daemon.rows("SELECT * FROM tasks")), 2)

    def test_retried_final_hop_changes_nothing(self):
        self.walk("console", "s-retry", PHONE, COUNSELLING_PATH)
        again = self.daemon.ussd("console", "s-retry", PHONE,
                                 "*".join(COUNSELLING_PATH))
        self.assertEqual(again.status, 200)
        self.assertTrue(again.text.startswith("END "))
        self.assertEqual(len(self.daemon.rows("SELECT * FROM tasks")), 1)
        self.assertEqual(len(self.daemon.rows("SELECT * FROM audit")), 1)

    def test_cancel_and_information_create_no_task(self):
        r = self.walk("console", "s-cancel", PHONE,
                      ["1", "1", "1", "8", "1", "1", "2"])
        self.assertTrue(r[-1].startswith("END "))
        inputs = ["1", "3"]
        page = self.daemon.ussd("console", "s-info", PHONE, "1*3").text
        while page.startswith("CON "):       # walk the info pages
            inputs.append("99")
            page = self.daemon.ussd("console", "s-info", PHONE,
                                    "*".join(inputs)).text
            self.assertLess(len(inputs), 12, "info pages never end")
        self.assertTrue(page.startswith("END "))
        self.assertEqual(self.daemon.rows("SELECT * FROM tasks"), [])

    def test_long_information_pages_before_the_session_ends(self):
        # Unfolded Vietnamese needs UCS-2, 80 units a screen: the info
        # text takes several pages, and only the last one ENDs.
        inputs = ["1", "3"]
        pages = [self.daemon.ussd("unfolded", "s-pages", PHONE,
                                  "1*3").text]
        while pages[-1].startswith("CON "):
            self.assertIn("99. Xem thêm", pages[-1])
            inputs.append("99")
            pages.append(self.daemon.ussd("unfolded", "s-pages", PHONE,
                                          "*".join(inputs)).text)
            self.assertLess(len(pages), 8, "info pages never end")
        self.assertGreater(len(pages), 1)
        self.assertTrue(pages[-1].startswith("END "))
        self.assertIn("111", "".join(pages))

    def test_national_number_is_normalised_to_e164(self):
        self.walk("console", "s-national", "0912345678", ["1", "2"])
        self.assertEqual(self.daemon.rows("SELECT msisdn FROM tasks"),
                         [{"msisdn": PHONE}])

    def test_invalid_choice_repeats_the_menu_and_never_ends(self):
        first = self.daemon.ussd("console", "s-typo", PHONE, "1").text
        for typo in ["7", "x", "", "12", "0"]:
            r = self.daemon.ussd("console", "s-typo", PHONE, "1*" + typo)
            self.assertEqual(r.status, 200)
            self.assertTrue(r.text.startswith("CON "), r.text)
            # The same options are shown again, under a short notice.
            for line in first[4:].splitlines()[1:]:
                self.assertIn(line, r.text)
            self.assertNotEqual(r.text, first)
        # The caller recovers from the typo and finishes.
        r = self.daemon.ussd("console", "s-typo", PHONE, "1*7*2")
        self.assertTrue(r.text.startswith("END "))
        self.assertEqual(len(self.daemon.rows("SELECT * FROM tasks")), 1)

    def test_every_page_fits_one_ussd_screen(self):
        for channel, folded in (("console", True), ("unfolded", False)):
            for path in (COUNSELLING_PATH, ["1", "3", "99", "99"],
                         ["2", "1", "1", "1", "1", "1"], ["1", "2"]):
                for i in range(len(path) + 1):
                    r = self.daemon.ussd(channel, "fit-%s-%d-%s" % (
                        channel, i, "".join(path)), PHONE,
                        "*".join(path[:i]))
                    page = r.text[4:]
                    self.assertLessEqual(ussd_octets(page), 160, page)
                    if folded:
                        self.assertTrue(all(c in GSM7 or c in GSM7_EXT
                                            for c in page), page)

    def test_unfolded_vietnamese_is_sent_with_diacritics(self):
        r = self.daemon.ussd("unfolded", "s-diacritics", PHONE, "1")
        self.assertTrue(any(ord(c) > 0x7f and c not in GSM7
                            for c in r.text), r.text)
        folded = self.daemon.ussd("console", "s-folded", PHONE, "1")
        self.assertTrue(all(c in GSM7 or c in GSM7_EXT
                            for c in folded.text))

    def test_session_id_cannot_be_taken_over_by_another_number(self):
        self.daemon.ussd("console", "s-owned", PHONE, "")
        r = self.daemon.ussd("console", "s-owned", OTHER, "1*2")
        self.assertEqual(r.status, 400)
        self.assertEqual(self.daemon.rows("SELECT * FROM tasks"), [])


class UssdRefusals(DaemonTestCase):
    """Bad requests get a 4xx JSON error saying what to fix, and store
    nothing."""

    def assert_nothing_stored(self):
        self.assertEqual(self.daemon.rows("SELECT * FROM sessions"), [])
        self.assertEqual(self.daemon.rows("SELECT * FROM tasks"), [])

    def assert_error(self, r, status, code):
        self.assertEqual(r.status, status, r.body)
        self.assertTrue(r.headers["Content-Type"].startswith(
            "application/json"))
        err = r.json()["error"]
        self.assertEqual(err["code"], code)
        self.assertTrue(len(err["message"]) > 10)
        return err["message"]

    def post(self, body, ctype="application/x-www-form-urlencoded",
             channel="console"):
        return self.daemon.request("POST", "/v1/ussd/" + channel, body,
                                   {"Content-Type": ctype})

    def test_missing_fields_are_400_naming_the_field(self):
        for missing in ("sessionId", "phoneNumber", "text", "serviceCode"):
            fields = {"sessionId": "s", "serviceCode": "*1567#",
                      "phoneNumber": PHONE, "text": ""}
            del fields[missing]
            r = self.post(urllib.parse.urlencode(fields).encode())
            msg = self.assert_error(r, 400, "bad_request")
            self.assertIn(missing, msg)
        self.assert_nothing_stored()

    def test_wrong_content_type_is_415(self):
        r = self.post(json.dumps({"sessionId": "s", "phoneNumber": PHONE,
                                  "text": ""}).encode(), "application/json")
        self.assert_error(r, 415, "unsupported_media_type")
        self.assert_nothing_stored()

    def test_body_over_64_kib_is_413(self):
        body = urllib.parse.urlencode({
            "sessionId": "s", "serviceCode": "*1567#", "phoneNumber": PHONE,
            "text": "1" * (70 * 1024)}).encode()
        self.assert_error(self.post(body), 413, "body_too_large")
        self.assert_nothing_stored()

    def test_invalid_utf8_in_text_is_400(self):
        body = (b"sessionId=s&serviceCode=%2A1567%23&phoneNumber=%2B84912345678"
                b"&text=1%2A%C3%28")
        msg = self.assert_error(self.post(body), 400, "bad_request")
        self.assertIn("UTF-8", msg)
        self.assert_nothing_stored()

    def test_garbled_form_and_bad_number_are_400(self):
        self.assert_error(self.post(b"sessionId=%ZZ&text="), 400,
                          "bad_request")
        self.assert_error(self.post(b"sessionId=s&serviceCode=1&"
                                    b"phoneNumber=not-a-number&text="),
                          400, "bad_request")
        self.assert_error(self.post(b"sessionId=s%00x&serviceCode=1&"
                                    b"phoneNumber=0912345678&text="),
                          400, "bad_request")
        self.assert_nothing_stored()

    def test_africastalking_needs_its_callback_token(self):
        for query in ("", "?token=wrong", "?token=" + AT_TOKEN[:-1],
                      "?tok=" + AT_TOKEN):
            r = self.daemon.ussd("at", "s-at", PHONE, "", query)
            self.assert_error(r, 403, "forbidden")
        self.assert_nothing_stored()
        r = self.daemon.ussd("at", "s-at", PHONE, "", "?token=" + AT_TOKEN)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.text.startswith("CON "))
        self.assertNotIn(AT_TOKEN, self.daemon.log_text())

    def test_console_refuses_requests_forwarded_by_a_proxy(self):
        for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
            body = urllib.parse.urlencode({
                "sessionId": "s", "serviceCode": "*1567#",
                "phoneNumber": PHONE, "text": ""}).encode()
            r = self.daemon.request("POST", "/v1/ussd/console", body, {
                "Content-Type": "application/x-www-form-urlencoded",
                header: "for=198.51.100.7"})
            self.assert_error(r, 403, "forbidden")
        self.assert_nothing_stored()

    def test_unknown_channel_route_and_method(self):
        self.assert_error(self.daemon.ussd("nope", "s", PHONE, ""), 404,
                          "unknown_channel")
        self.assert_error(self.daemon.request("GET", "/nowhere"), 404,
                          "not_found")
        r = self.daemon.request("GET", "/v1/ussd/console")
        self.assert_error(r, 405, "method_not_allowed")
        self.assertEqual(r.headers["Allow"], "POST")
        self.assert_nothing_stored()


class Operations(DaemonTestCase):

    def test_health_and_readiness(self):
        r = self.daemon.request("GET", "/healthz")
        self.assertEqual((r.status, r.json()["status"]), (200, "ok"))
        r = self.daemon.request("GET", "/readyz")
        self.assertEqual((r.status, r.json()["status"]), (200, "ready"))

    def test_head_reply_has_no_body_and_keeps_the_connection_usable(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.daemon.port,
                                          timeout=10)
        self.addCleanup(conn.close)
        for path in ("/healthz", "/nowhere"):
            conn.request("HEAD", path)
            r = conn.getresponse()
            self.assertEqual(r.read(), b"")
            self.assertGreater(int(r.headers["Content-Length"]), 0)
        # The next reply on the same connection starts where it should.
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.read()), {"status": "ok"})

    def test_database_is_readable_by_its_owner_only(self):
        self.daemon.ussd("console", "perm", PHONE, "1*2")
        mode = os.stat(self.daemon.db_path).st_mode & 0o777
        self.assertEqual(mode & 0o077, 0, oct(mode))

    def test_hotlinectl_never_creates_a_database_at_a_mistyped_path(self):
        typo = os.path.join(self.daemon.tmp, "hotlnie.db")
        out = self.daemon.ctl("--database", typo, "queue")
        self.assertEqual(out.returncode, 1)
        self.assertIn("not a hotline database", out.stderr)
        self.assertFalse(os.path.exists(typo))

    def test_hotlinectl_shows_no_number_it_cannot_audit(self):
        self.daemon.ussd("console", "locked", PHONE, "1*2")
        con = sqlite3.connect(self.daemon.db_path, timeout=1)
        self.addCleanup(con.close)
        con.execute("BEGIN IMMEDIATE")     # hold the write lock
        out = self.daemon.ctl("queue", timeout=60)
        con.rollback()
        self.assertEqual(out.returncode, 1)
        self.assertNotIn(PHONE, out.stdout)
        self.assertIn("no number is shown", out.stderr)
        self.assertEqual(self.daemon.rows(
            "SELECT * FROM audit WHERE action = 'number.revealed'"), [])

    def test_sigterm_during_traffic_exits_cleanly(self):
        statuses = []
        stop = threading.Event()

        def caller(n):
            i = 0
            while not stop.is_set():
                try:
                    r = self.daemon.ussd("console", "load-%d-%d" % (n, i),
                                         PHONE if n % 2 else OTHER, "1")
                    statuses.append(r.status)
                except OSError:
                    statuses.append("closed")
                i += 1

        threads = [threading.Thread(target=caller, args=(n,))
                   for n in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        rc = self.daemon.stop(signal.SIGTERM)
        stop.set()
        for t in threads:
            t.join(10)
        self.assertEqual(rc, 0)
        self.assertIn(200, statuses)
        self.assertFalse([s for s in statuses
                          if isinstance(s, int) and s != 200])
        log = self.daemon.log_text()
        self.assertIn("event=daemon.stopping", log)
        self.assertIn("event=daemon.stopped", log)
        # Every answered hop is in the database.
        answered = statuses.count(200)
        hops = sum(r["hops"] for r in
                   self.daemon.rows("SELECT hops FROM sessions"))
        self.assertEqual(hops, answered)

    def test_kill_9_loses_no_acknowledged_task(self):
        for i, phone in enumerate(["+84911222333", "+84933444555"]):
            r = self.daemon.ussd("console", "k%d" % i, phone, "1*2")
            self.assertTrue(r.text.startswith("END "))
        self.daemon.stop(signal.SIGKILL)
        self.daemon.start()
        self.assertEqual(len(self.daemon.rows(
            "SELECT * FROM tasks WHERE priority = 'urgent'")), 2)

    def test_sighup_with_a_bad_config_keeps_the_old_one(self):
        self.daemon.config["channels"][0]["provider"] = "twillio"
        self.daemon.write_config()
        self.daemon.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "config.reload_refused" not in self.daemon.log_text():
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)
        self.assertIn("twillio", self.daemon.log_text())
        r = self.daemon.ussd("console", "after-hup", PHONE, "")
        self.assertEqual(r.status, 200)

    def test_sighup_with_a_good_config_swaps_it(self):
        self.daemon.config["channels"].append(
            {"name": "late", "provider": "console"})
        self.daemon.write_config()
        self.assertEqual(self.daemon.ussd("late", "s", PHONE, "").status,
                         404)
        self.daemon.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "config.reloaded" not in self.daemon.log_text():
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)
        self.assertEqual(self.daemon.ussd("late", "s", PHONE, "").status,
                         200)

    def test_hotlinectl_queue_shows_the_number_and_audits_it(self):
        self.daemon.ussd("console", "q1", PHONE, "1*2")
        self.daemon.ussd("console", "q2", OTHER, "1*1*1*1*1*1*1")
        self.daemon.ussd("console", "q2", OTHER, "1*1*1*1*1*1*1")
        out = self.daemon.ctl("queue")
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        self.assertEqual(len(lines), 3)       # header, urgent, normal
        self.assertIn("urgent", lines[1])
        self.assertIn(PHONE, lines[1])
        self.assertIn(OTHER, lines[2])
        reveals = self.daemon.rows(
            "SELECT * FROM audit WHERE action = 'number.revealed'")
        self.assertEqual(len(reveals), 2)
        stats = self.daemon.ctl("stats")
        self.assertIn("pending  2", stats.stdout)


class ConfigChecks(DaemonTestCase):
    start_daemon = False

    def test_check_config_accepts_the_shipped_config(self):
        key = os.path.join(self.daemon.tmp, "key")
        with open(key, "w") as f:
            f.write("0123456789abcdef0123456789abcdef")
        # The shipped config reads var/pseudonym.key, which `make run`
        # creates; here it reads a key of the test's own.
        cfg = json.load(open(os.path.join(ROOT, "config", "hotlined.json")))
        cfg["menu"] = os.path.join(ROOT, "config", "menu.json")
        cfg["privacy"]["pseudonym_key"] = {"file": key}
        # Likewise var/data.key.
        cfg["privacy"]["data_key"] = {"file": self.daemon.data_key_path}
        self.daemon.config = cfg
        self.daemon.write_config()
        r = subprocess.run([HOTLINED, "--check-config", "-c",
                            self.daemon.config_path], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_production_example_is_valid_with_its_credentials(self):
        creds = os.path.join(self.daemon.tmp, "credentials")
        os.mkdir(creds, 0o700)
        for name in ("pseudonym.key", "at_api_key", "at_callback_token"):
            with open(os.path.join(creds, name), "w") as f:
                f.write("secret-for-%s-0123456789\n" % name)
        with open(os.path.join(creds, "data.key"), "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        example = os.path.join(ROOT, "config", "hotlined.example.json")
        env = dict(self.daemon.env, CREDENTIALS_DIRECTORY=creds)
        r = subprocess.run([HOTLINED, "--check-config", "-c", example],
                           capture_output=True, text=True, timeout=30,
                           env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        # Without the credentials it names each missing one.
        empty = os.path.join(self.daemon.tmp, "empty")
        os.mkdir(empty, 0o700)
        env["CREDENTIALS_DIRECTORY"] = empty
        r = subprocess.run([HOTLINED, "--check-config", "-c", example],
                           capture_output=True, text=True, timeout=30,
                           env=env)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("channels[0].callback_token: cannot read", r.stderr)
        self.assertIn("privacy.pseudonym_key: cannot read", r.stderr)
        self.assertIn("privacy.data_key: cannot read", r.stderr)

    def test_hotlinectl_reads_no_secret(self):
        # The operator runs the CLI as the service user, who cannot read
        # the credentials systemd hands the daemon.  (Only the commands
        # that show callers' numbers or words need privacy.data_key.)
        self.daemon.start()
        self.daemon.ussd("console", "s", PHONE, "1*2")
        self.daemon.env.pop("HL_TEST_AT_TOKEN")
        os.unlink(os.path.join(self.daemon.tmp, "pseudonym.key"))
        out = self.daemon.ctl("stats")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("pending  1", out.stdout)

    def test_bad_config_refuses_to_start_naming_every_problem(self):
        self.daemon.config["channels"][1]["provider"] = "twillio"
        self.daemon.config["listen"] = "nowhere"
        self.daemon.config["bogus"] = 1
        self.daemon.write_config()
        for args in (["--check-config"], []):
            r = subprocess.run([HOTLINED] + args + ["-c",
                                self.daemon.config_path],
                               capture_output=True, text=True, timeout=30,
                               env=self.daemon.env)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn('channels[1].provider: unknown provider '
                          '"twillio"', r.stderr)
            self.assertIn("listen:", r.stderr)
            self.assertIn("bogus: unknown key", r.stderr)

    def test_database_from_a_newer_hotlined_is_refused(self):
        con = sqlite3.connect(self.daemon.db_path)
        con.execute("PRAGMA user_version = 42")
        con.close()
        with self.assertRaises(RuntimeError) as cm:
            self.daemon.start()
        self.assertIn("newer", str(cm.exception))
