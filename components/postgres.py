"""PostgresServer: the tuned postgresql.conf, roles with per-role timeouts, data on a protected volume."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from tunestack.plan.memory import ContainerLimit

from ._container import ContainerSpec, Publish, data_volume, service_container

DATA_DIR = "/var/lib/tunestack/postgres"
# Creates the login roles once, at first start; their passwords come from secret env vars.
INIT_ROLES = """#!/bin/sh
set -e
psql -v ON_ERROR_STOP=1 --username postgres <<SQL
CREATE ROLE app LOGIN PASSWORD '$APP_PASSWORD';
CREATE ROLE migrator LOGIN PASSWORD '$APP_PASSWORD';
CREATE DATABASE app OWNER migrator;
SQL
"""


@dataclass
class PostgresServerArgs:
    provider: docker.Provider
    network: pulumi.Input[str]
    image: str
    files: dict[str, str]            # rendered files of the plan
    limit: ContainerLimit
    port: int
    publish_address: str | None      # the host's private address, when clients live on other hosts
    superuser_password: pulumi.Output[str]
    app_password: pulumi.Output[str]


class PostgresServer(pulumi.ComponentResource):
    def __init__(self, name: str, args: PostgresServerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:PostgresServer", name, None, opts)
        self.volume = data_volume(self, args.provider, f"{name}-data")
        self.container = service_container(self, args.provider, args.network, ContainerSpec(
            name=name,
            image=args.image,
            limit=args.limit,
            command=["postgres", "-c", "config_file=/etc/tunestack/postgresql.conf"],
            files={"/etc/tunestack/postgresql.conf": args.files["postgresql.conf"],
                   "/docker-entrypoint-initdb.d/10-roles.sh": INIT_ROLES,
                   "/docker-entrypoint-initdb.d/20-roles.sql": args.files["roles.sql"]},
            envs=[pulumi.Output.concat("POSTGRES_PASSWORD=", args.superuser_password),
                  pulumi.Output.concat("APP_PASSWORD=", args.app_password),
                  f"PGDATA={DATA_DIR}/pgdata"],
            volumes=[(self.volume, DATA_DIR)],
            healthcheck=["CMD", "pg_isready", "-h", "127.0.0.1", "-p", str(args.port)],
            publish=[Publish(args.port, args.publish_address)] if args.publish_address else [],
        ))
        self.register_outputs({"container": self.container.name, "volume": self.volume.name})
