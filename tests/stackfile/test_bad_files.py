"""Bad stack files: one clear error, exit code 2, no traceback, before anything is planned.

Each case edits the local stack file and runs the real CLI. The error must name the file, the key
path and the value, and say what is allowed."""
import os
import subprocess
import sys

import pytest
import yaml
from tunestack.cli import main
from tunestack.paths import ROOT

BASE = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())


def edited(edit):
    doc = yaml.safe_load(yaml.safe_dump(BASE))
    edit(doc["config"])
    return doc


def setitem(path, value):
    def edit(c):
        node = c
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


def delitem(path):
    def edit(c):
        node = c
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return edit


H = "tunestack:hosts"
CASES = [
    # id, edit, fragments the message must contain
    ("unknown-section", lambda c: c.__setitem__("tunestack:postgress", {}), ["tunestack:postgress", "did you mean 'tunestack:postgres'"]),
    ("unknown-nested-key", setitem(["tunestack:postgres", "workloadd"], "web"), ["workloadd", "did you mean 'workload'"]),
    ("cpus-wrong-type", setitem([H, 0, "cpus"], "two"), ["cpus", "two", "integer"]),
    ("zero-cpus", setitem([H, 0, "cpus"], 0), ["cpus", "0", "at least 1"]),
    ("memory-not-a-size", setitem([H, 0, "memory"], "lots"), ["memory", "lots", "512MiB"]),
    ("db-memory-too-small", setitem([H, 0, "memory"], "256MiB"), ["memory", "256MiB", "512MiB"]),
    ("unknown-instance-type", lambda c: (c[H][0].pop("cpus"), c[H][0].pop("memory"),
                                         c[H][0].__setitem__("instance_type", "m9z.huge")),
     ["instance_type", "m9z.huge", "known AWS instance type"]),
    ("pg-version-12", setitem(["tunestack:postgres", "version"], 12), ["version", "12", "13, 14, 15, 16, 17"]),
    ("workload-typo", setitem(["tunestack:postgres", "workload"], "webb"), ["workload", "webb", "did you mean 'web'"]),
    ("override-unknown", setitem(["tunestack:postgres", "overrides"], {"shared_bufers": "1GB"}),
     ["overrides → shared_bufers", "did you mean 'shared_buffers'"]),
    ("override-out-of-range", setitem(["tunestack:postgres", "overrides"], {"work_mem": "32kB"}),
     ["overrides → work_mem", "32kB", "between 64 and"]),
    ("queue-evicts", setitem(["tunestack:redis", "queue", "policy"], "allkeys-lru"),
     ["queue → policy", "allkeys-lru", "noeviction"]),
    ("jobs-on-cache", setitem(["tunestack:app", "jobs", "redis"], "cache"), ["jobs → redis", "cache", "evicts"]),
    ("steps-not-rising", setitem(["tunestack:rollout", "steps"], [50, 25, 100]), ["steps", "[50, 25, 100]", "rise"]),
    ("step-over-100", setitem(["tunestack:rollout", "steps"], [10, 150]), ["steps[1]", "150", "at most 100"]),
    ("two-db-hosts", lambda c: c[H].append({"name": "db2", "roles": ["db"], "cpus": 2, "memory": "2GiB"}),
     ["tunestack:hosts", "exactly one host with role db"]),
    ("lock-not-below-statement", lambda c: c["tunestack:postgres"].update(statement_timeout="5s", lock_timeout="10s"),
     ["lock_timeout", "10s", "less than statement_timeout"]),
    ("missing-app", delitem(["tunestack:app"]), ["tunestack:app", "required"]),
    ("port-clash", setitem(["tunestack:redis", "cache", "port"], 15432), ["cache → port", "15432", "taken by postgres"]),
    ("pool-mode-typo", setitem(["tunestack:pgbouncer", "pool_mode"], "txn"), ["pool_mode", "txn", "transaction"]),
    ("addresses-count", setitem([H, 0, "addresses"], ["10.0.0.1", "10.0.0.2"]), ["addresses", "exactly 1"]),
    ("bad-duration", setitem(["tunestack:rollout", "bake"], "soon"), ["bake", "soon", "15s"]),
    # Issue #13: the Rails rules.
    ("ruby-unknown", lambda c: c["tunestack:app"].update(framework="rails", ruby="2.7"),
     ["app → ruby", "2.7", "3.0, 3.1, 3.2, 3.3, 3.4"]),
    ("ruby-as-yaml-number", lambda c: c["tunestack:app"].update(framework="rails", ruby=3.5),
     ["app → ruby", "3.5", "3.0, 3.1"]),
    ("rails-no-job-concurrency", lambda c: (c["tunestack:app"].update(framework="rails"),
                                            c["tunestack:app"]["jobs"].update(concurrency=0)),
     ["jobs → concurrency", "0", "at least 1"]),
    ("jobs-lock-longer-than-request", lambda c: c["tunestack:app"]["jobs"].update(lock_timeout="45s"),
     ["jobs → lock_timeout", "45s", "at most the request timeout (30s)", "arrival order"]),
]


def run_plan(tmp_path, doc, name="Pulumi.bad.yaml"):
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return path, subprocess.run([sys.executable, "-m", "tunestack", "plan", "--stack-file", str(path)],
                                cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("case,edit,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_stack_file_gives_clear_error(tmp_path, case, edit, fragments):
    path, res = run_plan(tmp_path, edited(edit))
    assert res.returncode == 2, res.stderr + res.stdout
    assert "Traceback" not in res.stderr
    assert str(path) in res.stderr
    for fragment in fragments:
        assert fragment in res.stderr, f"{fragment!r} not in:\n{res.stderr}"
    assert "allowed:" in res.stderr and "fix:" in res.stderr
    assert res.stdout == "", "nothing is planned or printed for a bad file"


def test_yaml_syntax_error_names_the_line(tmp_path):
    path, res = run_plan(tmp_path, "config:\n  tunestack:hosts: [\n")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "line 3" in res.stderr and str(path) in res.stderr


def test_budget_break_prints_arithmetic_and_fix(tmp_path):
    doc = edited(setitem(["tunestack:pgbouncer", "max_client_conn"], 5))
    _, res = run_plan(tmp_path, doc)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "fleet client connections" in res.stderr and "> max_client_conn 5" in res.stderr
    assert "fix: raise pgbouncer.max_client_conn" in res.stderr


def test_unknown_stack_name():
    res = subprocess.run([sys.executable, "-m", "tunestack", "plan", "--stack", "nope"], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 2 and "unknown stack 'nope'" in res.stderr and "local" in res.stderr


def test_render_writes_nothing_for_a_bad_stack(tmp_path):
    doc = edited(setitem(["tunestack:postgres", "workload"], "webb"))
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "tunestack", "render", "--stack-file", str(path), "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 2 and not out.exists()


@pytest.mark.parametrize("make,kind", [
    (lambda p: os.mkfifo(p), "a FIFO (named pipe)"),
    (lambda p: p.symlink_to("/dev/zero"), "a character device (a symlink to /dev/zero)"),
    (lambda p: p.mkdir(), "a folder"),
])
def test_a_path_that_is_no_regular_file_is_named_for_what_it_is(tmp_path, capsys, make, kind):
    """Issue #23: a FIFO (which would block the read) or a symlink to /dev/zero was "no such file"."""
    path = tmp_path / "Pulumi.odd.yaml"
    make(path)
    assert main(["plan", "--stack-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"value:   {kind}" in err and "allowed: a regular file" in err and "Traceback" not in err


def test_a_sparse_giant_is_refused_by_its_size_before_it_is_read(tmp_path, capsys):
    """A 3 GiB sparse file was read whole (MemoryError) before its size was checked."""
    path = tmp_path / "Pulumi.big.yaml"
    with open(path, "wb") as f:
        f.truncate(3 * 1024**3)
    assert main(["plan", "--stack-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{3 * 1024**3} bytes" in err and "at most 1048576 bytes" in err
