"""The local stack on a shared machine (issue #10): an unprivileged user (`nobody`) cannot connect
to PostgreSQL, PgBouncer or Redis, cannot read a password or any service's data, and neither
`nobody` nor the service user can change a file that root runs or reads as configuration.
Runs as root, as CI does; skipped elsewhere since it needs to switch users."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from tunestack.paths import ROOT
from tunestack.throwaway import ThrowawayStack

pytestmark = [pytest.mark.servers,
              pytest.mark.skipif(os.geteuid() != 0, reason="switching to nobody and postgres needs root")]
BASE = 21432

# Run by /usr/bin/python3 as another user: what can it read or write? Passwords come on stdin.
PROBE = r"""
import json, os, sys
args = json.loads(sys.stdin.read())
found, readable, writable = [], [], []
for root in args["read_roots"]:
    for d, dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(d, name)
            try:
                data = open(path, "rb").read()
            except OSError:
                continue
            readable.append(path)
            found += [path for s in args["secrets"] if s.encode() in data]
for pid in os.listdir("/proc"):
    for part in ("environ", "cmdline"):
        try:
            data = open(f"/proc/{pid}/{part}", "rb").read()
        except OSError:
            continue
        found += [f"/proc/{pid}/{part}" for s in args["secrets"] if s.encode() in data]
for root in args["write_roots"]:
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if os.path.join(d, x) not in args["theirs"]]
        for path in [d] + [os.path.join(d, f) for f in files]:
            if os.access(path, os.W_OK):
                writable.append(path)
print(json.dumps({"found": sorted(set(found)), "readable": readable, "writable": writable}))
"""


@pytest.fixture(scope="module")
def stack():
    with ThrowawayStack("secure", BASE, say=lambda m: None) as s:
        yield s


def as_user(user, *cmd, stdin=None):
    return subprocess.run(list(cmd), user=user, capture_output=True, text=True, input=stdin, timeout=60, cwd="/")


def probe(stack, user, write_roots, theirs=()):
    secrets = list(json.loads((stack.dir / "secrets" / "passwords.json").read_text()).values())
    args = {"secrets": secrets, "read_roots": [str(stack.dir)], "write_roots": [str(p) for p in write_roots],
            "theirs": [str(p) for p in theirs]}
    res = as_user(user, "/usr/bin/python3", "-c", PROBE, stdin=json.dumps(args))
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_nobody_cannot_connect(stack):
    socket_dir = stack.dir / "run" / "postgres"
    for cmd in (["psql", "-h", str(socket_dir), "-p", str(BASE), "-U", "postgres", "-w", "-c", "SELECT 1"],
                ["psql", "-h", "127.0.0.1", "-p", str(BASE), "-U", "postgres", "-w", "-c", "SELECT 1"],
                ["psql", "-h", "127.0.0.1", "-p", str(BASE), "-U", "app", "-d", "app", "-w", "-c", "SELECT 1"],
                ["psql", "-h", "127.0.0.1", "-p", str(BASE + 1), "-U", "app", "-d", "app", "-w", "-c", "SELECT 1"],
                ["psql", "-h", "127.0.0.1", "-p", str(BASE + 1), "-U", "tunestack_admin", "-d", "pgbouncer", "-w",
                 "-c", "SHOW USERS"]):
        res = as_user("nobody", *cmd)
        assert res.returncode != 0, f"nobody connected: {cmd}"
        assert "1" not in res.stdout.split()
    for port in (BASE + 2, BASE + 3):
        res = as_user("nobody", "redis-cli", "-h", "127.0.0.1", "-p", str(port), "KEYS", "*")
        assert "NOAUTH" in res.stdout + res.stderr


def test_nobody_reads_no_password_and_no_data(stack):
    seen = probe(stack, "nobody", [])
    assert seen["found"] == [], "passwords readable by nobody"
    for path in seen["readable"]:
        assert "/data/" not in path and "/secrets/" not in path and "/log/" not in path, path
        assert not path.endswith("supervisord.conf")


def test_no_one_but_root_can_change_what_root_runs(stack):
    # supervisord (root) reads etc/ and runs the app (root) from the checkout and the venv.
    roots = [stack.dir / "etc", stack.dir / "secrets", stack.dir / "log", ROOT / "refapp", ROOT / "tunestack",
             ROOT / "configs", ROOT / ".venv" / "bin"]
    for user in ("nobody", "postgres"):
        seen = probe(stack, user, [r for r in roots if r.exists()])
        assert seen["writable"] == [], f"{user} may change: {seen['writable'][:5]}"
        if user == "postgres":
            assert seen["found"] == [] or all("/service-secrets/" in p or "/proc/" in p for p in seen["found"]), \
                "the service user reads only its own secrets"


def test_passwords_never_in_statistics_or_logs(stack):
    passwords = json.loads((stack.dir / "secrets" / "passwords.json").read_text())
    stack.cli("up")   # a second up sets the passwords again: still nothing recorded
    statements = stack.psql_socket("SELECT coalesce(string_agg(query, E'\\n'), '') FROM pg_stat_statements")
    assert "PASSWORD" not in statements.upper(), "ALTER ROLE … PASSWORD is never recorded"
    logs = "\n".join(p.read_text(errors="replace") for p in (stack.dir / "log").glob("*.log"))
    for value in passwords.values():
        assert value not in statements and value not in logs
    stored = stack.psql_socket("SELECT rolpassword FROM pg_authid WHERE rolname = 'app'", db="postgres")
    assert stored.startswith("SCRAM-SHA-256$4096:")


def test_each_redis_instance_has_its_own_password(stack):
    pw = json.loads((stack.dir / "secrets" / "passwords.json").read_text())
    assert pw["redis-cache"] != pw["redis-queue"]
    res = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(BASE + 3), "--no-auth-warning", "PING"],
                         env={**os.environ, "REDISCLI_AUTH": pw["redis-cache"]}, capture_output=True, text=True)
    assert "PONG" not in res.stdout, "the cache's password opens the queue"
