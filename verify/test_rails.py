"""The Rails app at run time: Puma's control app (workers, booted workers, threads), Sidekiq's
process registry in the queue Redis (concurrency, queues), and what a web worker and a job report
from inside (Active Record's pool, prepared statements and timeouts, rack-timeout, YJIT, the
allocator, Sentry's rates) through the app's token-guarded runtime endpoint."""
import json
import secrets

import pytest

from tunestack.poll import poll
from verify.helpers import RUNTIME_TOKEN, app_runtime, listener_pids, puma_control, redis_cli

SERVICE = "web"


@pytest.fixture(autouse=True)
def only_rails(plan):
    if plan.spec.app.framework != "rails":
        pytest.skip("the stack's app is not Rails")


def puma_stats(host, plan, control_dir) -> dict:
    return json.loads(puma_control(host, control_dir, plan.app["control_socket"].value, "/stats"))


def runtime(host, plan, secrets_dir, job: str | None = None) -> dict:
    return app_runtime(host, plan.app["port"].value, secrets_dir, RUNTIME_TOKEN, job=job)


def test_puma_workers_and_booted_workers(host, plan, control_dir, record):
    expected = plan.app["workers"].value    # 0: single mode
    stats = poll(lambda: (s := puma_stats(host, plan, control_dir)) and s.get("booted_workers", 0) == expected and s,
                 timeout=60) or puma_stats(host, plan, control_dir)
    record(f"workers {expected}, booted {expected}",
           f"workers {stats.get('workers', 0)}, booted {stats.get('booted_workers', 0)}")


def test_puma_max_threads(host, plan, control_dir, record):
    stats = puma_stats(host, plan, control_dir)
    per_process = ([w["last_status"].get("max_threads") for w in stats["worker_status"]] if "worker_status" in stats
                   else [stats.get("max_threads")])
    record(plan.app["threads"].value, sorted(set(per_process)) if len(set(per_process)) > 1 else per_process[0])


@pytest.mark.parametrize("key,plan_key", [("db_pool", "DB_POOL"), ("prepared_statements", "DB_PREPARED_STATEMENTS")])
def test_active_record(host, plan, secrets_dir, record, key, plan_key):
    record(plan.web_env[plan_key].value, runtime(host, plan, secrets_dir)[key])


@pytest.mark.parametrize("name", ["statement_timeout", "lock_timeout"])
def test_web_session_timeouts(host, plan, secrets_dir, record, name):
    report = runtime(host, plan, secrets_dir)
    role = report["database_user"]
    record(f"{plan.postgres_roles[role][name].text} (role {role})", f"{report[name]} (role {role})")


def test_request_timeout_is_rack_timeouts(host, plan, secrets_dir, record):
    # Puma docs: worker_timeout "is not a request timeout"; rack-timeout enforces it in the app.
    expected, actual = plan.app["request_timeout"].value / 1000, runtime(host, plan, secrets_dir)["request_timeout"]
    record(f"{expected:g} s", f"{actual:g} s" if actual is not None else None, actual == expected)


def test_yjit(host, plan, secrets_dir, record):
    record(plan.app["yjit"].value, runtime(host, plan, secrets_dir)["yjit"])


def test_allocator_in_every_web_process(host, plan, record):
    """jemalloc mapped into each Puma process (LD_PRELOAD), else glibc with MALLOC_ARENA_MAX."""
    pids = listener_pids(host, plan.app["port"].value)
    if plan.app["workers"].value:   # cluster mode: the workers, not the master, serve requests
        pids |= {p.pid for pid in pids for p in host.process.filter(ppid=pid)}
    want = "jemalloc" if "LD_PRELOAD" in plan.web_env else "glibc"
    seen = {"jemalloc" if "libjemalloc" in host.file(f"/proc/{pid}/maps").content_string else "glibc"
            for pid in pids}
    record(want, ",".join(sorted(seen)), seen == {want})


def test_sentry_rates(host, plan, secrets_dir, record):
    sentry = runtime(host, plan, secrets_dir)["sentry"]
    expected = {"traces_sample_rate": plan.web_env["SENTRY_TRACES_SAMPLE_RATE"].value,
                **{rule["path"]: rule["rate"] for rule in plan.sampling.rules}}
    actual = {"traces_sample_rate": sentry["traces_sample_rate"],
              **{path: sentry["sampled"].get(path) for path in expected if path != "traces_sample_rate"}}
    record(expected, actual)


@pytest.mark.parametrize("key", ["concurrency", "queues"])
def test_sidekiq_registry(host, plan, secrets_dir, record, key):
    """Sidekiq's own process registry in the queue Redis: what each running Sidekiq process took."""
    port = plan.redis["queue"]["port"].value
    identities = redis_cli(host, secrets_dir, "queue", port, "SMEMBERS", "processes",
                           tls="redis-queue" in plan.tls).split()
    # A process that stopped stays in the set until Sidekiq prunes it, and its own hash for up to
    # 60 s: only processes that still live count (on this host, their pid is there).
    here = host.check_output("hostname").strip()
    infos = [json.loads(raw) for raw in (redis_cli(host, secrets_dir, "queue", port, "HGET", i, "info",
                                                                   tls="redis-queue" in plan.tls).strip()
                                         for i in identities) if raw]
    infos = [i for i in infos if i.get("hostname") != here or host.run(f"test -d /proc/{int(i['pid'])}").rc == 0]
    expected = plan.app["job_concurrency"].value if key == "concurrency" else list(plan.app["job_queues"].value)
    record(f"{plan.app['job_processes'].value} × {expected}", f"{len(infos)} × "
           + (str(sorted({json.dumps(i[key]) for i in infos})) if len({json.dumps(i[key]) for i in infos}) > 1
              else str(infos[0][key] if infos else None)))


def test_job_session(host, plan, secrets_dir, record):
    """A job reports what its own session sees: its role's timeouts and the Sidekiq pool."""
    nonce = secrets.token_hex(16)
    report = poll(lambda: runtime(host, plan, secrets_dir, job=nonce).get("job"), timeout=60)
    assert report, "no job ran the report within 60 s"
    role = report["database_user"]
    roles = plan.postgres_roles
    record(f"role {plan.jobs_role}: statement_timeout {roles[plan.jobs_role]['statement_timeout'].text}, "
           f"lock_timeout {roles[plan.jobs_role]['lock_timeout'].text}, pool {plan.jobs_env['DB_POOL'].value}",
           f"role {role}: statement_timeout {report['statement_timeout']}, lock_timeout {report['lock_timeout']}, "
           f"pool {report['db_pool']}")


def cpus_allowed(host, pid: int) -> str:
    """The kernel's CPU list for a process (/proc/PID/status), as taskset writes it."""
    line = next(x for x in host.file(f"/proc/{pid}/status").content_string.splitlines()
                if x.startswith("Cpus_allowed_list:"))
    return line.split(":", 1)[1].strip()


def test_puma_and_sidekiq_run_on_their_cpu_sets(host, plan, secrets_dir, record):
    """Where the plan divides a host's cores (Rails on hosts; containers have CPU limits instead),
    each Puma process runs on the web's CPUs and each live Sidekiq process on the jobs' CPUs."""
    if "cpu_sets" not in plan.app:
        pytest.skip("no CPU sets in this plan (Docker's CPU limits divide the host)")
    web, jobs = plan.app["cpu_sets"].value
    pids = listener_pids(host, plan.app["port"].value)
    pids |= {p.pid for pid in pids for p in host.process.filter(ppid=pid)}
    port = plan.redis["queue"]["port"].value
    tls = "redis-queue" in plan.tls
    here, job_pids = host.check_output("hostname").strip(), set()
    for identity in redis_cli(host, secrets_dir, "queue", port, "SMEMBERS", "processes", tls=tls).split():
        raw = redis_cli(host, secrets_dir, "queue", port, "HGET", identity, "info", tls=tls).strip()
        info = json.loads(raw) if raw else {}
        if info.get("hostname") == here and host.run(f"test -d /proc/{int(info['pid'])}").rc == 0:
            job_pids.add(int(info["pid"]))
    seen_web = {cpus_allowed(host, pid) for pid in pids}
    seen_jobs = {cpus_allowed(host, pid) for pid in job_pids}
    record(f"web {web}, jobs {jobs}", f"web {','.join(sorted(seen_web))}, jobs {','.join(sorted(seen_jobs))}",
           seen_web == {web} and seen_jobs == {jobs})
