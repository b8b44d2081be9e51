#!/usr/bin/env python3
"""make bench: USSD hop throughput and latency of the real hotlined
(release build, real SQLite file with synchronous=FULL) against a bare
libevent server on the same machine, driven by wrk over loopback.

Figures, not assertions: these machines are shared and noisy.  Each
load run is bounded (DURATION seconds) and only targets 127.0.0.1.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
os.environ.setdefault("HOTLINED", "build/hotlined")
os.environ.setdefault("HOTLINECTL", "build/hotlinectl")

from harness import ROOT, Daemon  # noqa: E402

DURATION = int(os.environ.get("BENCH_SECONDS", "5"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
BARE = os.path.join(ROOT, "build", "bench-bare")

# Each wrk thread walks callers through the menu: every request is a
# first hop of a new session or a deeper hop of an existing one, so the
# daemon replays the menu and commits a session row per request.
LUA = r"""
local counter = 0
local paths = {"", "1", "1*1", "1*1*1", "1*1*1*4", "1*1*1*4*2"}
request = function()
  counter = counter + 1
  local session = math.floor(counter / #paths)
  local text = paths[(counter % #paths) + 1]
  local body = "sessionId=bench-" .. id .. "-" .. session ..
    "&serviceCode=%2A1567%23&phoneNumber=%2B8490" ..
    string.format("%07d", (session * 7 + id) % 10000000) ..
    "&text=" .. text:gsub("%*", "%%2A")
  return wrk.format("POST", nil,
    {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
setup = function(thread)
  thread:set("id", tostring(math.random(100000)))
end
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wrk(url, script):
    out = subprocess.run(
        ["wrk", "-t2", "-c%d" % CONNECTIONS, "-d%ds" % DURATION,
         "--latency", "-s", script, url],
        capture_output=True, text=True, timeout=DURATION + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct in ("50", "99"):
        m = re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)" % pct, out)
        value, unit = float(m.group(1)), m.group(2)
        lat[pct] = value / 1000 if unit == "us" else (
            value * 1000 if unit == "s" else value)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, lat, int(errors.group(1)) if errors else 0


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("server on %d did not come up" % port)


def main():
    if shutil.which("wrk") is None:
        sys.exit("make bench needs wrk (the Makefile installs it)")
    with tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp:
        script = os.path.join(tmp, "ussd.lua")
        with open(script, "w") as f:
            f.write(LUA)

        port = free_port()
        bare = subprocess.Popen([BARE, str(port)])
        try:
            wait_port(port)
            b_rps, b_lat, _ = wrk("http://127.0.0.1:%d/v1/ussd/console"
                                  % port, script)
        finally:
            bare.terminate()
            bare.wait()

        d = Daemon(tmp=tmp)
        d.config["log"]["level"] = "info"   # as in production
        d.start()
        try:
            h_rps, h_lat, errors = wrk(d.url("/v1/ussd/console"), script)
            sessions = d.rows("SELECT count(*) AS n FROM sessions")[0]["n"]
        finally:
            d.stop()

    print("USSD hop benchmark: wrk -t2 -c%d -d%ds over loopback, %d cores"
          % (CONNECTIONS, DURATION, os.cpu_count()))
    print("%-28s %12s %10s %10s" % ("server", "req/s", "p50 ms",
                                     "p99 ms"))
    print("%-28s %12.0f %10.2f %10.2f" % ("bare libevent (fixed page)",
                                         b_rps, b_lat["50"], b_lat["99"]))
    print("%-28s %12.0f %10.2f %10.2f" % ("hotlined (menu + commit)",
                                         h_rps, h_lat["50"], h_lat["99"]))
    print("ratio hotlined/bare: throughput %.2f, p50 latency %.1fx"
          % (h_rps / b_rps, h_lat["50"] / max(b_lat["50"], 1e-6)))
    print("hotlined non-2xx replies: %d; sessions stored: %d"
          % (errors, sessions))


if __name__ == "__main__":
    main()
