"""Inbound SMS from Vonage, V-COM and eSMS.vn, signed here exactly as
each aggregator signs, against the real daemon."""

import base64
import hashlib
import json
import time
import urllib.parse

from base import DaemonTestCase

PHONE = "+84912345678"
TEXT = "Tôi cần giúp đỡ 🙏"
VC_KEY = "vcom-secure-key-for-tests"
ES_KEY = "esms-private-key-for-tests"
VN_SIG = "vonage-signature-secret"


class VietnameseAndVonage(DaemonTestCase):
    start_daemon = False

    def setUp(self):
        super().setUp()
        self.daemon.env.update({"HL_VC_KEY": VC_KEY, "HL_ES_KEY": ES_KEY,
                                "HL_VN_SIG": VN_SIG, "HL_ANY": "unused",
                                "HL_ES_TOKEN": "esms-callback-token"})
        self.daemon.config["channels"] += [
            {"name": "vn", "provider": "vonage", "api_key": "k",
             "api_secret": {"env": "HL_ANY"}},
            {"name": "vns", "provider": "vonage", "api_key": "k",
             "api_secret": {"env": "HL_ANY"},
             "signature_secret": {"env": "HL_VN_SIG"},
             "signature_method": "md5hash"},
            {"name": "vc", "provider": "vcom", "client_id": "hotline",
             "secure_key": {"env": "HL_VC_KEY"}, "service_id": "7068"},
            {"name": "es", "provider": "esms", "api_key": {"env": "HL_ANY"},
             "secret_key": {"env": "HL_ANY"}, "cpid": "CP0001",
             "private_key": {"env": "HL_ES_KEY"},
             "callback_token": {"env": "HL_ES_TOKEN"}},
        ]
        self.daemon.start()

    def inbound(self, channel):
        return self.daemon.rows("SELECT * FROM inbound WHERE channel = ? "
                                "ORDER BY id", channel)

    # Vonage -----------------------------------------------------------

    def vonage_params(self, msg_id, text=TEXT, **extra):
        p = {"msisdn": PHONE[1:], "to": "15005550006", "messageId": msg_id,
             "text": text, "type": "unicode", "keyword": "TOI",
             "message-timestamp": "2026-11-29 03:00:00"}
        p.update(extra)
        return p

    def test_vonage_get_form_and_json_all_store_the_same_message(self):
        p = self.vonage_params("0A0000001")
        r = self.daemon.request("GET", "/v1/sms/vn?" +
                                urllib.parse.urlencode(p))
        self.assertEqual(r.status, 200, r.body)
        r = self.daemon.request("POST", "/v1/sms/vn",
                                urllib.parse.urlencode(p).encode(),
                                {"Content-Type":
                                 "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, r.body)
        r = self.daemon.request("POST", "/v1/sms/vn", json.dumps(p).encode(),
                                {"Content-Type": "application/json"})
        self.assertEqual(r.status, 200, r.body)
        rows = self.inbound("vn")
        self.assertEqual(len(rows), 1)
        self.assertEqual((rows[0]["body"], rows[0]["msisdn"]), (TEXT, PHONE))

    def test_vonage_parts_are_joined_before_the_menu_sees_them(self):
        parts = ["Tôi cần ", "giúp đỡ ", "ngay 🙏"]
        for n in (3, 1, 2):
            p = self.vonage_params("0B00000%d" % n, parts[n - 1],
                                   **{"concat": "true", "concat-ref": "77",
                                      "concat-total": "3",
                                      "concat-part": str(n)})
            r = self.daemon.request("GET", "/v1/sms/vn?" +
                                    urllib.parse.urlencode(p))
            self.assertEqual(r.status, 200, r.body)
        joined = [r for r in self.inbound("vn")
                  if r["provider_msg_id"].startswith("joined:")]
        self.assertEqual(len(joined), 1)
        self.assertEqual(joined[0]["body"], "".join(parts))

    def vonage_signed(self, params, secret=VN_SIG):
        params = dict(params, timestamp=str(int(time.time())))
        s = "".join("&%s=%s" % (k, v.replace("&", "_").replace("=", "_"))
                    for k, v in sorted(params.items()))
        params["sig"] = hashlib.md5((s + secret).encode()).hexdigest()
        return params

    def test_vonage_signature_is_checked_when_configured(self):
        good = self.vonage_signed(self.vonage_params("0C0000001"))
        r = self.daemon.request("GET", "/v1/sms/vns?" +
                                urllib.parse.urlencode(good))
        self.assertEqual(r.status, 200, r.body)
        bad = self.vonage_signed(self.vonage_params("0C0000002"), "nope")
        r = self.daemon.request("GET", "/v1/sms/vns?" +
                                urllib.parse.urlencode(bad))
        self.assertEqual(r.status, 403)
        unsigned = self.vonage_params("0C0000003")
        r = self.daemon.request("GET", "/v1/sms/vns?" +
                                urllib.parse.urlencode(unsigned))
        self.assertEqual(r.status, 403)
        self.assertEqual(len(self.inbound("vns")), 1)

    def test_vonage_delivery_receipt_is_recorded(self):
        q = urllib.parse.urlencode({
            "msisdn": PHONE[1:], "to": "HOTLINE", "network-code": "45204",
            "messageId": "0D0000001", "price": "0.03", "status": "failed",
            "scts": "2611290300", "err-code": "6",
            "message-timestamp": "2026-11-29 03:00:00"})
        r = self.daemon.request("GET", "/v1/dlr/vn?" + q)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.daemon.rows(
            "SELECT provider_ref, status, reason FROM delivery_reports"),
            [{"provider_ref": "0D0000001", "status": "failed",
              "reason": "6"}])

    # V-COM ------------------------------------------------------------

    def vcom(self, request_id, key=VC_KEY, client="hotline"):
        t = str(int(time.time()))
        phone = PHONE[1:]
        checksum = base64.b64encode(hashlib.sha256(
            (client + request_id + phone + key + t).encode()).digest())
        body = {"type": "new", "client_id": client,
                "request_id": request_id, "service_id": "7068",
                "command_code": "HOTLINE", "message": TEXT, "telco": "VT",
                "phone": phone, "time": t, "checksum": checksum.decode()}
        return self.daemon.request("POST", "/v1/sms/vc",
                                   json.dumps(body).encode(),
                                   {"Content-Type": "application/json"})

    def test_vcom_message_stored_once_with_its_acknowledgement(self):
        for _ in range(2):
            r = self.vcom("1297875832")
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.json()["data"]["code"], 200)
        rows = self.inbound("vc")
        self.assertEqual(len(rows), 1)
        self.assertEqual((rows[0]["body"], rows[0]["msisdn"]), (TEXT, PHONE))

    def test_vcom_wrong_checksum_or_client_is_403(self):
        self.assertEqual(self.vcom("1", key="wrong").status, 403)
        self.assertEqual(self.vcom("2", client="someone").status, 403)
        self.assertEqual(self.inbound("vc"), [])

    # eSMS -------------------------------------------------------------

    def esms(self, smsid, key=ES_KEY, content=TEXT):
        t = "20261129100000"
        sign = base64.b64encode(hashlib.md5(
            ("CP0001" + smsid + content + t + key).encode()).digest())
        q = urllib.parse.urlencode({
            "sender": PHONE[1:], "content": content, "serviceNumber": "8077",
            "keyword": "HOTLINE", "sign": sign.decode(), "cpid": "CP0001",
            "smsid": smsid, "receiverTime": t})
        return self.daemon.request("GET", "/v1/sms/es?" + q)

    def test_esms_message_stored_once_with_xml_acknowledgement(self):
        for _ in range(2):
            r = self.esms("9876543210")
            self.assertEqual(r.status, 200, r.body)
            self.assertIn(b"<ClientResponse>", r.body)
        rows = self.inbound("es")
        self.assertEqual(len(rows), 1)
        self.assertEqual((rows[0]["body"], rows[0]["msisdn"]), (TEXT, PHONE))

    def test_esms_delivery_callback_needs_the_token(self):
        q = {"SMSID": "d533", "SendFailed": "0", "SendStatus": "5",
             "SendSuccess": "1", "TotalPrice": "800.0000",
             "TotalReceiver": "1", "TotalSent": "1", "RequestId": "req-1",
             "TypeId": "2", "telcoid": "1", "phonenumber": "0912345678"}
        r = self.daemon.request("GET", "/v1/dlr/es?" +
                                urllib.parse.urlencode(q))
        self.assertEqual(r.status, 403)
        q["token"] = "esms-callback-token"
        r = self.daemon.request("GET", "/v1/dlr/es?" +
                                urllib.parse.urlencode(q))
        self.assertEqual(r.status, 200, r.body)
        q.update(SMSID="d534", SendStatus="4")
        self.daemon.request("GET", "/v1/dlr/es?" + urllib.parse.urlencode(q))
        self.assertEqual(self.daemon.rows(
            "SELECT provider_ref, status FROM delivery_reports ORDER BY id"),
            [{"provider_ref": "d533", "status": "delivered"},
             {"provider_ref": "d534", "status": "failed"}])

    def test_esms_wrong_sign_is_403(self):
        self.assertEqual(self.esms("1", key="wrong").status, 403)
        self.assertEqual(self.inbound("es"), [])
