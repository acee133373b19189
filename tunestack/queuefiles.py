"""The files of the queue Redis with replicas (plan/queueha.py): a config per replica and one per
Sentinel, rendered from the same templates as the rest (render.py calls in here)."""
from __future__ import annotations

from jinja2 import Environment

from .plan.setting import Setting
from .probes import redis_tls_flags


def queue_replica_instance(index: int) -> str:
    """The name of queue node `index`'s config, data folder and program: node 0 keeps redis-queue's."""
    return "queue" if index == 0 else f"queue-{index}"


def queue_ha_files(plan, layout, env: Environment) -> dict[str, str]:
    """With queue replicas: redis-queue-<i>.conf for each replica (the queue's settings on its own
    port and folder; no `replicaof`: Sentinel alone says who replicates whom, so a restarted node
    never follows a stale master from its file) and sentinel-<i>.conf for each Sentinel."""
    if not plan.queue_ha:
        return {}
    files = {}
    nodes = plan.queue_ha["nodes"].value
    for i, node in enumerate(nodes[1:], start=1):
        settings = {**plan.redis["queue"], "port": Setting(node.port, f"queue replica {i}: redis.queue.port + {i}",
                                                           "computed")}
        files[f"redis-{queue_replica_instance(i)}.conf"] = env.get_template("redis.conf.j2").render(
            stack=plan.stack, role="queue", instance=queue_replica_instance(i), settings=settings,
            secrets_dir=layout.secrets_dir, data_dir=layout.data_dir)
    # a failover in progress ends well within half of failover-timeout (seconds here)
    sentinel_tls = plan.tls["redis-sentinel"].settings if "redis-sentinel" in plan.tls else {}
    files["redis-node.sh"] = env.get_template("redis-node.sh.j2").render(
        stack=plan.stack, name=plan.queue_ha["master name"].text,
        wait_s=plan.queue_ha["failover-timeout"].value // 2000,
        cli_tls=redis_tls_flags(bool(sentinel_tls)))
    for i, member in enumerate(plan.queue_ha["sentinels"].value):
        files[f"sentinel-{i}.conf"] = env.get_template("sentinel.conf.j2").render(
            stack=plan.stack, member=member, index=i, master=nodes[0], name=plan.queue_ha["master name"].text,
            section=plan.queue_ha, data_dir=layout.data_dir, tls=sentinel_tls, announce=plan.placement.docker)
    return files


# redis_exporter's user on a Sentinel (tunestack:monitoring): what it runs there (INFO, SENTINEL
# MASTERS, SENTINELS, REPLICAS/SLAVES and CKQUORUM for its redis_sentinel_* series) and nothing that
# changes Sentinel or shows its passwords. A Sentinel knows none of a Redis' LATENCY, SLOWLOG or
# CONFIG: naming them is an error there. Checked against redis_exporter 1.45 by the HA tests.
SENTINEL_MONITOR_RULES = ("resetchannels", "-@all", "+ping", "+info", "+hello", "+auth", "+client|setname",
                          "+sentinel|masters", "+sentinel|master", "+sentinel|sentinels", "+sentinel|replicas",
                          "+sentinel|slaves", "+sentinel|ckquorum")


def sentinel_secrets(master_name: str, sentinel_password: str, queue_password: str, monitor_hash: str = "") -> str:
    """What each Sentinel's own copy of its file adds at deploy time: its password (clients and the
    other Sentinels log in with it), the queue's (auth-pass: to watch and reconfigure the nodes) and,
    with monitoring, redis_exporter's user (its password's SHA-256). Never in a rendered file; the
    copy is the service user's, 0600."""
    from .monitoring.servers import REDIS_USER
    from .render import redis_word

    monitor = f"user {REDIS_USER} on #{monitor_hash} {' '.join(SENTINEL_MONITOR_RULES)}\n" if monitor_hash else ""
    return ("# added at deploy time: the passwords (this copy is the service user's, 0600)\n"
            f"requirepass {redis_word(sentinel_password)}\n"
            f"sentinel auth-pass {master_name} {redis_word(queue_password)}\n" + monitor)
