"""What the fired-for-real tests need around a monitored scratch stack: a webhook receiver on
loopback that records what Alertmanager delivers, the rules with time compressed, and the
stack's own clients.

Time compression: the rules are the rendered ones, on the live metrics, with their thresholds and
labels, but every `for` becomes 0s and every range [Nm] becomes [3N s] (the scrape interval is 1s),
then Prometheus rereads them (SIGHUP). How long each waits is promtool's part
(test_rules_fire_and_stay_quiet.py); what this proves is that each condition, really produced,
reaches the receiver and resolves once its cause is gone."""
from __future__ import annotations

import json
import re
import subprocess
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

from tunestack.poll import wait_until
from tunestack.servers import which


class Receiver:
    """Alertmanager's webhook receiver (its JSON: {"alerts": [{"status", "labels", …}]}) on a port
    the kernel picks on loopback."""

    def __init__(self):
        self.deliveries: list[tuple[str, dict]] = []
        lock, deliveries = threading.Lock(), self.deliveries

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    deliveries.extend((a["status"], a["labels"]) for a in body["alerts"])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def delivered(self, alert: str, status: str, **labels) -> bool:
        return any(s == status and a.get("alertname") == alert and all(a.get(k) == v for k, v in labels.items())
                   for s, a in list(self.deliveries))

    def wait(self, alert: str, status: str, timeout: float = 90, **labels) -> None:
        wait_until(lambda: self.delivered(alert, status, **labels), timeout,
                   f"Alertmanager to deliver {alert} {status} {labels or ''}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def compressed(rules_text: str) -> str:
    doc = yaml.safe_load(rules_text)
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule["for"] = "0s"
            rule["expr"] = re.sub(r"\[(\d+)m(?::(\d+)m)?\]",
                                  lambda m: f"[{3 * int(m[1])}s" + (f":{m[2]}s]" if m[2] else "]"), rule["expr"])
    return yaml.safe_dump(doc, sort_keys=False, width=1000)


class Monitored:
    """The scratch stack's monitoring: supervisorctl, Prometheus' API, the servers' own clients."""

    def __init__(self, stack):
        self.stack, self.plan = stack, stack.plan()
        self.ports = dict(self.plan.spec.monitoring.ports)

    def ctl(self, *args: str) -> str:
        res = subprocess.run([which("supervisorctl"), "-c", str(self.stack.dir / "etc" / "supervisord.conf"), *args],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
        return res.stdout

    def prometheus(self, path: str) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ports['prometheus']}{path}", timeout=5) as r:
            return json.loads(r.read())["data"]

    def compress_rules(self) -> None:
        path = self.stack.dir / "etc" / "alerts.yml"
        path.write_text(compressed(path.read_text()))
        self.ctl("signal", "HUP", "prometheus")
        wait_until(lambda: all(r["duration"] == 0 for g in self.prometheus("/api/v1/rules")["groups"]
                               for r in g["rules"]), 30, "Prometheus to load the compressed rules")

    def redis(self, role: str):
        import redis as redis_py

        return redis_py.Redis(port=self.plan.redis[role]["port"].value, password=self.stack.password(f"redis-{role}"),
                              socket_timeout=10)

    def postgres(self, role: str = "migrator", via_pgbouncer: bool = False):
        import psycopg

        port = self.plan.pgbouncer["listen_port"].value if via_pgbouncer else self.plan.postgres["port"].value
        return psycopg.connect(host="127.0.0.1", port=port, dbname="app", user=role, password=self.stack.password(role),
                               autocommit=True, connect_timeout=5, prepare_threshold=None)

    def pgbouncer_admin(self):
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.plan.pgbouncer["listen_port"].value, dbname="pgbouncer",
                               user="tunestack_admin", password=self.stack.password("admin"), autocommit=True,
                               connect_timeout=5, prepare_threshold=None)
