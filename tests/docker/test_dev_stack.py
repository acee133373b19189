"""The dev stack's containers, as the Pulumi program declares them, run for real (issue #11):
every container turns healthy, the app answers through HAProxy, and the servers report the plan."""
import json
import urllib.parse
import urllib.request

import pytest

from components.mockrun import run_program
from tests.docker.replay import CONTAINER, Replay
from tunestack import stackfile
from tunestack.plan import build_plan
from tunestack.poll import wait_until

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def dev(engine):
    run = run_program("dev")
    replay = Replay(run, engine.connect, say=lambda m: print(m, flush=True))
    assert replay.missing_images() == []
    replay.apply()
    plan = build_plan(stackfile.load(stackfile.stack_path("dev"), name="dev"), target="docker")
    yield engine, run, replay, plan
    for c in engine.client.containers.list(all=True):
        c.remove(force=True)
    for v in engine.client.volumes.list():
        v.remove(force=True)


def test_every_container_is_healthy(dev):
    engine, run, replay, plan = dev
    names = {r.plain_inputs["name"] for r in run.of_type(CONTAINER)}
    assert {replay.health(n) for n in names} == {"healthy"}


def test_app_answers_through_the_load_balancer_with_a_real_query(dev):
    engine, run, replay, plan = dev
    # the program ran the app image's migrations (as migrator, before the app replicas)
    assert engine.psql("SELECT string_agg(version, ',') FROM schema_migrations") == "001_hits"
    assert replay.steps.index("run dev-migrate-run") < replay.steps.index("create " + replay.run.by_name(
        "dev-app-web-1").plain_inputs["name"])
    url = f"http://127.0.0.1:{plan.loadbalancer['port'].value}"

    def get():
        with urllib.request.urlopen(url + "/", timeout=5) as r:
            return json.loads(r.read())

    body = wait_until(get, 60, "the app through HAProxy")
    assert "hits" in body
    assert int(engine.psql("SELECT count(*) FROM hits")) >= 0


def test_postgres_reports_the_plan(dev):
    engine, run, replay, plan = dev
    from tunestack.postgres.catalog import catalog

    gucs = catalog(plan.spec.postgres.version)
    for name in ("shared_buffers", "work_mem", "max_connections", "effective_cache_size", "max_wal_size"):
        actual = engine.psql(f"SHOW {name}")
        assert gucs[name].same(plan.postgres[name].text, actual), (name, plan.postgres[name].text, actual)
    roles = engine.psql("SELECT array_to_string(rolconfig, ',') FROM pg_roles WHERE rolname = 'app'")
    assert f"statement_timeout={plan.postgres_roles['app']['statement_timeout'].text}" in roles
    shm = engine.client.containers.get("dev-postgres").exec_run(["df", "-m", "/dev/shm"]).output.decode()
    assert int(shm.splitlines()[1].split()[1]) == plan.container("dev", "postgres").shm_bytes // 1024**2


def test_secrets_are_0600_and_the_services_own(dev):
    engine, run, replay, plan = dev
    # The uploaded secrets, and the app's password that arrives live (DatabasePassword): on the live
    # volume, and in the auth file PgBouncer reads.
    for container, path in (("dev-postgres", "/etc/tunestack/secrets/migrator-password"),
                            ("dev-postgres", "/etc/tunestack/live/secrets/app-password"),
                            ("dev-pgbouncer", "/etc/tunestack/secrets/pgbouncer-userlist.txt"),
                            ("dev-pgbouncer", "/etc/tunestack/live/secrets/app-password"),
                            ("dev-pgbouncer", "/run/tunestack/pgbouncer-userlist.txt")):
        out = engine.client.containers.get(container).exec_run(["stat", "-c", "%a %U %n", path]).output.decode()
        assert out.startswith("600 postgres "), out
    for container, folder in (("dev-postgres", "/etc/tunestack/live/secrets"), ("dev-pgbouncer", "/run/tunestack")):
        out = engine.client.containers.get(container).exec_run(["stat", "-c", "%a %U", folder]).output.decode()
        assert out.strip() == "700 postgres", (container, folder, out)


def test_verify_passes_against_the_containers(dev):
    """`tunestack verify --stack dev --target docker`: the same checks as on hosts, inside each
    container, with expectations from the plan alone."""
    import os
    import subprocess
    import sys

    engine, run, replay, plan = dev
    res = subprocess.run([sys.executable, "-m", "tunestack", "verify", "--stack", "dev", "--target", "docker"],
                         env={**os.environ, "DOCKER_HOST": engine.url}, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-3000:]
    assert " 0 failed" in res.stdout
    checked = {line.split()[1].rstrip(":") for line in res.stdout.splitlines() if line.startswith("host docker://")}
    assert {"docker://dev-postgres", "docker://dev-pgbouncer", "docker://dev-redis-cache",
            "docker://dev-redis-queue"} <= checked
    assert any(h.startswith("docker://dev-app-web-1-") for h in checked), checked
    assert "expected " + plan.postgres["shared_buffers"].text in res.stdout


def test_images_check_finds_every_image_and_names_a_missing_one(dev, tmp_path):
    """`tunestack images check`: every machine has what it runs (exit 0); an app image that is on no
    host and in no registry is named with its fix, exit 2, before anything is touched."""
    import os
    import subprocess
    import sys

    engine = dev[0]
    env = {**os.environ, "DOCKER_HOST": engine.url}
    ok = subprocess.run([sys.executable, "-m", "tunestack", "images", "check", "--stack", "dev", "--format", "json"],
                        env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert {r["state"] for r in json.loads(ok.stdout)["images"]} == {"present"}
    path = tmp_path / "Pulumi.dev.yaml"
    # .invalid never resolves (RFC 2606): no registry anywhere is asked for it.
    path.write_text(stackfile.stack_path("dev").read_text().replace("app: tunestack/refapp:0.1.0",
                                                                    "app: shop.invalid/shop:1.0"))
    bad = subprocess.run([sys.executable, "-m", "tunestack", "images", "check", "--stack-file", str(path)],
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "shop.invalid/shop:1.0" in bad.stderr and "push" in bad.stderr and "Traceback" not in bad.stderr


def test_docker_inspect_shows_no_password(dev):
    """Issue #11: `docker inspect` shows every env var; no container may carry a password there."""
    engine = dev[0]
    passwords = [engine.read("dev-postgres", f"/etc/tunestack/secrets/{u}-password") for u in ("app", "migrator", "postgres")]
    passwords += [engine.read(f"dev-redis-{r}", f"/etc/tunestack/secrets/redis-{r}-password") for r in ("cache", "queue")]
    passwords += [engine.read("dev-monitoring-postgres-exporter", "/etc/tunestack/secrets/postgres-exporter-password")]
    passwords += list(json.loads(engine.read("dev-monitoring-redis-exporter",
                                             "/etc/tunestack/secrets/redis-exporter-passwords.json")).values())
    assert all(len(p) >= 16 for p in passwords)
    for c in engine.client.containers.list():
        env = "\n".join(c.attrs["Config"]["Env"] or []) + "\n" + " ".join(c.attrs["Config"]["Cmd"] or [])
        assert not any(p in env for p in passwords), f"{c.name}: a password in docker inspect"


def prometheus_api(plan, path: str) -> dict:
    from tunestack.plan.monitoring import api_address

    with urllib.request.urlopen(f"http://{api_address(plan, 'prometheus')}{path}", timeout=5) as r:
        return json.loads(r.read())["data"]


def test_prometheus_scrapes_every_target_the_plan_names(dev):
    """Issue #29 on the real engine: Prometheus (published on the host's address) scrapes every
    target of the plan and each is up: the node exporter reading the machine's /proc, PostgreSQL and
    PgBouncer through their exporters' own logins, both Redis through redis_exporter's ACL user,
    HAProxy's own endpoint, the app replica, Prometheus and Alertmanager."""
    engine, run, replay, plan = dev
    planned = {(t.kind, t.name) for t in plan.monitoring["targets"].value}

    def all_up():
        targets = prometheus_api(plan, "/api/v1/targets?state=active")["activeTargets"]
        seen = {(t["labels"]["job"], t["labels"]["name"]): t["health"] for t in targets}
        return seen if set(seen) == planned and set(seen.values()) == {"up"} else None

    seen = wait_until(all_up, 120, "every planned target scraped and up")
    assert set(seen) == planned
    # The servers answer their exporters, not only the exporters Prometheus.
    for query, expected in (("pg_up", 1), ("pgbouncer_up", 1), ("min(redis_up)", 1), ("count(redis_up)", 2)):
        result = prometheus_api(plan, "/api/v1/query?" + urllib.parse.urlencode({"query": query}))["result"]
        assert [float(r["value"][1]) for r in result] == [expected], (query, result)
    # node_exporter reads the machine: its memory, not the container's limit
    total = prometheus_api(plan, "/api/v1/query?query=node_memory_MemTotal_bytes")["result"]
    assert float(total[0]["value"][1]) > plan.container("dev", "node-exporter").memory_bytes * 10


def test_the_exporters_log_in_with_least_rights_and_run_unprivileged(dev):
    """postgres_exporter's role: pg_monitor, no superuser, the plan's CONNECTION LIMIT; every
    monitoring process runs as `prometheus` with its credentials 0600 and its own."""
    from tunestack.monitoring.containers import monitoring_containers
    from tunestack.plan.monitoring import MONITOR_CONNECTIONS

    engine, run, replay, plan = dev
    row = engine.psql("SELECT rolsuper, rolconnlimit, pg_has_role('tunestack_monitor', 'pg_monitor', 'member') "
                      "FROM pg_roles WHERE rolname = 'tunestack_monitor'")
    assert row == f"f|{MONITOR_CONNECTIONS}|t"
    for c in monitoring_containers(plan):
        container = engine.client.containers.get(c.name)
        uid = container.exec_run(["id", "-u", "prometheus"]).output.decode().strip()
        # `docker top` runs ps on the machine, which names uids by its own /etc/passwd: compare numbers.
        # The healthcheck's probe (Docker runs it as the image's user) is not the server.
        users = {p[0] for p in container.top(ps_args="-o uid,pid,args")["Processes"] if "tunestack-probe" not in p[2]}
        assert users == {uid} and uid != "0", (c.name, users, uid)
        for secret in c.secrets:
            out = container.exec_run(["stat", "-c", "%a %U", f"/etc/tunestack/secrets/{secret}"]).output.decode()
            assert out.strip() == "600 prometheus", (c.name, secret, out)


def test_rules_arrive_live_and_a_file_promtool_rejects_is_never_loaded(dev):
    """Prometheus' rules and targets are delivered into the running container and reloaded
    (SIGHUP), never by replacing it: a rules file promtool rejects leaves the plan's rules running."""
    engine, run, replay, plan = dev
    container = engine.client.containers.get("dev-monitoring-prometheus")
    started = container.attrs["State"]["StartedAt"]
    broken = container.exec_run(["sh", "-c", "printf 'groups: [{name: x, rules: [{alert: A, expr: \"up ==\"}]}]\\n' "
                                             "| tunestack-live alerts.yml"])
    assert broken.exit_code == 1 and b"rejected" in broken.output, broken.output
    rules = prometheus_api(plan, "/api/v1/rules?type=alert")["groups"]
    assert sorted(r["name"] for g in rules for r in g["rules"]) == sorted(a["alert"] for a in plan.alerts)
    again = container.exec_run(["sh", "-c", "cat /etc/tunestack/live/alerts.yml | tunestack-live alerts.yml"])
    assert again.exit_code == 0 and b"alerts.yml reloaded" in again.output, again.output
    container.reload()
    assert container.attrs["State"]["StartedAt"] == started, "reloaded in place, not restarted"


def test_status_shows_the_containers_scrape_health_and_alerts(dev):
    """`tunestack status --target docker` asks the stack's Prometheus where the program published it."""
    import os
    import subprocess
    import sys

    engine, run, replay, plan = dev
    res = subprocess.run([sys.executable, "-m", "tunestack", "status", "--stack", "dev", "--target", "docker"],
                         env={**os.environ, "DOCKER_HOST": engine.url}, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    targets = len(plan.monitoring["targets"].value)
    assert "targets up" in res.stdout and f"monitoring: Prometheus http://127.0.0.1:{plan.spec.monitoring.port('prometheus')}" \
        in res.stdout, res.stdout
    line = next(x for x in res.stdout.splitlines() if x.startswith("monitoring: "))
    assert f"{targets} of {targets} targets up" in line and "alerts:" in res.stdout, res.stdout
