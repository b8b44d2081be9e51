"""make bench, outbox section (issues #4, #10): outbound sends per second
to a loopback sink with ROWS rows queued, and the event loop's
responsiveness (USSD hop latency) while those sends run.

bench.py calls measure() inside its temporary directory and report() when
it prints.  Every daemon is the release build started by the integration
harness.  The sink is build/bench-sink (tests/bench/sink.c), a bare
libevent server answering as a json provider's receiver does, in its own
process: the Python fake aggregator, which this bench used before, was
itself the limit near 4,000 requests a second.

The USSD hops are sent by a separate Python process (this file run as
`outbox_bench.py ussd-driver PORT RATE MAX_SECONDS`) so that they do not
compete with this process's polling for its GIL.  All processes
stamp times with time.monotonic(), which is CLOCK_MONOTONIC and so the
same clock in both, letting us keep only the hops sent while the outbox
was sending.

Figures, not assertions.  Every run is bounded (MAX_RUN_SECONDS) and
only targets 127.0.0.1.
"""

import http.client
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
SINK = os.path.join(HERE, "..", "..", "build", "bench-sink")

# Enough rows that a run at 64 in flight lasts about a second: with
# fewer, the start and the database poll that ends a run (POLL_SECONDS)
# weigh on the figure.
ROWS = 5000                 # texts queued per send run
IN_FLIGHT = (4, 16, 64)     # outbox.max_in_flight of the send runs
REPEATS = 3                 # send runs of each
USSD_RATE = 200             # hops per second, one keep-alive connection
IDLE_SECONDS = 3            # length of the outbox-idle USSD measurement
LEAD_SECONDS = 2.0          # queued rows fall due this long after queueing
POLL_SECONDS = 0.02         # how often the database is polled
MAX_RUN_SECONDS = 60        # no run waits longer than this
JSON_SECRET = "bench-json-secret"
# Recipients of the queued texts: valid Vietnamese mobile numbers, and
# none of them a USSD caller of the driver (+8490...), so no session or
# task of the driver's changes how a text is judged.
RECIPIENTS = ["+849800000%02d" % i for i in range(1, 6)]
TEXT = ("Cảm ơn bạn đã liên hệ. Tư vấn viên sẽ gọi lại cho bạn "
        "trong hôm nay.")

# The sink's ceiling: wrk sending what the daemon's json channel sends.
SINK_LUA = r"""
local counter = 0
request = function()
  counter = counter + 1
  local body = '{"id":"wrk-' .. id .. '-' .. counter ..
    '","to":"+84980000001","from":"1567","text":"bench"}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"},
    body)
end
setup = function(thread)
  thread:set("id", tostring(math.random(1000000)))
end
"""


# ----------------------------------------------------------------------
# The USSD driver (runs in its own process)

PATHS = ["", "1", "1*1", "1*1*1", "1*1*1*4", "1*1*1*4*2"]


def ussd_driver(port, rate, max_seconds):
    """Send USSD hops to 127.0.0.1:port at a fixed rate, walking callers
    through the menu as bench.py's LUA does, until stdin closes (or
    max_seconds).  Prints "ready" once a first hop was answered, then at
    the end a JSON list of [monotonic start, latency ms, HTTP status]
    (status 0 for a transport error)."""
    stop = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        stop.set()
    threading.Thread(target=watch_stdin, daemon=True).start()

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    tag = "%d-%d" % (os.getpid(), int(time.time()))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}

    def hop(counter):
        nonlocal conn
        session = counter // len(PATHS)
        body = urllib.parse.urlencode({
            "sessionId": "bench-ob-%s-%d" % (tag, session),
            "serviceCode": "*1567#",
            "phoneNumber": "+8490%07d" % (session % 10000000),
            "text": PATHS[counter % len(PATHS)]})
        start = time.monotonic()
        try:
            conn.request("POST", "/v1/ussd/console", body, headers)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port,
                                              timeout=10)
        return [start, (time.monotonic() - start) * 1000.0, status]

    hop(0)                         # connect and warm up, not recorded
    print("ready", flush=True)
    samples = []
    interval = 1.0 / rate
    begin = time.monotonic()
    deadline = begin + max_seconds
    counter = 1
    # A fixed schedule: hop n is due at begin + (n - 1) * interval.  A hop
    # that comes back late is followed at once by the next (none is skipped),
    # and its latency is measured from when it was actually sent.
    while not stop.is_set() and time.monotonic() < deadline:
        due = begin + (counter - 1) * interval
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        samples.append(hop(counter))
        counter += 1
    conn.close()
    print(json.dumps(samples), flush=True)


class Driver:
    """The ussd_driver process, seen from bench.py."""

    def __init__(self, port):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "ussd-driver",
             str(port), str(USSD_RATE), str(MAX_RUN_SECONDS + 10)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("USSD driver did not start: %r" % line)

    def finish(self):
        """Stop it; return its samples."""
        self.proc.stdin.close()
        out = self.proc.stdout.read()
        self.proc.wait(timeout=30)
        return json.loads(out)


def percentiles(latencies):
    """p50/p99 in ms (nearest rank), as bench.row() wants them."""
    if not latencies:
        return {"50": float("nan"), "99": float("nan")}
    s = sorted(latencies)

    def rank(p):
        return s[min(len(s) - 1, max(0, int(round(p / 100.0 * len(s))) - 1))]
    return {"50": rank(50), "99": rank(99)}


# ----------------------------------------------------------------------
# CPU accounting

def cpu_seconds(pid):
    """User + system CPU seconds of process pid so far (all threads)."""
    with open("/proc/%d/stat" % pid) as f:
        # The command name, field 2, is in parentheses and may hold
        # spaces; utime and stime are fields 14 and 15.
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------
# The sink

class Sink:
    """build/bench-sink on a free loopback port, in its own process."""

    def __init__(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.proc = subprocess.Popen([SINK, str(self.port)])
        self.url = "http://127.0.0.1:%d/json/send" % self.port
        for _ in range(200):
            try:
                self.stats()
                return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("the sink did not come up")

    def stats(self):
        """{"requests": POSTs taken, "first"/"last": their monotonic
        times}."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/stats")
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


# ----------------------------------------------------------------------
# Daemon runs

def make_daemon(tmp, name, sink, max_in_flight):
    from harness import Daemon
    run_dir = os.path.join(tmp, "outbox-" + name)
    os.makedirs(run_dir)
    d = Daemon(tmp=run_dir)
    d.config["log"]["level"] = "info"        # as in production
    d.config["channels"].append({
        "name": "js", "provider": "json", "secret": {"env": "HL_TEST_JS"},
        "send_url": sink.url, "from": "1567",
        # The highest rate the config takes (its burst is as many
        # tokens), far above what is reached: the rate limit never waits.
        "rate_limit_per_second": 10000})
    # Any hour of the day is inside the contact window.
    d.config["outbox"] = {"contact_windows": {"default": "00:00-24:00"},
                          "max_in_flight": max_in_flight}
    d.env.update({"HL_TEST_JS": JSON_SECRET})
    return d


def queue_rows(d):
    """Create d's database (start and stop it once), then queue ROWS
    texts on channel js, due LEAD_SECONDS from now, as test_outbox.py's
    queue() does.  The daemon, started next, sends them when due."""
    d.start()
    if d.stop() != 0:
        raise RuntimeError("hotlined did not stop cleanly:\n" + d.log_text())
    con = sqlite3.connect(d.db_path)
    con.executemany(
        "INSERT INTO outbound(channel, msisdn, caller, body, purpose,"
        " send_key, next_attempt_at, created_at, updated_at) VALUES "
        "('js', ?, 'c_bench', ?, 'message', lower(hex(randomblob(8))), "
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?), 't', 't')",
        [(RECIPIENTS[i % len(RECIPIENTS)], TEXT,
          "+%.3f seconds" % LEAD_SECONDS) for i in range(ROWS)])
    con.commit()
    con.close()


def count_sent(d):
    con = sqlite3.connect("file:%s?mode=ro" % d.db_path, uri=True,
                          timeout=5)
    try:
        return con.execute("SELECT count(*) FROM outbound WHERE channel = "
                           "'js' AND status = 'sent'").fetchone()[0]
    finally:
        con.close()


def send_run(tmp, max_in_flight, repeat):
    """ROWS queued texts sent with outbox.max_in_flight = max_in_flight
    while the USSD driver runs.  The rows fall due LEAD_SECONDS after
    they are queued, by when the daemon is up and the driver is sending,
    so the whole send run is under USSD load."""
    sink = Sink()
    d = make_daemon(tmp, "inflight%d-%d" % (max_in_flight, repeat), sink,
                    max_in_flight)
    driver = None
    try:
        queue_rows(d)
        d.start()
        driver = Driver(d.port)
        deadline = time.monotonic() + MAX_RUN_SECONDS
        first = done = None        # polls: sink saw a request; all sent
        sent = 0
        while time.monotonic() < deadline:
            if first is None and sink.stats()["requests"]:
                first = time.monotonic()
                cpu_d0 = cpu_seconds(d.proc.pid)
                cpu_s0 = cpu_seconds(sink.proc.pid)
            sent = count_sent(d)
            if sent >= ROWS and first is not None:
                done = time.monotonic()
                cpu_d1 = cpu_seconds(d.proc.pid)
                cpu_s1 = cpu_seconds(sink.proc.pid)
                break
            time.sleep(POLL_SECONDS)
        samples = driver.finish()
        driver = None
    finally:
        if driver is not None:
            driver.proc.kill()
            driver.proc.wait()
        d.stop()
        stats = sink.stats()
        sink.stop()
    result = {"sent": sent, "requests": stats["requests"]}
    if done is None:
        result["timed_out"] = True
        return result
    # The send run: from the sink's first request (its own timestamp, the
    # same clock) to the poll that saw every row 'sent' (so up to
    # POLL_SECONDS late).
    start = stats["first"]
    result.update({
        "seconds": done - start,
        "sends_per_s": ROWS / (done - start),
        # CPU share of one core over the polls bracketing the send run.
        "daemon_cpu": (cpu_d1 - cpu_d0) / (done - first),
        "sink_cpu": (cpu_s1 - cpu_s0) / (done - first),
        "hops": [h for h in samples if start <= h[0] <= done]})
    return result


def idle_run(tmp):
    """The same daemon and USSD load with nothing queued."""
    sink = Sink()
    d = make_daemon(tmp, "idle", sink, IN_FLIGHT[0])
    driver = None
    try:
        d.start()
        driver = Driver(d.port)
        start = time.monotonic()
        time.sleep(IDLE_SECONDS)
        end = time.monotonic()
        samples = driver.finish()
        driver = None
    finally:
        if driver is not None:
            driver.proc.kill()
            driver.proc.wait()
        d.stop()
        sink.stop()
    return {"seconds": end - start,
            "hops": [h for h in samples if start <= h[0] <= end]}


def sink_alone(tmp, wrk, connections):
    """What the sink sustains on its own: wrk, keep-alive, as many
    connections as the daemon has sends in flight; with the sink's CPU
    share of one core meanwhile."""
    sink = Sink()
    script = os.path.join(tmp, "sink.lua")
    with open(script, "w") as f:
        f.write(SINK_LUA)
    try:
        t0, c0 = time.monotonic(), cpu_seconds(sink.proc.pid)
        rps, lat, errors = wrk(sink.url, script, connections)
        cpu = (cpu_seconds(sink.proc.pid) - c0) / (time.monotonic() - t0)
    finally:
        sink.stop()
    return {"rps": rps, "lat": lat, "errors": errors, "cpu": cpu}


def measure(tmp, wrk):
    """Every outbox figure; wrk is bench.py's wrk(url, script, conns)."""
    return {
        "idle": idle_run(tmp),
        "sends": {n: [send_run(tmp, n, i) for i in range(REPEATS)]
                  for n in IN_FLIGHT},
        "sink": {n: sink_alone(tmp, wrk, n) for n in IN_FLIGHT},
    }


# ----------------------------------------------------------------------
# Printing

def median(values):
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2.0


def hop_figures(hops, seconds):
    """(hops/s, {"50", "99"} ms of the 2xx ones, count, not 2xx)."""
    ok = [h[1] for h in hops if 200 <= h[2] < 300]
    return (len(hops) / seconds if seconds > 0 else 0.0, percentiles(ok),
            len(hops), len(hops) - len(ok))


def limit_verdict(sends_per_s, sink_cpu, sink_rps):
    """What bounds the send rate: "sink" or "hotlined".  The sink is one
    thread; it is the limit when it nears a core or its rate alone."""
    if sink_cpu >= 0.85 or sends_per_s >= 0.8 * sink_rps:
        return "sink"
    return "hotlined"


WHY = {
    "sink": "the sink is the limit: near a core of CPU, or near its rate "
            "alone",
    "hotlined": "hotlined is the limit: the sink did not use a core and "
                "serves more alone",
}


def report(results, row, duration):
    """Print the outbox section; row is bench.py's row()."""
    sends, sink, idle = results["sends"], results["sink"], results["idle"]
    print()
    print("outbox: %d texts queued on a json channel, sent to a loopback "
          "sink (bench-sink, C," % ROWS)
    print("libevent), no rate limit; median of %d runs, USSD hops at %d/s "
          "meanwhile" % (REPEATS, USSD_RATE))
    print("%-34s %10s %9s %9s %9s" % ("sender", "sends/s", "seconds",
                                      "cpu hl", "cpu sink"))
    done = {}
    for n in IN_FLIGHT:
        runs = [r for r in sends[n] if not r.get("timed_out")]
        label = "hotlined, max_in_flight %d" % n
        if len(runs) < len(sends[n]):
            print("%-34s   %d of %d runs timed out after %ds (sent: %s)"
                  % (label, len(sends[n]) - len(runs), len(sends[n]),
                     MAX_RUN_SECONDS,
                     ", ".join(str(r["sent"]) for r in sends[n])))
        if not runs:
            continue
        m = {k: median([r[k] for r in runs]) for k in
             ("sends_per_s", "seconds", "daemon_cpu", "sink_cpu")}
        done[n] = (m, runs)
        print("%-34s %10.0f %9.2f %8.0f%% %8.0f%%"
              % (label, m["sends_per_s"], m["seconds"],
                 100 * m["daemon_cpu"], 100 * m["sink_cpu"]))
    for n in IN_FLIGHT:
        f = sink[n]
        print("%-34s %10.0f %9s %9s %8.0f%%"
              % ("sink alone, wrk %d conns %ds" % (n, duration), f["rps"],
                 "", "", 100 * f["cpu"]))
    limits = set()
    for n, (m, runs) in done.items():
        limit = limit_verdict(m["sends_per_s"], m["sink_cpu"],
                              sink[n]["rps"])
        limits.add(limit)
        print("max_in_flight %d: runs %s sends/s, %.2f of the sink alone; "
              "limit: %s" % (n, " ".join("%.0f" % r["sends_per_s"]
                                        for r in runs),
                             m["sends_per_s"] / sink[n]["rps"], limit))
    for limit in sorted(limits):
        print(WHY[limit])
    every = [r for n in IN_FLIGHT for r in sends[n]]
    print("requests the sink took per run (%d rows each): %s; wrk non-2xx:"
          " %d" % (ROWS, " ".join(str(r["requests"]) for r in every),
                   sum(f["errors"] for f in sink.values())))

    print()
    print("loop responsiveness: USSD hops at %d/s on one connection "
          "(separate process)" % USSD_RATE)
    print("%-34s %10s %9s %9s" % ("outbox", "hops/s", "p50 ms", "p99 ms"))
    base = hop_figures(idle["hops"], idle["seconds"])
    row("idle (nothing queued, %ds)" % IDLE_SECONDS, base[0], base[1])
    counts, errors, ratios = ["%d" % base[2]], base[3], []
    for n, (m, runs) in done.items():
        # Every run's hops pooled: one send run is about a second.
        u = hop_figures([h for r in runs for h in r["hops"]],
                        sum(r["seconds"] for r in runs))
        row("sending, max_in_flight %d" % n, u[0], u[1])
        counts.append("%d" % u[2])
        errors += u[3]
        ratios.append("max_in_flight %d: p50 %.2f, p99 %.2f" % (
            n, u[1]["50"] / base[1]["50"], u[1]["99"] / base[1]["99"]))
    if ratios:
        print("ratio sending/idle: " + "; ".join(ratios))
    print("hops measured: %s; not 2xx: %d" % (", ".join(counts), errors))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "ussd-driver":
        ussd_driver(int(sys.argv[2]), float(sys.argv[3]),
                    float(sys.argv[4]))
    else:
        sys.exit("usage: outbox_bench.py ussd-driver PORT RATE MAX_SECONDS")
