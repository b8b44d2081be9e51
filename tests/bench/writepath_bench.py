"""make bench, the write path (issue #10): USSD sessions whose last hop
creates a task (the durable path), the loop's responsiveness to /healthz
while the disk is slow (build/slowfsync.so preloaded), and the daemon's
memory with 10,000 open SMS conversations.

bench.py calls each measure function inside its temporary directory and
the matching report function when it prints.  Every daemon is the release
build started by the integration harness.  Figures, not assertions.
"""

import http.client
import json
import os
import signal
import threading
import time
import urllib.parse

from harness import MENU, ROOT, Daemon

SHIM = os.path.join(ROOT, "build", "slowfsync.so")
SLOW_FSYNC_SECONDS = 0.5     # each fsync of the slow-disk run
HEALTHZ_INTERVAL = 0.01      # seconds between /healthz probes
HEALTHZ_TIMEOUT = 30         # a probe unanswered this long has failed
CONVERSATIONS = 10000        # callers of the memory run
SENDERS = 64                 # its connections
MAX_WAIT_SECONDS = 120       # for the conversations to be processed

# Four hops, the last creating a task: the shipped menu with "safe to
# call: yes" leading straight to its create_task node ("done").  Every
# session is a new caller, so every fourth hop stores a new task.
TASK_LUA = r"""
local counter = 0
local paths = {"", "1", "1*1", "1*1*1"}
request = function()
  counter = counter + 1
  local session = math.floor(counter / #paths)
  local body = "sessionId=task-" .. id .. "-" .. session ..
    "&serviceCode=%2A1567%23&phoneNumber=%2B849" ..
    string.format("%08d", (id * 100000 + session) % 100000000) ..
    "&text=" .. paths[(counter % #paths) + 1]:gsub("%*", "%%2A")
  return wrk.format("POST", nil,
    {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
setup = function(thread)
  thread:set("id", math.random(999))
end
"""


def fresh_daemon(tmp, name):
    run_dir = os.path.join(tmp, name)
    os.makedirs(run_dir)
    d = Daemon(tmp=run_dir)
    d.config["log"]["level"] = "info"        # as in production
    return d


def count(d, sql):
    return d.rows(sql)[0]["n"]


def vmrss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ----------------------------------------------------------------------
# USSD sessions ending in a task

def ussd_tasks(tmp, wrk, connections):
    """wrk over TASK_LUA at `connections`: (rps, lat, errors), tasks."""
    d = fresh_daemon(tmp, "ussd-tasks")
    with open(MENU, encoding="utf-8") as f:
        menu = json.load(f)
    menu["nodes"]["safe_call"]["options"][0]["next"] = "done"
    menu["nodes"].pop("word", None)      # no longer reached
    d.config["menu"] = os.path.join(d.tmp, "menu.json")
    with open(d.config["menu"], "w", encoding="utf-8") as f:
        json.dump(menu, f, ensure_ascii=False)
    script = os.path.join(d.tmp, "tasks.lua")
    with open(script, "w") as f:
        f.write(TASK_LUA)
    d.start()
    try:
        result = wrk(d.url("/v1/ussd/console"), script, connections)
        tasks = count(d, "SELECT count(*) AS n FROM tasks")
    finally:
        d.stop()
    return result, tasks


# ----------------------------------------------------------------------
# /healthz while the disk is slow

def probe_healthz(port, stop, probes):
    """GET /healthz every HEALTHZ_INTERVAL on one keep-alive connection
    until stop is set; append (ms until answered or failed, ok) for each.
    A failure (an error, a timeout) counts with the time it took."""
    conn = None
    while not stop.is_set():
        start = time.monotonic()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port,
                                                  timeout=HEALTHZ_TIMEOUT)
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            r.read()
            ok = r.status == 200
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()
            conn = None
        probes.append(((time.monotonic() - start) * 1000.0, ok))
        time.sleep(HEALTHZ_INTERVAL)
    if conn is not None:
        conn.close()


def healthz_slow_disk(tmp, wrk, sms_script, connections):
    """SMS load by wrk while a thread probes /healthz, every fsync slowed
    by SLOW_FSYNC_SECONDS.  The database is created at normal speed
    first (migrating it takes a dozen fsyncs)."""
    d = fresh_daemon(tmp, "slow-disk")
    d.start()
    d.stop()
    fsync_log = os.path.join(d.tmp, "fsync.log")
    d.env.update({"LD_PRELOAD": SHIM, "SLOWFSYNC_LOG": fsync_log,
                  "SLOWFSYNC_SECONDS": str(SLOW_FSYNC_SECONDS)})
    d.start(timeout=60)
    probes, stop = [], threading.Event()
    prober = threading.Thread(target=probe_healthz,
                              args=(d.port, stop, probes))
    prober.start()
    try:
        sms = wrk(d.url("/v1/sms/console"), sms_script, connections,
                  timeout=HEALTHZ_TIMEOUT)
    finally:
        stop.set()
        prober.join()
        # Draining what is queued would take many slow fsyncs: nothing
        # of this run is looked at after it.
        d.stop(signal.SIGKILL)
    with open(fsync_log) as f:
        fsyncs = sum(1 for _ in f)
    return {"sms": sms, "healthz": probes, "fsyncs": fsyncs}


# ----------------------------------------------------------------------
# Memory with 10,000 open SMS conversations

def send_texts(port, numbers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in numbers:
        body = urllib.parse.urlencode({
            "from": "+8491%07d" % i, "to": "1567", "id": "rss-%d" % i,
            "text": "Tôi cần giúp"})
        conn.request("POST", "/v1/sms/console", body,
                     {"Content-Type": "application/x-www-form-urlencoded"})
        conn.getresponse().read()
    conn.close()


def rss_conversations(tmp):
    """VmRSS of the daemon idle, then once CONVERSATIONS callers have
    each sent one text and every text has been processed (each started
    the menu: a conversation waiting for the caller's answer)."""
    d = fresh_daemon(tmp, "rss")
    d.start()
    try:
        idle = vmrss_kb(d.proc.pid)
        t0 = time.monotonic()
        threads = [threading.Thread(target=send_texts, args=(
            d.port, range(n, CONVERSATIONS, SENDERS)))
            for n in range(SENDERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sent = time.monotonic() - t0
        deadline = time.monotonic() + MAX_WAIT_SECONDS
        while (count(d, "SELECT count(*) AS n FROM inbound WHERE "
                     "processed_at IS NULL") and
               time.monotonic() < deadline):
            time.sleep(0.2)
        rss = vmrss_kb(d.proc.pid)
        stored = count(d, "SELECT count(*) AS n FROM inbound WHERE "
                       "processed_at IS NOT NULL")
        callers = count(d, "SELECT count(DISTINCT msisdn) AS n FROM inbound")
    finally:
        d.stop()
    return {"idle_kb": idle, "kb": rss, "processed": stored,
            "callers": callers, "send_seconds": sent}


# ----------------------------------------------------------------------
# Printing

def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100.0 * len(s))) - 1))]


def report_ussd_tasks(result, tasks, bare, connections, row):
    (rps, lat, errors), (bare_rps, bare_lat, _) = result, bare
    print()
    print("USSD 4-hop sessions, the last hop creating a task (durable), "
          "%d connections" % connections)
    print("%-34s %10s %9s %9s" % ("server", "hops/s", "p50 ms", "p99 ms"))
    row("bare libevent (fixed page)", bare_rps, bare_lat)
    row("hotlined", rps, lat)
    print("ratio hotlined/bare: %.2f; non-2xx %d; tasks stored %d"
          % (rps / bare_rps, errors, tasks))


def report_healthz(slow, connections):
    probes = slow["healthz"]
    every = [ms for ms, _ in probes]
    failed = sum(1 for _, ok in probes if not ok)
    rps, lat, errors = slow["sms"]
    print()
    print("slow disk: every fsync %.1f s (slowfsync.so), inbound SMS by wrk "
          "at %d connections," % (SLOW_FSYNC_SECONDS, connections))
    print("/healthz every %d ms on its own connection"
          % (HEALTHZ_INTERVAL * 1000))
    if every:
        # A stall is one slow probe however long it lasts: the longest
        # and the count over 100 ms say more than the percentiles then.
        print("/healthz: %d probes, %d failed (after up to %d s); p50 %.2f "
              "ms, p99 %.2f ms, max %.0f ms; %d over 100 ms"
              % (len(every), failed, HEALTHZ_TIMEOUT, percentile(every, 50),
                 percentile(every, 99), max(every),
                 sum(1 for ms in every if ms > 100)))
    print("SMS meanwhile: %.0f msg/s, p50 %.0f ms, p99 %.0f ms, non-2xx %d; "
          "%d fsyncs" % (rps, lat["50"], lat["99"], errors, slow["fsyncs"]))


def report_rss(r):
    print()
    print("memory: %d callers each sent one text that started the menu"
          % CONVERSATIONS)
    print("hotlined VmRSS idle %.1f MB; with %d open conversations %.1f MB "
          "(%d texts processed, %d callers; sent in %.1f s)"
          % (r["idle_kb"] / 1024.0, CONVERSATIONS, r["kb"] / 1024.0,
             r["processed"], r["callers"], r["send_seconds"]))
