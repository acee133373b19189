"""What Patroni and etcd are given, from the plan's `ha` section (plan/ha.py): each node's Patroni
YAML, written by the YAML library, and each etcd member's command line. Passwords are never in
either: Patroni reads them from its environment (PATRONI_REPLICATION_PASSWORD,
PATRONI_REWIND_PASSWORD, PATRONI_RESTAPI_PASSWORD: Patroni docs, "Environment configuration
settings"), which only root and the service user can read.

Settings Patroni keeps equal on every node (plan/ha.py DCS_PARAMETERS) go into bootstrap.dcs, the
dynamic configuration every node reads from etcd; every other setting is the rendered
postgresql.conf, which each node includes (postgresql.custom_conf)."""
from __future__ import annotations

from dataclasses import dataclass

import yaml

from .plan.ha import DCS_PARAMETERS, ETCD_QUOTA, EtcdMember, PgNode

SUPERUSER = "postgres"        # over the socket only (peer): pg_hba.conf has no password line for it
REPLICATION_USER = "replicator"
REWIND_USER = "rewinder"      # pg_rewind after a failover, with the grants Patroni gives it (PostgreSQL 11+)
RESTAPI_USER = "patroni"      # POST /switchover and the other writes of the REST API; GETs stay open
PASSWORD_ENV = {"replication": "PATRONI_REPLICATION_PASSWORD", "rewind": "PATRONI_REWIND_PASSWORD",
                "restapi": "PATRONI_RESTAPI_PASSWORD"}


@dataclass(frozen=True)
class NodePaths:
    """Where one node's files live on its machine."""
    data_dir: str        # PGDATA
    conf_file: str       # the rendered postgresql.conf, included by the one Patroni writes
    hba_file: str
    ident_file: str
    socket_dir: str
    pgpass: str          # Patroni writes the replication password here for pg_basebackup: the service's only
    bin_dir: str
    listen: str = ""     # the address PostgreSQL and the REST API bind; "" = the node's own address
    post_bootstrap: str = ""   # a script run once on the new cluster's first primary (Patroni bootstrap)
    tls_ca: str = ""     # nodes on other machines: replication and pg_rewind verify the primary (verify-full)
    tls_cert: str = ""   # with tls_ca: the node's certificate and key, which its REST API serves
    tls_key: str = ""


def dynamic_config(plan) -> dict:
    """Patroni's dynamic configuration from the plan: bootstrap.dcs when the cluster is made, and
    what `up` sends with PATCH /config later (local/cluster.py)."""
    ha = plan.ha
    parameters = {k: plan.postgres[k].text for k in DCS_PARAMETERS if k in plan.postgres}
    parameters.setdefault("wal_level", "replica")
    return {**{k: ha[k].value for k in ("ttl", "loop_wait", "retry_timeout", "primary_start_timeout",
                                        "maximum_lag_on_failover", "synchronous_mode", "synchronous_mode_strict")},
            "postgresql": {"use_pg_rewind": True, "use_slots": True, "parameters": parameters}}


def patroni_config(plan, node: PgNode, paths: NodePaths) -> dict:
    ha = plan.ha
    bind = paths.listen or node.address
    # no trust, even in the data folder's own pg_hba.conf, which hba_file replaces
    bootstrap = {"dcs": dynamic_config(plan), "initdb": [{"encoding": "UTF8"}, "data-checksums", {"auth-local": "peer"},
                                                         {"auth-host": "scram-sha-256"}]}
    if paths.post_bootstrap:
        bootstrap["post_bootstrap"] = paths.post_bootstrap
    verify = {"sslmode": "verify-full", "sslrootcert": paths.tls_ca} if paths.tls_ca else {}
    parameters = {"unix_socket_directories": paths.socket_dir, "hba_file": paths.hba_file,
                  **({"ident_file": paths.ident_file} if paths.ident_file else {}),
                  **node_archive_command(plan, node, paths)}
    members = ha["etcd members"].value
    return {
        "scope": ha["scope"].value,
        "name": node.name,
        "restapi": {"listen": f"{bind}:{node.rest_port}", "connect_address": f"{node.address}:{node.rest_port}",
                    "authentication": {"username": RESTAPI_USER}, **restapi_tls(node, paths)},
        "etcd3": {"hosts": [f"{m.address}:{m.client_port}" for m in members],
                  **({"protocol": "https", "cacert": paths.tls_ca} if members[0].tls else {})},
        "bootstrap": bootstrap,
        "postgresql": {
            "listen": f"{bind}:{node.port}", "connect_address": f"{node.address}:{node.port}",
            "data_dir": paths.data_dir, "bin_dir": paths.bin_dir, "custom_conf": paths.conf_file,
            "pgpass": paths.pgpass, "use_unix_socket": True, "use_unix_socket_repl": False,
            # a standby is copied now, not after the primary's next scheduled checkpoint (pg_basebackup
            # waits for one; checkpoint_timeout may be many minutes)
            "basebackup": [{"checkpoint": "fast"}],
            "parameters": parameters,
            "authentication": {"superuser": {"username": SUPERUSER},
                               "replication": {"username": REPLICATION_USER, **verify},
                               "rewind": {"username": REWIND_USER, **verify}},
        },
        "watchdog": {"mode": ha["watchdog"].value},
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }


def restapi_tls(node: PgNode, paths: NodePaths) -> dict[str, str]:
    """HTTPS for the REST API (Patroni docs, "REST API" settings certfile, keyfile, cafile); cafile
    is also what Patroni verifies the other nodes' APIs with (patroni/request.py: restapi.cafile
    when ctl.cacert is unset). Clients bring no certificate: writes carry basic auth."""
    if not node.tls:
        return {}
    return {"certfile": paths.tls_cert, "keyfile": paths.tls_key, "cafile": paths.tls_ca}


def node_archive_command(plan, node: PgNode, paths: NodePaths) -> dict[str, str]:
    """The plan's archive_command naming this node's data folder: pgBackRest checks the
    segment against the cluster it finds there, whichever node is the primary when it runs."""
    if plan.postgres.get("archive_mode") is None or plan.postgres["archive_mode"].text != "on":
        return {}
    command = plan.postgres["archive_command"].text
    # archive-push takes the data folder only (pgBackRest refuses --pg1-port for it)
    return {"archive_command": command.replace(" archive-push ", f" --pg1-path={paths.data_dir} archive-push ", 1)}


def patroni_yaml(plan, node: PgNode, paths: NodePaths) -> str:
    return (f"# Patroni for node {node.name} of stack {plan.stack}, rendered by tunestack (plan section `ha`).\n"
            "# Passwords come from the environment, never from this file.\n"
            + yaml.safe_dump(patroni_config(plan, node, paths), sort_keys=False, width=1000))


@dataclass(frozen=True)
class EtcdTlsFiles:
    cert: str
    key: str
    ca: str


def etcd_args(plan, member: EtcdMember, data_dir: str, listen: str = "",
              tls: EtcdTlsFiles | None = None) -> list[str]:
    """etcd's command line (its flags; etcd docs, "Configuration flags" and "Transport security
    model"): a static cluster of the plan's members, a backend quota sized for Patroni's few keys.
    `listen`: the address it binds when not its own (a container's every interface; its machine
    publishes the ports). A member with `tls` serves its clients and peers over TLS with the files
    `tls` names, and accepts a peer only with a certificate from the stack's CA."""
    members = plan.ha["etcd members"].value
    bind, scheme = listen or member.address, member.scheme
    out = [f"--name={member.name}", f"--data-dir={data_dir}",
           f"--listen-client-urls={scheme}://{bind}:{member.client_port}", f"--advertise-client-urls={member.client_url}",
           f"--listen-peer-urls={scheme}://{bind}:{member.peer_port}", f"--initial-advertise-peer-urls={member.peer_url}",
           "--initial-cluster=" + ",".join(f"{m.name}={m.peer_url}" for m in members),
           f"--initial-cluster-token={plan.ha['scope'].value}", "--initial-cluster-state=new",
           f"--quota-backend-bytes={ETCD_QUOTA}", "--auto-compaction-retention=1"]
    if member.tls:
        if tls is None:
            raise ValueError(f"etcd member {member.name} serves TLS: name its certificate files")
        # clients log in with a password (etcd auth), so their certificates are not asked for
        out += [f"--cert-file={tls.cert}", f"--key-file={tls.key}", f"--peer-cert-file={tls.cert}",
                f"--peer-key-file={tls.key}", f"--peer-trusted-ca-file={tls.ca}", "--peer-client-cert-auth"]
    return out
