"""A local stack's queue Redis with replicas (redis.queue.replicas): each replica and three Redis
Sentinels as supervisord programs beside `redis-queue` (node 0), and what `up`, `status` and
`verify` ask of them.

No node's file says `replicaof`: who replicates whom is Sentinel's alone. Each node starts through
redis-node.sh (queuefiles.py), as a replica of the master the Sentinels name, or as a master when
it is that master or no Sentinel answers; `up` then points each node that is not Sentinel's master
at it (REPLICAOF), and Sentinel does the same for a node that comes back after a failover. Sentinel rewrites its own config file, so each gets
a copy in its data folder, made once from the rendered file with the passwords added."""
from __future__ import annotations

from ..queuefiles import SENTINEL_MONITOR_RULES, queue_replica_instance, sentinel_secrets
from ..servers import which
from .errors import wait_until
from .folders import StateFolders


def queue_node_program(i: int) -> str:
    return f"redis-{queue_replica_instance(i)}"


def sentinel_program(i: int) -> str:
    return f"sentinel-{i}"


def replica_programs(plan) -> tuple[str, ...]:
    """The queue's replica nodes' programs (node 0 is `redis-queue`, as without replicas)."""
    return tuple(queue_node_program(i) for i in range(1, len(plan.queue_ha["nodes"].value))) if plan.queue_ha else ()


def sentinel_programs(plan) -> tuple[str, ...]:
    return tuple(sentinel_program(i) for i in range(len(plan.queue_ha["sentinels"].value))) if plan.queue_ha else ()


def queue_program_ports(plan) -> dict[str, int]:
    if not plan.queue_ha:
        return {}
    out = {queue_node_program(i): n.port for i, n in enumerate(plan.queue_ha["nodes"].value) if i}
    out.update({sentinel_program(i): s.port for i, s in enumerate(plan.queue_ha["sentinels"].value)})
    return out


def queue_node_command(plan, folders: StateFolders, index: int) -> str:
    """Node `index` through redis-node.sh (queuefiles.py): a replica of the master the Sentinels name
    when they name another node, else a master."""
    node, program = plan.queue_ha["nodes"].value[index], queue_node_program(index)
    sentinels = " ".join(s.endpoint for s in plan.queue_ha["sentinels"].value)
    return (f"/bin/sh {folders.etc}/redis-node.sh {which('redis-server')} {which('redis-cli')} "
            f"{folders.etc}/{program}.conf {node.address} {node.port} "
            f"{folders.service_secrets}/redis-sentinel-password {sentinels}")


def queue_ha_programs(plan, folders: StateFolders) -> list[dict]:
    """The replicas, then the Sentinels (each from its own rewritable copy of its file)."""
    if not plan.queue_ha:
        return []
    server = which("redis-server")
    progs = [dict(name=queue_node_program(i), user=folders.user, startsecs=1, stopsignal="TERM",
                  command=queue_node_command(plan, folders, i))
             for i in range(1, len(plan.queue_ha["nodes"].value))]
    progs += [dict(name=p, user=folders.user, startsecs=1, stopsignal="TERM",
                   command=f"{server} {folders.data / p / 'sentinel.conf'} --sentinel --daemonize no")
              for p in sentinel_programs(plan)]
    return progs


def monitor_hash(plan, pw: dict[str, str]) -> str:
    """redis_exporter's password hash for the Sentinels' ACL when monitoring runs, else ""."""
    from ..monitoring.servers import redis_password_hash
    from .monitoring import enabled

    return redis_password_hash(pw["monitor-redis"]) if enabled(plan) else ""


def sentinel_runtime_conf(rendered: str, master_name: str, pw: dict[str, str], monitor: str = "") -> str:
    """The rendered file with the passwords Sentinel needs (queuefiles.sentinel_secrets)."""
    return rendered + sentinel_secrets(master_name, pw["redis-sentinel"], pw["redis-queue"], monitor)


class QueueSentinels:
    def __init__(self, folders: StateFolders, passwords):
        self.folders, self.passwords = folders, passwords

    def prepare(self, plan, files: dict[str, str]) -> None:
        """Each replica's and Sentinel's data folder, and each Sentinel's own copy of its file when
        it has none yet (later, what it learned stays: SENTINEL SET applies new settings)."""
        if not plan.queue_ha:
            return
        for program in replica_programs(plan) + sentinel_programs(plan):
            folder = self.folders.data / program
            folder.mkdir(exist_ok=True)
            self.folders.own(folder, 0o700, service=True)
        pw = self.passwords.get()
        for program in sentinel_programs(plan):
            conf = self.folders.data / program / "sentinel.conf"
            if not conf.exists():
                self.folders.write(conf, sentinel_runtime_conf(files[f"{program}.conf"],
                                                               plan.queue_ha["master name"].text, pw,
                                                               monitor_hash(plan, pw)), 0o600, service=True)

    def sentinel(self, member, timeout: float = 2):
        import redis as redis_py

        return redis_py.Redis(host=member.address, port=member.port, password=self.passwords.get()["redis-sentinel"],
                              socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True)

    def node(self, node, timeout: float = 2):
        import redis as redis_py

        return redis_py.Redis(host=node.address, port=node.port, password=self.passwords.get()["redis-queue"],
                              socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True)

    def master(self, plan):
        """The node the Sentinels call the master, or None when none answers. Of several answers the
        one with the highest config-epoch: right after a failover only the Sentinel that led it knows
        the new master (redis-node.sh decides the same way)."""
        import redis as redis_py

        name, best = plan.queue_ha["master name"].text, (-1, None)
        for member in plan.queue_ha["sentinels"].value:
            try:
                state = sentinel_master(self.sentinel(member), name)
            except redis_py.RedisError:
                continue
            epoch = int(state.get("config-epoch", -1))
            if epoch > best[0]:
                best = (epoch, (state.get("ip"), int(state.get("port", 0))))
        return next((n for n in plan.queue_ha["nodes"].value if (n.address, n.port) == best[1]), None)

    def attach_replicas(self, plan) -> list[str]:
        """Point every node that is not Sentinel's master (node 0 before any Sentinel runs) at it;
        the names of the nodes re-pointed. A node already replicating the master is left alone."""
        master = self.master(plan) or plan.queue_ha["nodes"].value[0]
        moved = []
        for node in plan.queue_ha["nodes"].value:
            if node == master:
                continue
            info = self.node(node).info("replication")
            if info.get("role") == "slave" and (info.get("master_host"), info.get("master_port")) == \
                    (master.address, master.port):
                continue
            self.node(node).replicaof(master.address, master.port)
            moved.append(node.name)
        return moved

    def after_group(self, plan, group: tuple[str, ...], say) -> None:
        """`up`'s steps between start groups: the replicas pointed at the master once the nodes run
        (before the Sentinels, which find replicas on the master), and all of it ready once the
        Sentinels run (before the apps)."""
        if not plan.queue_ha:
            return
        if "redis-queue" in group:
            moved = self.attach_replicas(plan)
            if moved:
                say(f"queue: {', '.join(moved)} now replicate(s) the master")
        if set(sentinel_programs(plan)) <= set(group):
            self.wait_ready(plan)

    def apply_settings(self, plan) -> None:
        """Sentinel's settings live on every Sentinel (SENTINEL SET): its file is its own. So does
        redis_exporter's user: set (or dropped) live, then written to the file (FLUSHCONFIG)."""
        from ..monitoring.servers import REDIS_USER

        name, monitor = plan.queue_ha["master name"].text, monitor_hash(plan, self.passwords.get())
        for member in plan.queue_ha["sentinels"].value:
            client = self.sentinel(member)
            client.execute_command("SENTINEL", "SET", name, "quorum", plan.queue_ha["quorum"].text)
            for key in ("down-after-milliseconds", "failover-timeout", "parallel-syncs"):
                client.execute_command("SENTINEL", "SET", name, key, plan.queue_ha[key].text)
            if monitor:
                client.execute_command("ACL", "SETUSER", REDIS_USER, "reset", "on", f"#{monitor}",
                                       *SENTINEL_MONITOR_RULES)
            else:
                client.execute_command("ACL", "DELUSER", REDIS_USER)
            client.execute_command("SENTINEL", "FLUSHCONFIG")

    def ready(self, plan) -> bool:
        """Every replica streams from the master, and every Sentinel knows them and has its quorum."""
        master = self.master(plan)
        if master is None:
            return False
        info = self.node(master).info("replication")
        online = sum(1 for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)
                     and v.get("state") == "online")
        if info.get("role") != "master" or online < plan.spec.queue_ha.replicas:
            return False
        name = plan.queue_ha["master name"].text
        for member in plan.queue_ha["sentinels"].value:
            client = self.sentinel(member)
            client.execute_command("SENTINEL", "CKQUORUM", name)   # raises unless a majority is reachable
            if int(sentinel_master(client, name).get("num-slaves", 0)) < plan.spec.queue_ha.replicas:
                return False
        return True

    def wait_ready(self, plan, timeout: float = 60) -> None:
        wait_until(lambda: self.ready(plan), timeout, "the queue's replicas streaming and every Sentinel agreeing")

    def roles(self, plan) -> list[dict]:
        """Each queue node: its port, its role as it says, and the master it follows."""
        import redis as redis_py

        out = []
        for node in plan.queue_ha["nodes"].value:
            try:
                info = self.node(node, timeout=1).info("replication")
                role = "master" if info.get("role") == "master" else "replica"
                link = info.get("master_link_status", "")
            except redis_py.RedisError as exc:
                role, link = "down", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            out.append({"name": node.name, "port": node.port, "role": role, "link": link})
        return out


def sentinel_master(client, name: str) -> dict[str, str]:
    """SENTINEL MASTER's key-value pairs (redis-py's own helper answers True unless told otherwise)."""
    flat = client.execute_command("SENTINEL", "MASTER", name)
    return dict(zip(flat[::2], flat[1::2]))

