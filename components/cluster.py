"""PostgresCluster: PostgreSQL with standbys (postgres.replicas) under Patroni, etcd as its
consensus store, and the proxy every client reaches the primary through.

- Each etcd member is a container of the PostgreSQL image (Debian's etcd-server is in it) on its
  own machine, its client and peer ports published on that machine's private address. Once all
  answer, `<name>-etcd-auth` turns etcd's authentication on (tunestack/etcdauth.py, run inside the
  first member with the passwords on stdin) before any Patroni connects.
- Each node is a container on its own db machine running Patroni, which makes the cluster (initdb
  on node 0, which starts first; pg_basebackup for the others) and runs the postmaster. Its
  PostgreSQL and REST API ports are published on its machine's address: the standbys stream from
  the primary there, and the proxy checks each Patroni's GET /primary there. The plan's settings
  arrive live on every node as on a single server (_live.py); roles.sql and the app password are
  applied by whichever node is the primary (a standby keeps them, images/postgres/live.sh).
- The proxy is an HAProxy container on the cache host, alias <stack>-postgres on its private
  network: PgBouncer and the migrations connect to that name and reach the node that leads.

Passwords reach the containers as secret files only; the image's entrypoint hands Patroni its own
through its environment (images/postgres/entrypoint.sh), never its YAML or a command line."""
from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from tunestack import etcdauth
from tunestack.dockerha import API_CALL
from tunestack.hafiles import RESTAPI_USER, etcd_args
from tunestack.plan.ha import EtcdMember, PgNode
from tunestack.plan.memory import ContainerLimit
from tunestack.plan.tls import CA_FILE, KEY_FILE
from tunestack.render import render_text

from ._container import ContainerSpec, Publish, data_volume, service_container
from ._live import LIVE_DIR, live_files, live_volume

DATA_DIR = "/var/lib/tunestack/postgres"
ETCD_DIR = "/var/lib/tunestack/etcd"
SECRETS = "/etc/tunestack/secrets"
PATRONI_YML = "/etc/tunestack/patroni.yml"
# etcd's auth through its JSON gateway on the member's own loopback; the passwords come on stdin
# as JSON, the code as an argument (it holds none). Retried while the members form a quorum.
ETCD_AUTH = ('docker exec -i "$MEMBER" python3 -c "$CODE" "$URL"')
AUTH_MAIN = '''
import json, sys, time
pw = json.load(sys.stdin)
for attempt in range(90):   # a quorum first: before it, every answer is an error
    try:
        with urllib.request.urlopen(sys.argv[1] + "/health", timeout=2) as answer:
            if json.loads(answer.read()).get("health") == "true":
                break
    except (OSError, ValueError):
        pass
    time.sleep(1)
for attempt in range(60):
    try:
        ensure_auth(sys.argv[1], pw["root"], pw["patroni"])
        print("etcd authentication on")
        break
    except EtcdAuthError as exc:
        if attempt == 59:
            raise SystemExit(f"etcd auth: {exc}")
        time.sleep(1)
'''


# Each node in turn until one takes it: DOCKER_HOST|container|REST port|scheme. The request is
# JSON on stdin (dockerha.API_CALL); Patroni answers 200 with the configuration it keeps.
PATCH_DCS = ('for target in $NODES; do host=${target%%|*}; rest=${target#*|}; node=${rest%%|*}; rest=${rest#*|}; '
             'port=${rest%%|*}; scheme=${rest#*|}; '
             'answer=$(printf \'{"url": "%s://127.0.0.1:%s/config", "method": "PATCH", "auth": "%s", '
             '"timeout": 30, "body": %s}\' "$scheme" "$port" "$USER" "$BODY" '
             '| DOCKER_HOST=$host docker exec -i "$node" python3 -c "$CODE") || continue; '
             'case "$answer" in *\'"status": 200\'*) echo "$node: dynamic configuration applied"; exit 0;; esac; '
             'echo "$node: $answer" >&2; done; exit 1')


@dataclass
class Machine:
    """One machine's engine: the provider, its private network, the image id there, DOCKER_HOST."""
    provider: docker.Provider
    network: pulumi.Input[str]
    image: pulumi.Input[str]
    host_url: str


@dataclass
class Passwords:
    superuser: pulumi.Output[str]
    migrator: pulumi.Output[str]
    jobs: pulumi.Output[str]
    replication: pulumi.Output[str]
    rewind: pulumi.Output[str]
    restapi: pulumi.Output[str]
    etcd_root: pulumi.Output[str]
    etcd_patroni: pulumi.Output[str]


@dataclass
class PostgresClusterArgs:
    nodes: list[tuple[PgNode, Machine]]
    members: list[tuple[EtcdMember, Machine]]
    proxy: Machine                   # the cache host's engine
    files: dict[str, str]            # render_plan + render_container_bases: patroni-<node>.yml, haproxy-postgres.cfg, …
    etcd_args: dict[str, list[str]]  # member name → etcd's flags (hafiles.etcd_args)
    node_limit: ContainerLimit
    etcd_limit: ContainerLimit
    proxy_limit: ContainerLimit
    proxy_alias: str                 # <stack>-postgres
    passwords: Passwords
    hba: str
    tls_files: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    etcd_tls_files: dict[str, pulumi.Input[str]] = field(default_factory=dict)   # etcd's certificate, key and CA
    ca_files: dict[str, pulumi.Input[str]] = field(default_factory=dict)   # the CA: the proxy verifies the APIs
    backup_files: dict[str, pulumi.Input[str]] = field(default_factory=dict)   # pgbackrest.conf, agent TLS
    hosts: dict[str, str] = field(default_factory=dict)   # name → address (the repository server)
    backup_agent_port: int | None = None   # each node's pgBackRest agent, published beside PostgreSQL
    dynamic_config: dict = field(default_factory=dict)   # hafiles.dynamic_config(plan), PATCHed on every change
    # tunestack:monitoring: postgres_exporter's role (pg_monitor), made by the primary (post_bootstrap,
    # then tunestack-live with roles.sql), its password and CONNECTION LIMIT
    monitor_password: pulumi.Output[str] | None = None
    monitor_connections: int = 0


class PostgresCluster(pulumi.ComponentResource):
    def __init__(self, name: str, args: PostgresClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:PostgresCluster", name, None, opts)
        self._name = name
        self.members = [self._member(m, machine, args) for m, machine in args.members]
        first, machine = args.members[0]
        self.etcd_auth = command.local.Command(
            f"{name}-etcd-auth", create=ETCD_AUTH,
            stdin=pulumi.Output.json_dumps({"root": args.passwords.etcd_root, "patroni": args.passwords.etcd_patroni}),
            environment={"DOCKER_HOST": machine.host_url, "MEMBER": first.name,
                         "URL": f"{first.scheme}://127.0.0.1:{first.client_port}",
                         "CODE": inspect.getsource(etcdauth) + AUTH_MAIN},
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.members, additional_secret_outputs=["stdin"]))
        self.nodes: list[docker.Container] = []
        self.live: list[command.local.Command] = []
        for node, machine in args.nodes:
            # node 0 first: it makes the cluster, the others copy it
            self.nodes.append(self._node(node, machine, args, [self.etcd_auth, *self.nodes[:1]]))
            self.live += live_files(self, node.name, machine.host_url, self.nodes[-1],
                                    {"postgresql.conf": args.files["postgresql.live.conf"],
                                     "roles.sql": args.files["roles.sql"]})
        self.dynamic = self._dynamic(args)
        self.proxy = self._proxy(args)
        self.register_outputs({"nodes": [c.name for c in self.nodes], "proxy": self.proxy.name})

    def _member(self, member: EtcdMember, machine: Machine, args: PostgresClusterArgs) -> docker.Container:
        volume = data_volume(self, machine.provider, f"{member.name}-data")
        return service_container(self, machine.provider, machine.network, ContainerSpec(
            name=member.name, image=machine.image, limit=args.etcd_limit, files=args.etcd_tls_files,
            secret_files={KEY_FILE} if args.etcd_tls_files else set(),
            command=["etcd", *args.etcd_args[member.name]],
            volumes=[(volume, ETCD_DIR)],
            # Python verifies HTTPS with this CA (the health check, and etcd-auth's `docker exec`)
            envs=[f"SSL_CERT_FILE={CA_FILE}"] if member.tls else [],
            # answers at all (a member alone has no quorum yet, and the others start beside it)
            healthcheck=["CMD", "python3", "-c", "import urllib.request as u; "
                         f"u.urlopen('{member.scheme}://127.0.0.1:{member.client_port}/version', timeout=2)"],
            publish=[Publish(member.client_port, member.address), Publish(member.peer_port, member.address)],
            stop_signal="SIGTERM", stop_seconds=30))

    def _node(self, node: PgNode, machine: Machine, args: PostgresClusterArgs,
              after: list[pulumi.Resource]) -> docker.Container:
        pw = args.passwords
        secrets = {f"{SECRETS}/postgres-password": pw.superuser, f"{SECRETS}/migrator-password": pw.migrator,
                   f"{SECRETS}/jobs-password": pw.jobs, f"{SECRETS}/replication-password": pw.replication,
                   f"{SECRETS}/rewind-password": pw.rewind, f"{SECRETS}/patroni-api-password": pw.restapi,
                   f"{SECRETS}/etcd-patroni-password": pw.etcd_patroni,
                   **({f"{SECRETS}/monitor-password": args.monitor_password} if args.monitor_password else {})}
        volume = data_volume(self, machine.provider, f"{node.name}-data")
        live = live_volume(self, machine.provider, node.name)
        return service_container(self, machine.provider, machine.network, ContainerSpec(
            name=node.name, image=machine.image, limit=args.node_limit,
            command=["patroni", PATRONI_YML],
            files={PATRONI_YML: args.files[f"patroni-{node.name}.yml"],
                   "/etc/tunestack/postgresql.conf": args.files["postgresql.conf"],
                   "/etc/tunestack/pg_hba.conf": args.hba, **args.tls_files, **args.backup_files, **secrets},
            secret_files={*secrets, KEY_FILE},
            # Patroni reads etcd's user from its environment only beside the hosts there
            envs=[f"PGDATA={DATA_DIR}/pgdata",
                  "PATRONI_ETCD3_HOSTS=" + ",".join(f"{m.address}:{m.client_port}" for m, _ in args.members),
                  *([f"SSL_CERT_FILE={CA_FILE}"] if node.tls else []),
                  *([f"TUNESTACK_MONITOR_CONNECTIONS={args.monitor_connections}"] if args.monitor_password else [])],
            volumes=[(volume, DATA_DIR), (live, LIVE_DIR)],
            # Patroni running PostgreSQL in a cluster with a leader (images/postgres/patroni-ready.py):
            # pg_isready would answer while a new cluster's post_bootstrap still makes the roles
            healthcheck=["CMD", "tunestack-patroni-ready", str(node.rest_port), "https" if node.tls else "http"],
            publish=[Publish(node.port, node.address), Publish(node.rest_port, node.address)]
            + ([Publish(args.backup_agent_port, node.address)] if args.backup_agent_port else []),
            hosts=args.hosts,
            shm_bytes=args.node_limit.shm_bytes,
            # Patroni stops PostgreSQL (fast shutdown) and hands its leader key back on SIGTERM
            stop_signal="SIGTERM", stop_seconds=120,
            depends_on=after))

    def _dynamic(self, args: PostgresClusterArgs) -> command.local.Command:
        """PATCH /config with the plan's dynamic configuration (hafiles.dynamic_config): bootstrap.dcs
        counts only when the cluster is made, so a changed rto or shared setting arrives this way. Run
        inside the first node that answers (dockerha.API_CALL: its loopback, the password read there);
        the configuration is the trigger, so a change runs it again."""
        body = json.dumps(args.dynamic_config, sort_keys=True)
        targets = " ".join(f"{machine.host_url}|{node.name}|{node.rest_port}|{'https' if node.tls else 'http'}"
                           for node, machine in args.nodes)
        return command.local.Command(
            f"{self._name}-dcs", create=PATCH_DCS, triggers=[body],
            # DOCKER_HOST: node 0's engine, as every command here names one; the loop names each node's
            environment={"DOCKER_HOST": args.nodes[0][1].host_url, "NODES": targets, "BODY": body,
                         "USER": RESTAPI_USER, "CODE": API_CALL},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self.nodes, *self.live]))

    def _proxy(self, args: PostgresClusterArgs) -> docker.Container:
        name = f"{args.proxy_alias}-proxy"
        live = live_volume(self, args.proxy.provider, name)
        container = service_container(self, args.proxy.provider, args.proxy.network, ContainerSpec(
            name=name, image=args.proxy.image, limit=args.proxy_limit, files=args.ca_files,
            volumes=[(live, LIVE_DIR)], aliases=[args.proxy_alias],
            healthcheck=["CMD", "haproxy", "-c", "-q", "-f", "/usr/local/share/tunestack/haproxy-base.cfg",
                         "-f", f"{LIVE_DIR}/"],
            depends_on=self.nodes))
        self.proxy_live = live_files(self, name, args.proxy.host_url, container,
                                     {"haproxy.cfg": args.files["haproxy-postgres.cfg"]})
        return container


def cluster_hba(ssl_only: bool, replication_user: str) -> str:
    return render_text("pg_hba.conf.j2", local_stack=False, ident_map=None, clients="all", ssl_only=ssl_only,
                       replication_user=replication_user)
