"""The running servers of a local stack: applying an action (reload, restart, CONFIG SET), waiting
until each serves, and the one superuser way in (psql over the private socket)."""
from __future__ import annotations

import contextlib
import os
import pwd
import urllib.request
from pathlib import Path

from ..hafiles import REPLICATION_USER
from ..render import render_text
from ..scram import scram_verifier
from ..servers import port_open, psql_socket
from .apply import REDIS_LIVE
from .cluster import LocalCluster, postgres_programs
from .errors import LocalStackError, wait_until
from .folders import StateFolders
from .monitoring import enabled as monitoring_on, wait_first_scrapes
from ..plan.monitoring import MONITOR_CONNECTIONS
from .ports import server_ports
from .sentinel import QueueSentinels
from .supervisor import Supervisor


class Servers:
    def __init__(self, folders: StateFolders, supervisor: Supervisor, passwords):
        self.folders, self.supervisor, self.passwords = folders, supervisor, passwords
        self.cluster = LocalCluster(passwords)
        self.queue = QueueSentinels(folders, passwords)

    def pg_port(self, plan) -> int:
        """Where the superuser reaches the primary over the socket: the one server's port, or the
        port of the node Patroni says leads."""
        if not plan.ha:
            return plan.postgres["port"].value
        leader = self.cluster.leader(plan)
        if leader is None:
            raise LocalStackError("Patroni has no leader now (tunestack status shows each node); nothing was changed")
        return leader.port

    def psql(self, plan, sql: str, db: str = "postgres", stdin: str | None = None) -> str:
        res = psql_socket(str(self.folders.pg_socket_dir), self.pg_port(plan), sql, db=db, stdin=stdin)
        if res.returncode:
            raise LocalStackError(f"psql: {res.stderr.strip()}")
        return res.stdout

    def start(self, plan, services: list[str]) -> None:
        self.supervisor.start(services, server_ports(plan))
        if postgres_programs(plan)[-1] in services:   # PostgreSQL's last program: it serves once that runs
            self.wait_serving("postgres", plan)

    def apply(self, service: str, action: str, plan) -> None:
        if action == "start":
            self.start(plan, [service])
            return
        if service == "postgres" and plan.ha:
            self.apply_cluster(action, plan)
        elif action.startswith("restart") and service == "postgres":
            with self.pgbouncer_paused(plan):   # clients queue in PgBouncer instead of failing
                self.supervisor.ctl("restart", service)
                self.wait_serving(service, plan)
        elif action.startswith("restart"):
            self.supervisor.ctl("restart", service)
        elif action == "reload":
            self.supervisor.ctl("signal", "HUP" if service != "haproxy" else "USR2", service)
        elif action == "config set":
            self.redis_config_set(service.split("-")[1], plan, instance=service.removeprefix("redis-"))
        elif action == "sentinel set":
            self.queue.apply_settings(plan)
        self.wait_serving(service, plan)

    def apply_cluster(self, action: str, plan) -> None:
        """Patroni's way: the shared settings through its dynamic configuration, a reload on every
        node, and a restart node by node when a setting read only at start changed."""
        self.cluster.apply_dynamic(plan)
        self.cluster.reload(plan)
        if action.startswith("restart"):
            self.cluster.restart(plan, lambda: self.pgbouncer_paused(plan))

    def wait_serving(self, service: str, plan) -> None:
        if service == "postgres" and plan.ha:
            self.cluster.wait_ready(plan)
            wait_until(lambda: self.psql(plan, "SELECT 1").strip() == "1", 60, "the primary accepting queries")
            return
        ports = server_ports(plan)
        if service in ports:
            wait_until(lambda: port_open(ports[service]), 60, f"{service} on port {ports[service]}")
        if service == "postgres":
            wait_until(lambda: self.psql(plan, "SELECT 1").strip() == "1", 60, "postgres accepting queries")

    def pgbouncer_admin(self, plan):
        """A connection to PgBouncer's admin console (PAUSE, RESUME, SHOW)."""
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=plan.pgbouncer["listen_port"].value, dbname="pgbouncer",
                               user="tunestack_admin", password=self.passwords.get()["admin"], autocommit=True,
                               connect_timeout=5, prepare_threshold=None)

    def serves_primary(self, plan, name: str) -> bool:
        """The primary service (postgres.port) reaches node `name`, and it is a primary."""
        import psycopg

        node = next(n for n in plan.ha["nodes"].value if n.name == name)
        try:
            with psycopg.connect(host="127.0.0.1", port=plan.postgres["port"].value, dbname="app", user="app",
                                 password=self.passwords.get()["app"], connect_timeout=2) as conn:
                port, standby = conn.execute("SELECT inet_server_port(), pg_is_in_recovery()").fetchone()
                return port == node.port and not standby
        except psycopg.Error:
            return False

    @contextlib.contextmanager
    def pgbouncer_paused(self, plan):
        """PgBouncer's PAUSE (manual: waits for running queries, then closes server connections)
        around a PostgreSQL restart; RESUME afterwards. Clients wait instead of failing."""
        if "pgbouncer" not in self.supervisor.running():
            yield
            return
        conn = self.pgbouncer_admin(plan)
        try:
            conn.execute("PAUSE")
            yield
        finally:
            conn.execute("RESUME")
            conn.close()

    def redis_client(self, role: str, plan, port: int | None = None, instance: str | None = None):
        """A client for the instance that holds `role`'s data (`instance`: a queue replica's, e.g.
        queue-1): its `dir` is checked before anything is changed, so a port swap can never apply
        cache settings to the queue's process."""
        import redis as redis_py

        instance = instance or role
        port = port or server_ports(plan)[f"redis-{instance}"]
        client = redis_py.Redis(host="127.0.0.1", port=port, password=self.passwords.get()[f"redis-{role}"],
                                socket_timeout=5)
        try:
            holds = client.config_get("dir").get("dir", "")
        except redis_py.AuthenticationError:
            holds = "(another instance: our password for it was refused)"
        own = self.folders.data / f"redis-{instance}"
        if Path(holds) != own:
            raise LocalStackError(f"the Redis on port {port} holds {holds}, not the {role}'s data ({own}); nothing "
                                  "was changed. Run `up` again: it restarts each instance from its own folder")
        return client

    def redis_config_set(self, role: str, plan, instance: str | None = None) -> None:
        """Live changes through CONFIG SET: restarting with a changed appendonly loses data (redis.conf)."""
        settings = plan.redis[role]
        client = self.redis_client(role, plan, instance=instance)
        for key in REDIS_LIVE:
            if key in settings:
                client.config_set(key, settings[key].text)

    def bootstrap(self, plan, pw: dict[str, str]) -> None:
        """Roles, database, extension and the app's table, then the per-role timeouts; idempotent.
        Passwords go in as SCRAM verifiers, in a session with statement statistics and logging
        off, so that no password (nor verifier) lands in pg_stat_statements or the server log."""
        verifiers = {role: scram_verifier(pw[role]) for role in ("app", "jobs", "migrator")}
        monitor = {"monitor_verifier": scram_verifier(pw["monitor-postgres"]),
                   "monitor_connections": MONITOR_CONNECTIONS} if monitoring_on(plan) else {}
        self.psql(plan, "", stdin=render_text("bootstrap.sql.j2", passwords_from_files=False, verifiers=verifiers,
                                              **monitor))
        self.psql(plan, "", stdin=(self.folders.etc / "roles.sql").read_text())

    def wait_healthy(self, plan) -> None:
        """Healthy means a real query through PgBouncer as the app role, and the app answering
        through the load balancer: not just open ports."""
        import psycopg

        def database():
            with psycopg.connect(host="127.0.0.1", port=plan.pgbouncer["listen_port"].value, dbname="app", user="app",
                                 password=self.passwords.get()["app"], connect_timeout=3, prepare_threshold=None) as conn:
                return conn.execute("SELECT 1").fetchone() == (1,)

        wait_until(database, 60, "a query through PgBouncer as the app role")
        url = f"http://127.0.0.1:{plan.loadbalancer['port'].value}{plan.loadbalancer['health_path'].text}"

        def ok():
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status == 200

        wait_until(ok, 60, f"app health through the load balancer ({url})")
        wait_first_scrapes(plan)   # monitoring: every target scraped once, so status says up or down


def hba_files(folders: StateFolders) -> dict[str, str]:
    """pg_hba.conf and pg_ident.conf of the local stack: no trust; the superuser only as the
    service user (peer, mapped from whoever runs the stack)."""
    ident_user = folders.user or pwd.getpwuid(os.geteuid()).pw_name
    return {"pg_hba.conf": render_text("pg_hba.conf.j2", local_stack=True, ident_map="tunestack", clients="127.0.0.1/32",
                                       replication_user=REPLICATION_USER),
            "pg_ident.conf": render_text("pg_ident.conf.j2", map="tunestack", system_user=ident_user)}
