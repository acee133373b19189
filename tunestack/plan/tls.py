"""TLS between hosts: which servers serve it, the names their certificates carry, and what every
server and client is told so that nothing crosses the network in clear.

The rule: on the Docker target, a server whose port is published for clients on other hosts
(placement: `Spot.publish`) serves TLS only. Its clients verify it against the stack's private CA
(`sslmode=verify-full`, Redis with the CA), and a plaintext connection is refused, from the other
hosts and from its own: PostgreSQL accepts `hostssl` lines only (PostgreSQL docs, 21.1 "The
pg_hba.conf File"), PgBouncer requires TLS from clients (`client_tls_sslmode = require`) and
verifies PostgreSQL (`server_tls_sslmode = verify-full`), Redis listens on `tls-port` with
`port 0` (Redis docs, "TLS"). A stack on one machine keeps its traffic on that machine: no TLS.

Pure: a placement in, settings out; the certificates themselves are the Pulumi program's
(components/tls.py), from these names."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace

from .setting import Setting, policy

CA_FILE = "/etc/tunestack/tls/ca.crt"          # public: every client verifies servers with it
CERT_FILE = "/etc/tunestack/tls/server.crt"
KEY_FILE = "/etc/tunestack/secrets/tls.key"    # the secrets folder: the images make it 0600 and the service's
SERVERS = ("postgres", "pgbouncer", "redis-cache", "redis-queue")
WHY = "clients on other hosts: TLS only, verified against the stack's CA"


@dataclass(frozen=True)
class ServerTls:
    """One server that serves TLS: the names its certificate must carry (every name a client
    connects to: the private network's alias, the host's address, loopback for the checks run
    inside its container) and the settings its config file gets."""
    service: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    settings: dict[str, Setting] = field(default_factory=dict)
    client: bool = False    # its certificate is its client identity too (pgBackRest's servers)

    def to_json(self) -> dict:
        return {"dns_names": list(self.dns_names), "ip_addresses": list(self.ip_addresses),
                "settings": {k: s.to_json() for k, s in self.settings.items()},
                **({"client": True} if self.client else {})}


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def tls_servers(placement, alias_of, ports: dict[str, int],
                more_ips: dict[str, tuple[str, ...]] | None = None) -> dict[str, ServerTls]:
    """The servers that serve TLS, with their certificate's names. `alias_of(service)`: the
    service's name on the private network; `ports`: each server's client port; `more_ips`: other
    addresses a service answers on (each PostgreSQL node under Patroni: its machine's)."""
    if not placement.docker:
        return {}
    out = {}
    for service in SERVERS:
        spot = placement[service]
        if spot.publish is None:
            continue
        names = [alias_of(service), "localhost"] + ([] if _is_ip(spot.publish) else [spot.publish])
        ips = ["127.0.0.1"] + ([spot.publish] if _is_ip(spot.publish) else [])
        ips += [ip for ip in (more_ips or {}).get(service, ()) if ip not in ips]
        out[service] = ServerTls(service, tuple(names), tuple(ips), server_settings(service, spot.host.name, ports[service]))
    return out


def server_settings(service: str, host: str, port: int = 0) -> dict[str, Setting]:
    """What a TLS server's own config file says (its documented setting names). Redis: `port` is
    its client port; with `tls-port` the rendered file turns the plaintext port off (`port 0`)."""
    why = f"{WHY} (published on {host}'s address)"
    if service == "postgres":
        return {"ssl": policy("on", why),
                "ssl_cert_file": policy(CERT_FILE, "signed by the stack's CA"),
                "ssl_key_file": policy(KEY_FILE, "0600, postgres' own (PostgreSQL refuses a key others can read)")}
    if service == "pgbouncer":
        return {"client_tls_sslmode": policy("require", why + "; a plaintext client is refused"),
                "client_tls_cert_file": policy(CERT_FILE, "signed by the stack's CA"),
                "client_tls_key_file": policy(KEY_FILE, "0600, PgBouncer's own"),
                # Without one, libtls loads the system CA bundle, which the image does not have, and
                # PgBouncer refuses to start ("TLS setup failed: failed to load CA").
                "client_tls_ca_file": policy(CA_FILE, "the stack's CA: PgBouncer's TLS setup loads one even "
                                                      "when clients bring no certificate")}
    return {"tls-port": policy(port, why + "; the plaintext port is off (port 0)"),
            "tls-cert-file": policy(CERT_FILE, "signed by the stack's CA"),
            "tls-key-file": policy(KEY_FILE, "0600, redis' own"),
            "tls-ca-cert-file": policy(CA_FILE, "Redis requires a CA even when clients bring no certificate"),
            "tls-auth-clients": policy("no", "clients authenticate with their instance's password (AUTH)")}


def etcd_tls(members) -> ServerTls:
    """etcd's one certificate, every member's: its server identity for clients and peers, and its
    client identity towards the other members (--peer-client-cert-auth). Its flags are hafiles.py's."""
    return ServerTls("etcd", tuple(m.name for m in members) + ("localhost",),
                     ("127.0.0.1", *dict.fromkeys(m.address for m in members)), client=True)


def sentinel_tls(members) -> ServerTls:
    """The Sentinels' one certificate: clients and the other Sentinels reach each on its machine's
    address. Like the queue's nodes they serve TLS only, and reach the nodes and each other over
    TLS (tls-replication: Redis docs, "TLS", Sentinel)."""
    port = members[0].port
    settings = {**server_settings("redis-sentinel", members[0].host, port),
                "tls-replication": policy("yes", "Sentinel's links to the queue's nodes and to the other "
                                                 "Sentinels cross machines: TLS")}
    return ServerTls("redis-sentinel", tuple(m.name for m in members) + ("localhost",),
                     ("127.0.0.1", *dict.fromkeys(m.address for m in members)), settings)


def pgbouncer_verifies_postgres() -> dict[str, Setting]:
    """PgBouncer's server side where PostgreSQL serves TLS only."""
    return {"server_tls_sslmode": policy("verify-full", "PostgreSQL serves TLS only: PgBouncer verifies its "
                                                        "certificate and name"),
            "server_tls_ca_file": policy(CA_FILE, "the stack's CA")}


def tls_keys(plan) -> set[str]:
    """Every setting TLS adds to a server's config: each belongs with the certificate files the
    container is created with, never in a file delivered live."""
    return {k for server in plan.tls.values() for k in server.settings} | set(pgbouncer_verifies_postgres())


def verified(url: str) -> str:
    """A libpq URL that verifies its server: the CA and the name (sslmode=verify-full, libpq docs 34.19)."""
    return f"{url}?sslmode=verify-full&sslrootcert={CA_FILE}"


def with_tls(plan):
    """The plan with TLS where `tls_servers` puts it: server settings in their areas, and every
    client of such a server told to verify it (libpq URLs, rediss:// with the CA, PgBouncer's
    server side)."""
    from .placement import container_name

    from .ha import etcd_members, pg_nodes
    from .queueha import queue_nodes, sentinel_members

    spec = plan.spec
    nodes = pg_nodes(spec) if spec.ha.enabled else ()
    queue = queue_nodes(spec) if spec.queue_ha.enabled else ()
    servers = tls_servers(plan.placement, lambda s: container_name(plan.stack, s), plan.ports(),
                          {"postgres": tuple(n.address for n in nodes), "redis-queue": tuple(n.address for n in queue)})
    if not servers:
        return plan
    if nodes:
        servers["etcd"] = etcd_tls(etcd_members(spec))
    if queue and "redis-queue" in servers:
        servers["redis-sentinel"] = sentinel_tls(sentinel_members(spec))
    postgres, bouncer = dict(plan.postgres), dict(plan.pgbouncer)
    if "postgres" in servers:
        postgres.update(servers["postgres"].settings)
        bouncer.update(pgbouncer_verifies_postgres())
    if "pgbouncer" in servers:
        bouncer.update(servers["pgbouncer"].settings)
    redis = {role: {**settings, **(servers[f"redis-{role}"].settings if f"redis-{role}" in servers else {})}
             for role, settings in plan.redis.items()}
    envs = [_client_env(env, servers) for env in (plan.web_env, plan.jobs_env)]
    migrate = dict(plan.migrate_env)
    if "postgres" in servers and "DATABASE_URL" in migrate:
        url = migrate["DATABASE_URL"]
        migrate["DATABASE_URL"] = replace(url, value=verified(url.value), text=verified(url.text),
                                          reason=url.reason + "; TLS, verified (sslmode=verify-full)")
    return replace(plan, postgres=postgres, pgbouncer=bouncer, redis=redis, web_env=envs[0], jobs_env=envs[1],
                   migrate_env=migrate, tls=servers)


def _client_env(env: dict[str, Setting], servers: dict[str, ServerTls]) -> dict[str, Setting]:
    out = dict(env)
    if "pgbouncer" in servers:
        url = out["DATABASE_URL"]
        out["DATABASE_URL"] = replace(url, value=verified(url.value), text=verified(url.text),
                                      reason=url.reason + "; TLS, verified (sslmode=verify-full)")
    for key, service in (("REDIS_URL", "redis-queue"), ("REDIS_CACHE_URL", "redis-cache")):
        if service in servers:
            url = out[key]
            text = "rediss://" + url.text.removeprefix("redis://")
            out[key] = replace(url, value=text, text=text, reason=url.reason + "; TLS (rediss://), verified "
                                                                               "against REDIS_TLS_CA_FILE")
    if {"redis-queue", "redis-cache"} & set(servers):
        out["REDIS_TLS_CA_FILE"] = policy(CA_FILE, "the stack's CA: clients verify Redis' certificate")
    return out
