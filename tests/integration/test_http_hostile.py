"""Hostile input and overload at the HTTP server: slow and numerous
connections, smuggling through ambiguous lengths, clients that go away,
weak secrets, repeated authentication failures, and the client address
behind a reverse proxy.

Sources are told apart by binding the client socket to 127.0.0.1 or
127.0.0.2 (both loopback) before connecting to the daemon on 127.0.0.1.
"""

import os
import re
import resource
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.parse

from base import DaemonTestCase
from harness import AT_TOKEN, HOTLINED

PHONE = "+84912345678"
ATTACKER = "127.0.0.1"
OTHER = "127.0.0.2"


def connect(port, source="127.0.0.1", timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_response(s, timeout=5):
    """Read one response (headers and a Content-Length body); returns
    (status, headers dict lower-cased, body) or None on EOF/timeout."""
    s.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return None
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(rest) < n:
            chunk = s.recv(4096)
            if not chunk:
                break
            rest += chunk
        return status, headers, rest[:n]
    except (socket.timeout, ConnectionError):
        return None


def closed_by_peer(s, timeout=5):
    """True when the daemon closes the connection within timeout."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(4096):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def raw_request(method, path, headers, body=b""):
    head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % (method, path)
    for k, v in headers:
        head += "%s: %s\r\n" % (k, v)
    return head.encode() + b"\r\n" + body


def ussd_body(session, text=""):
    return urllib.parse.urlencode({
        "sessionId": session, "serviceCode": "*1567#",
        "phoneNumber": PHONE, "networkCode": "45204",
        "text": text}).encode()


def sms_body(msg_id):
    return urllib.parse.urlencode({
        "from": PHONE, "to": "1567", "text": "help", "id": msg_id,
        "date": "2026-11-29 03:00:00", "linkId": "",
        "networkCode": "45204"}).encode()


def http(port, method, path, body=b"", headers=(), source="127.0.0.1",
         timeout=5):
    """One request on its own connection from `source`."""
    s = connect(port, source, timeout)
    try:
        hdrs = list(headers)
        if body or method == "POST":
            hdrs.append(("Content-Length", str(len(body))))
        s.sendall(raw_request(method, path, hdrs, body))
        return read_response(s, timeout)
    finally:
        s.close()


FORM = ("Content-Type", "application/x-www-form-urlencoded")


def file_limit(n):
    def set_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return set_limit


class Trickler:
    """Connections that send a request line and then one header byte at
    a time, never finishing: the slow-connection attack."""

    def __init__(self, port, source, count, interval=0.3):
        self.socks = []
        self.closed = 0
        self.opened = 0
        self.interval = interval
        self.stop_ev = threading.Event()
        for _ in range(count):
            try:
                s = connect(port, source, timeout=2)
                s.setblocking(False)
                s.send(b"POST /v1/ussd/console HTTP/1.1\r\nX-Slow: ")
                self.socks.append(s)
                self.opened += 1
            except OSError:
                break
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop_ev.wait(self.interval):
            for s in list(self.socks):
                try:
                    s.send(b"a")
                    # A close from the daemon shows as EOF on read.
                    if s.recv(1, socket.MSG_PEEK) == b"":
                        raise ConnectionResetError
                except BlockingIOError:
                    pass
                except OSError:
                    self.socks.remove(s)
                    s.close()
                    self.closed += 1

    def stop(self):
        self.stop_ev.set()
        self.thread.join()
        for s in self.socks:
            s.close()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ConnectionExhaustion(DaemonTestCase):
    start_daemon = False

    def start(self, nofile, http_cfg):
        self.daemon.config["http"] = http_cfg
        self.daemon.preexec_fn = file_limit(nofile)
        self.daemon.start()

    def log_lines(self):
        return self.daemon.log_text().count("\n")

    def test_slow_connections_from_one_address_leave_room_for_others(self):
        # Under a low file limit (the old daemon ran out of descriptors
        # at ~50 connections and /healthz went unanswered), a per-peer
        # cap keeps the attacker to a share.
        self.start(96, {"max_connections": 40,
                        "max_connections_per_peer": 10,
                        "request_deadline_seconds": 3})
        port = self.daemon.port
        attack = Trickler(port, ATTACKER, 100)
        self.addCleanup(attack.stop)
        time.sleep(1.0)
        held = list(attack.socks)   # those the daemon did not refuse

        r = http(port, "GET", "/healthz", source=OTHER, timeout=3)
        self.assertIsNotNone(r, "/healthz went unanswered under attack")
        self.assertEqual(r[0], 200)
        r = http(port, "POST", "/v1/ussd/console", ussd_body("s-other"),
                 [FORM], source=OTHER, timeout=3)
        self.assertIsNotNone(r, "a USSD hop went unanswered under attack")
        self.assertEqual(r[0], 200)
        self.assertTrue(r[2].startswith(b"CON "))

        # The trickle does not extend the deadline: every slow
        # connection the daemon took is closed within it (3 s) though
        # each keeps sending.
        time.sleep(4.5)
        self.assertLessEqual(len(held), 10)
        self.assertEqual([s for s in held if s in attack.socks], [],
                         "a trickling connection outlived the deadline")
        attack.stop()
        log = self.daemon.log_text()
        self.assertIn("event=http.connection_refused", log)
        self.assertIn("reason=max_connections_per_peer", log)
        self.assertIn("event=http.request_deadline", log)
        self.assertLess(self.log_lines(), 200, "the attack flooded the log")

    def test_out_of_descriptors_pauses_accepting_without_spinning(self):
        # Connection limits above what the file limit allows: accept()
        # fails with EMFILE.  The daemon must not spin on it nor log
        # each failure, and must serve again once descriptors free up.
        self.start(48, {"max_connections": 500,
                        "max_connections_per_peer": 500,
                        "request_deadline_seconds": 3})
        port = self.daemon.port
        pid = self.daemon.proc.pid
        attack = Trickler(port, ATTACKER, 80)
        self.addCleanup(attack.stop)
        time.sleep(0.5)
        before = cpu_seconds(pid)
        time.sleep(2.0)
        busy = cpu_seconds(pid) - before
        self.assertLess(busy, 0.5, "the daemon spun on accept()")
        self.assertLess(self.log_lines(), 100, "accept() failures flooded "
                        "the log")
        log = self.daemon.log_text()
        self.assertIn("event=http.accept_failed", log)
        self.assertLessEqual(log.count("event=http.accept_failed"), 3)
        attack.stop()
        # Deadlines and the pause over, the daemon answers again.
        deadline = time.monotonic() + 10
        r = None
        while time.monotonic() < deadline and r is None:
            r = http(port, "GET", "/healthz", source=OTHER, timeout=2)
        self.assertIsNotNone(r)
        self.assertEqual(r[0], 200)
        self.assertLess(self.log_lines(), 200, "the attack flooded the log")
        # The operator was told at start.
        self.assertIn("event=daemon.file_limit_low",
                      self.daemon.log_text())


class Smuggling(DaemonTestCase):
    """A request whose length is ambiguous is refused with 400 and its
    connection closed; nothing in it (or after it) is stored."""

    def send_raw(self, data):
        s = connect(self.daemon.port)
        self.addCleanup(s.close)
        s.sendall(data)
        r = read_response(s)
        self.assertIsNotNone(r, "no response")
        self.assertTrue(closed_by_peer(s), "the connection stayed open")
        return r

    def assert_nothing_stored(self):
        self.assertEqual(self.daemon.rows("SELECT * FROM inbound"), [])

    def test_duplicate_content_length_smuggles_nothing(self):
        outer = sms_body("outer")
        smuggled_body = sms_body("smuggled")
        smuggled = raw_request("POST", "/v1/sms/console", [
            FORM, ("Content-Length", str(len(smuggled_body)))],
            smuggled_body)
        data = raw_request("POST", "/v1/sms/console", [
            FORM, ("Content-Length", str(len(outer))),
            ("Content-Length", str(len(outer) + len(smuggled)))],
            outer + smuggled)
        status, _, body = self.send_raw(data)
        self.assertEqual(status, 400)
        self.assertIn(b'"ambiguous_length"', body)
        time.sleep(0.3)
        self.assert_nothing_stored()
        # The same message with one Content-Length is taken.
        s = connect(self.daemon.port)
        self.addCleanup(s.close)
        s.sendall(raw_request("POST", "/v1/sms/console",
                              [FORM, ("Content-Length", str(len(outer)))],
                              outer))
        self.assertEqual(read_response(s)[0], 200)
        self.assertEqual(len(self.daemon.rows("SELECT * FROM inbound")), 1)

    def smuggle_behind(self, method, headers, outer):
        """A request whose body, as evhttp frames it, is empty: what
        follows is an SMS evhttp would read as the next request."""
        smuggled_body = sms_body("smuggled")
        smuggled = raw_request("POST", "/v1/sms/console", [
            FORM, ("Content-Length", str(len(smuggled_body)))],
            smuggled_body)
        return raw_request(method, "/healthz" if method == "HEAD" else
                           "/v1/sms/console", headers, outer + smuggled)

    def test_a_body_on_head_smuggles_nothing(self):
        data = self.smuggle_behind("HEAD", [("Content-Length", "5")],
                                   b"hello")
        status, _, _ = self.send_raw(data)
        self.assertEqual(status, 400)
        time.sleep(0.3)
        self.assert_nothing_stored()

    def test_space_before_the_colon_smuggles_nothing(self):
        outer = sms_body("outer")
        for name in ("Content-Length ", "Content-Length\t",
                     "Transfer-Encoding "):
            value = str(len(outer)) if name.startswith("Content") else \
                "chunked"
            status, _, body = self.send_raw(self.smuggle_behind(
                "POST", [FORM, (name, value)], outer))
            self.assertEqual(status, 400, name)
            self.assertIn(b"header name", body)
        time.sleep(0.3)
        self.assert_nothing_stored()

    def test_signed_or_odd_content_length_is_400(self):
        body = sms_body("signed")
        for value in ("+%d" % len(body), "-1", "%d, %d" % (len(body),
                                                          len(body)),
                      "0x10"):
            status, _, _ = self.send_raw(raw_request(
                "POST", "/v1/sms/console",
                [FORM, ("Content-Length", value)], body))
            self.assertEqual(status, 400, value)
        self.assert_nothing_stored()

    def test_content_length_with_transfer_encoding_is_400(self):
        body = sms_body("te")
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        status, _, _ = self.send_raw(raw_request(
            "POST", "/v1/sms/console",
            [FORM, ("Content-Length", "4"),
             ("Transfer-Encoding", "chunked")], chunked))
        self.assertEqual(status, 400)
        status, _, _ = self.send_raw(raw_request(
            "POST", "/v1/sms/console",
            [FORM, ("Transfer-Encoding", "gzip, chunked")], chunked))
        self.assertEqual(status, 400)
        self.assert_nothing_stored()


class ClientsThatGoAway(DaemonTestCase):

    def test_shutdown_does_not_wait_for_clients_that_reset(self):
        # The daemon is stopped while clients send a request and reset
        # the connection, so that every reply fails to be written.
        port = self.daemon.port
        socks = [connect(port) for _ in range(20)]
        time.sleep(0.3)     # accepted
        self.daemon.send_signal(signal.SIGSTOP)
        try:
            for i, s in enumerate(socks):
                s.sendall(raw_request(
                    "POST", "/v1/sms/console",
                    [FORM, ("Content-Length",
                            str(len(sms_body("gone-%d" % i))))],
                    sms_body("gone-%d" % i)))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
                s.close()
        finally:
            self.daemon.send_signal(signal.SIGCONT)
        # Every message was stored (acknowledged or not).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if len(self.daemon.rows("SELECT * FROM inbound")) == 20:
                break
            time.sleep(0.1)
        self.assertEqual(len(self.daemon.rows("SELECT * FROM inbound")), 20)
        time.sleep(0.3)
        t0 = time.monotonic()
        self.assertEqual(self.daemon.stop(), 0)
        took = time.monotonic() - t0
        self.assertNotIn("drain_timeout", self.daemon.log_text())
        self.assertLess(took, 5, "shutdown waited for clients gone away")


class Development(DaemonTestCase):
    start_daemon = False

    def check(self, config):
        self.daemon.config = config
        self.daemon.write_config()
        return subprocess.run([HOTLINED, "--check-config", "-c",
                               self.daemon.config_path],
                              capture_output=True, text=True,
                              env=self.daemon.env, timeout=30)

    def test_console_channel_needs_development_true(self):
        cfg = dict(self.daemon.config)
        del cfg["development"]
        r = self.check(cfg)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("channels[0].provider", r.stderr)
        self.assertIn('"development": true', r.stderr)
        cfg["development"] = "yes"
        r = self.check(cfg)
        self.assertIn("development: must be true or false", r.stderr)
        # Without a console channel, nothing asks for it.
        cfg = dict(self.daemon.config)
        del cfg["development"]
        cfg["channels"] = [c for c in cfg["channels"]
                           if c["provider"] != "console"]
        self.assertEqual(self.check(cfg).returncode, 0)

    def test_development_is_announced_at_start(self):
        self.daemon.start()
        self.assertIn("event=daemon.development", self.daemon.log_text())

    def test_console_refuses_every_proxy_header(self):
        self.daemon.start()
        for header, value in (("Via", "1.1 nginx"),
                              ("X-Forwarded-Host", "hotline.example.org"),
                              ("X-Forwarded-Proto", "https"),
                              ("X-Client-IP", "198.51.100.7"),
                              ("True-Client-IP", "198.51.100.7"),
                              ("CF-Connecting-IP", "198.51.100.7"),
                              ("x-real-ip", "198.51.100.7")):
            r = http(self.daemon.port, "POST", "/v1/ussd/console",
                     ussd_body("s-proxy"), [FORM, (header, value)])
            self.assertEqual(r[0], 403, header)
        self.assertEqual(self.daemon.rows("SELECT * FROM sessions"), [])
        r = http(self.daemon.port, "POST", "/v1/ussd/console",
                 ussd_body("s-local"), [FORM])
        self.assertEqual(r[0], 200)


class WeakSecrets(DaemonTestCase):
    start_daemon = False

    def check(self, env):
        self.daemon.env.update(env)
        self.daemon.write_config()
        return subprocess.run([HOTLINED, "--check-config", "-c",
                               self.daemon.config_path],
                              capture_output=True, text=True,
                              env=self.daemon.env, timeout=30)

    def test_short_or_blank_secrets_of_ours_are_refused(self):
        for value in ("x", "fifteen-bytes!!", " " * 20, "\t \t" * 8):
            r = self.check({"HL_TEST_AT_TOKEN": value})
            self.assertNotEqual(r.returncode, 0, repr(value))
            self.assertIn("channels[1].callback_token", r.stderr)
            if len(value.strip()) > 3:
                self.assertNotIn(value, r.stderr)
        self.assertEqual(self.check({"HL_TEST_AT_TOKEN":
                                     "sixteen-bytes-ok"}).returncode, 0)

    def test_short_alert_secret_is_refused(self):
        self.daemon.config["alerts"] = {
            "url": "http://127.0.0.1:9/alert",
            "secret": {"env": "HL_ALERT"}}
        r = self.check({"HL_ALERT": "short"})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("alerts.secret", r.stderr)
        self.assertEqual(self.check({"HL_ALERT": "a" * 32}).returncode, 0)

    def test_blank_provider_key_is_refused(self):
        r = self.check({"HL_TEST_AT_KEY": "   "})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("channels[1].api_key", r.stderr)


class AuthFailures(DaemonTestCase):

    def test_repeated_failures_are_summarised(self):
        port = self.daemon.port
        for i in range(6):
            r = http(port, "POST", "/v1/ussd/at?token=wrong-token-%d" % i,
                     ussd_body("s-bad"), [FORM])
            self.assertEqual(r[0], 403)
        r = http(port, "POST", "/v1/ussd/at?token=wrong",
                 ussd_body("s-bad"), [FORM], source=OTHER)
        self.assertEqual(r[0], 403)
        log = self.daemon.log_text()
        refused = [line for line in log.splitlines()
                   if "event=ussd.refused" in line]
        # The first from each source, not every one.
        self.assertEqual(len(refused), 2, "\n".join(refused))
        self.assertEqual(self.daemon.stop(), 0)
        log = self.daemon.log_text()
        m = re.search(r"event=webhook\.auth_failures channel=at "
                      r"source=127\.0\.0\.1 count=(\d+)", log)
        self.assertIsNotNone(m, "no summary of the failures")
        self.assertEqual(m.group(1), "5")
        self.assertNotIn("wrong-token", log)


class TrustedProxies(DaemonTestCase):
    start_daemon = False

    def setUp(self):
        super().setUp()
        at = self.daemon.config["channels"][1]
        at["allow_ips"] = ["203.0.113.7"]
        self.daemon.config["http"] = {"trusted_proxies": ["127.0.0.1"]}
        self.daemon.start()

    def hop(self, source, xff, session):
        headers = [FORM]
        if xff is not None:
            headers.append(("X-Forwarded-For", xff))
        return http(self.daemon.port, "POST",
                    "/v1/ussd/at?token=" + AT_TOKEN, ussd_body(session),
                    headers, source=source)[0]

    def test_allow_ips_sees_the_client_behind_a_trusted_proxy(self):
        # Through the proxy at 127.0.0.1: the client is the address the
        # proxy appended.
        self.assertEqual(self.hop(ATTACKER, "203.0.113.7", "s1"), 200)
        self.assertEqual(self.hop(ATTACKER, "198.51.100.9", "s2"), 403)
        # A client cannot put the allowed address in front of its own.
        self.assertEqual(self.hop(ATTACKER, "203.0.113.7, 198.51.100.9",
                                  "s3"), 403)
        # A chain of trusted proxies is walked through.
        self.assertEqual(self.hop(ATTACKER, "203.0.113.7, 127.0.0.1",
                                  "s4"), 200)
        # No header: the client is the proxy itself.
        self.assertEqual(self.hop(ATTACKER, None, "s5"), 403)
        # 127.0.0.2 is no trusted proxy: its header is not believed.
        self.assertEqual(self.hop(OTHER, "203.0.113.7", "s6"), 403)

    def test_sign_in_throttle_sees_the_client_behind_the_proxy(self):
        def get(i, client):
            return http(self.daemon.port, "GET", "/v1/callbacks", headers=[
                ("Authorization", "Bearer hl_%043d" % i),
                ("X-Forwarded-For", client)])[0]

        for i in range(10):
            self.assertEqual(get(i, "198.51.100.1"), 401)
        self.assertEqual(get(10, "198.51.100.1"), 429)
        # Another client through the same proxy is not held back.
        self.assertEqual(get(11, "198.51.100.2"), 401)

    def test_trusted_proxies_must_be_addresses(self):
        self.daemon.stop()
        self.daemon.config["http"] = {"trusted_proxies": ["nginx"]}
        self.daemon.write_config()
        r = subprocess.run([HOTLINED, "--check-config", "-c",
                            self.daemon.config_path], capture_output=True,
                           text=True, env=self.daemon.env, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("http.trusted_proxies[0]", r.stderr)
