"""QueueCluster: the queue Redis with replicas (redis.queue.replicas) on machines of their own, and
three Redis Sentinels that fail it over (plan section `queue_ha`, tunestack/queuefiles.py).

- Each node is a container of the Redis image on its cache machine, started through redis-node.sh:
  a replica of the master the Sentinels name, or a master when they name none. Its port is
  published on its machine's address, and it announces that address and port (Redis docs,
  "Sentinel, Docker, NAT, and possible issues"), never the container's own.
- On the first deploy no Sentinel answers yet, so every node starts as a master: `<name>-attach-<i>`
  points each replica at node 0 before any Sentinel starts (only a node that is still an empty
  master with no replica of its own), as `tunestack up` does on the local stack.
- Each Sentinel runs from its own copy of its file on its volume (Sentinel rewrites it), made once
  by the image's entrypoint from the rendered file and a secret file with the passwords.

Across machines the nodes and Sentinels serve TLS only and replicate over TLS (plan/tls.py)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_command as command

from tunestack.monitoring.servers import monitor_hash
from tunestack.plan.memory import ContainerLimit
from tunestack.plan.queueha import RedisNode, SentinelMember
from tunestack.plan.tls import KEY_FILE
from tunestack.probes import redis_tls_flags
from tunestack.queuefiles import queue_replica_instance, sentinel_secrets
from tunestack.render import render_text

from ._container import ContainerSpec, Publish, data_volume, service_container
from .cluster import Machine

ETC = "/etc/tunestack"
SECRETS = f"{ETC}/secrets"
DATA = "/var/lib/tunestack"
# REPLICAOF node 0, inside the replica's container with its own password file, only while it is an
# empty master: a node Sentinel already placed (a later deploy) is never moved.
ATTACH = ('docker exec -i -e TLS="$TLS" -e PORT="$PORT" -e MASTER="$MASTER" -e MASTER_PORT="$MASTER_PORT" '
          '-e NODE="$NODE" "$NODE" sh -c \'export REDISCLI_AUTH="$(cat ' + SECRETS + '/redis-queue-password)"; '
          'cli="redis-cli --no-auth-warning $TLS -p $PORT"; '
          'info=$($cli INFO replication); '
          'if printf "%s" "$info" | grep -q "^role:master" && printf "%s" "$info" | grep -q "^connected_slaves:0" '
          '&& [ "$($cli DBSIZE)" = 0 ]; then $cli REPLICAOF "$MASTER" "$MASTER_PORT"; '
          'else echo "$NODE: already placed, left alone"; fi\'')


@dataclass
class QueuePasswords:
    queue: pulumi.Output[str]
    sentinel: pulumi.Output[str]


@dataclass
class QueueClusterArgs:
    nodes: list[tuple[RedisNode, Machine]]
    sentinels: list[tuple[SentinelMember, Machine]]
    files: dict[str, str]             # render_plan: redis-queue[-<i>].conf, redis-node.sh, sentinel-<i>.conf
    master_name: str
    node_limit: ContainerLimit
    sentinel_limit: ContainerLimit
    passwords: QueuePasswords
    node_tls_files: dict[str, pulumi.Input[str]] = field(default_factory=dict)       # the queue's certificate
    sentinel_tls_files: dict[str, pulumi.Input[str]] = field(default_factory=dict)   # the Sentinels'
    monitor_password: pulumi.Output[str] | None = None   # tunestack:monitoring: redis_exporter's ACL user


class QueueCluster(pulumi.ComponentResource):
    def __init__(self, name: str, args: QueueClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:QueueCluster", name, None, opts)
        self.nodes = [self._node(i, node, machine, args) for i, (node, machine) in enumerate(args.nodes)]
        master = args.nodes[0][0]
        tls = redis_tls_flags(bool(args.node_tls_files)).strip()
        self.attach = [command.local.Command(
            f"{node.name}-attach", create=ATTACH,
            environment={"DOCKER_HOST": machine.host_url, "NODE": node.name, "TLS": tls, "PORT": str(node.port),
                         "MASTER": master.address, "MASTER_PORT": str(master.port)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.nodes))
            for node, machine in args.nodes[1:]]
        self.sentinels = [self._sentinel(i, member, machine, args) for i, (member, machine) in enumerate(args.sentinels)]
        self.register_outputs({"nodes": [c.name for c in self.nodes], "sentinels": [c.name for c in self.sentinels]})

    def _node(self, index: int, node: RedisNode, machine: Machine, args: QueueClusterArgs):
        instance = queue_replica_instance(index)
        conf, data = f"{ETC}/redis-{instance}.conf", f"{DATA}/redis-{instance}"
        secrets = {f"{SECRETS}/redis-queue.conf": pulumi.Output.all(args.passwords.queue, args.monitor_password).apply(
                       lambda pw: render_text("redis-secrets.conf.j2", password=pw[0], masterauth=True,
                                              monitor_hash=monitor_hash(pw[1]))),
                   f"{SECRETS}/redis-queue-password": args.passwords.queue,
                   f"{SECRETS}/redis-sentinel-password": args.passwords.sentinel}
        sentinels = [m.endpoint for m, _ in args.sentinels]
        volume = data_volume(self, machine.provider, f"{node.name}-data")   # protected: the queue's jobs
        tls = bool(args.node_tls_files)
        return service_container(self, machine.provider, machine.network, ContainerSpec(
            name=node.name, image=machine.image, limit=args.node_limit,
            command=["/bin/sh", f"{ETC}/redis-node.sh", "redis-server", "redis-cli", conf, node.address,
                     str(node.port), f"{SECRETS}/redis-sentinel-password", *sentinels],
            files={conf: args.files[f"redis-{instance}.conf"], f"{ETC}/redis-node.sh": args.files["redis-node.sh"],
                   **secrets, **args.node_tls_files},
            secret_files={*secrets, KEY_FILE},
            volumes=[(volume, data)], envs=[f"TUNESTACK_DATA_DIR={data}"],
            stop_seconds=60,   # SIGTERM: Redis flushes the AOF and exits
            healthcheck=["CMD-SHELL", f"redis-cli {redis_tls_flags(tls)}-p {node.port} ping | grep -q -e PONG -e NOAUTH"],
            publish=[Publish(node.port, node.address)]))

    def _sentinel(self, index: int, member: SentinelMember, machine: Machine, args: QueueClusterArgs):
        data, secret = f"{DATA}/sentinel-{index}", f"{SECRETS}/sentinel-secrets.conf"
        pw = pulumi.Output.all(args.passwords.sentinel, args.passwords.queue, args.monitor_password).apply(
            lambda p: sentinel_secrets(args.master_name, p[0], p[1], monitor_hash(p[2])))
        volume = data_volume(self, machine.provider, f"{member.name}-data", protect=False)
        return service_container(self, machine.provider, machine.network, ContainerSpec(
            name=member.name, image=machine.image, limit=args.sentinel_limit,
            command=["sentinel", f"{ETC}/sentinel.conf", secret],
            files={f"{ETC}/sentinel.conf": args.files[f"sentinel-{index}.conf"], secret: pw, **args.sentinel_tls_files},
            secret_files={secret, KEY_FILE},
            volumes=[(volume, data)], envs=[f"TUNESTACK_DATA_DIR={data}"],
            healthcheck=["CMD-SHELL", f"redis-cli {redis_tls_flags(bool(args.sentinel_tls_files))}-p {member.port} "
                                      "ping | grep -q -e PONG -e NOAUTH"],
            publish=[Publish(member.port, member.address)],
            depends_on=[*self.nodes, *self.attach]))
