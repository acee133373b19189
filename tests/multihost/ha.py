"""The HA shape on the test bed (issue #28): two db machines with a PostgreSQL node each under
Patroni, etcd on three machines (both db machines and the cache host), the proxy to the primary,
PgBouncer and the cache Redis on the cache host, the queue's master and its replica on the two
cache machines with Sentinels on three machines (both db machines and the first cache machine),
one app host. Deployed through the replay over SSH as
the staging shape is (staging.py), on a bed of its own (subnet 9)."""
from __future__ import annotations

from pathlib import Path

from tests.multihost.bed import Bed
from tests.multihost.staging import IMAGES, replay_stack
from tunestack.recipes import RECIPES

HOSTS = ("db1", "db2", "cache", "cache2", "app1")
# Debian 12's PostgreSQL: Patroni needs pg_controldata, pg_basebackup and pg_rewind, which the
# server builds from npm (the staging image's major) do not have.
PG_IMAGE = "tunestack/postgres:15"
MONITORING_IMAGE = next(r.tag for r in RECIPES if r.tag.startswith("tunestack/monitoring:"))


def stack_document(bed: Bed, rto: str = "30s") -> dict:
    h = bed.hosts
    return {"config": {
        "tunestack:hosts": [
            {"name": "db", "roles": ["db"], "count": 2, "cpus": 2, "memory": "2GiB", "storage": "ssd",
             "addresses": [h["db1"].address, h["db2"].address], "ssh_user": "root"},
            {"name": "cache", "roles": ["cache"], "count": 2, "cpus": 2, "memory": "2GiB",
             "addresses": [h["cache"].address, h["cache2"].address], "ssh_user": "root"},
            {"name": "app", "roles": ["app"], "cpus": 2, "memory": "2GiB", "addresses": [h["app1"].address],
             "ssh_user": "root"}],
        "tunestack:postgres": {"version": int(PG_IMAGE.split(":")[1]), "workload": "oltp", "replicas": 1, "rto": rto},
        "tunestack:pgbouncer": {"pool_mode": "transaction", "version": "1.18"},
        "tunestack:redis": {"cache": {"memory": "128MiB", "policy": "allkeys-lfu"},
                            "queue": {"memory": "128MiB", "replicas": 1}},
        "tunestack:app": {"framework": "python", "threads": 2, "memory_per_worker": "128MiB",
                          "jobs": {"concurrency": 2, "processes": 1, "memory_per_process": "128MiB"}},
        "tunestack:traffic": {"peak_rps": 5, "tracing_budget": {"per_month": 100000, "unit": "transactions"}},
        "tunestack:rollout": {"steps": [100], "bake": "5s", "max_surge": 100},
        # Prometheus on the cache host reads Patroni, etcd, each queue node and Sentinel across machines
        "tunestack:monitoring": {"scrape_interval": "5s", "retention": "1d"},
        "tunestack:images": {**{k: v for k, v in IMAGES.items() if k != "canary_app"}, "postgres": PG_IMAGE,
                             "monitoring": MONITORING_IMAGE},
    }}


def deploy(bed: Bed, source_engine_url: str, stacks: Path, say=lambda m: print(m, flush=True)):
    """Copy the images, run the program for the bed's HA stack file under the mocks and replay it
    on the hosts' engines over SSH. Returns (replay, plan, stack file)."""
    pg, app, redis, watch = PG_IMAGE, IMAGES["app"], IMAGES["redis"], MONITORING_IMAGE   # a node exporter on each
    bed.load_images(source_engine_url, {"db1": [pg, redis, watch], "db2": [pg, redis, watch],
                                        "cache": [pg, redis, IMAGES["haproxy"], IMAGES["pgbouncer"], app, watch],
                                        "cache2": [redis, watch], "app1": [app, watch]})
    return replay_stack(bed, "ha", stack_document(bed), stacks, say)


class HaBed:
    """What the HA tests ask of the deployed bed: Patroni's view, the nodes' containers and
    namespaces, and writers that count acknowledged commits through PgBouncer on the cache host."""

    def __init__(self, bed: Bed, replay, plan, work: Path):
        from tests.multihost.staging import ca_pem

        self.bed, self.replay, self.plan = bed, replay, plan
        self.stack_file = None   # the deployed stack file (the fixture sets it): what the CLI is given
        self.ca = work / "ca.crt"
        self.ca.write_text(ca_pem(replay))
        self.nodes = plan.ha["nodes"].value
        # node i runs on db machine i: the bed's db1, db2, …
        self.host_of = {n.name: f"db{n.machine + 1}" for n in self.nodes}

    def password(self, key: str) -> str:
        from tests.multihost.staging import password

        return password(self.replay, key, stack="ha")

    def apis(self, write: bool = False):
        from tunestack.hafiles import RESTAPI_USER
        from tunestack.patroniapi import PatroniApi

        pw = self.password("patroni-api") if write else ""
        return {n.name: PatroniApi(n.api_url, RESTAPI_USER if write else "", pw, cafile=str(self.ca))
                for n in self.nodes}

    def leader(self):
        """The node whose Patroni answers GET /primary with 200 (as the proxy checks), or None; a
        recovering old primary's own /cluster may still name itself."""
        from tunestack.patroniapi import PatroniUnreachable

        for node, api in zip(self.nodes, self.apis().values()):
            try:
                if api.request("GET", "/primary", timeout=3)[0] == 200:
                    return node
            except PatroniUnreachable:
                continue
        return None

    def roles(self) -> dict[str, str]:
        """Each running member's role, as the leader sees it ({} without one)."""
        leader = self.leader()
        if leader is None:
            return {}
        return {m["name"]: m["role"] for m in self.apis()[leader.name].members()
                if m.get("state") in ("running", "streaming")}

    def whole(self) -> bool:
        return sorted(self.roles().values()) == ["leader", "sync_standby"]

    def container(self, host: str, name: str):
        return self.bed.client(self.bed.hosts[host]).containers.get(name)

    def tls(self) -> dict[str, str]:
        return {"sslmode": "verify-full", "sslrootcert": str(self.ca)}

    def writer(self, first_id: int, seconds: float = 120, **kw):
        """A CommitWriter through PgBouncer on the cache host, over TLS, as the app."""
        from tunestack.commitwriter import CommitWriter

        return CommitWriter(self.plan.spec.pgbouncer.port, self.password("db"), host=self.bed.hosts["cache"].address,
                            first_id=first_id, seconds=seconds, tls=self.tls(), **kw)

    def direct(self, node, sql: str, user: str = "migrator", params=()):
        """SQL on one node, over TLS, straight to its published port."""
        import psycopg

        with psycopg.connect(host=node.address, port=node.port, dbname="app", user=user, autocommit=True,
                             password=self.password("migrator" if user == "migrator" else "db"), connect_timeout=3,
                             **self.tls()) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def cli(self, *args: str) -> dict:
        """`tunestack COMMAND --stack-file <the bed's> --target docker ARGS` as an operator runs it (the
        bed's ssh on PATH); its JSON answer. No password of the stack may be in what it prints."""
        import json
        import os
        import subprocess
        import sys

        res = subprocess.run([sys.executable, "-m", "tunestack", args[0], "--stack-file", str(self.stack_file),
                              "--target", "docker", *args[1:]], capture_output=True, text=True, timeout=180,
                             env={**os.environ, **self.bed.env})
        assert res.returncode == 0, res.stderr
        for key in ("patroni-api", "redis", "redis-sentinel", "db"):
            assert self.password(key) not in res.stdout + res.stderr, key
        return json.loads(res.stdout)

    def redis(self, address: str, port: int, key: str):
        """A client of one queue node ("redis") or Sentinel ("redis-sentinel"), over TLS."""
        import redis as redis_py

        return redis_py.Redis(host=address, port=port, password=self.password(key), ssl=True,
                              ssl_ca_certs=str(self.ca), socket_timeout=2, socket_connect_timeout=2,
                              decode_responses=True)

    def queue_master(self):
        """The queue node the Sentinels name (the highest config-epoch of those that answer), or None."""
        import redis as redis_py

        name, best = self.plan.queue_ha["master name"].text, (-1, None)
        for m in self.plan.queue_ha["sentinels"].value:
            try:
                flat = self.redis(m.address, m.port, "redis-sentinel").execute_command("SENTINEL", "MASTER", name)
            except redis_py.RedisError:
                continue
            state = dict(zip(flat[::2], flat[1::2]))
            if int(state.get("config-epoch", -1)) > best[0]:
                best = (int(state["config-epoch"]), (state["ip"], int(state["port"])))
        return next((n for n in self.plan.queue_ha["nodes"].value if (n.address, n.port) == best[1]), None)

    def queue_whole(self) -> bool:
        """The master the Sentinels name streams to every replica."""
        import redis as redis_py

        master = self.queue_master()
        try:
            info = self.redis(master.address, master.port, "redis").info("replication") if master else {}
        except redis_py.RedisError:
            return False
        online = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)
                  and v.get("state") == "online"]
        return info.get("role") == "master" and len(online) == self.plan.spec.queue_ha.replicas

    def queued_jobs(self) -> set[str]:
        import json

        master = self.queue_master()
        raw = self.redis(master.address, master.port, "redis").lrange("jobs", 0, -1)
        return {json.loads(r).get("id", "") for r in raw}

    def proxy_sends_to(self, name: str) -> bool:
        """True when the proxy's primary backend has exactly `name` up (its admin socket)."""
        proxy = self.container("cache", f"{self.plan.placement['postgres'].reach}-proxy")
        res = proxy.exec_run(["sh", "-c", "echo 'show servers state postgres-primary' | socat -t 5 stdio "
                                          "unix-connect:/tmp/haproxy.sock"])
        up = {f[3] for f in (line.split() for line in res.output.decode().splitlines()[2:]) if len(f) > 5 and f[5] == "2"}
        return up == {name}


def answers(url: str, cafile: str | None = None) -> bool:
    """True when `url` answers a GET with 200: plain HTTP to a TLS-only port, or TLS without the
    client certificate a port asks for, answers False."""
    import http.client
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cafile=cafile) if url.startswith("https") else None
    try:
        with urllib.request.urlopen(url, timeout=3, context=context) as r:
            return r.status == 200
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError):
        return False
