"""The rollout engine of a Pulumi Docker stack on remote hosts: the program starts and promotes
the canary replicas (Automation API), HAProxy weights change at run time over SSH in between, and
the gates read HAProxy's own log and testinfra inside the canary containers."""
from __future__ import annotations

import os
import subprocess
import time
from typing import Protocol

from ...servers import environ
from ...targets import docker_url
from ..gates import Metrics
from ..haproxy_log import parse_haproxy_log


class PulumiStack(Protocol):
    """The part of `pulumi.automation.Stack` a Docker rollout uses (the tests stand in a replay)."""

    def set_config(self, key: str, value, *, path: bool = False) -> None: ...
    def remove_config(self, key: str, *, path: bool = False) -> None: ...
    def up(self, **kwargs): ...


class LoadBalancerControl:
    """HAProxy's admin socket inside the load balancer's container, through `docker exec` with
    DOCKER_HOST pointed at its host (ssh://user@address): the socket is never on the network."""

    def __init__(self, container: str, docker_host: str, env: dict[str, str] | None = None):
        self.container, self.docker_host = container, docker_host
        self.env = {**(env or os.environ), "DOCKER_HOST": docker_host}

    def _docker(self, *args: str) -> str:
        res = subprocess.run(["docker", *args], capture_output=True, text=True, env=self.env, timeout=60)
        if res.returncode:
            raise RuntimeError(f"docker {' '.join(args[:3])} on {self.docker_host}: {res.stderr.strip()[-500:]}")
        return res.stdout

    def set_weights(self, weights: dict[str, int]) -> None:
        """Server name (or replica name of a server-template's slots) → HAProxy weight, at once."""
        self._docker("exec", self.container, "tunestack-lb", "weight",
                     *[x for name, w in weights.items() for x in (name, str(w))])

    def mark_rollout(self, version: str, weight: int) -> None:
        """The marker every `pulumi up` reads before it replaces an app replica (components/rollout.py)."""
        from ...units import utc_timestamp

        res = subprocess.run(["docker", "exec", "-i", self.container, "tunestack-lb", "rollout", "set"],
                             input=f"version={version}\nweight={weight}\nsince={utc_timestamp()}\n",
                             capture_output=True, text=True, env=self.env, timeout=60)
        if res.returncode:
            raise RuntimeError(f"rollout marker on {self.docker_host}: {res.stderr.strip()[-500:]}")

    def clear_rollout(self) -> None:
        self._docker("exec", self.container, "tunestack-lb", "rollout", "clear")

    def log_since(self, since: float) -> str:
        """HAProxy's request log (its stdout) since a moment of this machine's clock."""
        return self._docker("logs", "--since", f"{since:.3f}", self.container)


class CanaryHostCheck:
    """The host gate of a Docker rollout: testinfra on each canary's machine, inside its web
    containers (found by their tunestack.replica label, reached with `docker exec` over the
    machine's DOCKER_HOST): the app listens on the planned port and runs on the canary track, and
    Docker reports the container healthy on the new image."""

    def __init__(self, plan, env: dict[str, str] | None = None):

        self.port = plan.app["port"].value
        self.bind = plan.placement.app_bind   # testinfra's tcp://PORT means every address family; ask for this one
        self.machine_of = {r.name: docker_url(r.host, r.machine) for r in plan.placement.app_slots}
        self.env = env

    def _docker(self, url: str, *args: str) -> str:
        res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60,
                             env={**(self.env or os.environ), "DOCKER_HOST": url})
        return res.stdout if res.returncode == 0 else ""

    def _containers(self, url: str, replica: str) -> list[str]:
        return self._docker(url, "ps", "--filter", f"label=tunestack.replica={replica}", "--filter",
                            "label=tunestack.service=web", "--format", "{{.Names}}").split()

    def _host_problems(self, url: str, name: str, version: str) -> list[str]:
        import testinfra

        out = []
        # testinfra's docker backend runs `docker exec` with this process's environment.
        path = self.env["PATH"] if self.env and "PATH" in self.env else os.environ.get("PATH")
        with environ(DOCKER_HOST=url, PATH=path):
            host = testinfra.get_host(f"docker://{name}")
            if not host.socket(f"tcp://{self.bind}:{self.port}").is_listening:
                out.append(f"{name}: nothing listens on {self.bind}:{self.port}")
            variables = host.file("/proc/1/environ").content_string.split("\0")
            if "TUNESTACK_TRACK=canary" not in variables:
                out.append(f"{name}: its process is not on the canary track")
        state = self._docker(url, "inspect", "--format", "{{.State.Health.Status}} {{.Image}}", name).split()
        if len(state) != 2 or state[0] != "healthy":
            out.append(f"{name}: Docker reports it {state[0] if state else 'missing'}, not healthy")
        elif version not in self._docker(url, "image", "inspect", "--format", "{{json .RepoTags}}", state[1]):
            out.append(f"{name}: runs image {state[1][:19]}, not {version}")
        return out

    def __call__(self, version: str, canaries: list[str]) -> tuple[bool, str]:
        problems, checked = [], 0
        for replica in canaries:
            url = self.machine_of[replica]
            names = self._containers(url, replica)
            if not names:
                problems.append(f"{replica}: no running web container on {url}")
            for name in names:
                problems += self._host_problems(url, name, version)
                checked += 1
        if problems:
            return False, "; ".join(problems)
        return True, f"{checked} canary container(s) listen on :{self.port}, healthy on {version}"


class DockerEngine:
    """A rollout of a Pulumi Docker stack (issue #12). The program is applied twice: to start the
    canary replicas at weight 0 (tunestack:canaryReplicas, canaryEnv, images.canary_app) and to
    promote or roll back at the end. Every step in between is HAProxy weights at run time, set
    through the admin socket over SSH: seconds, and the load balancer is never replaced. Each step
    also writes tunestack:canaryWeight, so the stack file says where the rollout stands and a
    `pulumi up` meanwhile renders the same weights. Gates read HAProxy's own request log of the
    canary servers; the host gate is testinfra inside the canary containers (CanaryHostCheck)."""

    def __init__(self, stack: PulumiStack, lb: LoadBalancerControl, replicas: list[str], canaries: list[str],
                 verify_fn, say=print, beside: bool = False):
        """`replicas`: the load balancer's app servers in placement order; `canaries`: those that take
        the new version (the first ones, or with `beside` the canary's own slot, last, which holds no
        traffic outside a rollout). `verify_fn(version, canaries)`: the host gate."""
        self.stack, self.lb, self.say = stack, lb, say
        self.replicas, self.canaries, self.verify_fn = list(replicas), list(canaries), verify_fn
        self.beside = beside
        self.version: str | None = None   # the version this engine started (the marker's), if it did

    @classmethod
    def for_stack(cls, plan, stack: PulumiStack, lb: LoadBalancerControl, verify_fn=None, say=print) -> "DockerEngine":
        """The engine for a stack's plan: its replicas, the first `canary_replicas` of them as the
        canaries (or the canary's slot beside them), and CanaryHostCheck(plan) as the host gate
        unless given."""
        slot = plan.placement.canary
        servers = [r.name for r in plan.placement.app_slots]
        canaries = [slot.name] if slot else servers[:plan.rollout["canary_replicas"].value]
        return cls(stack, lb, servers, canaries,
                   verify_fn or CanaryHostCheck(plan, getattr(lb, "env", None)), say=say, beside=slot is not None)

    def _set(self, key: str, value: str, path: bool = False) -> None:
        from pulumi import automation as auto
        self.stack.set_config(key, auto.ConfigValue(value=value), path=path)

    def _up(self, message: str) -> None:
        self.stack.up(on_output=self.say, message=message)

    def _all_serving(self) -> dict[str, int]:
        """Every replica at the same weight: what the plan renders once no canary is left."""
        return {name: 1 for name in self.replicas}

    def _after(self) -> dict[str, int]:
        """The weights once the rollout ends: every replica serves; a canary slot beside them, now
        empty, holds none (as the plan renders it)."""
        return {name: 0 if self.beside and name in self.canaries else 1 for name in self.replicas}

    def start_canary(self, version: str, env: dict[str, str]) -> None:
        # Weights before the program: the replicas about to become canaries leave the rotation now,
        # so each new canary comes up at weight 0 (HAProxy keeps a server's run-time weight while its
        # container is replaced), never at full weight before a gate. With no stable replica left
        # to carry the traffic they keep serving; the plan warns of such a stack (replica_warning).
        if len(self.canaries) < len(self.replicas):
            self.lb.set_weights({name: 0 if name in self.canaries else 1 for name in self.replicas})
        self.lb.mark_rollout(version, 0)   # from here on, an `up` from elsewhere that would undo it stops
        self.version = version
        self.stack.remove_config("tunestack:canaryEnv")
        for key, value in env.items():
            self._set(f"tunestack:canaryEnv.{key}", value, path=True)
        self._set("tunestack:images.canary_app", version, path=True)
        self._set("tunestack:canaryReplicas", str(len(self.canaries)))
        self._set("tunestack:canaryWeight", "0")
        self._up(f"rollout: start {len(self.canaries)} canary replica(s) of {version} at weight 0")

    def set_weight(self, weight: int) -> str:
        from ...plan.rollout import fixed_split

        split = fixed_split(len(self.replicas), len(self.canaries), weight)
        self.lb.set_weights({name: split.canary_server_weight if name in self.canaries else split.stable_server_weight
                             for name in self.replicas})
        self._set("tunestack:canaryWeight", str(weight))
        if self.version:
            self.lb.mark_rollout(self.version, weight)
        return (f"HAProxy weights at run time: {len(self.canaries)} canary × {split.canary_server_weight}, "
                f"{len(self.replicas) - len(self.canaries)} stable × {split.stable_server_weight}")

    def mark(self) -> float:
        return time.time()

    def measure(self, since: float) -> Metrics:
        return parse_haproxy_log(self.lb.log_since(since), self.canaries)

    def verify_canary(self, version: str) -> tuple[bool, str]:
        return self.verify_fn(version, self.canaries)

    def promote(self, version: str, env: dict[str, str]) -> None:
        # Every replica serves while the program replaces them (one at a time, or a surge): the
        # canaries alone would leave nothing when the program replaces a canary itself (with one
        # canary, the first replica). The stable ones still run the version that served until now.
        # A canary beside them serves until the program removes it, after the replicas it replaced.
        self.lb.set_weights(self._all_serving())
        self._set("tunestack:images.app", version, path=True)
        self._finish(f"rollout: promote {version}")

    def rollback(self) -> None:
        self.set_weight(0)     # traffic leaves the canary now; the program then puts its replicas back
        self._finish("rollout: roll back to stable")

    def _finish(self, message: str) -> None:
        self.lb.clear_rollout()   # this `up` ends the rollout: the guard lets it change the canary config
        self._set("tunestack:canaryWeight", "0")
        self._set("tunestack:canaryReplicas", "0")
        self.stack.remove_config("tunestack:canaryEnv")
        self._up(message)
        self.lb.set_weights(self._after())   # the replicas that were canaries join the rotation again
