"""Redis for one role: cache (evicts, no persistence) or queue (noeviction, AOF on a protected volume)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from tunestack.monitoring.servers import monitor_hash
from tunestack.plan.memory import ContainerLimit
from tunestack.plan.tls import KEY_FILE
from tunestack.probes import redis_tls_flags
from tunestack.render import render_text

from ._container import ContainerSpec, Publish, data_volume, service_container


@dataclass
class RedisArgs:
    provider: docker.Provider
    network: pulumi.Input[str]
    image: pulumi.Input[str]          # image id (StackImages.image_id)
    role: str                      # cache | queue
    files: dict[str, str]
    limit: ContainerLimit
    port: int
    publish_address: str | None
    password: pulumi.Output[str]
    tls_files: dict[str, pulumi.Input[str]] = field(default_factory=dict)   # StackCertificates.files: TLS only
    monitor_password: pulumi.Output[str] | None = None   # tunestack:monitoring: redis_exporter's ACL user


class Redis(pulumi.ComponentResource):
    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:Redis", name, None, opts)
        secret_path = f"/etc/tunestack/secrets/redis-{args.role}.conf"
        password_path = f"/etc/tunestack/secrets/redis-{args.role}-password"
        # Only the queue's data must survive; the cache volume just gives Redis its working dir.
        self.volume = data_volume(self, args.provider, f"{name}-data", protect=args.role == "queue")
        self.container = service_container(self, args.provider, args.network, ContainerSpec(
            name=name,
            image=args.image,
            limit=args.limit,
            command=["redis-server", f"/etc/tunestack/redis-{args.role}.conf"],
            files={f"/etc/tunestack/redis-{args.role}.conf": args.files[f"redis-{args.role}.conf"],
                   secret_path: pulumi.Output.all(args.password, args.monitor_password).apply(
                       lambda pw: render_text("redis-secrets.conf.j2", password=pw[0],
                                              monitor_hash=monitor_hash(pw[1]))),
                   password_path: args.password,    # what `tunestack verify` authenticates with
                   **args.tls_files},
            secret_files={secret_path, password_path, KEY_FILE},
            volumes=[(self.volume, f"/var/lib/tunestack/redis-{args.role}")],
            # The image's entrypoint gives this folder to redis (Docker creates volumes root-owned).
            envs=[f"TUNESTACK_DATA_DIR=/var/lib/tunestack/redis-{args.role}"],
            stop_seconds=60,   # SIGTERM: Redis flushes the AOF and exits
            healthcheck=["CMD-SHELL", f"redis-cli {redis_tls_flags(bool(args.tls_files))}-p {args.port} ping "
                                      "| grep -q -e PONG -e NOAUTH"],
            publish=[Publish(args.port, args.publish_address)] if args.publish_address else [],
        ))
        self.register_outputs({"container": self.container.name, "role": args.role})
