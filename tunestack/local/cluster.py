"""A local stack's PostgreSQL with standbys (postgres.replicas): etcd and one Patroni per node as
supervisord programs in place of the one `postgres` program, and what `up`, `failover`, `status`
and the backups ask of them through Patroni's REST API (patroniapi.py).

Patroni bootstraps the cluster (initdb on the first node, pg_basebackup for the others), writes each
node's postgresql.conf around the rendered one (custom_conf) and restarts a postmaster that dies.
`up` makes the roles on whichever node leads, and applies later changes as Patroni does: a reload on
every node, the dynamic configuration through PATCH /config, a restart node by node."""
from __future__ import annotations

import contextlib
from pathlib import Path

from ..etcdauth import PATRONI_USER, ensure_auth
from ..hafiles import PASSWORD_ENV, RESTAPI_USER, dynamic_config, etcd_args
from ..patroniapi import PatroniApi, first_answer, role_of
from ..recipes import PATRONI_VENV, patroni_version
from ..harender import node_paths
from ..servers import which
from .errors import LocalStackError, wait_until
from .folders import StateFolders

# The local stack's password purposes (secrets.py PURPOSES) for Patroni's users and its API.
PASSWORD_PURPOSE = {"replication": "replication", "rewind": "rewind", "restapi": "patroni-api"}


def etcd_program(i: int) -> str:
    return f"etcd-{i}"


def patroni_program(i: int) -> str:
    return f"patroni-{i}"


def postgres_programs(plan) -> tuple[str, ...]:
    """The supervisord programs that are the stack's PostgreSQL: one, or etcd's and Patroni's."""
    if not plan.ha:
        return ("postgres",)
    return (tuple(etcd_program(i) for i in range(len(plan.ha["etcd members"].value)))
            + tuple(patroni_program(i) for i in range(len(plan.ha["nodes"].value))))


def program_ports(plan) -> dict[str, int]:
    """What each program listens on, for `up`'s free-port check and its wait: etcd's client port,
    each Patroni's REST API and each node's PostgreSQL."""
    if not plan.ha:
        return {}
    out = {etcd_program(i): m.client_port for i, m in enumerate(plan.ha["etcd members"].value)}
    out["postgres replicas (haproxy)"] = plan.ha["replica port"].value
    for i, n in enumerate(plan.ha["nodes"].value):
        out[patroni_program(i)] = n.rest_port
        out[f"postgres node {n.name}"] = n.port
    return out


def cluster_programs(plan, folders: StateFolders, pw: dict[str, str], env_line) -> list[dict]:
    """etcd members first (Patroni waits for them), then the nodes; passwords in the environment only."""
    # etcd stops last: a Patroni that stops hands its leader key back through it
    progs = [dict(name=etcd_program(i), user=folders.user, startsecs=2, stopsignal="TERM", priority=100,
                  command=" ".join([which("etcd"), *etcd_args(plan, m, str(folders.data / "etcd" / m.name))]))
             for i, m in enumerate(plan.ha["etcd members"].value)]
    secrets = {PASSWORD_ENV[k]: pw[purpose] for k, purpose in PASSWORD_PURPOSE.items()}
    # Patroni takes etcd's user from its environment only when the etcd3 section is there too
    secrets.update(PATRONI_ETCD3_HOSTS=",".join(f"{m.address}:{m.client_port}" for m in plan.ha["etcd members"].value),
                   PATRONI_ETCD3_USERNAME=PATRONI_USER, PATRONI_ETCD3_PASSWORD=pw["etcd-patroni"])
    for i, node in enumerate(plan.ha["nodes"].value):
        progs.append(dict(
            name=patroni_program(i), user=folders.user, startsecs=3, stopsignal="TERM", priority=200,
            command=f"{patroni_binary()} {folders.etc}/patroni-{node.name}.yml",
            # archive_command's pgbackrest finds this stack's config here (plan/backup.py)
            environment=env_line({}, {**secrets, "PGBACKREST_CONFIG": str(folders.pgbackrest_conf)})))
    return progs


def patroni_binary() -> str:
    """The pinned Patroni scripts/setup installs (recipes.PATRONI_VENV); Debian 12's 3.0.2 is not used:
    its etcd3 update_leader() puts the leader key without a compare (fixed in 3.0.3, Patroni PR #2693)."""
    binary = Path(PATRONI_VENV) / "bin" / "patroni"
    if not binary.exists():
        raise LocalStackError(f"Patroni {patroni_version()} is not installed at {PATRONI_VENV}: run `bash scripts/setup` "
                              "(it installs the pinned release from PyPI)")
    return str(binary)


def postmaster_pids(plan, folders: StateFolders) -> set[int]:
    """The running postmasters of this stack's nodes, by their data folders' postmaster.pid."""
    pids = set()
    for node in plan.ha["nodes"].value if plan.ha else ():
        pid_file = Path(node_paths(folders.layout, node.name, "").data_dir) / "postmaster.pid"
        try:
            pids.add(int(pid_file.read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            continue
    return pids


class LocalCluster:
    def __init__(self, passwords):
        self.passwords = passwords

    def apis(self, plan, write: bool = False) -> list[PatroniApi]:
        password = self.passwords.get()[PASSWORD_PURPOSE["restapi"]] if write else ""
        return [PatroniApi(n.api_url, RESTAPI_USER if write else "", password)
                for n in plan.ha["nodes"].value]

    def api_of(self, plan, name: str) -> PatroniApi:
        nodes = plan.ha["nodes"].value
        return self.apis(plan, write=True)[[n.name for n in nodes].index(name)]

    def members(self, plan) -> list[dict]:
        return first_answer(self.apis(plan))

    def leader(self, plan):
        """The node that leads now (plan/ha.py PgNode), or None."""
        name = role_of(self.members(plan), "leader")
        return next((n for n in plan.ha["nodes"].value if n.name == name), None)

    def ready(self, plan) -> bool:
        """A running leader, and with rpo 0 a synchronous standby streaming from it."""
        members = self.members(plan)
        if not role_of(members, "leader"):
            return False
        return not plan.ha["synchronous_mode"].value or role_of(members, "sync_standby") is not None

    def secure_etcd(self, plan) -> bool:
        """etcd's authentication on (etcdauth.py), before any Patroni connects; False if it was."""
        pw = self.passwords.get()
        return ensure_auth(plan.ha["etcd members"].value[0].client_url, pw["etcd-root"], pw["etcd-patroni"])

    def wait_ready(self, plan, timeout: float = 180) -> None:
        want = "a leader and a synchronous standby" if plan.ha["synchronous_mode"].value else "a leader"
        wait_until(lambda: self.ready(plan), timeout, f"Patroni: {want}")

    def apply_dynamic(self, plan) -> None:
        """PATCH /config with the plan's timings and the settings every node shares: Patroni's
        bootstrap.dcs counts only when the cluster is made, later changes arrive this way."""
        body = dynamic_config(plan)
        leader = self.leader(plan)
        if leader is None:
            raise LocalStackError("Patroni has no leader: the dynamic configuration cannot be changed now")
        status, text = self.api_of(plan, leader.name).request("PATCH", "/config", body)
        if status != 200:
            raise LocalStackError(f"Patroni refused the dynamic configuration ({status}): {text[:300]}")

    def reload(self, plan) -> None:
        """POST /reload on every node: Patroni re-reads its YAML and reloads PostgreSQL's files."""
        for api in self.apis(plan, write=True):
            status, text = api.post("/reload", {}, timeout=30)
            if status not in (200, 202):
                raise LocalStackError(f"Patroni at {api.url} refused a reload ({status}): {text[:300]}")

    def restart(self, plan, paused) -> None:
        """POST /restart node by node, standbys first; the primary's under `paused` (PgBouncer holds
        its clients), then each waits until the cluster is ready again. First every node has to have
        read the new dynamic configuration (its pending_restart flag, within a few HA loops): a node
        restarted before that comes back with the old values."""
        bound = 3 * plan.ha["loop_wait"].value + 10
        try:
            wait_until(lambda: all(api.status().get("pending_restart") for api in self.apis(plan)), bound,
                       "every node to see the settings that need a restart")
        except LocalStackError:
            pass   # a node that never flags one needs no restart; restarting it anyway is harmless
        leader = self.leader(plan)
        order = sorted(plan.ha["nodes"].value, key=lambda n: leader is not None and n.name == leader.name)
        for node in order:
            api = self.api_of(plan, node.name)
            primary = leader is not None and node.name == leader.name
            with paused() if primary else contextlib.nullcontext():
                status, text = api.post("/restart", {}, timeout=120)
            if status not in (200, 202):
                raise LocalStackError(f"Patroni refused to restart {node.name} ({status}): {text[:300]}")
            self.wait_ready(plan)

    def pending_restart(self, plan) -> list[str]:
        return [m["name"] for m in self.members(plan) if m.get("pending_restart")]

