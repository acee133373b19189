"""One sample of a stack, read where verify reads it: the local stack on this machine, or each
area on its own host or container. Returns the plan it was judged by and where samples are kept."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .samples import SampleStore


@dataclass(frozen=True)
class Reach:
    """How advise reaches a stack: its target and, for remote hosts, the SSH options and secrets."""
    target: str = "hosts"
    secrets_dir: str | None = None
    ssh_config: str | None = None
    ssh_identity_file: str | None = None


def sample_local(stack: str):
    """The local stack, under supervisord: exit 3 when it is not running."""
    import testinfra

    from ..local import LocalStack
    from .snapshot import sample_host

    local = LocalStack(stack)
    plan = local.plan()
    local.require_running()
    now = sample_host(testinfra.get_host("local://"), plan, str(local.secrets_dir), str(local.folders.control))
    return plan, SampleStore(local.dir / "advise-samples.jsonl"), now


def applied_at(stack: str) -> float | None:
    """When the local stack's running plan was applied (its state.json), as a Unix time."""
    import calendar
    import time

    from ..local import LocalStack
    from ..local.stack import read_state

    try:
        state = read_state(LocalStack(stack).dir) or {}
        return float(calendar.timegm(time.strptime(state["applied_at"], "%Y-%m-%dT%H:%M:%SZ")))
    except (OSError, KeyError, ValueError):
        return None


def sample_remote(stack: str, reach: Reach):
    """A stack on other machines, or in containers: each area read where verify reads it."""
    import testinfra

    from ..checks.runs import ssh_env
    from ..paths import state_root
    from ..plan import plan_stack
    from ..render import Layout
    from ..servers import environ
    from .hosts import areas
    from .snapshot import sample_areas

    plan = plan_stack(stack, target=reach.target)
    where = areas(plan, reach.target)
    options = {k: v for k, v in (("ssh_config", reach.ssh_config), ("ssh_identity_file", reach.ssh_identity_file)) if v}
    hosts = {area: testinfra.get_host(w.spec, **({} if w.spec.startswith("docker://") else options))
             for area, w in where.items()}

    def engine(area):
        if where[area].docker_host:
            os.environ["DOCKER_HOST"] = where[area].docker_host
    with tempfile.TemporaryDirectory(prefix="tunestack-advise-") as tmp:
        env = ssh_env(reach.ssh_config, Path(tmp))   # the docker CLI's ssh reads --ssh-config through a wrapper on PATH
        with environ(PATH=env["PATH"] if env else os.environ.get("PATH"), DOCKER_HOST=os.environ.get("DOCKER_HOST")):
            now = sample_areas(hosts, plan, reach.secrets_dir or Layout().secrets_dir, Layout().control_dir,
                               before_each=engine)
    folder = state_root() / stack
    folder.mkdir(parents=True, exist_ok=True)
    return plan, SampleStore(folder / "advise-samples.jsonl"), now


def sample(stack: str, spec, reach: Reach):
    from ..targets import is_local_stack

    if is_local_stack(spec) and reach.target == "hosts":
        return sample_local(stack)
    return sample_remote(stack, reach)
