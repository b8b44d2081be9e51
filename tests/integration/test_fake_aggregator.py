"""Self-test of the fake aggregator (no daemon): every provider's answers,
credentials, idempotency, and the scripted failures the outbox must
survive."""

import base64
import http.client
import json
import socket
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from fake_aggregator import FakeAggregator, json_signature, vcom_checksum

PHONE = "+84912345678"
TEXT = "Chúng tôi đã nhận tin. 🙏"
TW_SID = "AC0123456789abcdef0123456789abcdef"
SECRETS = {
    "at_api_key": "at-key", "at_username": "hotline",
    "twilio_sid": TW_SID, "twilio_token": "tw-token",
    "vonage_key": "vg-key", "vonage_secret": "vg-secret",
    "esms_api_key": "es-key", "esms_secret_key": "es-secret",
    "vcom_client_id": "demo", "vcom_secure_key": "demo_secure_key",
    "json_secret": "js-secret",
}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSONCT = {"Content-Type": "application/json"}


class Answer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


class FakeAggregatorTest(unittest.TestCase):
    def setUp(self):
        self.fa = FakeAggregator(secrets=SECRETS)
        self.fa.start()
        self.addCleanup(self.fa.stop)

    # Client helpers ---------------------------------------------------

    def post(self, path, body, headers, timeout=5):
        req = urllib.request.Request(self.fa.url + path, data=body,
                                     method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return Answer(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return Answer(e.code, e.headers, e.read())

    def at(self, key="at-key", username="hotline", to=PHONE):
        body = urllib.parse.urlencode({"username": username, "to": to,
                                       "message": TEXT,
                                       "from": "1567"}).encode()
        return self.post("/version1/messaging", body,
                         dict(FORM, apiKey=key, Accept="application/json"))

    def twilio(self, token="tw-token", sid=TW_SID):
        auth = base64.b64encode(("%s:%s" % (sid, token)).encode()).decode()
        body = urllib.parse.urlencode({"To": PHONE, "From": "+15005550006",
                                       "Body": TEXT}).encode()
        return self.post("/2010-04-01/Accounts/%s/Messages.json" % sid, body,
                         dict(FORM, Authorization="Basic " + auth))

    def vonage(self, secret="vg-secret"):
        body = urllib.parse.urlencode({
            "api_key": "vg-key", "api_secret": secret, "from": "Hotline",
            "to": PHONE.lstrip("+"), "text": TEXT, "type": "unicode",
            "client-ref": "out-7", "status-report-req": "1"}).encode()
        return self.post("/sms/json", body, FORM)

    def esms(self, request_id="req-1", secret="es-secret"):
        body = json.dumps({"ApiKey": "es-key", "SecretKey": secret,
                           "Phone": "0912345678", "Content": TEXT,
                           "Brandname": "HOTLINE", "SmsType": "2",
                           "IsUnicode": "1", "RequestId": request_id,
                           "CallbackUrl": "http://127.0.0.1/x"}).encode()
        return self.post(
            "/MainService.svc/json/SendMultipleMessage_V4_post_json/", body,
            JSONCT)

    def vcom(self, request_id="1297875832", mt_code="reply-1",
             key="demo_secure_key", t=None):
        t = int(time.time()) if t is None else t
        body = json.dumps({
            "client_id": "demo", "request_id": request_id,
            "service_id": "7068", "command_code": "HOTLINE",
            "mt_code": mt_code, "message": TEXT, "is_charged": 0, "time": t,
            "checksum": vcom_checksum("demo", request_id, mt_code, key, t),
        }).encode()
        return self.post("/api/v2/send-mt", body, JSONCT)

    def json_send(self, mid="m-1", secret="js-secret", t=None, tamper=False):
        body = json.dumps({"id": mid, "to": PHONE, "from": "1567",
                           "text": TEXT}).encode()
        sig = json_signature(secret, body, t)
        if tamper:
            body = body.replace(b"m-", b"n-")
        return self.post("/json/send", body,
                         dict(JSONCT, **{"X-Hotline-Signature": sig}))

    def assert_json(self, r):
        self.assertEqual(r.headers["Content-Type"], "application/json")
        self.assertEqual(int(r.headers["Content-Length"]), len(r.body))
        return r.json()

    # Africa's Talking -------------------------------------------------

    def test_africastalking_ok_rejection_and_auth(self):
        r = self.at()
        self.assertEqual(r.status, 201)
        rec = self.assert_json(r)["SMSMessageData"]["Recipients"][0]
        self.assertEqual((rec["statusCode"], rec["status"], rec["number"]),
                         (101, "Success", PHONE))
        self.assertRegex(rec["messageId"], r"^ATXid_[0-9a-f]{32}$")

        self.fa.script("africastalking", "4xx")
        r = self.at()
        self.assertEqual(r.status, 201)
        rec = self.assert_json(r)["SMSMessageData"]["Recipients"][0]
        self.assertEqual(rec, {"statusCode": 403, "status":
                               "InvalidPhoneNumber", "number": PHONE,
                               "cost": "0", "messageId": "None"})

        for r in (self.at(key="wrong"), self.at(username="other")):
            self.assertEqual(r.status, 401)
            self.assertTrue(r.headers["Content-Type"].startswith(
                "text/plain"))
            self.assertEqual(r.body, b"The supplied authentication is invalid")

        # Not idempotent: the same message twice is two deliveries.
        self.at()
        reqs = self.fa.requests("africastalking")
        self.assertEqual([q.answer for q in reqs],
                         ["ok", "4xx", "auth", "auth", "ok"])
        self.assertEqual(reqs[0].headers["APIKEY"], "at-key")
        self.assertIn("content-type", reqs[0].headers)
        self.assertEqual(reqs[0].fields, {"username": "hotline", "to": PHONE,
                                          "message": TEXT, "from": "1567"})
        self.assertEqual(reqs[0].raw_body, urllib.parse.urlencode(
            {"username": "hotline", "to": PHONE, "message": TEXT,
             "from": "1567"}).encode())
        self.assertTrue(reqs[0].message_id.startswith("ATXid_"))
        self.assertEqual(reqs[0].status, 201)
        self.assertEqual(self.fa.deliveries(), [
            {"provider": "africastalking", "to": PHONE, "text": TEXT,
             "key": None}] * 2)
        self.assertEqual(self.fa.requests("at"), reqs)   # alias

    # Twilio -----------------------------------------------------------

    def test_twilio_ok_rejection_auth_and_429(self):
        r = self.twilio()
        self.assertEqual(r.status, 201)
        m = self.assert_json(r)
        self.assertRegex(m["sid"], r"^SM[0-9a-f]{32}$")
        self.assertEqual((m["status"], m["num_segments"], m["to"], m["body"]),
                         ("queued", "1", PHONE, TEXT))

        self.fa.script("twilio", "4xx", ("429", 7), ("429", None))
        r = self.twilio()
        self.assertEqual(r.status, 400)
        self.assertEqual(self.assert_json(r), {
            "code": 21610, "message": "Attempt to send to unsubscribed "
            "recipient", "more_info": "https://www.twilio.com/docs/errors/"
            "21610", "status": 400})
        r = self.twilio()
        self.assertEqual(r.status, 429)
        self.assertEqual(r.headers["Retry-After"], "7")
        self.assertEqual(self.assert_json(r)["code"], 20429)
        r = self.twilio()
        self.assertEqual(r.status, 429)
        self.assertIsNone(r.headers["Retry-After"])

        r = self.twilio(token="wrong")
        self.assertEqual(r.status, 401)
        self.assertEqual(self.assert_json(r)["code"], 20003)
        r = self.twilio(sid="AC" + "f" * 32)
        self.assertEqual(r.status, 401)
        self.assertEqual(self.fa.pending_script("twilio"), [])

        self.assertEqual([q.answer for q in self.fa.requests("twilio")],
                         ["ok", "4xx", "429", "429", "auth", "auth"])
        self.assertEqual(self.fa.deliveries("twilio"), [
            {"provider": "twilio", "to": PHONE, "text": TEXT, "key": None}])

    # Vonage -----------------------------------------------------------

    def test_vonage_ok_rejection_and_auth(self):
        r = self.vonage()
        self.assertEqual(r.status, 200)
        body = self.assert_json(r)
        self.assertEqual(body["message-count"], "1")
        msg = body["messages"][0]
        self.assertEqual((msg["status"], msg["to"], msg["client-ref"]),
                         ("0", PHONE.lstrip("+"), "out-7"))
        self.assertRegex(msg["message-id"], r"^[0-9A-F]{16}$")

        self.fa.script("vonage", "4xx")
        msg = self.vonage().json()["messages"][0]
        self.assertEqual((msg["status"], msg["error-text"]),
                         ("6", "Unroutable message - rejected"))
        r = self.vonage(secret="wrong")
        self.assertEqual(r.status, 200)
        msg = r.json()["messages"][0]
        self.assertEqual((msg["status"], msg["error-text"]),
                         ("4", "Bad Credentials"))
        self.assertEqual(self.fa.requests("vonage")[0].fields["type"],
                         "unicode")
        self.assertEqual(len(self.fa.deliveries("vonage")), 1)

    # eSMS.vn ----------------------------------------------------------

    def test_esms_ok_dedup_rejection_and_auth(self):
        r = self.esms()
        self.assertEqual(r.status, 200)
        body = self.assert_json(r)
        self.assertEqual((body["CodeResult"], body["CountRegenerate"]),
                         ("100", 0))
        self.assertEqual(len(body["SMSID"]), 36)

        self.assertEqual(self.esms().json(), {
            "CodeResult": "124", "ErrorMessage": "RequestId da ton tai"})
        self.fa.script("esms", "4xx")
        self.assertEqual(self.esms("req-2").json()["CodeResult"], "99")
        self.assertEqual(self.esms("req-3", secret="x").json()["CodeResult"],
                         "101")
        self.assertEqual(self.esms("req-2").json()["CodeResult"], "100")
        self.assertEqual([q.answer for q in self.fa.requests("esms")],
                         ["ok", "duplicate", "4xx", "auth", "ok"])
        self.assertEqual(self.fa.requests("esms")[0].fields["IsUnicode"], "1")
        self.assertEqual(self.fa.deliveries("esms"), [
            {"provider": "esms", "to": "0912345678", "text": TEXT,
             "key": "req-1"},
            {"provider": "esms", "to": "0912345678", "text": TEXT,
             "key": "req-2"}])

    # V-COM ------------------------------------------------------------

    def test_vcom_checksum_matches_the_reference_vector(self):
        self.assertEqual(vcom_checksum("demo", "1297875832", "reply-1",
                                       "demo_secure_key", 1772353530),
                         "VVNI9vviZ0x0CesyppOFnUjJn+yhCy60FeE76egV7u8=")

    def test_vcom_ok_dedup_checksum_and_rejection(self):
        ok = {"data": {"code": 200, "status": "success", "message": ""}}
        r = self.vcom()
        self.assertEqual(r.status, 200)
        self.assertEqual(self.assert_json(r), ok)
        self.assertEqual(self.vcom().json(), {"data": {
            "code": 104, "status": "error", "message": "request exists"}})
        self.assertEqual(self.vcom(mt_code="reply-2").json(), ok)
        self.assertEqual(self.vcom(mt_code="reply-3", key="bad").json(),
                         {"data": {"code": 106, "status": "error",
                                   "message": "checksum invalid"}})
        self.fa.script("vcom", "4xx")
        self.assertEqual(self.vcom(mt_code="reply-4").json()["data"]["code"],
                         106)
        self.assertEqual([q.answer for q in self.fa.requests("vcom")],
                         ["ok", "duplicate", "ok", "auth", "4xx"])
        self.assertEqual([d["key"] for d in self.fa.deliveries("vcom")],
                         [("1297875832", "reply-1"),
                          ("1297875832", "reply-2")])
        self.assertIsInstance(self.fa.requests("vcom")[0].fields["time"], int)

    # json -------------------------------------------------------------

    def test_json_ok_dedup_signature_and_rejection(self):
        r = self.json_send()
        self.assertEqual(r.status, 200)
        self.assertEqual(self.assert_json(r), {"id": "js-m-1"})
        r = self.json_send()
        self.assertEqual((r.status, r.json()), (200, {"id": "js-m-1"}))
        for r in (self.json_send("m-2", secret="wrong"),
                  self.json_send("m-3", t=time.time() - 301),
                  self.json_send("m-4", tamper=True)):
            self.assertEqual(r.status, 401)
            self.assertEqual(self.assert_json(r)["error"]["code"],
                             "bad_signature")
        self.fa.script("json", "4xx")
        r = self.json_send("m-5")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json(), {"error": {
            "code": "invalid_recipient", "message": "recipient refused"}})
        self.assertEqual(self.json_send("m-6", t=time.time() - 290).status,
                         200)
        self.assertEqual([q.answer for q in self.fa.requests("json")],
                         ["ok", "duplicate", "auth", "auth", "auth", "4xx",
                          "ok"])
        self.assertEqual(self.fa.deliveries("json"), [
            {"provider": "json", "to": PHONE, "text": TEXT, "key": "m-1"},
            {"provider": "json", "to": PHONE, "text": TEXT, "key": "m-6"}])
        self.assertEqual(self.fa.send_url("json"), self.fa.url + "/json/send")

    # Routing and failures ---------------------------------------------

    def test_unknown_path_and_method(self):
        r = self.post("/nowhere", b"x=1", FORM)
        self.assertEqual(r.status, 404)
        self.assertEqual(self.fa.requests()[0].provider, None)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(self.fa.url + "/sms/json", timeout=5)
        self.assertEqual(cm.exception.code, 405)
        self.assertEqual([q.answer for q in self.fa.requests()],
                         ["not_found", "method_not_allowed"])

    def test_server_errors_and_garbled(self):
        senders = {"africastalking": self.at, "twilio": self.twilio,
                   "vonage": self.vonage, "esms": self.esms,
                   "vcom": self.vcom, "json": self.json_send}
        for provider, send in senders.items():
            self.fa.script(provider, "5xx", "garbled")
            r = send()
            self.assertEqual(r.status, 500, provider)
            self.assertTrue(r.body, provider)
            r = send()
            self.assertEqual((r.status, r.body), (200, b"<html>oops"),
                             provider)
            self.assertEqual(r.headers["Content-Type"], "text/html")
            # The queue is empty again: answered normally.
            self.assertIn(send().status, (200, 201), provider)
            self.assertEqual([q.answer for q in self.fa.requests(provider)],
                             ["5xx", "garbled", "ok"])
        self.assertEqual(len(self.fa.deliveries()), 6)

    def test_close_drops_the_connection_after_reading_the_request(self):
        self.fa.script("twilio", "close")
        with self.assertRaises((OSError, http.client.HTTPException)):
            self.twilio()
        req, = self.fa.requests("twilio")
        self.assertEqual((req.answer, req.status), ("close", None))
        self.assertEqual(req.fields["Body"], TEXT)
        self.assertEqual(self.fa.deliveries(), [])

    def test_hang_times_the_client_out_and_stop_is_prompt(self):
        self.fa.script("esms", "hang")
        t0 = time.monotonic()
        with self.assertRaises((socket.timeout, urllib.error.URLError)):
            self.post(
                "/MainService.svc/json/SendMultipleMessage_V4_post_json/",
                b"{}", JSONCT, timeout=0.5)
        self.assertLess(time.monotonic() - t0, 3)
        self.assertEqual(self.fa.requests("esms")[0].answer, "hang")
        # A second client hangs too, on a connection nobody gave up on.
        self.fa.script("vcom", "hang")
        conn = http.client.HTTPConnection("127.0.0.1", self.fa.port,
                                          timeout=10)
        self.addCleanup(conn.close)
        conn.request("POST", "/api/v2/send-mt", b"{}", JSONCT)
        self.fa.wait_for(1, "vcom", timeout=5)
        t0 = time.monotonic()
        self.fa.stop()
        self.assertLess(time.monotonic() - t0, 2)
        with self.assertRaises((OSError, http.client.HTTPException)):
            conn.getresponse()

    def test_keep_alive_and_chunked_and_expect_continue(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.fa.port,
                                          timeout=5)
        self.addCleanup(conn.close)
        body = json.dumps({"id": "k-1", "to": PHONE, "from": "1567",
                           "text": TEXT}).encode()
        hdrs = dict(JSONCT, **{"X-Hotline-Signature":
                               json_signature("js-secret", body)})
        conn.request("POST", "/json/send", body, hdrs)
        r = conn.getresponse()
        self.assertEqual((r.status, json.loads(r.read())),
                         (200, {"id": "js-k-1"}))
        sock = conn.sock
        conn.request("POST", "/json/send", iter([body[:10], body[10:]]),
                     hdrs, encode_chunked=True)
        r = conn.getresponse()
        self.assertEqual((r.status, r.read()), (200, b'{"id": "js-k-1"}'))
        self.assertIs(conn.sock, sock, "the connection was not kept alive")
        self.assertEqual(self.fa.requests("json")[1].raw_body, body)
        self.assertEqual(self.fa.requests("json")[1].answer, "duplicate")

        # libcurl's Expect: 100-continue.
        s = socket.create_connection(("127.0.0.1", self.fa.port), timeout=5)
        self.addCleanup(s.close)
        form = urllib.parse.urlencode({"username": "hotline", "to": PHONE,
                                       "message": TEXT}).encode()
        s.sendall(b"POST /version1/messaging HTTP/1.1\r\nHost: x\r\n"
                  b"apikey: at-key\r\nContent-Type: application/"
                  b"x-www-form-urlencoded\r\nExpect: 100-continue\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(form))
        self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 100 Continue"))
        s.sendall(form)
        f = s.makefile("rb")
        self.assertTrue(f.readline().startswith(b"HTTP/1.1 201"))
        f.close()
        self.fa.wait_for(1, "africastalking")

    def test_wait_for_and_script_validation(self):
        threading.Timer(0.2, self.at).start()
        self.assertEqual(len(self.fa.wait_for(1, "at", timeout=5)), 1)
        with self.assertRaises(AssertionError):
            self.fa.wait_for(2, "africastalking", timeout=0.2)
        with self.assertRaises(ValueError):
            self.fa.script("twilio", "teapot")
        with self.assertRaises(ValueError):
            self.fa.script("mystery", "ok")


if __name__ == "__main__":
    unittest.main()
