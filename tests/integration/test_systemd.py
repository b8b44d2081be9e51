"""The systemd contract: readiness notification and a hardened unit."""

import os
import shutil
import signal
import socket
import subprocess
import unittest

from base import DaemonTestCase
from harness import ROOT

UNIT = os.path.join(ROOT, "systemd", "hotlined.service")


class Systemd(DaemonTestCase):
    start_daemon = False

    def test_ready_is_sent_once_listening_and_stopping_on_term(self):
        path = os.path.join(self.daemon.tmp, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(path)
        sock.settimeout(20)
        self.daemon.env["NOTIFY_SOCKET"] = path
        self.daemon.start()
        self.assertEqual(sock.recv(256), b"READY=1")
        # Ready means the port answers.
        self.assertEqual(self.daemon.request("GET", "/healthz").status, 200)
        self.daemon.send_signal(signal.SIGHUP)
        self.assertEqual(sock.recv(256), b"RELOADING=1")
        self.assertEqual(sock.recv(256), b"READY=1")
        self.assertEqual(self.daemon.stop(), 0)
        self.assertEqual(sock.recv(256), b"STOPPING=1")

    @unittest.skipIf(shutil.which("systemd-analyze") is None,
                     "systemd-analyze is not installed")
    def test_unit_is_hardened(self):
        # 15 = exposure 1.5 on systemd-analyze's 0-100 threshold scale.
        r = subprocess.run(["systemd-analyze", "security", "--offline=true",
                            "--threshold=15", UNIT], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr)

    def test_unit_declares_notify_reload_and_state_directory(self):
        with open(UNIT) as f:
            unit = f.read()
        for line in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID",
                     "StateDirectory=hotline", "LimitCORE=0",
                     "LoadCredential=pseudonym.key:"):
            self.assertIn(line, unit)
