"""Commands the checks run on a host. Passwords are read from files on the host, never written
into a command line or a log."""
from __future__ import annotations

import json

from tunestack.probes import psql, puma_control, quote, redis_cli, with_token_header  # noqa: F401  (the checks import them from here)


_ONCE: dict[tuple, object] = {}


def once(host, *key, make):
    """`make()` once per testinfra host and key in this run: one round trip for many checks. Over
    SSH and `docker exec` a round trip costs far more than the query, so every setting of a server
    is read in one call and each check compares its own."""
    k = (host.backend.get_pytest_id(), *key)
    if k not in _ONCE:
        _ONCE[k] = make()
    return _ONCE[k]


def postgres_settings(host, secrets_dir: str, port: int) -> dict[str, str]:
    """Every setting as SHOW prints it (current_setting() is SHOW's text), in one query."""
    def read():
        out = psql(host, secrets_dir, port, "SELECT name || '=' || current_setting(name) FROM pg_settings")
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return once(host, "postgres", port, make=read)


def redis_config(host, secrets_dir: str, role: str, port: int, tls: bool = False) -> dict[str, str]:
    """CONFIG GET * on one instance, with that instance's own password (one per role), in one call;
    over TLS, verified, where the instance serves only TLS (plan.tls)."""
    def read():
        # As JSON: a setting whose value is empty (save "") can never shift the pairs of a line-based read.
        values = json.loads(redis_cli(host, secrets_dir, role, port, "CONFIG", "GET", "*", as_json=True, tls=tls))
        # Never keep a password in memory longer than the read: no check compares one.
        return {k: v for k, v in values.items() if k not in ("requirepass", "masterauth")}
    return once(host, "redis", role, port, make=read)


def app_runtime(host, port: int, secrets_dir: str, token_file: str, job: str | None = None) -> dict:
    """The reference app's own report of what it runs with (GET /_tunestack/runtime on loopback),
    with the token read on the host into the command: never on a command line. `job` adds what a
    job process reports of itself (the first call asks for it; poll until it is there)."""
    query = f"?job={job}" if job else ""
    return json.loads(host.check_output(with_token_header(secrets_dir, token_file,
                                                          f"http://127.0.0.1:{port}/_tunestack/runtime{query}")))


def job_runtime(host, port: int, secrets_dir: str, token_file: str, timeout: float = 60) -> dict:
    """A job process's report of itself (its role's session, its pool), once per host and run."""
    import secrets

    from tunestack.poll import poll

    def ask():
        nonce = secrets.token_hex(16)
        report = poll(lambda: app_runtime(host, port, secrets_dir, token_file, job=nonce).get("job"), timeout=timeout)
        assert report, f"no job ran the runtime report within {timeout:g} s"
        return report
    return once(host, "job-runtime", port, make=ask)


RUNTIME_TOKEN = "runtime-token"   # the apps' runtime report token, a file in the secrets folder (rotated by `up`)


def process_report(host, plan, secrets_dir: str, process: str) -> dict:
    """What a Go or Node web process (or, for "jobs", a job process) reports of itself, once per
    host and run."""
    port = plan.app["port"].value
    if process == "jobs":
        return job_runtime(host, port, secrets_dir, RUNTIME_TOKEN)
    return once(host, "runtime", port, make=lambda: app_runtime(host, port, secrets_dir, RUNTIME_TOKEN))


def process_env(plan, process: str) -> dict:
    """The planned environment of the web or the job processes."""
    return plan.web_env if process == "web" else plan.jobs_env


def listener_pids(host, port: int) -> set[int]:
    """Pids of the processes that hold the listening socket of `port` (ss -p)."""
    import re

    out = host.check_output(f"ss -Hltnp 'sport = :{port}'")
    return {int(p) for p in re.findall(r"pid=(\d+)", out)}
