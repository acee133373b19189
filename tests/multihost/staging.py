"""The staging shape on the test bed, shared by the multihost tests and bench/rollout_docker.py:
the stack file at the bed's addresses, its deployment through the replay over SSH, and what stands
in for the Automation API in a rollout."""
from __future__ import annotations

from pathlib import Path

import yaml

from components.mockrun import run_program
from tests.docker.engine import staging_pg_major
from tests.docker.replay import Replay
from tests.multihost.bed import Bed
from tunestack.plan import build_plan
from tunestack.stackfile import load

PG_MAJOR = staging_pg_major()   # the major stacks/Pulumi.staging.yaml names, built by the engine fixture
IMAGES = {"postgres": f"tunestack/postgres:{PG_MAJOR}", "pgbouncer": "tunestack/pgbouncer:1.18", "redis": "tunestack/redis:7.0",
          "haproxy": "tunestack/haproxy:2.6", "app": "tunestack/refapp:0.1.0", "canary_app": "tunestack/refapp:0.2.0"}


def stack_document(bed: Bed) -> dict:
    """staging's shape (db, cache, app × N over SSH) at the bed's addresses, sized for this machine,
    with the Python reference app (the Rails one is issue #13)."""
    h = bed.hosts
    return {"config": {
        "tunestack:hosts": [
            {"name": "db", "roles": ["db"], "cpus": 2, "memory": "4GiB", "storage": "ssd",
             "addresses": [h["db"].address], "ssh_user": "root"},
            {"name": "cache", "roles": ["cache"], "cpus": 2, "memory": "2GiB", "addresses": [h["cache"].address],
             "ssh_user": "root"},
            {"name": "app", "roles": ["app"], "count": 2, "cpus": 2, "memory": "2GiB",
             "addresses": [h["app1"].address, h["app2"].address], "ssh_user": "root"}],
        "tunestack:postgres": {"version": PG_MAJOR, "workload": "oltp"},
        "tunestack:pgbouncer": {"pool_mode": "transaction", "version": "1.18"},
        "tunestack:redis": {"cache": {"memory": "256MiB", "policy": "allkeys-lfu"}, "queue": {"memory": "256MiB"}},
        "tunestack:app": {"framework": "python", "threads": 2, "memory_per_worker": "128MiB",
                          "jobs": {"concurrency": 2, "processes": 1, "memory_per_process": "256MiB"}},
        "tunestack:traffic": {"peak_rps": 5, "tracing_budget": {"per_month": 100000, "unit": "transactions"}},
        "tunestack:rollout": {"steps": [50, 100], "bake": "5s", "max_surge": 50},
        "tunestack:images": IMAGES,
    }}


def deploy(bed: Bed, source_engine_url: str, stacks: Path, say=lambda m: print(m, flush=True)):
    """Copy the images to the hosts, run the program for the bed's stack file under the mocks and
    replay it through each host's engine over SSH. Returns (replay, plan, stacks folder)."""
    apps = [IMAGES["app"], IMAGES["canary_app"]]
    # the db host runs the app image's migrations too: each version the program migrates with;
    # the cache host keeps the backups, in a container of the PostgreSQL image (pgBackRest)
    bed.load_images(source_engine_url, {"db": [IMAGES["postgres"], IMAGES["pgbouncer"], *apps],
                                        "cache": [IMAGES["redis"], IMAGES["haproxy"], IMAGES["postgres"]], "app1": apps, "app2": apps})
    replay, plan, _ = replay_stack(bed, "bed", stack_document(bed), stacks, say)
    return replay, plan, stacks


def replay_stack(bed: Bed, stack: str, document: dict, stacks: Path, say):
    """Write the stack file, run the program for it under the mocks and replay what it declares on
    the bed's engines over SSH. Returns (replay, plan, stack file)."""
    path = stacks / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(document))
    by_url = {h.url: h for h in bed.hosts.values()}
    replay = Replay(run_program(stack, stack_file=path), lambda url: (bed.client(by_url[url], over_ssh=True), url),
                    say=say, env=bed.env)
    replay.apply()
    return replay, build_plan(load(path, name=stack), target="docker"), path


def ca_pem(replay) -> str:
    """The stack's CA certificate, as the program's CA resource holds it."""
    return next(r.plain_inputs["certPem"] for r in replay.run.of_type("tls:index/selfSignedCert:SelfSignedCert"))


def password(replay, key: str, stack: str = "bed") -> str:
    """One of the stack's passwords (StackSecrets), as the program generated it."""
    return next(r.plain_inputs["result"] for r in replay.run.of_type("random:index/randomPassword:RandomPassword")
                if r.name == f"{stack}-secrets-{key}")
