"""Inbound SMS from the signed providers, with real HMACs computed here
exactly as each aggregator computes them."""

import base64
import hashlib
import hmac
import json
import time
import urllib.parse

from base import DaemonTestCase
from harness import Daemon

PHONE = "+84912345678"
TEXT = "Tôi cần giúp đỡ 🙏"
TW_TOKEN = "twilio-auth-token-for-tests"
TW_SID = "AC0123456789abcdef0123456789abcdef"
TW_PUBLIC = "https://hotline.example.org"
JSON_SECRET = "json-provider-secret-for-tests"


class SignedProviders(DaemonTestCase):
    start_daemon = False

    def setUp(self):
        super().setUp()
        self.daemon.env.update({"HL_TW_TOKEN": TW_TOKEN,
                                "HL_JSON_SECRET": JSON_SECRET})
        self.daemon.config["channels"] += [
            {"name": "tw", "provider": "twilio", "account_sid": TW_SID,
             "auth_token": {"env": "HL_TW_TOKEN"}, "from": "+15005550006",
             "public_url": TW_PUBLIC,
             # Nothing leaves the machine: a port nobody listens on.
             "send_url": "http://127.0.0.1:9"},
            {"name": "js", "provider": "json",
             "secret": {"env": "HL_JSON_SECRET"}},
        ]
        self.daemon.start()

    # Twilio -----------------------------------------------------------

    def twilio_signature(self, path, params, token=TW_TOKEN):
        data = TW_PUBLIC + path + "".join(
            k + v for k, v in sorted(params.items()))
        return base64.b64encode(hmac.new(token.encode(), data.encode(),
                                         hashlib.sha1).digest()).decode()

    def twilio(self, sid, body=TEXT, token=TW_TOKEN, tamper=False):
        params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": TW_SID,
                  "From": PHONE, "To": "+15005550006", "Body": body,
                  "NumSegments": "1", "NumMedia": "0",
                  "SmsStatus": "received", "ApiVersion": "2010-04-01"}
        sig = self.twilio_signature("/v1/sms/tw", params, token)
        if tamper:
            params["Body"] = body + "!"
        return self.daemon.request(
            "POST", "/v1/sms/tw", urllib.parse.urlencode(params).encode(),
            {"Content-Type": "application/x-www-form-urlencoded",
             "X-Twilio-Signature": sig})

    def test_twilio_message_stored_once_and_answered_with_twiml(self):
        for _ in range(2):
            r = self.twilio("SM" + "1" * 32)
            self.assertEqual(r.status, 200, r.body)
            self.assertTrue(r.headers["Content-Type"].startswith("text/xml"))
            self.assertIn(b"<Response", r.body)
        rows = self.daemon.rows("SELECT * FROM inbound WHERE channel = 'tw'")
        self.assertEqual(len(rows), 1)
        self.assertEqual((rows[0]["body"], rows[0]["msisdn"]), (TEXT, PHONE))

    def test_twilio_reply_goes_through_the_outbox_once(self):
        # The acknowledgement carries no reply: a TwiML <Message> would
        # skip the outbox's checks (unsafe to text, rate, windows).
        r = self.twilio("SM" + "5" * 32, body="SOS")
        self.assertEqual(r.status, 200, r.body)
        self.assertNotIn(b"<Message>", r.body)
        deadline = time.monotonic() + 10
        while not self.daemon.rows("SELECT * FROM outbound"):
            self.assertLess(time.monotonic(), deadline, "no reply queued")
            time.sleep(0.05)
        # Twilio retries: stored once, one reply.
        r = self.twilio("SM" + "5" * 32, body="SOS")
        self.assertEqual(r.status, 200)
        self.assertNotIn(b"<Message>", r.body)
        rows = self.daemon.rows("SELECT body, purpose FROM outbound")
        self.assertEqual(len(rows), 1)
        self.assertIn("113", rows[0]["body"])          # the urgent page
        self.assertEqual(self.daemon.rows("SELECT priority FROM tasks"),
                         [{"priority": "urgent"}])

    def test_twilio_status_callback_updates_the_message(self):
        params = {"MessageSid": "SM" + "d" * 32,
                  "MessageStatus": "delivered",
                  "AccountSid": TW_SID, "To": PHONE, "ApiVersion":
                  "2010-04-01"}
        sig = self.twilio_signature("/v1/dlr/tw", params)
        r = self.daemon.request(
            "POST", "/v1/dlr/tw", urllib.parse.urlencode(params).encode(),
            {"Content-Type": "application/x-www-form-urlencoded",
             "X-Twilio-Signature": sig})
        self.assertEqual(r.status, 200, r.body)
        r = self.daemon.request(
            "POST", "/v1/dlr/tw", urllib.parse.urlencode(params).encode(),
            {"Content-Type": "application/x-www-form-urlencoded",
             "X-Twilio-Signature": self.twilio_signature(
                 "/v1/dlr/tw", params, "wrong")})
        self.assertEqual(r.status, 403)
        self.assertEqual(self.daemon.rows(
            "SELECT channel, provider_ref, status FROM delivery_reports"),
            [{"channel": "tw", "provider_ref": "SM" + "d" * 32,
              "status": "delivered"}])

    def test_twilio_bad_signature_is_403_and_stores_nothing(self):
        self.assertEqual(self.twilio("SM" + "2" * 32,
                                     token="wrong").status, 403)
        self.assertEqual(self.twilio("SM" + "3" * 32,
                                     tamper=True).status, 403)
        r = self.daemon.request(
            "POST", "/v1/sms/tw", b"MessageSid=SMx&From=%2B84912345678",
            {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 403)
        self.assertEqual(self.daemon.rows("SELECT * FROM inbound"), [])

    # Generic JSON -----------------------------------------------------

    def signed_json(self, doc, t=None, secret=JSON_SECRET, raw=None):
        body = raw if raw is not None else json.dumps(doc).encode()
        t = int(time.time()) if t is None else t
        mac = hmac.new(secret.encode(), str(t).encode() + b"." + body,
                       hashlib.sha256).hexdigest()
        return self.daemon.request(
            "POST", "/v1/sms/js", body,
            {"Content-Type": "application/json",
             "X-Hotline-Signature": "t=%d,v1=%s" % (t, mac)})

    def message(self, msg_id):
        return {"id": msg_id, "from": PHONE, "to": "1567", "text": TEXT,
                "received_at": "2026-11-29T03:00:00Z"}

    def test_json_message_stored_once(self):
        for _ in range(2):
            r = self.signed_json(self.message("j-1"))
            self.assertEqual(r.status, 200, r.body)
        rows = self.daemon.rows("SELECT * FROM inbound WHERE channel = 'js'")
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["body"].encode(), TEXT.encode())

    def test_json_stale_future_or_wrongly_signed_is_403(self):
        now = int(time.time())
        for kwargs in ({"t": now - 400}, {"t": now + 400},
                       {"secret": "not-the-secret"}):
            r = self.signed_json(self.message("j-bad"), **kwargs)
            self.assertEqual(r.status, 403, kwargs)
        r = self.daemon.request("POST", "/v1/sms/js",
                                json.dumps(self.message("j-x")).encode(),
                                {"Content-Type": "application/json"})
        self.assertEqual(r.status, 403)
        self.assertEqual(self.daemon.rows("SELECT * FROM inbound"), [])

    def test_json_delivery_report_is_signed_and_recorded(self):
        body = json.dumps({"id": "out-9", "status": "failed",
                           "reason": "absent_subscriber"}).encode()
        t = int(time.time())
        mac = hmac.new(JSON_SECRET.encode(), str(t).encode() + b"." + body,
                       hashlib.sha256).hexdigest()
        r = self.daemon.request("POST", "/v1/dlr/js", body, {
            "Content-Type": "application/json",
            "X-Hotline-Signature": "t=%d,v1=%s" % (t, mac)})
        self.assertEqual(r.status, 200, r.body)
        r = self.daemon.request("POST", "/v1/dlr/js", body, {
            "Content-Type": "application/json",
            "X-Hotline-Signature": "t=%d,v1=%s" % (t, "0" * 64)})
        self.assertEqual(r.status, 403)
        self.assertEqual(self.daemon.rows(
            "SELECT provider_ref, status, reason FROM delivery_reports"),
            [{"provider_ref": "out-9", "status": "failed",
              "reason": "absent_subscriber"}])

    def test_json_malformed_body_is_400_naming_the_field(self):
        r = self.signed_json(None, raw=b'{"id": "a", "from": "+84912345678"}')
        self.assertEqual(r.status, 400)
        self.assertIn("text", r.json()["error"]["message"])
        r = self.signed_json(None, raw=b'{"id": "a", "id": "b"}')
        self.assertEqual(r.status, 400)
        self.assertEqual(self.daemon.rows("SELECT * FROM inbound"), [])
