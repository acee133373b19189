"""pgBackRest across hosts in containers (issue #27): the repository on another host of the stack,
reached over pgBackRest's own TLS server, never SSH. Pure.

Two servers, each with a certificate from the stack's CA that is both its server and its client
identity (pgBackRest authorises a client by its certificate's CN, `tls-server-auth`):
- the repository server, a container of its own on the repository host, holding the repository
  volume. PostgreSQL's archive_command and a restore on the db host push to it and read from it;
- the database agent, a `pgbackrest server` inside the PostgreSQL container (it reads the data
  folder and the socket there), which the repository host's backup command reaches: with a
  repository host, pgBackRest runs `backup` on the repository host (User Guide, "Dedicated
  Repository Host").

pgBackRest 2.45 (Debian 12) verifies a server's name against the DNS names of its certificate
only (IP addresses are verified from 2.53), so each server is reached by its name, which every
container that calls it maps to the server's host address (Docker's extra hosts).

Sources: pgBackRest Command Reference, "Server Command" (tls-server-address, -port, -cert-file,
-key-file, -ca-file, -auth) and the repo-host-* / pg-host-* TLS options; pgBackRest User Guide,
"Setup TLS"."""
from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

from ..stackfile.sections.ports import PGBACKREST_TLS_PORT
from ..units import MIB
from .budgets import memory_budget
from .memory import ContainerLimit
from .placement import container_name
from .setting import Setting, policy
from .tls import CA_FILE, ServerTls

TLS_PORT = PGBACKREST_TLS_PORT        # pgBackRest's default tls-server-port (reserved by the stack file's ports)
CERT_FILE = "/etc/tunestack/tls/backup.crt"
KEY_FILE = "/etc/tunestack/secrets/backup.key"   # the secrets folder: 0600, postgres' own (the image)
REPOSITORY_SERVER_MEMORY = 128 * MIB  # it moves files: compression runs on the db host's side
REPOSITORY_SERVICE, AGENT_SERVICE = "backup-repo", "backup-agent"


class BackupServer(NamedTuple):
    """One of the two pgBackRest TLS servers: its name (certificate CN and DNS name), the host
    it runs on and that host's address, where the other side reaches it."""
    service: str
    name: str
    host: str
    address: str
    port: int = TLS_PORT


def backup_servers(stack: str, db, repository_host) -> tuple[BackupServer, BackupServer]:
    """(repository server, database agent) for a repository on `repository_host` (a HostSpec)."""
    return (BackupServer(REPOSITORY_SERVICE, container_name(stack, REPOSITORY_SERVICE), repository_host.name,
                         repository_host.addresses[0]),
            BackupServer(AGENT_SERVICE, container_name(stack, AGENT_SERVICE), db.name, db.addresses[0]))


def server_options(me: BackupServer, client: BackupServer, stanza: str) -> dict[str, Setting]:
    """pgbackrest.conf [global] options of `me`'s TLS server, which admits `client` only."""
    return {
        "tls-server-address": policy("*", f"every address in its container; only {me.host}'s address "
                                          f"{me.address} is published"),
        "tls-server-port": policy(me.port, "pgBackRest's default TLS port"),
        "tls-server-cert-file": policy(CERT_FILE, "signed by the stack's CA, named " + me.name),
        "tls-server-key-file": policy(KEY_FILE, "0600, postgres' own"),
        "tls-server-ca-file": policy(CA_FILE, "a client must show a certificate of the stack's CA"),
        "tls-server-auth": policy(f"{client.name}={stanza}", f"only {client.name}'s certificate, and only for this "
                                                             "stack's stanza"),
    }


def client_options(prefix: str, server: BackupServer) -> dict[str, Setting]:
    """The options of a client reaching `server`: `prefix` repo1-host (the repository) or
    pg1-host (the database agent)."""
    why = f"{server.name} on {server.host} ({server.address}), over TLS verified against the stack's CA"
    return {
        prefix: policy(server.name, why),
        f"{prefix}-type": policy("tls", "pgBackRest's TLS server, not SSH: no keys or shells between hosts"),
        f"{prefix}-port": policy(server.port, "pgBackRest's default TLS port"),
        f"{prefix}-ca-file": policy(CA_FILE, "the stack's CA"),
        f"{prefix}-cert-file": policy(CERT_FILE, "this side's certificate: its CN is what the server admits"),
        f"{prefix}-key-file": policy(KEY_FILE, "0600, postgres' own"),
    }


def certificate(server: BackupServer, settings: dict[str, Setting], more_names: tuple[str, ...] = ()) -> ServerTls:
    """Its certificate's names: the name clients use (its CN, what the other side admits), any
    other names it is reached by, and localhost for the checks inside its own container. No IP
    address: pgBackRest 2.45 would not check one."""
    return ServerTls(server.service, (server.name, *more_names, "localhost"), ("127.0.0.1",), settings, client=True)


def node_agents(stack: str, nodes) -> tuple[BackupServer, ...]:
    """With standbys: an agent in every node's container, each its own name on its machine's address
    (pg1-host, pg2-host, … of the repository's config: pgBackRest backs up from whichever is the
    primary). They share one certificate whose CN is the agent name the repository admits."""
    return tuple(BackupServer(AGENT_SERVICE, f"{container_name(stack, AGENT_SERVICE)}-{i}", n.host, n.address)
                 for i, n in enumerate(nodes))


def repository_limit(host, containers: list[ContainerLimit]) -> ContainerLimit:
    """The repository server's container: a small fixed memory slice, and the cores the host's
    other containers leave (at most an eighth of the host, as the other single-process helpers)."""
    free = host.cpus - sum(c.cpus for c in containers)
    cpus = max(0.01, min(1.0, host.cpus / 8, round(free - 0.005, 2)))
    return ContainerLimit(REPOSITORY_SERVICE, REPOSITORY_SERVER_MEMORY, cpus,
                          "pgBackRest's repository server: it stores what the db host sends, compressed there")


def with_backup_servers(plan, repository_host: str):
    """The plan with pgBackRest's two TLS servers: their certificates among plan.tls, the
    repository server's container on its host (in that host's memory budget), and where each is."""
    spec, stanza = plan.spec, plan.backup["stanza"].value
    repo_spec = next(h for h in spec.hosts if h.name == repository_host)
    repo, agent = backup_servers(plan.stack, spec.host_with("db"), repo_spec)
    from .ha import pg_nodes

    agents = node_agents(plan.stack, pg_nodes(spec)) if spec.ha.enabled else (agent,)
    tls = {**plan.tls, repo.service: certificate(repo, server_options(repo, agent, stanza)),
           agent.service: certificate(agent, server_options(agent, repo, stanza),
                                      tuple(a.name for a in agents if a.name != agent.name))}
    limit = repository_limit(repo_spec, plan.containers[repository_host])
    hosts = [replace(h, memory_items=h.memory_items + [("pgBackRest repository server", limit.memory_bytes)])
             if h.name == repository_host else h for h in plan.hosts]
    recounted = next(memory_budget(h.name, h.memory_items, h.memory_bytes) for h in hosts if h.name == repository_host)
    budgets = [recounted if b.name == recounted.name else b for b in plan.budgets]
    backup = {**plan.backup,
              "repository server": Setting(repo, f"{repo.name} on {repo.host}, port {repo.port}: the repository volume "
                                                 "and pgBackRest's TLS server", "policy",
                                           text=f"{repo.name} ({repo.address}:{repo.port})"),
              "database agent": Setting(agent, f"pgBackRest's TLS server in the PostgreSQL container: backups run "
                                               f"on {repo.host} and read the data through it", "policy",
                                        text=f"{agent.name} ({agent.address}:{agent.port})"),
              "database agents": Setting(agents, "one agent per PostgreSQL node: the repository's pg1-host, "
                                                 "pg2-host, …; pgBackRest backs up from the primary among them",
                                         "policy", text=", ".join(f"{a.name} ({a.address})" for a in agents))}
    return replace(plan, tls=tls, backup=backup, hosts=hosts, budgets=budgets,
                   containers={**plan.containers, repository_host: plan.containers[repository_host] + [limit]})
