"""The files PostgreSQL with standbys adds to a stack's rendering (plan section `ha`): each node's
Patroni YAML, for the hosts' layout and for containers, and the load balancer's primary service,
which on containers is a proxy of its own (components/cluster.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .hafiles import NodePaths, patroni_yaml
from .plan.backup import CONTAINER_SOCKET_DIR
from .plan.tls import CA_FILE, CERT_FILE, KEY_FILE

if TYPE_CHECKING:
    from jinja2 import Environment

    from .plan import Plan
    from .render import Layout


def primary_service(plan: Plan) -> dict | None:
    """HAProxy's TCP service in front of Patroni's nodes: clients connect to postgres.port and reach
    whichever node answers 200 on GET /primary. Idle PgBouncer server connections pass through it,
    so its timeouts outlast PgBouncer's server_idle_timeout."""
    if not plan.ha:
        return None
    idle_s = plan.pgbouncer["server_idle_timeout"].value // 1000
    return {"bind": plan.placement["postgres"].listen, "port": plan.spec.postgres.port, "idle_s": idle_s + 60,
            "nodes": plan.ha["nodes"].value, "check": plan.ha["primary check"],
            "replica_port": plan.ha["replica port"].value, "replica_lag": plan.ha["replica lag at most"],
            # HTTPS checks verified against the stack's CA (its file is in the proxy's container)
            "check_ca": CA_FILE if plan.ha["nodes"].value[0].tls else ""}


def node_paths(layout: Layout, node_name: str, bin_dir: str) -> NodePaths:
    """The node's data in <data>/patroni/<node>, beside the pgpass file Patroni writes for it: a
    folder only the service user enters."""
    return NodePaths(data_dir=f"{layout.data_dir}/patroni/{node_name}", conf_file=f"{layout.conf_dir}/postgresql.conf",
                     hba_file=f"{layout.conf_dir}/pg_hba.conf", ident_file=f"{layout.conf_dir}/pg_ident.conf",
                     socket_dir=layout.pg_socket_dir, pgpass=f"{layout.data_dir}/patroni/{node_name}.pgpass",
                     bin_dir=bin_dir)


def patroni_files(plan: Plan, layout: Layout, bin_dir: str | None = None) -> dict[str, str]:
    """patroni-<node>.yml per node (hafiles.py); Debian's bin folder unless the host has another."""
    if not plan.ha:
        return {}
    bin_dir = bin_dir or f"/usr/lib/postgresql/{plan.spec.postgres.version}/bin"
    return {f"patroni-{n.name}.yml": patroni_yaml(plan, n, node_paths(layout, n.name, bin_dir))
            for n in plan.ha["nodes"].value}


def container_patroni_files(plan: Plan, data_dir: str) -> dict[str, str]:
    """patroni-<node>.yml per node of the Docker target: the container's own paths, PostgreSQL and
    the REST API on every interface of the container (its machine publishes both ports)."""
    if not plan.ha:
        return {}
    paths = NodePaths(data_dir=data_dir, conf_file="/etc/tunestack/postgresql.conf",
                      hba_file="/etc/tunestack/pg_hba.conf", ident_file="", socket_dir=CONTAINER_SOCKET_DIR,
                      pgpass=f"{data_dir.rsplit('/', 1)[0]}/patroni.pgpass",
                      bin_dir=f"/usr/lib/postgresql/{plan.spec.postgres.version}/bin", listen="0.0.0.0",
                      post_bootstrap="/usr/local/bin/tunestack-post-bootstrap",
                      tls_ca=CA_FILE if "postgres" in plan.tls else "", tls_cert=CERT_FILE, tls_key=KEY_FILE)
    return {f"patroni-{n.name}.yml": patroni_yaml(plan, n, paths) for n in plan.ha["nodes"].value}


def postgres_proxy_cfg(plan: Plan, layout: Layout, env: Environment) -> dict[str, str]:
    """haproxy-postgres.cfg: the primary service in a container of its own (Docker with standbys)."""
    if not (plan.ha and plan.placement.docker):
        return {}
    return {"haproxy-postgres.cfg": env.get_template("haproxy-postgres.cfg.j2").render(
        stack=plan.stack, layout=layout, alias=plan.placement["postgres"].reach, primary=primary_service(plan),
        # every server connection of both services at once, each in and out
        maxconn=4 * int(plan.postgres["max_connections"].value))}
