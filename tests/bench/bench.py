#!/usr/bin/env python3
"""make bench: USSD hop and durable inbound SMS throughput and latency of
the real hotlined (release build, real SQLite file, synchronous=FULL),
with and without group commit, against a bare libevent server on the
same machine, driven by wrk over loopback; the write path
(writepath_bench.py): USSD sessions ending in a task, /healthz while the
disk is slow, memory with 10,000 open SMS conversations; then the outbox
(outbox_bench.py): outbound sends per second to a loopback sink, and
USSD hop latency while those sends run.

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
import outbox_bench  # noqa: E402
import writepath_bench  # noqa: E402

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


# Inbound SMS, every request a new message (a unique provider id), so
# every request is a durable insert, then processed by the conversation
# (menu, keywords, a queued reply) after its answer; senders rotate over
# 5,000 numbers, as a busy hotline's would.
SMS_LUA = r"""
local counter = 0
request = function()
  counter = counter + 1
  local body = "id=bench-" .. id .. "-" .. counter ..
    "&from=%2B8491" .. string.format("%07d", counter % 5000) ..
    "&to=1567&text=T%C3%B4i+c%E1%BA%A7n+gi%C3%BAp"
  return wrk.format("POST", nil,
    {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
setup = function(thread)
  thread:set("id", tostring(math.random(1000000)))
end
"""
SMS_CONNECTIONS = 64


DRAIN_SECONDS = 120    # at most, for the stored texts to be answered


def drain(d):
    """Seconds after the load until every stored text was processed and
    its reply sent (None: not within DRAIN_SECONDS)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < DRAIN_SECONDS:
        left = d.rows(
            "SELECT (SELECT count(*) FROM inbound WHERE processed_at IS "
            "NULL) + (SELECT count(*) FROM outbound WHERE status IN "
            "('pending', 'sending')) AS n")[0]["n"]
        if left == 0:
            return time.monotonic() - t0
        time.sleep(0.1)
    return None


def run_hotlined(tmp, script, url_path, connections, extra_args=()):
    """(wrk's figures, rows stored, seconds to drain (SMS only))."""
    d = Daemon(tmp=tmp)
    d.config["log"]["level"] = "info"   # as in production
    d.extra_args = list(extra_args)
    d.start()
    drained = None
    try:
        result = wrk(d.url(url_path), script, connections)
        sms = "ussd" not in url_path
        if sms:
            drained = drain(d)
        table = "inbound" if sms else "sessions"
        stored = d.rows("SELECT count(*) AS n FROM %s" % table)[0]["n"]
    finally:
        d.stop()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(d.db_path + suffix):
                os.unlink(d.db_path + suffix)
    return result, stored, drained


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wrk(url, script, connections=None, timeout=2):
    """(req/s, {"50", "99"} ms, non-2xx) of DURATION seconds of wrk; a
    request unanswered after timeout seconds counts as an error."""
    out = subprocess.run(
        ["wrk", "-t2", "-c%d" % (connections or CONNECTIONS),
         "-d%ds" % DURATION, "--timeout", "%ds" % timeout, "--latency",
         "-s", script, url],
        capture_output=True, text=True,
        timeout=DURATION + timeout + 60).stdout
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


def row(label, rps, lat):
    print("%-34s %10.0f %9.2f %9.2f" % (label, rps, lat["50"], lat["99"]))


def main():
    if shutil.which("wrk") is None:
        sys.exit("make bench needs wrk (the Makefile installs it)")
    with tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp:
        script = os.path.join(tmp, "ussd.lua")
        sms_script = os.path.join(tmp, "sms.lua")
        with open(script, "w") as f:
            f.write(LUA)
        with open(sms_script, "w") as f:
            f.write(SMS_LUA)

        port = free_port()
        bare = subprocess.Popen([BARE, str(port)])
        try:
            wait_port(port)
            bare_ussd = wrk("http://127.0.0.1:%d/v1/ussd/console" % port,
                            script)
            bare_sms = wrk("http://127.0.0.1:%d/v1/sms/console" % port,
                           sms_script, SMS_CONNECTIONS)
            bare_64 = wrk("http://127.0.0.1:%d/v1/ussd/console" % port,
                          script, SMS_CONNECTIONS)
        finally:
            bare.terminate()
            bare.wait()

        ussd, sessions, _ = run_hotlined(tmp, script, "/v1/ussd/console",
                                         CONNECTIONS)
        grouped, stored, drained = run_hotlined(
            tmp, sms_script, "/v1/sms/console", SMS_CONNECTIONS)
        single, stored1, drained1 = run_hotlined(
            tmp, sms_script, "/v1/sms/console", SMS_CONNECTIONS,
            ["--no-group-commit"])
        tasks = writepath_bench.ussd_tasks(tmp, wrk, SMS_CONNECTIONS)
        slow = writepath_bench.healthz_slow_disk(tmp, wrk, sms_script,
                                                 SMS_CONNECTIONS)
        rss = writepath_bench.rss_conversations(tmp)
        outbox = outbox_bench.measure(tmp, wrk)

    print("hotline gateway benchmark: wrk -t2 over loopback, %ds per run, "
          "%d cores" % (DURATION, os.cpu_count()))
    print()
    print("USSD hops, %d connections (menu replay + one commit per hop)"
          % CONNECTIONS)
    print("%-34s %10s %9s %9s" % ("server", "req/s", "p50 ms", "p99 ms"))
    row("bare libevent (fixed page)", bare_ussd[0], bare_ussd[1])
    row("hotlined", ussd[0], ussd[1])
    print("ratio hotlined/bare: %.2f; non-2xx %d; sessions stored %d"
          % (ussd[0] / bare_ussd[0], ussd[2], sessions))
    print()
    print("durable inbound SMS, %d connections (synchronous=FULL)"
          % SMS_CONNECTIONS)
    print("%-34s %10s %9s %9s" % ("server", "req/s", "p50 ms", "p99 ms"))
    row("bare libevent (no storage)", bare_sms[0], bare_sms[1])
    row("hotlined, group commit", grouped[0], grouped[1])
    row("hotlined, one commit per message", single[0], single[1])
    print("ratio to bare: group commit %.2f, one commit per message %.2f; "
          "group commit gains %.1fx" % (grouped[0] / bare_sms[0],
                                        single[0] / bare_sms[0],
                                        grouped[0] / max(single[0], 1)))
    print("non-2xx: %d and %d; rows stored: %d and %d"
          % (grouped[2], single[2], stored, stored1))
    for label, n, seconds in (("group commit", stored, drained),
                              ("one commit per message", stored1,
                               drained1)):
        if seconds is None:
            print("%s: not every text answered %d s after the load"
                  % (label, DRAIN_SECONDS))
        else:
            print("%s: every text processed and its reply sent %.1f s "
                  "after the load; end to end %.0f msg/s"
                  % (label, seconds, n / (DURATION + seconds)))
    writepath_bench.report_ussd_tasks(tasks[0], tasks[1], bare_64,
                                      SMS_CONNECTIONS, row)
    writepath_bench.report_healthz(slow, SMS_CONNECTIONS)
    writepath_bench.report_rss(rss)
    outbox_bench.report(outbox, row, DURATION)


if __name__ == "__main__":
    main()
