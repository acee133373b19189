"""prometheus.yml and alertmanager.yml from the plan, as data written by the YAML library (never
by hand: a target or URL is escaped by the dumper). Pure.

Sources: Prometheus docs, "Configuration" (scrape_config, relabel_config, alerting) and
Alertmanager docs, "Configuration" (route, webhook_config): group_wait 30s and group_interval 5m
are Alertmanager's defaults, kept at Prometheus' default 15s scrape interval and scaled with it."""
from __future__ import annotations

from collections import defaultdict

import yaml

from ..plan.monitoring import MONITOR_ROLE, address_of, docker_exporters, serves_https
from ..plan.tls import CA_FILE, CERT_FILE, KEY_FILE, verified

RULES_FILE = "alerts.yml"        # beside prometheus.yml: Prometheus resolves it against the config's folder
# At the 15s default interval these give Alertmanager's own defaults (30s, 5m): a notification waits
# for two evaluations to gather its group, and a changed group (a new or resolved alert) is sent
# after twenty.
GROUP_WAIT_INTERVALS, GROUP_CHANGE_INTERVALS = 2, 20
REPEAT_INTERVAL = "4h"           # Alertmanager's default


def _seconds(ms: int) -> str:
    return f"{max(1, round(ms / 1000))}s"


def _job(kind: str, targets) -> dict:
    first = targets[0]
    job = {"job_name": kind, "metrics_path": first.path,
           "static_configs": [{"targets": [t.target or t.address],
                               "labels": {"name": t.name, **dict(t.labels),
                                          # per target: a node exporter on another host answers HTTPS only
                                          **({"__scheme__": "https"} if t.tls else {})}}
                              for t in targets]}
    if any(t.tls for t in targets):   # verified against the stack's CA, by the name in the target's address
        job["tls_config"] = {"ca_file": CA_FILE}
    if first.target:   # redis_exporter's multi-target mode: the Redis is a parameter, the exporter the address
        job["relabel_configs"] = [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": first.address}]
    return job


def prometheus_config(plan) -> dict:
    m = plan.monitoring
    interval = _seconds(m["scrape_interval"].value)
    by_kind: dict[str, list] = defaultdict(list)
    for t in m["targets"].value:
        by_kind[t.kind].append(t)
    alertmanager = {"static_configs": [{"targets": [address_of(plan, "alertmanager")]}]}
    if serves_https(plan):   # verified by its alias, which its certificate names
        alertmanager |= {"scheme": "https", "tls_config": {"ca_file": CA_FILE}}
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval,
                   "external_labels": {"stack": plan.stack}},
        "alerting": {"alertmanagers": [alertmanager]},
        "rule_files": [RULES_FILE],
        "scrape_configs": [_job(kind, targets) for kind, targets in by_kind.items()],
    }


def alertmanager_config(plan) -> dict:
    m = plan.monitoring
    interval = m["scrape_interval"].value
    receiver = {"name": "stack"}
    if m["receiver"].value:
        receiver["webhook_configs"] = [{"url": m["receiver"].value, "send_resolved": True}]
    return {
        "route": {"receiver": "stack", "group_by": ["alertname", "instance"],
                  "group_wait": _seconds(GROUP_WAIT_INTERVALS * interval),
                  "group_interval": _seconds(GROUP_CHANGE_INTERVALS * interval),
                  "repeat_interval": REPEAT_INTERVAL},
        "receivers": [receiver],
    }


def pgbouncer_exporter_config(plan) -> dict:
    """spreaker/prometheus-pgbouncer-exporter's file: where it listens and the PgBouncer it reads, as
    the stats user; libpq finds the password in PGPASSFILE, so none is written here."""
    port = plan.spec.monitoring.port("pgbouncer_exporter")
    if plan.placement.docker:   # in its container, beside Prometheus: every interface of the container
        exporter = next(e for e in docker_exporters(plan) if e.program == "pgbouncer_exporter")
        listen, dsn = "0.0.0.0", f"postgresql://{MONITOR_ROLE}@{exporter.reads}/pgbouncer"
        dsn = verified(dsn) if exporter.reads_tls else dsn
    else:
        listen = address_of(plan, "pgbouncer").rsplit(":", 1)[0]
        dsn = f"postgresql://{MONITOR_ROLE}@{plan.placement['pgbouncer'].reach}:{plan.pgbouncer['listen_port'].value}" \
              "/pgbouncer"
    return {"exporter_host": listen, "exporter_port": port, "pgbouncers": [{"dsn": dsn, "connect_timeout": 5}]}


def web_tls_config() -> dict:
    """exporter-toolkit's web config (node_exporter, Prometheus, Alertmanager): HTTPS only, with the
    server's certificate (plan.tls), at the same paths in each container."""
    return {"tls_server_config": {"cert_file": CERT_FILE, "key_file": KEY_FILE}}


def dump(stack: str, what: str, config: dict) -> str:
    return (f"# {what} for stack {stack}, rendered by tunestack from its plan (tunestack plan --section "
            "monitoring).\n" + yaml.safe_dump(config, sort_keys=False, width=1000))
