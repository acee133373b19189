"""A Patroni cluster on loopback from the plan's own files (issue #28): etcd, one Patroni per node and
HAProxy's primary service, all rendered by tunestack (hafiles.py, render.py), started as the service
user, stopped by PID at the end. Clients count their commits with tunestack.commitwriter.

The stack is stacks/Pulumi.local-ha.yaml with its ports moved to free ones, so a running local-ha
stack is never touched."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path

import psycopg

from tunestack import stackfile
from tunestack.commitwriter import CREATE_TABLE
from tunestack.hafiles import PASSWORD_ENV, RESTAPI_USER, etcd_args
from tunestack.plan import build_plan
from tunestack.poll import wait_until
from tunestack.render import Layout, render_plan, render_text
from tunestack.servers import port_open, which

from .realservers import own, pg_bin, service_user, start_pgbouncer

APP_USER = "app"


def free_base(span: int, start: int = 33000) -> int:
    """The first port of `span` free consecutive ports from `start` (checked, never assumed)."""
    base = start
    while any(port_open(base + i) for i in range(span)):
        base += span
    return base


def ha_plan(base: int):
    """local-ha's plan with every port from `base` on: primary base, nodes base+1.., REST base+10..,
    etcd base+20/21, PgBouncer base+30, Redis base+31/32, app base+33, load balancer base+34."""
    spec = stackfile.load(stackfile.stack_path("local-ha"), name="local-ha")
    spec = replace(spec, postgres=replace(spec.postgres, port=base),
                   ha=replace(spec.ha, patroni_port=base + 10, etcd_port=base + 20),
                   pgbouncer=replace(spec.pgbouncer, port=base + 30),
                   redis_cache=replace(spec.redis_cache, port=base + 31),
                   redis_queue=replace(spec.redis_queue, port=base + 32),
                   app=replace(spec.app, port=base + 33, lb_port=base + 34))
    return build_plan(spec, pg_version=15)


@dataclass
class Cluster:
    plan: object
    work: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    bouncer: object = None

    # --- who is who -----------------------------------------------------------------------
    @property
    def nodes(self):
        return self.plan.ha["nodes"].value

    def node(self, name):
        return next(n for n in self.nodes if n.name == name)

    def rest(self, node, path: str, method: str = "GET", body: dict | None = None, timeout: float = 3):
        req = urllib.request.Request(f"http://{node.address}:{node.rest_port}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        if method != "GET":
            import base64
            token = base64.b64encode(f"{RESTAPI_USER}:{self.passwords['restapi']}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return None, ""

    def members(self) -> list[dict]:
        for n in self.nodes:
            if f"patroni-{n.name}" in self.procs and self.procs[f"patroni-{n.name}"].poll() is None:
                status, body = self.rest(n, "/cluster")
                if status == 200:
                    return json.loads(body)["members"]
        return []

    def leader(self) -> str | None:
        return next((m["name"] for m in self.members() if m["role"] == "leader" and m["state"] == "running"), None)

    def sync_standby(self) -> str | None:
        return next((m["name"] for m in self.members() if m["role"] == "sync_standby"
                     and m["state"] in ("running", "streaming")), None)

    def primary_port(self) -> int:
        return self.plan.spec.postgres.port

    # --- start and stop ---------------------------------------------------------------------
    def spawn(self, name: str, cmd: list[str], env: dict | None = None) -> None:
        log = open(self.work / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(cmd, user=service_user(), stdout=log, stderr=subprocess.STDOUT,
                                            cwd=self.work, env={"PATH": os.environ["PATH"], **(env or {})},
                                            start_new_session=True)

    def start_patroni(self, node) -> None:
        env = {PASSWORD_ENV[k]: self.passwords[k] for k in PASSWORD_ENV}
        self.spawn(f"patroni-{node.name}", [which("patroni"), str(self.work / f"patroni-{node.name}.yml")], env)

    def start_bouncer(self, ini_text: str) -> None:
        """PgBouncer with the rendered pgbouncer.ini (its [databases] entry points at the primary
        service); its own port and auth file moved into the work folder."""
        self.passwords["admin"] = secrets.token_urlsafe(18)
        (self.work / "bouncer").mkdir(exist_ok=True)
        self.bouncer = start_pgbouncer(self.work / "bouncer", ini_text,
                                       f'"{APP_USER}" "{self.passwords["app"]}"\n'
                                       f'"tunestack_admin" "{self.passwords["admin"]}"\n')

    def bouncer_admin(self):
        return psycopg.connect(host="127.0.0.1", port=self.bouncer.port, dbname="pgbouncer", user="tunestack_admin",
                               password=self.passwords["admin"], autocommit=True, prepare_threshold=None)

    def serves_primary(self, name: str) -> bool:
        """The primary service reaches node `name`, and it is a primary."""
        try:
            with psycopg.connect(host="127.0.0.1", port=self.primary_port(), dbname="app", user=APP_USER,
                                 password=self.passwords["app"], connect_timeout=2) as conn:
                port, standby = conn.execute("SELECT inet_server_port(), pg_is_in_recovery()").fetchone()
                return port == self.node(name).port and not standby
        except psycopg.Error:
            return False

    def postmaster_pid(self, node) -> int | None:
        pid_file = self.work / "data" / "patroni" / node.name / "postmaster.pid"
        try:
            return int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill_node(self, node) -> None:
        """kill -9 of the node's Patroni and its postmaster: the machine lost, as far as the others see."""
        pid = self.postmaster_pid(node)
        self.procs[f"patroni-{node.name}"].send_signal(signal.SIGKILL)
        self.procs[f"patroni-{node.name}"].wait(10)
        if pid:
            with contextlib_suppress():
                os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        """PgBouncer, HAProxy, then each Patroni (it stops its PostgreSQL and hands back the leader
        key), then etcd: each waited for before the next."""
        if self.bouncer is not None:
            self.bouncer.stop()
        for name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(40)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        for node in self.nodes:   # a postmaster whose Patroni was killed is ours too: by its PID file
            pid = self.postmaster_pid(node)
            if pid:
                with contextlib_suppress():
                    os.kill(pid, signal.SIGQUIT)

    def psql(self, node, sql: str, db: str = "app") -> str:
        res = subprocess.run([pg_bin("psql"), "-h", str(self.work / "sock"), "-p", str(node.port), "-U", "postgres",
                              "-d", db, "-Atqc", sql], user=service_user(), capture_output=True, text=True,
                             timeout=30)
        if res.returncode:
            raise RuntimeError(res.stderr)
        return res.stdout.strip()


class contextlib_suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return exc[0] is not None and issubclass(exc[0], OSError)


def start_cluster(work: Path) -> Cluster:
    plan = ha_plan(free_base(40))
    layout = Layout(secrets_dir=str(work / "secrets"), data_dir=str(work / "data"), run_dir=str(work / "run"),
                    pg_socket_dir=str(work / "sock"), conf_dir=str(work / "etc"),
                    pgbackrest_dir=str(work / "pgbackrest"), backup_dir=str(work / "backups"))
    for d in ("secrets", "data/patroni", "run", "sock", "etc", "etcd"):
        (work / d).mkdir(parents=True, exist_ok=True)
    files = render_plan(plan, layout)
    (work / "etc" / "postgresql.conf").write_text(files["postgresql.conf"])
    (work / "etc" / "pg_hba.conf").write_text(render_text("pg_hba.conf.j2", local_stack=True, ident_map="tunestack",
                                                          clients="127.0.0.1/32", replication_user="replicator"))
    (work / "etc" / "pg_ident.conf").write_text(render_text("pg_ident.conf.j2", map="tunestack",
                                                            system_user=service_user() or os.getlogin()))
    (work / "haproxy.cfg").write_text(files["haproxy.cfg"])
    for name, text in files.items():
        if name.startswith("patroni-"):
            (work / name).write_text(text.replace(f"/usr/lib/postgresql/15/bin", str(Path(pg_bin("postgres", 15)).parent)))
    for d in ("data", "run", "sock", "etcd"):
        os.chmod(work / d, 0o700)
    own(work)
    cluster = Cluster(plan, work, passwords={k: secrets.token_urlsafe(18) for k in ("replication", "rewind", "restapi")})
    try:
        (member,) = plan.ha["etcd members"].value
        cluster.spawn("etcd", [which("etcd"), *etcd_args(plan, member, str(work / "etcd" / member.name))])
        wait_until(lambda: port_open(member.client_port), 30, "etcd answering")
        for node in cluster.nodes:
            cluster.start_patroni(node)
        cluster.spawn("haproxy", [which("haproxy"), "-W", "-db", "-f", str(work / "haproxy.cfg")])
        wait_until(lambda: cluster.leader() and cluster.sync_standby(), 120, "a leader and a synchronous standby")
        app_password = secrets.token_urlsafe(18)
        cluster.passwords["app"] = app_password
        leader = cluster.node(cluster.leader())
        cluster.psql(leader, f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{app_password}'", db="postgres")
        cluster.psql(leader, f"CREATE DATABASE app OWNER {APP_USER}", db="postgres")
        cluster.psql(leader, f"{CREATE_TABLE}; GRANT INSERT, SELECT ON acked TO {APP_USER}")
        cluster.start_bouncer(files["pgbouncer.ini"])
    except BaseException:
        cluster.stop()
        raise
    return cluster


def cleanup(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
