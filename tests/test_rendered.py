"""The committed rendered/ tree, the schema file, the CLI and secrets."""
import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

from tunestack import stackfile
from tunestack.plan import build_plan
from tunestack.render import render_plan
from tunestack.stackfile.schema import STACK_SCHEMA
from tunestack.paths import ROOT



def cli(*args):
    return subprocess.run([sys.executable, "-m", "tunestack", *args], cwd=ROOT, capture_output=True, text=True)


def test_committed_render_equals_a_fresh_render():
    res = cli("render", "--check")
    assert res.returncode == 0, res.stderr + "\nRun: python -m tunestack render --all"


def test_check_notices_a_stale_file(tmp_path):
    out = tmp_path / "r"
    assert cli("render", "--all", "--out", str(out)).returncode == 0
    (out / "local" / "pgbouncer.ini").write_text("edited by hand\n")
    res = cli("render", "--check", "--out", str(out))
    assert res.returncode == 1 and "local" in res.stderr


def test_schema_file_is_current_and_accepts_every_stack():
    assert json.loads((ROOT / "stacks" / "stack.schema.json").read_text()) == STACK_SCHEMA
    for name in stackfile.stack_names():
        jsonschema.validate(yaml.safe_load(stackfile.stack_path(name).read_text()), STACK_SCHEMA)


def test_plan_json_and_table():
    res = cli("plan", "--stack", "prod", "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["settings"]["postgresql.conf"]["shared_buffers"]["reason"].startswith("25% of")
    assert doc["settings"]["postgresql.conf"]["checkpoint_timeout"]["source"] == "override"
    assert all(b["ok"] for b in doc["budgets"])
    assert doc["hosts"][0]["shape_source"] == "offline table (no AWS credentials)"
    table = cli("plan", "--stack", "local").stdout
    assert "budgets" in table and "[ok] fleet client connections" in table


def test_standalone_postgres_mode_matches_pgtune():
    # pgtune HEAD, 16GB / 4 CPUs / web / ssd / PG16 / default 200 connections:
    # work_mem = (16GB − 4GB) / ((200 + 4) × 3) = 20560kB; gather = ceil(4/2) = 2.
    res = cli("postgres", "--memory", "16GB", "--cpus", "4", "--storage", "ssd", "--workload", "web",
              "--pg-version", "16", "--format", "json")
    settings = json.loads(res.stdout)["settings"]
    assert settings["shared_buffers"] == "4GB" and settings["effective_cache_size"] == "12GB"
    assert settings["maintenance_work_mem"] == "1GB" and settings["work_mem"] == "20560kB"
    assert settings["max_parallel_workers_per_gather"] == "2" and settings["max_connections"] == "200"
    bad = cli("postgres", "--memory", "100MB", "--cpus", "4")
    assert bad.returncode == 2 and "512MB" in bad.stderr and "Traceback" not in bad.stderr


def test_help_explains_commands():
    res = cli("--help")
    assert res.returncode == 0
    for command in ("plan", "render", "postgres", "schema"):
        assert command in res.stdout


def test_secrets_never_rendered(tmp_path):
    text = stackfile.stack_path("staging").read_text()
    text += "  tunestack:dbPassword:\n    secure: v1:c2VjcmV0LWNpcGhlcnRleHQ=\n"
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(text)
    plan = build_plan(stackfile.load(path))
    assert plan.spec.secret_keys == ("dbPassword",)
    blob = "\n".join(render_plan(plan).values()) + json.dumps(plan.to_json(), default=str)
    assert "c2VjcmV0LWNpcGhlcnRleHQ" not in blob
    # No password assignment anywhere: they live in the secret files the deploy writes.
    assert not re.search(r"(?im)^\s*(requirepass|masterauth)\s|:[^@/\s]+@", blob)


def test_alert_thresholds_come_from_the_plan():
    for name in stackfile.stack_names():
        plan = build_plan(stackfile.load(stackfile.stack_path(name), name=name))
        doc = yaml.safe_load(render_plan(plan)["alerts.yml"])
        rules = {r["alert"]: r for r in doc["groups"][0]["rules"]}
        wait_s = plan.pgbouncer["query_wait_timeout"].value // 1000
        assert rules["PgBouncerClientsWaiting"]["expr"].endswith(f">= {max(1, wait_s // 2)}")
        latency = rules["AppLatencyP95High"]
        assert latency["expr"].endswith(f"> {plan.spec.rollout.gates.max_p95_ms / 1000:g}")
        # Written as PromQL reads, not JSON-escaped (no \u003e for >).
        assert "\\u003e" not in render_plan(plan)["alerts.yml"]
        assert f"> {int(plan.redis['queue']['maxmemory'].value * 0.8)}" in rules["RedisQueueMemoryHigh"]["expr"]
