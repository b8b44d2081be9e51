"""Start the real hotlined on a free loopback port with a fresh database.

Each Daemon gets its own temporary directory holding a generated config,
a pseudonym key, the SQLite file and the daemon's log.  The port is the
one the daemon reports in its `daemon.listening` line (it binds port 0),
so there is no race for a free port.
"""

import json
import os
import re
import signal
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import sealed

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HOTLINED = os.path.join(ROOT, os.environ.get("HOTLINED", "build/san/hotlined"))
HOTLINECTL = os.path.join(ROOT, os.environ.get("HOTLINECTL",
                                               "build/san/hotlinectl"))
MENU = os.path.join(ROOT, "config", "menu.json")

# Every phone number a test uses, in the forms a leak could take.
TEST_NUMBERS = ["+84912345678", "+84987654321", "+84911222333",
                "+84933444555", "+254711000222"]


def number_forms(e164):
    digits = e164.lstrip("+")
    forms = {e164, digits}
    if digits.startswith("84"):
        forms.add("0" + digits[2:])
        forms.add(digits[2:])
    return forms


def default_config(tmp):
    return {
        "listen": "127.0.0.1:0",
        "database": os.path.join(tmp, "hotline.db"),
        "menu": MENU,
        "timezone": "Asia/Ho_Chi_Minh",
        "log": {"level": "debug", "format": "logfmt"},
        # The console channel is refused without it.
        "development": True,
        "channels": [
            {"name": "console", "provider": "console",
             "fold_vietnamese": True},
            {"name": "at", "provider": "africastalking",
             "username": "hotline", "api_key": {"env": "HL_TEST_AT_KEY"},
             "callback_token": {"env": "HL_TEST_AT_TOKEN"},
             "short_code": "1567", "fold_vietnamese": True,
             # Nothing leaves the machine: a port nobody listens on.
             "send_url": "http://127.0.0.1:9"},
            {"name": "unfolded", "provider": "console",
             "fold_vietnamese": False},
        ],
        "queue": {"lease_seconds": 900, "max_attempts": 5},
        "privacy": {"retention_days": 90,
                    "pseudonym_key": {"file": "pseudonym.key"},
                    "data_key": {"file": "data.key"}},
    }


AT_TOKEN = "at-callback-token-for-tests"


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body)


class Daemon:
    def __init__(self, config=None, tmp=None, env=None):
        self.tmpobj = None
        if tmp is None:
            self.tmpobj = tempfile.TemporaryDirectory(prefix="hotline-it-")
            tmp = self.tmpobj.name
        self.tmp = tmp
        self.config = config or default_config(tmp)
        self.config_path = os.path.join(tmp, "hotlined.json")
        self.log_path = os.path.join(tmp, "hotlined.log")
        self.env = dict(os.environ)
        self.env.update({"HL_TEST_AT_KEY": "at-api-key",
                         "HL_TEST_AT_TOKEN": AT_TOKEN,
                         "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
                         "UBSAN_OPTIONS": "print_stacktrace=1"})
        self.env.pop("CREDENTIALS_DIRECTORY", None)
        if env:
            self.env.update(env)
        key = os.path.join(tmp, "pseudonym.key")
        if not os.path.exists(key):
            with open(key, "w") as f:
                f.write("integration-test-pseudonym-key-0123456789\n")
        # The master key of encryption at rest, random per directory.
        key = os.path.join(tmp, "data.key")
        if not os.path.exists(key):
            with open(key, "w") as f:
                f.write(os.urandom(32).hex() + "\n")
        self.proc = None
        self.port = None
        self.logfile = None
        self.extra_args = []
        # Run in the child before exec (e.g. to lower RLIMIT_NOFILE).
        self.preexec_fn = None

    @property
    def db_path(self):
        return self.config["database"]

    def write_config(self):
        with open(self.config_path, "w") as f:
            json.dump(self.config, f, indent=2)

    def start(self, timeout=20):
        self.write_config()
        self.logfile = open(self.log_path, "ab")
        self.log_offset = os.path.getsize(self.log_path)
        self.proc = subprocess.Popen(
            [HOTLINED, "-c", self.config_path] + self.extra_args,
            stdout=self.logfile,
            stderr=self.logfile, env=self.env, cwd=self.tmp,
            preexec_fn=self.preexec_fn)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(r"event=daemon\.listening .*port=(\d+)",
                          self.log_text(since_start=True))
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                self.logfile.close()
                raise RuntimeError("hotlined exited %d:\n%s" %
                                   (rc, self.log_text()))
            time.sleep(0.02)
        raise RuntimeError("hotlined did not start:\n" + self.log_text())

    def log_text(self, since_start=False):
        if not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, "rb") as f:
            if since_start:
                f.seek(self.log_offset)
            return f.read().decode("utf-8", "replace")

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        self.logfile.close()
        self.proc = None
        return rc

    def cleanup(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.logfile.close()
            self.proc = None
        if self.tmpobj:
            self.tmpobj.cleanup()

    # HTTP -------------------------------------------------------------

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def request(self, method, path, body=None, headers=None, timeout=10):
        req = urllib.request.Request(self.url(path), data=body,
                                     method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return Response(r.status, dict(r.headers), r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, dict(e.headers), e.read())

    def ussd(self, channel, session, phone, text, query="", **extra):
        fields = {"sessionId": session, "serviceCode": "*1567#",
                  "phoneNumber": phone, "networkCode": "45204",
                  "text": text}
        fields.update(extra)
        fields = {k: v for k, v in fields.items() if v is not None}
        body = urllib.parse.urlencode(fields).encode()
        return self.request(
            "POST", "/v1/ussd/%s%s" % (channel, query), body,
            {"Content-Type": "application/x-www-form-urlencoded"})

    # Database ---------------------------------------------------------

    @property
    def key_store_path(self):
        return self.config["privacy"].get("key_store",
                                          self.db_path + ".keys")

    @property
    def data_key_path(self):
        return os.path.join(self.tmp, "data.key")

    def keys(self):
        """The data keys, opened with the master key (sealed.py)."""
        return sealed.Keys(self.key_store_path,
                           sealed.read_master(self.data_key_path))

    def db(self, raw=False):
        """A read-only connection; unless raw, the sealed columns read
        clear (temp views over the tables, sealed.attach)."""
        con = sqlite3.connect("file:%s?mode=ro" % self.db_path, uri=True,
                              timeout=5)
        con.row_factory = sqlite3.Row
        if not raw and os.path.exists(self.key_store_path):
            sealed.attach(con, self.keys())
        return con

    def rows(self, sql, *args):
        con = self.db()
        try:
            return [dict(r) for r in con.execute(sql, args)]
        finally:
            con.close()

    def ctl(self, *args, input=None, timeout=30):
        return subprocess.run([HOTLINECTL, "-c", self.config_path] +
                              list(args), capture_output=True, text=True,
                              env=self.env, cwd=self.tmp, input=input,
                              timeout=timeout)
