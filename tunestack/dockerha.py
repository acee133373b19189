"""PostgreSQL with standbys on containers (components/cluster.py), as `tunestack failover --target
docker` reaches it: through each machine's Docker engine (the local socket or ssh://, as the
program deploys), never through the network from this machine, which may not reach the private
addresses at all.

- Patroni's REST API is asked from inside a node's container, on its loopback over HTTPS (the
  certificate names 127.0.0.1; SSL_CERT_FILE in the container is the stack's CA). A write's
  password is read there from the node's secret file: it never reaches this machine, a command
  line or an environment.
- PgBouncer is held with its container's own `tunestack-hold pause|resume`, as the program does
  around a PostgreSQL restart.
- The proxy to the primary says which node it sends clients to on its admin socket."""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass

from .patroniapi import PatroniUnreachable
from .plan.placement import container_name

# Run by the node's python3 with the request as JSON on stdin; prints {"status", "body"}.
API_CALL = r'''
import base64, json, sys, urllib.error, urllib.request
req = json.load(sys.stdin)
headers = {"Content-Type": "application/json"}
if req["auth"]:
    with open("/etc/tunestack/secrets/patroni-api-password") as f:
        token = base64.b64encode(("%s:%s" % (req["auth"], f.read().rstrip("\n"))).encode()).decode()
    headers["Authorization"] = "Basic " + token
data = json.dumps(req["body"]).encode() if req["body"] is not None else None
r = urllib.request.Request(req["url"], data=data, method=req["method"], headers=headers)
try:
    with urllib.request.urlopen(r, timeout=req["timeout"]) as answer:
        out = {"status": answer.status, "body": answer.read().decode()}
except urllib.error.HTTPError as e:
    out = {"status": e.code, "body": e.read().decode()}
except OSError as e:
    out = {"status": 0, "body": str(e)}
print(json.dumps(out))
'''
PROXY_STATE = "echo 'show servers state postgres-primary' | socat -t 5 stdio unix-connect:/tmp/haproxy.sock"


def docker_exec(url: str, container: str, *command: str, stdin: str = "", timeout: float = 90) -> str:
    """`docker exec -i` on the engine at `url`; its output, or RuntimeError with the engine's answer."""
    res = subprocess.run(["docker", "exec", "-i", container, *command], input=stdin, capture_output=True,
                         text=True, timeout=timeout, env=_docker_env(url))
    if res.returncode != 0:
        raise RuntimeError(f"docker exec {container} on {url}: {(res.stderr or res.stdout).strip()[:300]}")
    return res.stdout


def _docker_env(url: str) -> dict[str, str]:
    return {**os.environ, "DOCKER_HOST": url}


def engine_urls(spec):
    """`url_of(host, machine)`: that machine's engine, as the program reaches it (DOCKER_HOST for a
    local host when set, else the local socket or ssh://user@address). Every command that acts on a
    deployed stack's containers asks this (failover, status, backup and restore --target docker)."""
    from .targets import docker_url

    hosts = {h.name: h for h in spec.hosts}

    def url_of(name: str, machine: int) -> str:
        host = hosts[name]
        if host.is_local and os.environ.get("DOCKER_HOST"):
            return os.environ["DOCKER_HOST"]
        return docker_url(host, machine)
    return url_of


@dataclass(frozen=True)
class ContainerPatroniApi:
    """PatroniApi's requests, made inside the node container `container` on the engine at `url`."""
    url: str
    container: str
    rest_port: int
    scheme: str = "https"
    user: str = ""       # a write's basic-auth user; its password stays in the container

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 10) -> tuple[int, str]:
        req = {"url": f"{self.scheme}://127.0.0.1:{self.rest_port}{path}", "method": method, "body": body,
               "auth": self.user if method != "GET" else "", "timeout": timeout}
        try:
            out = json.loads(docker_exec(self.url, self.container, "python3", "-c", API_CALL,
                                         stdin=json.dumps(req), timeout=timeout + 30))
        except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
            raise PatroniUnreachable(f"{self.container}: {exc}") from None
        if out["status"] == 0:
            raise PatroniUnreachable(f"{self.container}: {out['body']}")
        return out["status"], out["body"]

    def post(self, path: str, body: dict, timeout: float = 60) -> tuple[int, str]:
        return self.request("POST", path, body, timeout)

    def members(self) -> list[dict]:
        status, body = self.request("GET", "/cluster", timeout=5)
        if status != 200:
            raise PatroniUnreachable(f"{self.container}/cluster answered {status}")
        return json.loads(body)["members"]


class HeldBouncer:
    """switchover()'s `bouncer_admin` for PgBouncer's container: PAUSE and RESUME through tunestack-hold."""

    def __init__(self, url: str, container: str):
        self.url, self.container = url, container

    def execute(self, sql: str) -> None:
        word = {"PAUSE": "pause", "RESUME": "resume"}[sql]
        docker_exec(self.url, self.container, "tunestack-hold", word, timeout=60)


class ContainerCluster:
    """The cluster of one deployed stack; `url_of(host, machine)`: that machine's engine."""

    def __init__(self, plan, url_of):
        self.plan, self.url_of = plan, url_of
        self.nodes = plan.ha["nodes"].value

    def api(self, node, write: bool = False) -> ContainerPatroniApi:
        from .hafiles import RESTAPI_USER

        return ContainerPatroniApi(self.url_of(node.host, node.machine), node.name, node.rest_port,
                                   "https" if node.tls else "http", RESTAPI_USER if write else "")

    def members(self) -> list[dict]:
        """The members as the first node that answers sees them; [] when none does."""
        for node in self.nodes:
            try:
                return self.api(node).members()
            except PatroniUnreachable:
                continue
        return []

    def bouncer(self) -> HeldBouncer:
        host = self.plan.placement["pgbouncer"].host
        return HeldBouncer(self.url_of(host.name, 0), container_name(self.plan.stack, "pgbouncer"))

    def proxy_sends_to(self, name: str) -> bool:
        """True once the proxy's primary backend has exactly `name` up (HAProxy's server state 2)."""
        host = self.plan.spec.host_with("cache")   # the proxy's machine (components/cluster.py)
        try:
            out = docker_exec(self.url_of(host.name, 0), f"{self.plan.placement['postgres'].reach}-proxy",
                              "sh", "-c", PROXY_STATE, timeout=15)
        except (RuntimeError, subprocess.TimeoutExpired):
            return False
        up = {f[3] for f in (line.split() for line in out.splitlines()[2:]) if len(f) > 5 and f[5] == "2"}
        return up == {name}


QUEUE_ROLE = ('export REDISCLI_AUTH="$(cat /etc/tunestack/secrets/redis-queue-password)"; '
              'redis-cli --no-auth-warning $TLS -p "$PORT" ROLE | head -1')


def queue_roles(plan, url_of) -> list[dict]:
    """Each queue node's role as it says itself (ROLE, inside its container), or "down"."""
    from .probes import redis_tls_flags

    if not plan.queue_ha:
        return []
    tls = redis_tls_flags("redis-queue" in plan.tls).strip()
    out = []
    for node in plan.queue_ha["nodes"].value:
        try:
            role = docker_exec(url_of(node.host, node.machine), node.name, "env", f"TLS={tls}", f"PORT={node.port}",
                               "sh", "-c", QUEUE_ROLE, timeout=20).strip()
        except (RuntimeError, subprocess.TimeoutExpired):
            role = "down"
        out.append({"name": node.name, "address": f"{node.address}:{node.port}",
                    "role": {"slave": "replica"}.get(role, role or "down")})
    return out


def stack_containers(plan, url_of) -> list[dict]:
    """The stack's containers on every machine: name, machine, state and health (the engine's view)."""
    import docker

    from .dockerengine import engine_client

    rows = []
    for host in plan.spec.hosts:
        for machine in range(host.count):
            url = url_of(host.name, machine)
            try:
                found = engine_client(url).containers.list(all=True)
            except docker.errors.DockerException as exc:
                rows.append({"machine": url, "name": "-", "state": f"unreachable: {str(exc)[:120]}", "health": ""})
                continue
            rows += [{"machine": url, "name": c.name, "state": c.status,
                      "health": c.attrs.get("State", {}).get("Health", {}).get("Status", "")}
                     for c in found if c.name.startswith(f"{plan.stack}-")]
    return rows
