"""The staging shape on the test bed (issue #12): db, cache and two app hosts, each a network
namespace with its own sshd and Docker engine. The Pulumi program's declared resources are
replayed through each host's engine over ssh://, as the provider reaches them; traffic crosses
hosts only through ports published on each host's private address."""
import json
import os
import re
import subprocess
import urllib.request

import pytest
import yaml

from tests.docker.replay import CONTAINER, plain
from tests.docker.replay import ReplayStack
from tests.multihost.staging import IMAGES, ca_pem, password
from tunestack.plan import build_plan
from tunestack.poll import wait_until
from tunestack.stackfile import load

pytestmark = pytest.mark.multihost


def on_host(bed, name, *cmd) -> str:
    """A command in a host's network namespace (as its own shell would see the network)."""
    return subprocess.run(["nsenter", f"--net=/var/run/netns/{bed.hosts[name].netns}", *cmd], capture_output=True,
                          text=True, timeout=30, check=True).stdout


def test_every_container_is_healthy_on_the_host_its_role_names(staging):
    bed, replay, plan, _ = staging
    expected = {"bed-postgres": "db", "bed-pgbouncer": "db", "bed-redis-cache": "cache", "bed-redis-queue": "cache",
                "bed-lb": "cache", "bed-app-web-1": "app1", "bed-app-web-2": "app2"}
    for r in replay.run.of_type(CONTAINER):
        name = plain(r.inputs)["name"]
        assert replay.health(name) == "healthy", name
        if name in expected:
            assert name in {c.name for c in bed.client(bed.hosts[expected[name]]).containers.list()}, name


def test_the_app_answers_through_the_load_balancer_across_hosts(staging):
    bed, replay, plan, _ = staging
    # The program ran the migrations as migrator straight to PostgreSQL, on the db host, before any
    # app replica (the app image contract's tunestack-migrate).
    assert "run bed-migrate-run" in replay.steps
    assert plan.placement["pgbouncer"].publish == bed.hosts["db"].address   # the app hosts' way in
    url = f"http://{bed.hosts['cache'].address}:{plan.loadbalancer['port'].value}/"

    def get():
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())
    assert "hits" in wait_until(get, 60, "the app through HAProxy on the cache host")


def test_nothing_listens_beyond_each_hosts_address(staging):
    bed, *_ = staging
    for name, host in bed.hosts.items():
        listening = {line.split()[3].rsplit(":", 1)[0] for line in on_host(bed, name, "ss", "-ltnH").splitlines()}
        assert listening <= {host.address, "127.0.0.1", "[::1]"}, (name, listening)


@pytest.mark.parametrize("service", ["pgbouncer", "redis-cache", "redis-queue"])
def test_every_published_port_asks_for_a_password(staging, tmp_path, service):
    bed, replay, plan, _ = staging
    spot = plan.placement[service]
    if spot.publish is None:
        pytest.skip(f"{service} is not published")
    port = {"pgbouncer": plan.spec.pgbouncer.port, "redis-cache": plan.spec.redis_cache.port,
            "redis-queue": plan.spec.redis_queue.port}[service]
    if service == "pgbouncer":
        res = subprocess.run(["psql", "-h", spot.publish, "-p", str(port), "-U", "app", "-d", "app", "-w", "-c", "SELECT 1"],
                             capture_output=True, text=True, timeout=20, env={**os.environ, "PGCONNECT_TIMEOUT": "5"})
        assert res.returncode != 0 and re.search("password", res.stderr), res.stderr
    else:   # over TLS, as its clients connect (the plaintext port is off: see the test below)
        ca = tmp_path / "ca.crt"
        ca.write_text(ca_pem(replay))
        res = subprocess.run(["redis-cli", "--tls", "--cacert", str(ca), "-h", spot.publish, "-p", str(port), "PING"],
                             capture_output=True, text=True, timeout=20)
        assert "NOAUTH" in res.stdout + res.stderr, res.stdout + res.stderr




def from_app_host(bed, cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """A client on app host 1: its own network namespace, the secrets in its environment only."""
    return subprocess.run(["nsenter", f"--net=/var/run/netns/{bed.hosts['app1'].netns}", *cmd], capture_output=True,
                          text=True, timeout=30, env={**os.environ, **env})


@pytest.mark.parametrize("service", ["postgres", "pgbouncer", "redis-cache", "redis-queue"])
def test_between_hosts_only_verified_tls_gets_through(staging, tmp_path, service):
    """Issue #25, point 8: from another host, a client that verifies the server's certificate and
    name against the stack's CA gets in and is encrypted; a plaintext client is refused."""
    bed, replay, plan, _ = staging
    assert service in plan.tls, f"{service} has clients on other hosts and must serve TLS"
    # The server's key: its service's alone (the image's entrypoint makes the secrets 0600). Through
    # the docker CLI over the bed's SSH, as the program's commands reach a host.
    machine = "cache" if service.startswith("redis") else "db"
    stat = subprocess.run(["docker", "exec", f"bed-{service}", "stat", "-c", "%a %U", "/etc/tunestack/secrets/tls.key"],
                          env={**bed.env, "DOCKER_HOST": bed.hosts[machine].url}, capture_output=True, text=True,
                          timeout=60)
    assert stat.stdout.strip() == f"600 {'redis' if service.startswith('redis') else 'postgres'}", stat.stderr
    ca = tmp_path / "ca.crt"
    ca.write_text(ca_pem(replay))
    address, port = plan.placement[service].publish, plan.ports()[service]
    if service.startswith("redis-"):
        auth = {"REDISCLI_AUTH": password(replay, "redis-cache" if service == "redis-cache" else "redis")}
        plaintext = from_app_host(bed, ["timeout", "10", "redis-cli", "--no-auth-warning", "-h", address, "-p", str(port),
                                        "PING"], auth)
        assert "PONG" not in plaintext.stdout + plaintext.stderr, "a plaintext client was answered"
        verified = from_app_host(bed, ["redis-cli", "--no-auth-warning", "--tls", "--cacert", str(ca), "-h", address,
                                       "-p", str(port), "PING"], auth)
        assert verified.stdout.strip() == "PONG", verified.stdout + verified.stderr
        return
    user, key = ("migrator", "migrator") if service == "postgres" else ("app", "db")
    sql = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()" if service == "postgres" else "SELECT 1"
    env = {"PGPASSWORD": password(replay, key), "PGCONNECT_TIMEOUT": "5"}
    plaintext = from_app_host(bed, ["psql", f"host={address} port={port} user={user} dbname=app sslmode=disable",
                                    "-AtX", "-c", sql], env)
    assert plaintext.returncode != 0, "a plaintext client got in"
    assert ("no encryption" if service == "postgres" else "SSL required") in plaintext.stderr, plaintext.stderr
    verified = from_app_host(bed, ["psql", f"host={address} port={port} user={user} dbname=app sslmode=verify-full "
                                   f"sslrootcert={ca}", "-AtX", "-c", sql], env)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.strip() == ("t" if service == "postgres" else "1")
    # A CA that did not sign the server's certificate is refused: verification is real.
    other = tmp_path / "other-ca.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(tmp_path / "other.key"), "-out", str(other), "-subj", "/CN=other", "-days", "1"],
                   check=True, capture_output=True)
    forged = from_app_host(bed, ["psql", f"host={address} port={port} user={user} dbname=app sslmode=verify-full "
                                 f"sslrootcert={other}", "-AtX", "-c", sql], env)
    assert forged.returncode != 0 and "certificate verify failed" in forged.stderr, forged.stderr


def test_verify_checks_every_machine_over_ssh(staging):
    """`tunestack verify --stack NAME --target docker` on a stack of remote hosts: per machine, the
    machine itself over ssh:// and its containers through DOCKER_HOST=ssh://…, with testinfra's own
    options (an ssh config, JUnit output per machine); expectations from the plan alone."""
    import sys

    bed, replay, plan, stacks = staging
    junit = stacks / "verify.xml"
    res = subprocess.run([sys.executable, "-m", "tunestack", "verify", "--stack", "bed", "--target", "docker",
                          "--ssh-config", str(bed.ssh_config), "--junit-xml", str(junit)],
                         env={**bed.env, "TUNESTACK_STACKS_DIR": str(stacks)}, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-3000:]
    print(res.stdout, flush=True)   # the README shows parts of this, as it came
    for machine, host in (("db", "db"), ("cache", "cache"), ("app-1", "app1"), ("app-2", "app2")):
        assert f"== {machine} (ssh://root@{bed.hosts[host].address})" in res.stdout
        assert (stacks / f"verify-{machine}.xml").exists()
    assert f"host ssh://{bed.hosts['db'].address}:" in res.stdout   # the machine's own checks
    assert "host docker://bed-postgres" in res.stdout and "host docker://bed-app-web-2" in res.stdout
    assert "expected " + plan.postgres["shared_buffers"].text in res.stdout
    # Kernel settings the plan asks for, read inside each container's own network namespace.
    assert any("PASS  test_somaxconn_honours_the_listen_backlog[" in line and "pgbouncer" in line
               for line in res.stdout.splitlines()), res.stdout[-3000:]
    # TLS between hosts, at run time: plaintext refused, PostgreSQL's network sessions all encrypted
    for check, service in (("test_plaintext_is_refused", "postgres"), ("test_plaintext_is_refused", "redis-queue"),
                           ("test_verified_client_is_encrypted", "pgbouncer"),
                           ("test_network_sessions_are_encrypted", "postgres")):
        assert any(f"PASS  {check}[" in line and service in line for line in res.stdout.splitlines()), \
            (check, service, res.stdout[-3000:])
    assert " 0 failed" in res.stdout


def _verify(bed, stacks, *extra):
    import sys

    return subprocess.run([sys.executable, "-m", "tunestack", "verify", "--stack", "bed", "--target", "docker", *extra],
                          env={**bed.env, "TUNESTACK_STACKS_DIR": str(stacks)}, capture_output=True, text=True,
                          timeout=120)


def test_verify_refuses_an_unreachable_host_before_any_check(staging, tmp_path):
    bed, replay, plan, stacks = staging
    doc = yaml.safe_load((stacks / "Pulumi.bed.yaml").read_text())
    # 10.231.7.99 is in the bed's own range, and nothing answers there.
    doc["config"]["tunestack:hosts"][2]["addresses"][1] = "10.231.7.99"
    other = tmp_path / "stacks"
    other.mkdir()
    (other / "Pulumi.bed.yaml").write_text(yaml.safe_dump(doc))
    res = _verify(bed, other, "--ssh-config", str(bed.ssh_config))
    assert res.returncode == 3, res.stdout + res.stderr
    assert "ssh://root@10.231.7.99" in res.stderr and "does not answer over SSH" in res.stderr
    assert "Traceback" not in res.stderr and "PASS" not in res.stdout


def test_verify_refuses_a_host_whose_key_changed(staging, tmp_path):
    bed, replay, plan, stacks = staging
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    db = bed.hosts["db"].address
    (tmp_path / "known_hosts").write_text(f"{db} " + " ".join((tmp_path / "other.pub").read_text().split()[:2]) + "\n")
    config = tmp_path / "ssh_config"
    config.write_text(bed.ssh_config.read_text().replace(f"{bed.dir}/known_hosts", str(tmp_path / "known_hosts"))
                      .replace("StrictHostKeyChecking accept-new", "StrictHostKeyChecking yes")
                      # a fresh handshake: never the bed's shared connection
                      .replace(f"ControlPath {bed.dir}/cm-%C", "ControlPath none"))
    res = _verify(bed, stacks, "--ssh-config", str(config))
    assert res.returncode == 3, res.stdout + res.stderr
    assert f"host key of {db}" in res.stderr and f"ssh-keygen -R {db}" in res.stderr


def rollout_on_the_bed(staging, tmp_path, version, env, **engine_kw):
    from tunestack.loadgen import Load
    from tunestack.rollout import SYNTHETIC_HEADER, DockerEngine, LoadBalancerControl, Rollout, StateStore

    bed, replay, plan, stacks = staging
    fresh = build_plan(load(stacks / "Pulumi.bed.yaml", name="bed"), target="docker")
    stack = ReplayStack(replay, stacks / "Pulumi.bed.yaml", "bed")
    lb = LoadBalancerControl("bed-lb", bed.hosts["cache"].url, env=bed.env)
    # The host gate is the shipped one: testinfra inside the canary containers over the bed's SSH.
    engine = DockerEngine.for_stack(fresh, stack, lb, say=lambda m: print(m, flush=True))
    for name, fn in engine_kw.items():
        setattr(engine, name, fn(engine))
    entry = f"http://{bed.hosts['cache'].address}:{plan.loadbalancer['port'].value}/"
    rollout = Rollout(engine, StateStore(tmp_path / "rollout.json"), (0.05, 1000.0, 10),
                      say=lambda m: print(m, flush=True),
                      load=lambda: Load(entry, threads=2, limit_s=60, rate=20, headers={SYNTHETIC_HEADER: "1"}))
    return rollout, stack, engine, entry


def web_images(staging):
    bed, replay, *_ = staging
    return {name: replay.where[name].containers.get(name).image.tags for name in ("bed-app-web-1", "bed-app-web-2")}


def test_a_healthy_image_goes_to_100_percent_by_weights_alone_even_when_killed(staging, tmp_path):
    """The rollout is killed at its last step and the same command resumes there; the program ran
    only to start the canary and to promote, the load balancer was never replaced."""
    from tunestack.loadgen import Load

    class Killed(Exception):
        pass

    def dies_at_100(engine):
        original = engine.set_weight

        def set_weight(weight):
            if weight == 100:
                raise Killed()
            return original(weight)
        return set_weight

    rollout, stack, engine, entry = rollout_on_the_bed(staging, tmp_path, IMAGES["canary_app"], {},
                                                       set_weight=dies_at_100)
    lb_before = staging[1].where["bed-lb"].containers.get("bed-lb").id
    with Load(entry, threads=2, limit_s=600, pause_s=0.05) as users:
        with pytest.raises(Killed):
            rollout.run(IMAGES["canary_app"], {}, [50, 100], 3)
        again, stack, engine, entry = rollout_on_the_bed(staging, tmp_path, IMAGES["canary_app"], {})
        lines = []
        again.say = lines.append
        assert again.run(IMAGES["canary_app"], {}, [50, 100], 3) == 0
    assert lines[0].startswith(f"resuming {IMAGES['canary_app']} at step 2/2 (100%)"), lines[:3]
    assert any("canary container(s) listen on" in line for line in lines), "testinfra ran inside the canary"
    # Resumed: the canary is started again (an apply that finds nothing to change), then promoted.
    assert [u.split()[1] for u in stack.ups] == ["start", "promote"], stack.ups
    assert staging[1].where["bed-lb"].containers.get("bed-lb").id == lb_before, "the load balancer was never replaced"
    assert all(IMAGES["canary_app"] in tags for tags in web_images(staging).values())
    # Replicas that publish a port are replaced one at a time at the promotion; HAProxy retries a
    # refused connection elsewhere. Measured: 1 of 1,714 requests failed once; at most 0.2 %.
    assert users.results and users.failed <= len(users.results) * 0.002, \
        f"{users.failed} of {len(users.results)} user requests failed"


def test_a_faulty_image_is_rolled_back_with_only_its_share_failing(staging, tmp_path):
    from tunestack.loadgen import Load

    rollout, stack, engine, entry = rollout_on_the_bed(staging, tmp_path, IMAGES["app"], {})
    with Load(entry, threads=2, limit_s=600, pause_s=0.05) as users:
        assert rollout.run(IMAGES["app"], {"APP_FAULT_RATE": "0.5"}, [50, 100], 3) == 1
    failed = [r for r in users.results if r[0] >= 500]
    assert failed and all(track == "canary" for _, track in failed), "only the canary answered 500"
    assert len(failed) / len(users.results) < 0.4, "about 25 % expected during the bake at 50 %, none after"
    assert all(IMAGES["canary_app"] in tags for tags in web_images(staging).values()), "stable kept its version"
    assert "tunestack:canaryEnv" not in stack._config()["config"]


def test_the_host_gate_fails_a_container_that_is_not_the_canary(staging):
    """testinfra inside the container, over the bed's SSH: after the rollbacks every replica is
    stable, so asking for a canary there fails, naming the container and what is wrong."""
    from tunestack.rollout import CanaryHostCheck

    bed, replay, plan, stacks = staging
    ok, detail = CanaryHostCheck(plan, bed.env)("tunestack/refapp:9.9.9", ["bed-app-web-1"])
    assert not ok
    assert "bed-app-web-1: its process is not on the canary track" in detail
    assert "not tunestack/refapp:9.9.9" in detail


def test_a_rollout_to_an_image_no_app_host_has_is_refused_before_anything(staging):
    """`tunestack rollout --stack NAME --version IMAGE` on a Docker stack asks every app machine
    for the image first: exit 2 naming it, nothing started."""
    import sys

    bed, replay, plan, stacks = staging
    before = {name: c.id for name, c in ((n, replay.where[n].containers.get(n)) for n in ("bed-app-web-1", "bed-app-web-2"))}
    res = subprocess.run([sys.executable, "-m", "tunestack", "rollout", "--stack", "bed", "--version", "shop.invalid/shop:9"],
                         env={**bed.env, "TUNESTACK_STACKS_DIR": str(stacks), "TUNESTACK_STATE_DIR": str(stacks / "state")},
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "shop.invalid/shop:9" in res.stderr and "missing" in res.stderr and "Traceback" not in res.stderr
    assert {n: replay.where[n].containers.get(n).id for n in before} == before


def test_advise_reads_every_area_where_verify_checks_it(staging):
    """`tunestack advise --target docker` on a stack of remote machines: each area (PostgreSQL,
    PgBouncer, both Redis, the queue) read inside its own container through that machine's engine
    over SSH, as verify reads them. The first run only stores its sample (no advice without a window)."""
    import sys

    bed, replay, plan, stacks = staging
    state = stacks / "advise-state"
    res = subprocess.run([sys.executable, "-m", "tunestack", "advise", "--stack", "bed", "--target", "docker",
                          "--ssh-config", str(bed.ssh_config), "--json"],
                         env={**bed.env, "TUNESTACK_STACKS_DIR": str(stacks), "TUNESTACK_STATE_DIR": str(state)},
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert json.loads(res.stdout)["not_enough_data"][0].startswith("not enough data yet")
    sample = json.loads((state / "bed" / "advise-samples.jsonl").read_text().splitlines()[-1])
    unread = {area: sample[area]["error"] for area in ("postgres", "pgbouncer", "redis_cache", "redis_queue", "queue")
              if "error" in sample[area]}
    assert not unread, unread
    assert sample["postgres"]["xact_commit"] > 0 and "total_xact_count" in sample["pgbouncer"]
    assert sample["redis_cache"]["maxmemory"] == plan.redis["cache"]["maxmemory"].value


def test_a_password_rotation_across_app_hosts_fails_no_request(staging):
    """Issue #25, point 4, with two app replicas on two hosts (replaced one at a time: their ports
    are published): the two `up`s of a rotation (components/dbpassword.py) under load, counted.
    Last in this module: the stack keeps the rotated password."""
    from components.mockrun import run_program
    from tunestack.loadgen import Load

    bed, replay, plan, stacks = staging
    path, old, new = stacks / "Pulumi.bed.yaml", password(replay, "db"), "rotated-" + "y" * 24
    db = replay.where["bed-postgres"]
    servers = {n: db.containers.get(n).id for n in ("bed-postgres", "bed-pgbouncer")}
    entry = f"http://{bed.hosts['cache'].address}:{plan.loadbalancer['port'].value}/"
    counted = []
    for extra in ({"tunestack:dbPassword": new, "tunestack:dbPasswordPrevious": old}, {"tunestack:dbPassword": new}):
        with Load(entry, threads=2, limit_s=300, pause_s=0.05) as users:
            replay.update(run_program("bed", stack_file=path, extra_config=extra))
        counted.append((users.failed, len(users.results)))
    print(f"rotation across 2 app hosts: failed/requests per up: {counted}", flush=True)
    assert all(total and failed == 0 for failed, total in counted), counted
    assert {n: db.containers.get(n).id for n in servers} == servers, "no server restarted"
    env = {"PGPASSWORD": new, "PGCONNECT_TIMEOUT": "5"}
    address, port = plan.placement["pgbouncer"].publish, plan.ports()["pgbouncer"]
    ca = stacks / "rotation-ca.crt"
    ca.write_text(ca_pem(replay))
    login = ["psql", f"host={address} port={port} user=app dbname=app sslmode=verify-full sslrootcert={ca}",
             "-AtX", "-c", "SELECT 1"]
    assert from_app_host(bed, login, env).returncode == 0, "the app role takes the new password"
    assert from_app_host(bed, login, {**env, "PGPASSWORD": old}).returncode != 0, "and no longer the old one"
