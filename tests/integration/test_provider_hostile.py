"""Hostile input at the aggregator routes (issue 9), against the real
daemon: signatures re-split into new messages, senders abroad, receipt
statuses nobody documented, times as the providers write them, and a
provider whose refusal quotes the text it refused."""

import base64
import hashlib
import hmac
import json
import re
import sqlite3
import time
import urllib.parse

from base import DaemonTestCase
from fake_aggregator import FakeAggregator
from harness import AT_TOKEN

PHONE = "+84912345678"
OTHER = "+84987654321"
TEXT = "Tôi cần giúp đỡ 🙏"
VC_KEY = "vcom-secure-key-for-tests"
ES_KEY = "esms-private-key-for-tests"
TW_TOKEN = "twilio-auth-token-for-tests"
TW_SID = "AC0123456789abcdef0123456789abcdef"
TW_PUBLIC = "https://hotline.example.org"
# Numbers abroad, which harness.TEST_NUMBERS does not list: this file
# checks the log for them itself.
ABROAD = ["+2349067554729", "+85512345678"]


def forms(e164):
    digits = e164[1:]
    return {e164, digits, digits[3:]}


class HostileInbound(DaemonTestCase):
    start_daemon = False

    def setUp(self):
        super().setUp()
        self.daemon.env.update({"HL_VC_KEY": VC_KEY, "HL_ES_KEY": ES_KEY,
                                "HL_TW_TOKEN": TW_TOKEN, "HL_ANY": "unused"})
        self.daemon.config["channels"] += [
            {"name": "vc", "provider": "vcom", "client_id": "hotline",
             "secure_key": {"env": "HL_VC_KEY"}, "service_id": "7068",
             "send_url": "http://127.0.0.1:9"},
            {"name": "es", "provider": "esms", "api_key": {"env": "HL_ANY"},
             "secret_key": {"env": "HL_ANY"}, "cpid": "CP0001",
             "private_key": {"env": "HL_ES_KEY"},
             "send_url": "http://127.0.0.1:9"},
            {"name": "tw", "provider": "twilio", "account_sid": TW_SID,
             "auth_token": {"env": "HL_TW_TOKEN"}, "from": "+15005550006",
             "public_url": TW_PUBLIC, "send_url": "http://127.0.0.1:9"},
            {"name": "vn", "provider": "vonage", "api_key": "k",
             "api_secret": {"env": "HL_ANY"}, "from": "HOTLINE",
             "send_url": "http://127.0.0.1:9"},
        ]
        self.daemon.start()

    def tearDown(self):
        super().tearDown()
        log = self.daemon.log_text()
        for number in ABROAD:
            for form in forms(number):
                self.assertNotIn(form, log, "a number abroad reached the log")

    def inbound(self, channel):
        return self.daemon.rows("SELECT * FROM inbound WHERE channel = ? "
                                "ORDER BY id", channel)

    def settle(self, seconds=1.0):
        """Give the conversation time to act on what was stored."""
        time.sleep(seconds)

    # V-COM: checksum over client_id . request_id . phone . key . time --

    def vcom(self, request_id, phone, message, checksum_of=None):
        t = "1772353530"
        signed = checksum_of or (request_id, phone)
        checksum = base64.b64encode(hashlib.sha256(
            ("hotline" + signed[0] + signed[1] + VC_KEY + t).encode())
            .digest()).decode()
        body = {"type": "new", "client_id": "hotline",
                "request_id": request_id, "service_id": "7068",
                "command_code": "HOTLINE", "message": message,
                "telco": "VT", "phone": phone, "time": int(t),
                "checksum": checksum}
        return self.daemon.request("POST", "/v1/sms/vc",
                                   json.dumps(body).encode(),
                                   {"Content-Type": "application/json"})

    def test_vcom_request_id_zeros_moved_onto_the_phone_are_refused(self):
        genuine = ("129787583200", PHONE[1:])
        r = self.vcom(*genuine, TEXT)
        self.assertEqual(r.status, 200, r.body)
        # The same signed string, re-split: "…32" + "0084912345678".
        # The same caller, a new request id, and an unsigned STOP.
        for request_id, phone in (("1297875832", "00" + PHONE[1:]),
                                  ("12978758320", "0" + PHONE[1:])):
            r = self.vcom(request_id, phone, "STOP", checksum_of=genuine)
            self.assertEqual(r.status, 400, r.body)
            self.assertIn(b"phone", r.body)
        self.settle()
        rows = self.inbound("vc")
        self.assertEqual([r["provider_msg_id"] for r in rows],
                         ["129787583200"])
        self.assertEqual(rows[0]["msisdn"], PHONE)
        self.assertEqual(self.daemon.rows("SELECT * FROM optouts"), [])

    # eSMS: sign over cpid + smsid + content + receiverTime + key ------

    def esms(self, smsid, content, sender, signed=None):
        t = "20261129100000"
        s_smsid, s_content = signed or (smsid, content)
        sign = base64.b64encode(hashlib.md5(
            ("CP0001" + s_smsid + s_content + t + ES_KEY).encode())
            .digest()).decode()
        q = urllib.parse.urlencode({
            "sender": sender, "content": content, "serviceNumber": "8077",
            "keyword": "HOTLINE", "sign": sign, "cpid": "CP0001",
            "smsid": smsid, "receiverTime": t})
        return self.daemon.request("GET", "/v1/sms/es?" + q)

    def test_esms_character_moved_between_smsid_and_content_is_refused(self):
        genuine = ("5550123", "HOTLINE GIUP")
        r = self.esms(*genuine, PHONE[1:])
        self.assertEqual(r.status, 200, r.body)
        # One digit of the smsid moved onto the text, and the unsigned
        # sender set to someone else: a new message, a menu reply to
        # them.
        r = self.esms("555012", "3HOTLINE GIUP", OTHER[1:], signed=genuine)
        self.assertEqual(r.status, 400, r.body)
        # An smsid may hold letters, so a letter moved onto it verifies;
        # but the key is the signed string's hash, the genuine one's:
        # answered as the duplicate it is, stored never, no reply.
        r = self.esms("5550123H", "OTLINE GIUP", OTHER[1:], signed=genuine)
        self.assertEqual(r.status, 200, r.body)
        self.settle()
        self.assertEqual([r["msisdn"] for r in self.inbound("es")], [PHONE])
        self.assertEqual(self.daemon.rows(
            "SELECT id FROM outbound WHERE msisdn = ?", OTHER), [])
        # The stored time is Viet Nam's 10:00, in UTC.
        self.assertEqual(self.inbound("es")[0]["received_at"],
                         "2026-11-29T03:00:00Z")

    def test_esms_sender_outside_its_documented_form_is_refused(self):
        for sender in ("00" + PHONE[1:], "0" + PHONE[3:], PHONE):
            r = self.esms("77%d" % len(sender), "HOTLINE GIUP", sender)
            self.assertEqual(r.status, 400, r.body)
            self.assertIn(b"sender", r.body)
        self.assertEqual(self.inbound("es"), [])

    # Twilio: HMAC over URL + sorted names and values, no separators ----

    def twilio(self, params, signed=None):
        data = TW_PUBLIC + "/v1/sms/tw" + "".join(
            k + v for k, v in sorted((signed or params).items()))
        sig = base64.b64encode(hmac.new(TW_TOKEN.encode(), data.encode(),
                                        hashlib.sha1).digest()).decode()
        return self.daemon.request(
            "POST", "/v1/sms/tw", urllib.parse.urlencode(params).encode(),
            {"Content-Type": "application/x-www-form-urlencoded",
             "X-Twilio-Signature": sig})

    def test_twilio_sid_swallowing_the_next_field_is_refused(self):
        sid = "SM" + "3" * 32
        genuine = {"MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid,
                   "AccountSid": TW_SID, "From": PHONE,
                   "To": "+15005550006", "Body": TEXT, "NumSegments": "1",
                   "NumMedia": "0", "SmsStatus": "received",
                   "ApiVersion": "2010-04-01"}
        r = self.twilio(genuine)
        self.assertEqual(r.status, 200, r.body)
        # MessageSid + "NumMedia0": the signed string is unchanged, the
        # id is new; likewise SmsSid + "SmsStatusreceived".
        one = dict(genuine, MessageSid=sid + "NumMedia0")
        del one["NumMedia"]
        two = dict(genuine, SmsSid=sid + "SmsStatusreceived")
        del two["SmsStatus"]
        for forged in (one, two):
            r = self.twilio(forged, signed=genuine)
            self.assertEqual(r.status, 400, r.body)
        # And a repeated name is refused whatever it signs.
        body = urllib.parse.urlencode(genuine) + "&From=" + \
            urllib.parse.quote(OTHER)
        params = urllib.parse.parse_qsl(body)
        data = TW_PUBLIC + "/v1/sms/tw" + "".join(
            k + v for k, v in sorted(params))
        sig = base64.b64encode(hmac.new(TW_TOKEN.encode(), data.encode(),
                                        hashlib.sha1).digest()).decode()
        r = self.daemon.request(
            "POST", "/v1/sms/tw", body.encode(),
            {"Content-Type": "application/x-www-form-urlencoded",
             "X-Twilio-Signature": sig})
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual([r["provider_msg_id"] for r in self.inbound("tw")],
                         [sid])

    # Vonage: msisdn is international digits, every country ------------

    def vonage(self, msisdn, msg_id):
        p = {"msisdn": msisdn, "to": "15005550006", "messageId": msg_id,
             "text": TEXT, "type": "unicode", "keyword": "TOI",
             "message-timestamp": "2026-11-29 03:00:00"}
        return self.daemon.request("GET", "/v1/sms/vn?" +
                                   urllib.parse.urlencode(p))

    def test_vonage_senders_abroad_are_stored(self):
        for n, number in enumerate(ABROAD + [PHONE]):
            r = self.vonage(number[1:], "0E00000%d" % n)
            self.assertEqual(r.status, 200, r.body)
        rows = self.inbound("vn")
        self.assertEqual([r["msisdn"] for r in rows], ABROAD + [PHONE])
        self.assertEqual({r["received_at"] for r in rows},
                         {"2026-11-29T03:00:00Z"})
        # Not the international digits Vonage documents: refused.
        r = self.vonage("00" + PHONE[1:], "0E0000009")
        self.assertEqual(r.status, 400, r.body)

    # Vonage receipts with a status nobody documented -------------------

    def test_vonage_unknown_receipt_status_is_taken_and_logged_once(self):
        for n, status in enumerate(("partially_delivered",
                                    "partially_delivered",
                                    "partially_delivered", "odd words")):
            q = urllib.parse.urlencode({
                "msisdn": PHONE[1:], "to": "HOTLINE", "messageId":
                "0F000000%d" % n, "status": status, "err-code": "0"})
            r = self.daemon.request("GET", "/v1/dlr/vn?" + q)
            self.assertEqual(r.status, 200, r.body)
        rows = self.daemon.rows("SELECT provider_ref, status, reason FROM "
                                "delivery_reports ORDER BY id")
        self.assertEqual([(r["status"], r["reason"]) for r in rows],
                         [("unknown", "unknown status partially_delivered")]
                         * 3 + [("unknown", "unknown status")])
        log = self.daemon.log_text()
        self.assertEqual(len(re.findall(
            r"event=dlr\.unknown_status .*status=partially_delivered", log)),
            1)
        self.assertNotIn("odd words", log)

    # Africa's Talking: date kept as RFC 3339 UTC ------------------------

    def test_africastalking_date_is_stored_as_rfc3339_utc(self):
        for n, (date, want) in enumerate((
                ("2017-05-03 06:04:45", "2017-05-03T06:04:45Z"),
                ("2017-05-03T13:04:45+07:00", "2017-05-03T06:04:45Z"),
                ("3 May 2017", ""))):
            body = urllib.parse.urlencode({
                "from": PHONE, "to": "1567", "text": TEXT,
                "id": "at-date-%d" % n, "date": date, "linkId": "",
                "networkCode": "45204"}).encode()
            r = self.daemon.request(
                "POST", "/v1/sms/at?token=" + AT_TOKEN, body,
                {"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(r.status, 200, r.body)
            row = self.daemon.rows("SELECT received_at FROM inbound WHERE "
                                   "provider_msg_id = ?", "at-date-%d" % n)
            self.assertEqual(row, [{"received_at": want}])


# The counsellor's text to a caller, which an echoing provider quotes.
SECRET_TEXT = "Hen gap o cho Ben Thanh luc 9 gio, mang theo giay to"
SECRETS = {
    "at_api_key": "at-api-key", "at_username": "hotline",
    "twilio_sid": TW_SID, "twilio_token": "tw-token",
    "vonage_key": "vg-key", "vonage_secret": "vg-secret",
    "esms_api_key": "es-key", "esms_secret_key": "es-secret",
    "vcom_client_id": "demo", "vcom_secure_key": "vc-secure",
    "json_secret": "json-secret-for-tests",
}


class EchoingProvider(DaemonTestCase):
    """A refusal that quotes the text: the reason keeps the status and
    the provider's code, and neither the log nor the row keeps the
    words."""
    start_daemon = False

    def setUp(self):
        super().setUp()
        self.fa = FakeAggregator(secrets=SECRETS).start()
        self.addCleanup(self.fa.stop)
        fa = self.fa
        common = {"rate_limit_per_second": 50}
        self.daemon.config["channels"] += [
            dict(common, name="at2", provider="africastalking",
                 username="hotline", api_key={"env": "HL_TEST_AT_KEY"},
                 callback_token={"env": "HL_TEST_AT_TOKEN"},
                 short_code="1567", send_url=fa.send_url("at")),
            dict(common, name="tw", provider="twilio", account_sid=TW_SID,
                 auth_token={"env": "HL_TEST_TW"}, public_url=TW_PUBLIC,
                 send_url=fa.send_url("twilio")),
            dict(common, name="vg", provider="vonage", api_key="vg-key",
                 api_secret={"env": "HL_TEST_VG"}, send_url=fa.url,
                 **{"from": "HOTLINE"}),
            dict(common, name="es", provider="esms",
                 api_key={"env": "HL_TEST_ES_KEY"},
                 secret_key={"env": "HL_TEST_ES_SECRET"}, cpid="CP0001",
                 private_key={"env": "HL_TEST_ES_SECRET"},
                 brandname="HOTLINE", send_url=fa.url),
            dict(common, name="vc", provider="vcom", client_id="demo",
                 secure_key={"env": "HL_TEST_VC"}, service_id="7068",
                 send_url=fa.url),
            dict(common, name="js", provider="json",
                 secret={"env": "HL_TEST_JS"}, send_url=fa.send_url("json"),
                 **{"from": "1567"}),
        ]
        self.daemon.config["outbox"] = {
            "contact_windows": {"default": "00:00-24:00"},
            "max_delay_seconds": 2, "timeout_seconds": 2,
            "connect_timeout_seconds": 2}
        self.daemon.env.update({
            "HL_TEST_AT_KEY": "at-api-key", "HL_TEST_TW": "tw-token",
            "HL_TEST_VG": "vg-secret", "HL_TEST_ES_KEY": "es-key",
            "HL_TEST_ES_SECRET": "es-secret", "HL_TEST_VC": "vc-secure",
            "HL_TEST_JS": "json-secret-for-tests"})

    def queue(self, channels):
        """The counsellor's text to PHONE on each channel, queued in a
        stopped daemon's outbox; the daemon sends on start."""
        self.daemon.start()
        self.assertEqual(self.daemon.stop(), 0)
        con = sqlite3.connect(self.daemon.db_path)
        # V-COM can only answer a caller's MO.
        con.execute(
            "INSERT INTO inbound(channel, provider_msg_id, caller, msisdn, "
            "body, received_at, stored_at, processed_at) VALUES ('vc', "
            "'1297875832', 'c_test', ?, 'HOTLINE GIUP', '', "
            "'2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z')", (PHONE,))
        for channel in channels:
            con.execute(
                "INSERT INTO outbound(channel, msisdn, caller, body, purpose,"
                " send_key, next_attempt_at, created_at, updated_at) VALUES "
                "(?, ?, 'c_test', ?, 'message', lower(hex(randomblob(8))), "
                "strftime('%Y-%m-%dT%H:%M:%fZ','now'), "
                "strftime('%Y-%m-%dT%H:%M:%SZ','now'), "
                "strftime('%Y-%m-%dT%H:%M:%SZ','now'))",
                (channel, PHONE, SECRET_TEXT))
        con.commit()
        con.close()
        self.daemon.start()

    def test_refusal_quoting_the_text_keeps_status_and_code_only(self):
        want = {"at2": r"HTTP 400", "tw": r"HTTP 400 21610",
                "vg": r"HTTP 200 6", "es": r"HTTP 400 118",
                "vc": r"HTTP 400 106", "js": r"HTTP 422 text_refused"}
        for provider in ("at", "twilio", "vonage", "esms", "vcom", "json"):
            self.fa.script(provider, "echo")
        self.queue(list(want))
        deadline = time.monotonic() + 15
        while True:
            rows = self.daemon.rows("SELECT channel, status, last_error "
                                    "FROM outbound ORDER BY id")
            if all(r["status"] == "failed" for r in rows):
                break
            self.assertLess(time.monotonic(), deadline, [
                (r["channel"], r["status"]) for r in rows])
            time.sleep(0.05)
        # The fake did quote the text back, every time.
        echoed = [r for r in self.fa.requests() if r.answer == "echo"]
        self.assertEqual(len(echoed), 6)
        for req in echoed:
            self.assertIn(SECRET_TEXT, req.fields.get("message") or
                          req.fields.get("Body") or req.fields.get("text") or
                          req.fields.get("Content") or "")
        got = {r["channel"]: r["last_error"] for r in rows}
        self.assertEqual(got, want)
        log = self.daemon.log_text()
        for word in ("Ben Thanh", "giay to", "Hen gap", "rejected"):
            self.assertNotIn(word, log)
            for error in got.values():
                self.assertNotIn(word, error)
        failed = [line for line in log.splitlines()
                  if "event=outbox.failed" in line]
        self.assertEqual(len(failed), 6)
        for line in failed:
            self.assertRegex(line, r'reason="?HTTP \d{3}( [A-Za-z0-9_.-]+)?'
                             r'"?( |$)')
