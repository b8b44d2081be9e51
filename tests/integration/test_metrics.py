"""GET /metrics: Prometheus's own promtool accepts what the daemon writes,
the counters move with traffic, no number, pseudonym or text reaches a
label, and only loopback or a token of role metrics (or higher) may
scrape, while a metrics token opens nothing else."""

import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
import urllib.parse

from base import DaemonTestCase
from fake_aggregator import FakeAggregator
from harness import AT_TOKEN, ROOT, TEST_NUMBERS, number_forms

PHONE = "+84912345678"
OTHER = "+84987654321"
SMS_TEXT = "Xin chào, tôi cần nói chuyện với ai đó"
# The shipped menu: vi, counsellor, safe to call, the word "Cam", now,
# safe to text, send.
COUNSELLING_PATH = ["1", "1", "1", "1", "1", "1", "1"]
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def promtool():
    """Prometheus's promtool: as the Makefile found or fetched it."""
    for path in (os.environ.get("PROMTOOL"), shutil.which("promtool"),
                 os.path.join(ROOT, "build", "tools", "promtool")):
        if path and os.access(path, os.X_OK):
            return path
    raise AssertionError("promtool not found: `make build/tools/promtool` "
                         "(or `make test`) fetches it")


def parse(text):
    """{(name, frozenset(labels)): value} of every sample."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples


class Metrics(DaemonTestCase):
    start_daemon = False

    def setUp(self):
        super().setUp()
        self.fa = FakeAggregator(secrets={"at_api_key": "at-api-key",
                                          "at_username": "hotline"}).start()
        self.addCleanup(self.fa.stop)
        cfg = self.daemon.config
        cfg["channels"][1]["send_url"] = self.fa.send_url("africastalking")
        cfg["outbox"] = {"contact_windows": {"default": "00:00-24:00"},
                         "max_delay_seconds": 1, "timeout_seconds": 2,
                         "connect_timeout_seconds": 2}

    # Helpers ----------------------------------------------------------

    def scrape(self, headers=None):
        r = self.daemon.request("GET", "/metrics", headers=headers)
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(r.headers.get("Content-Type"),
                         "text/plain; version=0.0.4; charset=utf-8")
        return r.body.decode()

    def value(self, samples, name, **labels):
        return samples.get((name, frozenset(labels.items())), 0.0)

    def wait_for(self, name, want, timeout=15, **labels):
        deadline = time.monotonic() + timeout
        while True:
            samples = parse(self.scrape())
            got = self.value(samples, name, **labels)
            if got >= want or time.monotonic() > deadline:
                self.assertGreaterEqual(got, want, "%s%s" % (name, labels))
                return samples
            time.sleep(0.1)

    def form(self, path, fields):
        return self.daemon.request(
            "POST", path, urllib.parse.urlencode(fields).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})

    # Tests ------------------------------------------------------------

    def test_promtool_accepts_the_output_and_counters_follow_traffic(self):
        self.daemon.start()
        before = parse(self.scrape())
        self.assertEqual(self.value(before, "hotline_store_read_ok"), 1)
        self.assertEqual(self.value(before, "hotline_ussd_hops_total",
                                    channel="console"), 0)

        # A caller walks the USSD menu to a callback request.
        for i in range(len(COUNSELLING_PATH) + 1):
            r = self.daemon.ussd("console", "s-metrics", PHONE,
                                 "*".join(COUNSELLING_PATH[:i]))
            self.assertEqual(r.status, 200)
        # An SMS on a provider channel; its reply leaves through the
        # fake aggregator, which fails once (a retry), then takes it.
        self.fa.script("africastalking", "5xx", "ok")
        r = self.form("/v1/sms/at?token=" + AT_TOKEN,
                      {"from": OTHER, "to": "1567", "text": SMS_TEXT,
                       "id": "m-metrics-1", "date": "2026-11-29 03:00:00"})
        self.assertEqual(r.status, 200, r.body)
        # The same webhook again (a duplicate), and one without its token.
        self.form("/v1/sms/at?token=" + AT_TOKEN,
                  {"from": OTHER, "to": "1567", "text": SMS_TEXT,
                   "id": "m-metrics-1", "date": "2026-11-29 03:00:00"})
        r = self.form("/v1/sms/at", {"from": OTHER, "to": "1567",
                                     "text": SMS_TEXT, "id": "m-2"})
        self.assertEqual(r.status, 403)
        # A delivery report.
        r = self.form("/v1/dlr/console", {"id": "ATXid_m1",
                                          "status": "Success"})
        self.assertEqual(r.status, 200)
        # A sign-in refused.
        self.assertEqual(self.daemon.request("GET", "/v1/callbacks").status,
                         401)

        after = self.wait_for("hotline_sends_total", 1, channel="at",
                              result="sent")
        v = lambda name, **l: self.value(after, name, **l)
        self.assertEqual(v("hotline_sends_total", channel="at",
                           result="retry"), 1)
        hops = len(COUNSELLING_PATH) + 1
        self.assertEqual(v("hotline_ussd_hops_total", channel="console"),
                         hops)
        self.assertEqual(v("hotline_webhooks_total", channel="console",
                           kind="ussd", result="stored"), hops)
        self.assertEqual(v("hotline_ussd_sessions_started_total",
                           channel="console"), 1)
        self.assertEqual(v("hotline_ussd_sessions_ended_total",
                           channel="console"), 1)
        self.assertEqual(v("hotline_tasks_created_total", channel="console",
                           priority="normal"), 1)
        self.assertEqual(v("hotline_queue_tasks", status="pending",
                           priority="normal"), 1)
        self.assertEqual(v("hotline_webhooks_total", channel="at",
                           kind="sms", result="stored"), 1)
        self.assertEqual(v("hotline_webhooks_total", channel="at",
                           kind="sms", result="duplicate"), 1)
        self.assertEqual(v("hotline_webhooks_total", channel="at",
                           kind="sms", result="refused_forbidden"), 1)
        self.assertEqual(v("hotline_webhooks_total", channel="console",
                           kind="dlr", result="stored"), 1)
        self.assertEqual(v("hotline_delivery_reports_total",
                           channel="console", outcome="delivered"), 1)
        self.assertEqual(v("hotline_auth_refusals_total",
                           reason="unauthorized"), 1)
        self.assertEqual(v("hotline_http_requests_total",
                           route="/v1/callbacks", code="401"), 1)
        self.assertGreaterEqual(v("hotline_http_requests_total",
                                  route="/v1/ussd/{channel}", code="200"),
                                hops)
        self.assertGreaterEqual(v("hotline_outbox_rows", status="sent"), 1)
        self.assertGreater(v("hotline_writer_commit_seconds_count"),
                           self.value(before,
                                      "hotline_writer_commit_seconds_count"))
        self.assertGreater(v("hotline_writer_batch_units_sum"), 0)
        schema = self.daemon.rows("SELECT user_version AS v FROM "
                                  "pragma_user_version")[0]["v"]
        self.assertEqual(v("hotline_build_info", version=next(
            dict(k)["version"] for n, k in after
            if n == "hotline_build_info"), schema_version=str(schema)), 1)
        self.assertLessEqual(abs(v("process_start_time_seconds") -
                                 time.time()), 600)

        # Prometheus's own parser and linter on the real output.
        text = self.scrape()
        check = subprocess.run([promtool(), "check", "metrics"],
                               input=text, capture_output=True, text=True,
                               timeout=60)
        self.assertEqual(check.returncode, 0,
                         check.stdout + check.stderr)

        # No number in any form, no pseudonym, no text: anywhere.
        for number in TEST_NUMBERS:
            for form in number_forms(number):
                self.assertNotIn(form, text, "a test number in /metrics")
        self.assertNotRegex(text, r"c_[0-9a-f]{12}")
        for caller in self.daemon.rows("SELECT DISTINCT caller FROM tasks "
                                       "UNION SELECT caller FROM inbound"):
            self.assertNotIn(caller["caller"], text)
        for word in SMS_TEXT.split() + ["s-metrics", "m-metrics-1",
                                        "ATXid_m1", AT_TOKEN]:
            if len(word) > 3:
                self.assertNotIn(word, text)
        # Every label value is from the fixed sets or a channel name.
        channels = {c["name"] for c in self.daemon.config["channels"]}
        for (name, labels) in parse(text):
            for key, val in labels:
                if key == "channel":
                    self.assertIn(val, channels | {"other"})
                elif key == "route":
                    self.assertTrue(val.startswith("/") or
                                    val in ("unmatched", "other"), val)

    def test_an_urgent_task_waiting_shows_its_age(self):
        self.daemon.start()
        con = sqlite3.connect(self.daemon.db_path, timeout=10)
        with con:
            con.execute("INSERT INTO tasks (caller, msisdn, channel, "
                        "priority, created_at, updated_at, alerted_at) "
                        "VALUES ('c_000000000001', ?, 'console', 'urgent', "
                        "strftime('%Y-%m-%dT%H:%M:%SZ','now','-600 "
                        "seconds'), strftime('%Y-%m-%dT%H:%M:%SZ','now'), "
                        "strftime('%Y-%m-%dT%H:%M:%SZ','now'))", (PHONE,))
        con.close()
        samples = parse(self.scrape())
        age = self.value(samples, "hotline_queue_oldest_pending_seconds",
                         priority="urgent")
        self.assertGreaterEqual(age, 600)
        self.assertLess(age, 700)
        self.assertEqual(self.value(samples, "hotline_queue_tasks",
                                    status="pending", priority="urgent"), 1)
        self.assertEqual(self.value(samples,
                                    "hotline_queue_oldest_pending_seconds",
                                    priority="normal"), 0)

    def test_scrapes_other_than_from_loopback_need_a_metrics_token(self):
        self.daemon.config["metrics"] = {"allow_loopback": False}
        self.daemon.start()
        metrics = self.daemon.ctl("token", "add", "prometheus", "--role",
                                  "metrics")
        self.assertEqual(metrics.returncode, 0, metrics.stderr)
        token = metrics.stdout.strip()
        counsellor = self.daemon.ctl("token", "add", "ana", "--role",
                                     "counsellor")
        self.assertEqual(counsellor.returncode, 0, counsellor.stderr)

        # Loopback is not enough when the config says so.
        r = self.daemon.request("GET", "/metrics")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["error"]["code"], "unauthorized")
        r = self.daemon.request("GET", "/metrics", headers={
            "Authorization": "Bearer hl_" + "A" * 43})
        self.assertEqual(r.status, 401)
        # A metrics token scrapes; so does any higher role.
        self.scrape({"Authorization": "Bearer " + token})
        self.scrape({"Authorization": "Bearer " +
                     counsellor.stdout.strip()})
        # ... and a metrics token opens nothing of the counsellors' API.
        for method, path in (("GET", "/v1/callbacks"),
                             ("POST", "/v1/callbacks/next"),
                             ("GET", "/v1/stats"), ("GET", "/v1/audit")):
            r = self.daemon.request(method, path, b"" if method == "POST"
                                    else None,
                                    {"Authorization": "Bearer " + token})
            self.assertEqual(r.status, 403, path)
            self.assertEqual(r.json()["error"]["code"], "forbidden")
        samples = parse(self.scrape({"Authorization": "Bearer " + token}))
        self.assertEqual(self.value(samples, "hotline_auth_refusals_total",
                                    reason="unauthorized"), 2)
        self.assertEqual(self.value(samples, "hotline_auth_refusals_total",
                                    reason="forbidden"), 4)
        self.assertNotIn(token, self.daemon.log_text())

    def test_a_proxy_on_this_host_does_not_make_a_scrape_local(self):
        self.daemon.start()
        self.scrape()
        # Through a reverse proxy every client is loopback: a request that
        # carries a proxy's header needs a token.
        for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
            r = self.daemon.request("GET", "/metrics", headers={
                header: "203.0.113.7"})
            self.assertEqual(r.status, 401, header)
            self.assertEqual(r.json()["error"]["code"], "unauthorized")

    def test_rules_and_dashboard_use_only_metrics_the_daemon_writes(self):
        self.daemon.start()
        # The first scrape is counted in the second (requests by route
        # are written once one has been answered).
        self.scrape()
        written = {name for name, _ in parse(self.scrape())}
        with open(os.path.join(ROOT, "contrib", "prometheus",
                               "hotline-rules.yml")) as f:
            rules = f.read()
        with open(os.path.join(ROOT, "contrib", "grafana",
                               "hotline-dashboard.json")) as f:
            dashboard = json.load(f)
        exprs = [t["expr"] for p in dashboard["panels"]
                 for t in p.get("targets", [])]
        exprs += [a["expr"] for a in dashboard["annotations"]["list"]]
        used = set(re.findall(r"\b(hotline_[a-z_]+)", rules +
                              "\n".join(exprs)))
        self.assertGreater(len(used), 10)
        for name in used:
            self.assertIn(name, written, "contrib uses a metric the "
                          "daemon does not write")
        # Every panel's query is valid PromQL: promtool checks it as a
        # recording rule, with Grafana's variables filled in.
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            f.write("groups:\n  - name: dashboard\n    rules:\n")
            for i, e in enumerate(exprs):
                e = e.replace("$__rate_interval", "5m") \
                    .replace("$instance", ".*")
                f.write("      - record: dashboard:q%d\n        expr: %s\n"
                        % (i, json.dumps(e)))
            f.flush()
            check = subprocess.run([promtool(), "check", "rules", f.name],
                                   capture_output=True, text=True,
                                   timeout=60)
            self.assertEqual(check.returncode, 0,
                             check.stdout + check.stderr)
