"""Passwords: from Pulumi secret config when set, else generated once as Pulumi secrets."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random


@dataclass
class StackSecretsArgs:
    db_password: pulumi.Output[str] | None = None     # tunestack:dbPassword (secret)
    redis_password: pulumi.Output[str] | None = None  # tunestack:redisPassword (secret)
    db_password_previous: pulumi.Output[str] | None = None   # tunestack:dbPasswordPrevious: during a rotation
    ha: bool = False      # postgres.replicas: Patroni's users, its REST API and etcd get their own
    queue_ha: bool = False   # redis.queue.replicas: the Sentinels get their own
    monitoring: bool = False  # tunestack:monitoring on containers: each exporter logs in with its own


class StackSecrets(pulumi.ComponentResource):
    def __init__(self, name: str, args: StackSecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:StackSecrets", name, None, opts)

        def password(key: str, given):
            if given is not None:
                return pulumi.Output.secret(given)
            generated = random.RandomPassword(f"{name}-{key}", length=32, special=False,
                                              opts=pulumi.ResourceOptions(parent=self))
            # Secret by schema already; wrapped again so it stays secret under any engine or mock.
            return pulumi.Output.secret(generated.result)

        self.db_password = password("db", args.db_password)
        # A rotation's first `up` (components/dbpassword.py): the password the servers still have.
        self.db_password_previous = None if args.db_password_previous is None \
            else pulumi.Output.secret(args.db_password_previous)
        self.redis_password = password("redis", args.redis_password)            # the queue (REDIS_URL)
        self.redis_cache_password = password("redis-cache", None)                 # its own: no shared key
        self.jobs_password = password("jobs", None)        # job processes: their own role and timeouts
        self.admin_password = password("admin", None)
        self.migrator_password = password("migrator", None)   # migrations: not the app's password
        # Patroni's replication and pg_rewind users, its REST API's writes, etcd's root and Patroni's
        # etcd user: only with standbys, so a stack without them keeps its resources as they were.
        self.ha = {k: password(k, None) for k in ("replication", "rewind", "patroni-api", "etcd-root",
                                                   "etcd-patroni")} if args.ha else {}
        self.redis_sentinel_password = password("redis-sentinel", None) if args.queue_ha else None
        # postgres_exporter's role, PgBouncer's stats user, Redis' ACL user for redis_exporter.
        self.monitor = {k: password(f"monitor-{k}", None) for k in ("postgres", "pgbouncer", "redis")} \
            if args.monitoring else {}
        self.register_outputs({})
