"""The Pulumi program under Pulumi's mocks (set_mocks, preview=False, a fresh run per test).

Every stack file is run through the real __main__.py; the recording monitor sees each resource
registration with its parent, options and inputs as sent to the engine."""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from components.mockrun import SECRET_SIG, UNKNOWN, mock_image_id, run_program
from tests.docker.replay import plain
from tunestack import stackfile
from tunestack.errors import StackError
from tunestack.monitoring.containers import monitoring_containers
from tunestack.plan import build_plan
from tunestack.plan.rollout import running
from tunestack.render import Layout, render_container_bases, render_plan

pytestmark = pytest.mark.pulumi
# The stacks `pulumi up` deploys: those that pin their images. local-rails runs on this machine
# only (`tunestack up`); the program refuses it with its own clear error (test below).
STACKS = [n for n in stackfile.stack_names()
          if not stackfile.load(stackfile.stack_path(n), name=n).missing_images()]
CONTAINER = "docker:index/container:Container"
COMPONENTS = {"tunestack:index:PostgresServer", "tunestack:index:PgBouncer", "tunestack:index:Redis",
              "tunestack:index:AppServerGroup", "tunestack:index:LoadBalancer", "tunestack:index:PrivateNetwork",
              "tunestack:index:DockerHosts", "tunestack:index:StackSecrets", "tunestack:index:StackImages",
              "tunestack:index:RolloutGuard", "tunestack:index:AppMigration", "tunestack:index:StackCertificates",
              "tunestack:index:DatabasePassword", "tunestack:index:BackupRepository", "tunestack:index:Monitoring"}


def app_containers(run):
    """The app replicas' containers: the children of the AppServerGroup component."""
    return [c for c in run.of_type(CONTAINER) if c.parent.split("::")[-2].endswith("tunestack:index:AppServerGroup")]


def docker_plan(stack):
    spec = stackfile.load(stackfile.stack_path(stack), name=stack)
    return build_plan(spec, target="docker")


def unwrap(value):
    if isinstance(value, dict) and SECRET_SIG in value:
        return value["value"]
    return value


@pytest.mark.parametrize("stack", STACKS)
def test_resource_graph(stack):
    run = run_program(stack)
    by_urn = {r.urn: r for r in run.registrations}
    types = {r.type for r in run.registrations}
    plan = docker_plan(stack)
    remote_backups = "repository server" in plan.backup   # a repository on another host (issue #27)
    monitored = bool(monitoring_containers(plan))   # a tunestack:monitoring section (dev, prod)
    assert COMPONENTS - ({"tunestack:index:BackupRepository"} if not remote_backups else set()) \
        - ({"tunestack:index:Monitoring"} if not monitored else set()) <= types
    for r in run.registrations:
        parent = by_urn.get(r.parent)
        if r.type in COMPONENTS:
            assert parent is None, f"{r.name}: components hang off the stack"
        else:
            assert parent is not None and parent.type in COMPONENTS, f"{r.name} has no component parent"
            assert r.name.startswith(parent.name), f"{r.name} is not named after {parent.name}"
    containers = {r.name for r in run.of_type(CONTAINER)}
    processes = plan.spec.app.jobs.processes   # one job container per process (jobs.processes)
    jobs = {r.name.replace("-web-", "-jobs-") + (f"-{p + 1}" if processes > 1 else "")
            for r in running(plan.replicas) for p in range(processes)}
    expected = {f"{stack}-postgres", f"{stack}-pgbouncer", f"{stack}-redis-cache", f"{stack}-redis-queue",
                f"{stack}-lb"} | {r.name for r in running(plan.replicas)} | jobs \
        | ({f"{stack}-backup-repo"} if remote_backups else set()) | {c.name for c in monitoring_containers(plan)}
    assert containers == expected
    # One Docker provider per machine: the socket locally, ssh://user@address for listed hosts.
    providers = {r.name: r.inputs.get("host") for r in run.of_type("pulumi:providers:docker")}
    assert len(providers) == sum(h.count for h in plan.spec.hosts)
    for h in plan.spec.hosts:
        for i in range(h.count):
            expected_host = f"ssh://{h.ssh_user}@{h.addresses[i]}" if h.addresses else "unix:///var/run/docker.sock"
            assert expected_host in providers.values()


@pytest.mark.parametrize("stack", STACKS)
def test_containers_carry_the_rendered_plan(stack):
    run = run_program(stack)
    plan = docker_plan(stack)
    files = render_plan(plan, Layout(run_dir="/tmp"))
    containers = {r.name: r for r in run.of_type(CONTAINER)}
    uploads = {name: {u["file"]: unwrap(u["content"]) for u in c.inputs.get("uploads", [])}
               for name, c in containers.items()}
    starts = render_container_bases(plan)
    # What a server reads only at start is the container's own; the rest arrives live (no replacement).
    assert uploads[f"{stack}-postgres"]["/etc/tunestack/postgresql.conf"] == starts["postgresql.conf"]
    assert uploads[f"{stack}-pgbouncer"]["/etc/tunestack/pgbouncer.ini"] == starts["pgbouncer.ini"]
    live = {r.name: r.plain_inputs for r in run.of_type("command:local:Command")}
    assert live[f"{stack}-postgres-live-postgresql.conf"]["stdin"] == starts["postgresql.live.conf"]
    assert live[f"{stack}-postgres-live-roles.sql"]["stdin"] == files["roles.sql"]
    assert live[f"{stack}-pgbouncer-live-pgbouncer.ini"]["stdin"] == starts["pgbouncer.live.ini"]
    assert live[f"{stack}-lb-live-haproxy.cfg"]["stdin"] == files["haproxy.cfg"]
    assert "/etc/tunestack/roles.sql" not in uploads[f"{stack}-postgres"], "a timeout change must not restart"
    assert uploads[f"{stack}-lb"] == {}, "a rollout step must not replace the load balancer"
    for role in ("cache", "queue"):
        assert uploads[f"{stack}-redis-{role}"][f"/etc/tunestack/redis-{role}.conf"] == files[f"redis-{role}.conf"]
    server_file = "puma.rb" if plan.spec.app.framework == "rails" else "gunicorn.conf.py"
    for r in running(plan.replicas):
        web = containers[r.name]
        assert uploads[r.name][f"/etc/tunestack/{server_file}"] == files[server_file]
        assert uploads[r.name]["/etc/tunestack/web.env"] == files["web.env"]
        envs = [e for e in web.inputs["envs"] if isinstance(e, str)]
        for key, setting in plan.web_env.items():
            assert f"{key}={setting.text}" in envs
    # The fd limit of PgBouncer is the plan's LimitNOFILE.
    ulimit = containers[f"{stack}-pgbouncer"].inputs["ulimits"][0]
    assert ulimit["name"] == "nofile" and ulimit["soft"] == plan.pgbouncer_service["LimitNOFILE"].value


@pytest.mark.parametrize("stack", STACKS)
def test_limits_on_each_host_fit_the_host(stack):
    run = run_program(stack)
    plan = docker_plan(stack)
    machines = {}
    for h in plan.spec.hosts:
        for i in range(h.count):
            machines[f"{stack}-hosts-{h.name if h.count == 1 else f'{h.name}-{i + 1}'}"] = h
    memory, cpus = defaultdict(int), defaultdict(float)
    for c in run.of_type(CONTAINER):
        assert c.inputs["memory"] > 0 and float(c.inputs["cpus"]) > 0
        assert c.inputs["memorySwap"] == c.inputs["memory"], "no swap beyond the memory limit"
        memory[c.provider_name] += c.inputs["memory"] * 1024**2
        cpus[c.provider_name] += float(c.inputs["cpus"])
    assert set(memory) == set(machines)
    for machine, host in machines.items():
        assert memory[machine] <= host.memory_bytes, machine
        assert cpus[machine] <= host.cpus + 1e-9, machine


@pytest.mark.parametrize("stack", STACKS)
def test_data_volumes_are_protected_and_containers_replace_safely(stack):
    run = run_program(stack)
    volumes = {r.name: r for r in run.of_type("docker:index/volume:Volume")}
    for name in (f"{stack}-postgres-data", f"{stack}-redis-queue-data"):
        assert volumes[name].protect and volumes[name].retain_on_delete
    containers = {r.name: r for r in run.of_type(CONTAINER)}
    mounts = {v["volumeName"]: v["containerPath"] for v in containers[f"{stack}-postgres"].inputs["volumes"]}
    assert mounts[f"{stack}-postgres-data"] == "/var/lib/tunestack/postgres"
    env = [e for e in containers[f"{stack}-postgres"].inputs["envs"] if isinstance(e, str)]
    assert "PGDATA=/var/lib/tunestack/postgres/pgdata" in env  # data inside the volume
    mounts = {v["volumeName"]: v["containerPath"] for v in containers[f"{stack}-redis-queue"].inputs["volumes"]}
    assert mounts[f"{stack}-redis-queue-data"] == "/var/lib/tunestack/redis-queue"
    # Fixed names or host ports need delete-before-replace; app replicas that publish nothing are
    # named per generation and replaced new-first (a surge), their replica name kept as the alias.
    plan = docker_plan(stack)
    surge = {r.name for r in running(plan.replicas) if r.publish is None}
    for name, c in containers.items():
        replica = next((s for s in surge if name.startswith((s, s.replace("-web-", "-jobs-")))), None)
        if replica:
            assert not c.delete_before_replace and c.plain_inputs["name"] != name, name
            assert c.plain_inputs["networksAdvanced"][0]["aliases"] in ([name],), name
        else:
            assert c.delete_before_replace and c.plain_inputs["name"] == name, name


def _walk_plain(value, secrets, path="", inside_secret=False):
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return
        for k, v in value.items():
            _walk_plain(v, secrets, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _walk_plain(v, secrets, f"{path}[{i}]")
    elif isinstance(value, str):
        for s in secrets:
            assert s not in value, f"secret in plain text at {path}"


@pytest.mark.parametrize("stack", STACKS)
def test_no_secret_in_plain_text(stack, tmp_path):
    # A stack with a password set as Pulumi secret config, plus the generated ones.
    text = stackfile.stack_path(stack).read_text() + "  tunestack:dbPassword:\n    secure: v1:AAAAciphertext\n"
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(text)
    run = run_program(stack, stack_file=path)
    secrets = ["mock-secret-dbPassword", f"mock-generated-{stack}-secrets-redis", f"mock-generated-{stack}-secrets-admin"]
    seen = json.dumps([r.inputs for r in run.registrations])
    for s in secrets:
        assert s in seen, f"{s} is used (wrapped as a secret)"
    for r in run.registrations:
        _walk_plain(r.inputs, secrets, r.name)
    assert not any(s in json.dumps(run.outputs) for s in secrets)


@pytest.mark.parametrize("stack,weight", [("prod", w) for w in (10, 25, 50, 100)] + [("staging", w) for w in (10, 25, 50, 100)])
def test_rollout_weight_splits_replicas_as_planned(stack, weight):
    run = run_program(stack, extra_config={"tunestack:canaryWeight": str(weight)})
    spec = stackfile.load(stackfile.stack_path(stack), name=stack)
    plan = build_plan(spec, target="docker")
    split = plan.splits[weight]
    web = [c for c in run.of_type(CONTAINER) if "-web-" in c.name]
    canary = [c for c in web if c.inputs["image"] == mock_image_id(spec.images["canary_app"])]
    assert len(canary) == split.canary and len(web) - len(canary) == split.stable
    for c in canary:
        assert "TUNESTACK_TRACK=canary" in c.inputs["envs"]
    assert run.outputs["rollout"]["canary_replicas"] == split.canary
    # HAProxy weights make the canary's share of traffic the requested weight.
    cfg = next(c for c in run.of_type("command:local:Command") if c.name == f"{stack}-lb-live-haproxy.cfg").inputs["stdin"]
    servers = [line.split() for line in cfg.splitlines() if line.strip().startswith("server ")]
    total = sum(int(s[s.index("weight") + 1]) for s in servers)
    canary_total = sum(int(s[s.index("weight") + 1]) for s in servers if s[-1] == "canary")
    assert canary_total / total * 100 == pytest.approx(weight, abs=2)


def test_bad_stack_file_fails_before_any_resource(tmp_path):
    doc = yaml.safe_load(stackfile.stack_path("dev").read_text())
    doc["config"]["tunestack:postgres"]["workload"] = "webb"
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(Exception) as err:
        run_program("dev", stack_file=path)
    assert "workload" in str(err.value) and "webb" in str(err.value)
    # No resource at all: the plan failed before the first component.


def test_bad_stack_registers_nothing(tmp_path):
    import components.mockrun as mockrun

    doc = yaml.safe_load(stackfile.stack_path("dev").read_text())
    doc["config"]["tunestack:redis"]["queue"]["policy"] = "allkeys-lru"
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(doc))
    seen = []
    original = mockrun._RecordingMonitor.RegisterResource

    def spy(self, request):
        seen.append(request.type)
        return original(self, request)

    mockrun._RecordingMonitor.RegisterResource = spy
    try:
        with pytest.raises(Exception):
            run_program("dev", stack_file=path)
    finally:
        mockrun._RecordingMonitor.RegisterResource = original
    assert [t for t in seen if t != "pulumi:pulumi:Stack"] == []


def test_instance_types_resolved_through_aws_inside_the_program(monkeypatch):
    # moto serves describe_instance_types from AWS's published data, offline.
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        run = run_program("staging")
    hosts = run.outputs["plan"]["hosts"]
    assert hosts["db"]["source"] == "aws describe_instance_types"
    assert (hosts["db"]["cpus"], hosts["db"]["memory_bytes"]) == (8, 32 * 1024**3)  # m6i.2xlarge


def test_preview_lists_the_full_graph_of_prod():
    import subprocess
    import sys

    from tunestack.paths import ROOT

    res = subprocess.run([sys.executable, "-m", "tunestack", "preview", "--stack", "prod"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    # 89 before issues #10/#11, + a RandomPassword for the cache Redis and one for migrator, + a second
    # job container (and its image) on each of the 10 replicas for jobs.processes: 2, + 4 live-file
    # commands (postgresql.conf, roles.sql, pgbouncer.ini, haproxy.cfg) and 3 live volumes; the 20 + 4
    # per-container images become one per machine and image (StackImages: 13 + its component), + the
    # PgBouncer hold command around PostgreSQL restarts, + the jobs role's RandomPassword (issue #13),
    # + the major-version guard before the PostgreSQL container, the rollout guard and the migration
    # (component and command each) before the app replicas, and the app image on the db machine for
    # the migration (issue #25), + TLS between hosts (issue #25): the certificates' component, the
    # CA's key and certificate, and a key, request and certificate for each of the 4 servers, + the
    # app role's password delivered live (component and command), + pgBackRest's repository on the
    # cache host (issue #27: component, volume, container, stanza command, the PostgreSQL image on
    # that machine, and a key, request and certificate for the repository server and the agent),
    # + monitoring (issue #29): its component, a node exporter on each of the 12 machines and the
    # monitoring image there, the 3 server exporters, Prometheus and Alertmanager with a volume each,
    # the exporters' 3 RandomPasswords, a key, request and certificate for each of the 11 node
    # exporters away from Prometheus, and a live volume each for Prometheus and Alertmanager with
    # their 3 live-file commands, + a key, request and certificate each for Prometheus and
    # Alertmanager (HTTPS: the operators reach them from other machines):
    # 134 + 1 + 24 + 3 + 4 + 3 + 33 + 5 + 6
    assert out.startswith("stack prod: 213 resources")
    for name in ["prod-postgres", "prod-pgbouncer", "prod-redis-cache", "prod-redis-queue", "prod-lb",
                 "prod-app-web-10", "prod-app-jobs-10", "prod-hosts-app-10", "prod-postgres-data"]:
        assert f"  {name}" in out
    assert "host: ssh://deploy@10.30.2.20" in out
    assert "[secret]" in out and "mock-generated" not in out
    assert "PRIVATE KEY" not in out, "a TLS key reached the preview"


def test_private_registry_credentials_reach_every_provider_as_a_secret(tmp_path):
    # pulumi-docker Provider registryAuth: every machine pulls the app's private images.
    text = stackfile.stack_path("staging").read_text()
    text += ("  tunestack:registry: {address: registry.example.internal:5000, username: deploy}\n"
             "  tunestack:registryPassword:\n    secure: v1:cmVnaXN0cnk=\n")
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(text)
    run = run_program("staging", stack_file=path)
    providers = run.of_type("pulumi:providers:docker")
    assert providers
    for p in providers:
        auth = json.dumps(p.inputs["registryAuth"])
        assert "registry.example.internal:5000" in auth and "deploy" in auth and "mock-secret-registryPassword" in auth
        assert SECRET_SIG in p.inputs["registryAuth"], "the credentials travel as a secret"
        _walk_plain(p.inputs, ["mock-secret-registryPassword"], p.name)   # and nowhere in plain text


def test_registry_without_its_password_is_refused(tmp_path):
    text = stackfile.stack_path("staging").read_text()
    text += "  tunestack:registry: {address: ghcr.io, username: deploy}\n"
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(text)
    with pytest.raises(StackError) as err:
        stackfile.load(path)
    assert "registryPassword" in str(err.value) and "pulumi config set --secret" in str(err.value)


def test_published_replicas_are_replaced_one_at_a_time():
    """prod's replicas free their host port before the new one starts (delete first), so each one
    waits for the replica before it: Pulumi sends a registration only once its dependencies are done."""
    run = run_program("prod")
    web = {c.name: c for c in run.of_type(CONTAINER) if "-app-web-" in c.name}
    jobs = {c.urn for c in run.of_type(CONTAINER) if "-app-jobs-" in c.name}
    for n in range(2, len(web) + 1):
        deps = set(web[f"prod-app-web-{n}"].dependencies)
        assert web[f"prod-app-web-{n - 1}"].urn in deps
        assert any(j in deps for j in jobs if j.endswith(f"prod-app-jobs-{n - 1}-1"))
    assert not any(c.urn in web["prod-app-web-1"].dependencies for c in web.values())


def test_every_container_waits_for_every_image_of_the_stack():
    """A missing image fails `pulumi up` before any container is created or replaced (issue #11)."""
    run = run_program("staging")
    images = {r.urn for r in run.of_type("docker:index/remoteImage:RemoteImage")}
    assert images
    for c in run.of_type(CONTAINER):
        assert images <= run.waits_for(c), c.name


@pytest.mark.parametrize("stack", STACKS)
def test_no_container_env_holds_a_secret(stack):
    """Issue #11: `docker inspect` shows every env var, so passwords reach containers only as
    secret files; the app reads NAME_FILE (the app image contract)."""
    run = run_program(stack)
    for c in run.of_type(CONTAINER):
        assert all(isinstance(e, str) for e in c.inputs.get("envs", [])), f"{c.name}: a secret in its env"
    web = next(c for c in run.of_type(CONTAINER) if "-app-web-" in c.name)
    assert "DATABASE_PASSWORD_FILE=/etc/tunestack/secrets/database-password" in web.inputs["envs"]
    uploads = {u["file"]: u["content"] for u in web.inputs["uploads"]}
    assert SECRET_SIG in uploads["/etc/tunestack/secrets/database-password"]


def test_a_stack_without_images_is_refused_before_any_resource():
    """local-rails pins no images (it runs on this machine only): `pulumi up` stops on the stack file,
    naming the key and the fix, with nothing registered."""
    with pytest.raises(Exception) as exc:
        run_program("local-rails")
    text = str(exc.value)
    assert "tunestack:images" in text and "an image for" in text and "pin each image" in text


def test_monitoring_without_its_image_is_refused_before_any_resource():
    """dev's tunestack:monitoring with no images.monitoring pinned: the stack file is refused, naming
    the image, before anything is registered."""
    from tunestack.pulumi_config import runtime_config

    values, _ = runtime_config(yaml.safe_load((Path("stacks") / "Pulumi.dev.yaml").read_text()))
    images = {k: v for k, v in json.loads(values["tunestack:images"]).items() if k != "monitoring"}
    with pytest.raises(Exception) as exc:
        run_program("dev", extra_config={"tunestack:images": json.dumps(images)})
    assert "an image for monitoring" in str(exc.value) and "pin each image" in str(exc.value)


@pytest.mark.parametrize("framework,keys", [
    ("go", ("GOMAXPROCS", "GOMEMLIMIT", "DB_MAX_OPEN_CONNS", "DB_CONN_MAX_LIFETIME")),
    ("node", ("PG_POOL_MAX", "NODE_OPTIONS", "PG_CONNECTION_TIMEOUT_MILLIS"))])
def test_go_and_node_replicas_get_their_runtime_settings_and_no_server_file(tmp_path, framework, keys):
    doc = yaml.safe_load(stackfile.stack_path("dev").read_text())
    doc["config"]["tunestack:app"]["framework"] = framework
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(doc))
    run = run_program("dev", stack_file=path)
    plan = build_plan(stackfile.load(path, name="dev"), target="docker")
    for r in running(plan.replicas):
        (web,) = [c for c in run.of_type("docker:index/container:Container") if c.name == r.name]
        envs = [e for e in web.inputs["envs"] if isinstance(e, str)]
        for key in keys:
            assert f"{key}={plan.web_env[key].text}" in envs
        files = {u["file"] for u in web.inputs.get("uploads", [])}
        assert not any(f.endswith(("gunicorn.conf.py", "puma.rb")) for f in files)


def _release(stack: str, app_image: str) -> dict[str, str]:
    """The stack's config with only the app's image changed (an app-only release)."""
    from tunestack.pulumi_config import runtime_config

    values, _ = runtime_config(yaml.safe_load((Path("stacks") / f"Pulumi.{stack}.yaml").read_text()))
    images = json.loads(values["tunestack:images"])
    return {"tunestack:images": json.dumps({**images, "app": app_image})}


def _unknowns(value) -> bool:
    return UNKNOWN in json.dumps(value)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_a_preview_of_an_app_only_release_changes_no_other_container(stack):
    """Issue #25: every container's image came from one Output.all over all images, so a preview of
    an app-only release showed PostgreSQL, PgBouncer, both Redis and HAProxy with unknown images,
    i.e. "replace", in every pull request. Previewed on machines holding the old images, only the
    app's stable containers may change."""
    before = run_program(stack)
    held = {r.plain_inputs["name"] for r in before.of_type("docker:index/remoteImage:RemoteImage")}
    after = run_program(stack, extra_config=_release(stack, "ghcr.io/example/shop:9.9.9"), preview_with=held)
    old = {c.name: c for c in before.of_type(CONTAINER)}
    others = [c for c in after.of_type(CONTAINER) if "-app-" not in c.name]
    assert len(others) >= 5
    for c in others:
        assert not _unknowns(c.inputs), f"{c.name} would show as a replacement"
        assert c.inputs == old[c.name].inputs, c.name
    stable_web = [c for c in after.of_type(CONTAINER) if "-app-web-" in c.name and "TUNESTACK_TRACK=stable" in c.inputs["envs"]]
    assert stable_web and all(_unknowns(c.inputs["image"]) for c in stable_web), "the release itself is a change"


def test_an_alias_tag_is_the_same_image():
    """An image's id follows its content: a tag that aliases the running one changes nothing."""
    before = run_program("staging")
    after = run_program("staging", extra_config=_release("staging", "ghcr.io/example/shop:1.4.0-alias"),
                        aliases={"ghcr.io/example/shop:1.4.0-alias": "ghcr.io/example/shop:1.4.0"})
    old = {c.name: c.inputs for c in before.of_type(CONTAINER)}
    assert all(old.get(c.name) == c.inputs for c in after.of_type(CONTAINER))


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_no_app_replica_changes_before_the_rollout_guard_has_run(stack):
    """Issue #25: a `pulumi up` from another checkout, with the canary config as it was before a
    rollout, rolled the canaries back mid-gate. The guard reads the rollout marker on the load
    balancer's host whenever the canary config changes, and every app container waits for it."""
    run = run_program(stack)
    (guard,) = [r for r in run.of_type("command:local:Command") if r.name == f"{stack}-rollout-guard-check"]
    assert guard.plain_inputs["environment"]["LB"] == f"{stack}-lb"
    apps = app_containers(run)
    assert apps and all(guard.urn in run.waits_for(c) for c in apps)
    # the canary config is its trigger: an `up` that changes it runs the guard again
    changed = run_program(stack, extra_config={"tunestack:canaryReplicas": "2",
                                               **_release(stack, "ghcr.io/example/shop:1.4.0")})
    (again,) = [r for r in changed.of_type("command:local:Command") if r.name == f"{stack}-rollout-guard-check"]
    assert again.plain_inputs["triggers"] != guard.plain_inputs["triggers"]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_migrations_run_once_before_any_app_replica_changes(stack):
    """Issue #25: nothing ran migrations. The app image's migrate command runs on the db machine as
    migrator, straight to PostgreSQL, its password on stdin (in no argument or env), and every app
    container waits for it: a failed migration stops the `up` before any replica changes."""
    run = run_program(stack)
    (migrate,) = [r for r in run.of_type("command:local:Command") if r.name == f"{stack}-migrate-run"]
    env = migrate.plain_inputs["environment"]
    # PostgreSQL on a host of its own serves TLS only (plan.tls): the migrator verifies it too,
    # with the stack's CA that the command copies into the container.
    tls = "?sslmode=verify-full&sslrootcert=/etc/tunestack/tls/ca.crt" if stack != "dev" else ""
    assert env["DATABASE_URL"] == f"postgres://migrator@{stack}-postgres:5432/app{tls}"
    assert bool(env["CA_PEM"]) == bool(tls) and (not tls or env["CA_PEM"].startswith("-----BEGIN CERTIFICATE-----"))
    assert "tunestack-migrate" in migrate.plain_inputs["create"] and "DATABASE_PASSWORD_FILE=/dev/stdin" in migrate.plain_inputs["create"]
    assert SECRET_SIG in json.dumps(migrate.inputs["stdin"]), "the password travels as a secret, on stdin"
    assert not any("password" in k.lower() for k in env)
    postgres = next(r for r in run.of_type(CONTAINER) if r.name == f"{stack}-postgres")
    guard = next(r for r in run.of_type("command:local:Command") if r.name == f"{stack}-rollout-guard-check")
    assert postgres.urn in run.waits_for(migrate) and guard.urn in run.waits_for(migrate)
    apps = app_containers(run)
    assert apps and all(migrate.urn in run.waits_for(c) for c in apps)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_an_image_of_ours_is_read_from_its_machine_never_pulled_and_a_rebuild_reaches_it(stack):
    """Issue #25: a host lacking a tunestack/* tag made the provider pull docker.io/tunestack/…, a
    namespace the project does not own, and a rebuilt image under the same tag never reached a host.
    Each tunestack/* image is read from its machine's own engine (getRemoteImage, which never pulls:
    a missing one fails the program), and its id is the RemoteImage's pull trigger; registry images
    take their registry's digest (getRegistryImage), and are pulled as `tag@digest`: the provider
    looks for the name locally first, where keep_locally left the old image under the tag, so a
    re-pushed tag was never pulled."""
    run = run_program(stack)
    for image in run.of_type("docker:index/remoteImage:RemoteImage"):
        ref = image.plain_inputs["name"].split("@")[0]
        function = "getRemoteImage" if ref.startswith("tunestack/") else "getRegistryImage"
        assert image.plain_inputs["name"] == (ref if ref.startswith("tunestack/") else f"{ref}@{mock_image_id(ref)}")
        asked = [c for c in run.calls if c[0].endswith(function) and c[1] == ref
                 and c[2].split("::")[-2] == image.provider_name]
        assert asked, f"{ref} on {image.provider_name}: no {function}"
        assert image.plain_inputs["pullTriggers"] == [mock_image_id(ref)]
    assert not any(c[1].startswith("tunestack/") for c in run.calls if c[0].endswith("getRegistryImage"))


def test_a_rebuilt_image_under_the_same_tag_changes_the_pull_trigger():
    before = run_program("dev")
    after = run_program("dev", aliases={"tunestack/redis:7.0": "tunestack/redis:7.0 (rebuilt)"})
    trigger = {r.name: r.plain_inputs["pullTriggers"] for r in before.of_type("docker:index/remoteImage:RemoteImage")}
    changed = [r.name for r in after.of_type("docker:index/remoteImage:RemoteImage")
               if r.plain_inputs["pullTriggers"] != trigger[r.name]]
    assert changed == ["dev-images-dev-tunestack-redis-7.0"]   # that image alone: only its containers follow


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_a_password_rotation_replaces_no_server_and_switches_before_the_replicas(stack):
    """Issue #25, point 4: a new dbPassword replaced PostgreSQL and PgBouncer (their uploads held
    it). Now it reaches them live, by a command every app container waits for; during a rotation's
    first `up` they keep the previous password while web replicas learn both."""
    def servers(run):
        return {r.name: r.plain_inputs for r in run.of_type(CONTAINER)
                if r.name in (f"{stack}-postgres", f"{stack}-pgbouncer")}

    def switch(run):
        return next(r for r in run.of_type("command:local:Command") if r.name == f"{stack}-db-password-switch")

    before = run_program(stack, extra_config={"tunestack:dbPassword": "first-password"})
    rotating = run_program(stack, extra_config={"tunestack:dbPassword": "second-password",
                                                "tunestack:dbPasswordPrevious": "first-password"})
    after = run_program(stack, extra_config={"tunestack:dbPassword": "second-password"})
    assert servers(before) == servers(rotating) == servers(after), "no server is replaced for a password"
    assert [plain(switch(r).plain_inputs["stdin"]) for r in (before, rotating, after)] == \
        ["first-password", "first-password", "second-password"]
    assert SECRET_SIG in json.dumps(switch(after).inputs["stdin"])
    for run in (before, rotating, after):
        for app in app_containers(run):
            assert switch(run).urn in run.waits_for(app), f"{app.name} starts before the servers' password"
    web = next(c for c in rotating.of_type(CONTAINER) if "-app-web-" in c.name)
    jobs = next(c for c in rotating.of_type(CONTAINER) if "-app-jobs-" in c.name)
    assert "DATABASE_PASSWORD_PREVIOUS_FILE=/etc/tunestack/secrets/database-password-previous" in web.plain_inputs["envs"]
    assert not any("PREVIOUS" in e for e in jobs.plain_inputs["envs"]), "jobs connect as their own role"
    assert not any("PREVIOUS" in e for c in after.of_type(CONTAINER) for e in c.plain_inputs.get("envs") or [])


def test_a_re_pushed_registry_tag_is_pulled_by_its_new_digest():
    """A tag pushed again points at new content: its RemoteImage is pulled as `tag@<new digest>`, a
    name no host has yet, so the provider pulls it instead of finding the old image it kept."""
    tag = "ghcr.io/example/shop:1.4.0"

    def names(run):
        return {r.plain_inputs["name"] for r in run.of_type("docker:index/remoteImage:RemoteImage")
                if r.plain_inputs["name"].startswith(tag)}
    before, after = run_program("staging"), run_program("staging", aliases={tag: f"{tag} (pushed again)"})
    assert names(before) == {f"{tag}@{mock_image_id(tag)}"}
    assert names(after) == {f"{tag}@{mock_image_id(tag + ' (pushed again)')}"}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_backups_cross_hosts_only_between_the_two_certified_servers(stack):
    """Issue #27: the repository lives on the cache host in a container of its own, on a protected
    volume; PostgreSQL's container publishes the database agent on the db host's address only; each
    side reaches the other by the name its certificate carries, mapped to the host's address; the
    keys are uploads marked secret."""
    run, plan = run_program(stack), docker_plan(stack)
    repo, agent = plan.backup["repository server"].value, plan.backup["database agent"].value
    containers = {r.name: r for r in run.of_type(CONTAINER)}
    server, postgres = containers[repo.name], containers[f"{stack}-postgres"]
    assert [(p["internal"], p["ip"]) for p in server.inputs["ports"]] == [(8432, repo.address)]
    assert (8432, agent.address) in {(p["internal"], p["ip"]) for p in postgres.inputs["ports"]}
    assert server.inputs["hosts"] == [{"host": agent.name, "ip": agent.address}]
    assert postgres.inputs["hosts"] == [{"host": repo.name, "ip": repo.address}]
    for container in (server, postgres):
        uploads = {u["file"]: u["content"] for u in container.inputs["uploads"]}
        assert SECRET_SIG in uploads["/etc/tunestack/secrets/backup.key"]
        assert "/etc/tunestack/tls/backup.crt" in uploads
    (volume,) = [r for r in run.of_type("docker:index/volume:Volume") if r.name == f"{repo.name}-data"]
    assert volume.protect and volume.retain_on_delete and volume.provider_name == server.provider_name
    assert server.provider_name != postgres.provider_name   # another host's engine
    (stanza,) = [r for r in run.of_type("command:local:Command") if r.name == f"{repo.name}-stanza"]
    assert stanza.inputs["environment"]["STANZA"] == stack


@pytest.mark.parametrize("stack,runner", [("dev", "dev-postgres"), ("staging", "staging-backup-repo"),
                                          ("prod", "prod-backup-repo")])
def test_the_backup_schedule_runs_in_the_one_container_that_runs_backups(stack, runner):
    """Issue #27, point 2: the plan's schedule reaches cron in the container where pgBackRest runs
    backups (beside PostgreSQL on one db host, else the repository server), and nowhere else: two
    schedules would take two backups a night."""
    from components.backup import CRON_FILE
    from tunestack.render import render_container_bases

    run, plan = run_program(stack), docker_plan(stack)
    scheduled = {r.name: {u["file"]: u["content"] for u in r.inputs.get("uploads") or []}.get(CRON_FILE)
                 for r in run.of_type(CONTAINER)}
    assert [name for name, cron in scheduled.items() if cron] == [runner]
    assert scheduled[runner] == render_container_bases(plan)["backup.cron"]
