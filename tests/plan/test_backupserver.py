"""pgBackRest across hosts in containers (plan/backupserver.py, issue #27): the repository
server on another host, the agent beside PostgreSQL, their certificates and their container."""
from tunestack.plan import build_plan

from .helpers import spec


def test_containers_archive_to_the_repository_server_on_another_host():
    """pgBackRest User Guide, "Dedicated Repository Host" and "Setup TLS": backups run on the
    repository host, which reaches the database through a TLS server beside it; each server admits
    only the other's certificate (tls-server-auth), for this stack's stanza only."""
    plan = build_plan(spec("prod"), target="docker")
    assert plan.postgres["archive_mode"].text == "on"
    repo, agent = plan.backup["repository server"].value, plan.backup["database agent"].value
    assert (repo.host, agent.host) == ("cache", "db")
    assert (repo.address, agent.address) == (plan.spec.host_with("cache").addresses[0],
                                             plan.spec.host_with("db").addresses[0])
    assert plan.tls["backup-repo"].settings["tls-server-auth"].text == f"{agent.name}=prod"
    assert plan.tls["backup-agent"].settings["tls-server-auth"].text == f"{repo.name}=prod"
    assert plan.tls["backup-repo"].client and plan.tls["backup-agent"].client   # their certificates log in too


def test_backup_certificates_carry_the_names_clients_use_not_addresses():
    """pgBackRest 2.45 (Debian 12) checks a server's name against DNS names only; IP addresses in
    the certificate are checked from 2.53 (pgBackRest commit dfb620b "Support IP-based SANs"). So
    each server is reached by its name, which the calling container maps to the host's address."""
    plan = build_plan(spec("prod"), target="docker")
    for service in ("backup-repo", "backup-agent"):
        server = plan.backup["repository server" if service == "backup-repo" else "database agent"].value
        assert plan.tls[service].dns_names[0] == server.name
        assert server.address not in plan.tls[service].ip_addresses


def test_the_repository_server_is_counted_on_its_host():
    plan = build_plan(spec("prod"), target="docker")
    limits = plan.containers["cache"]
    assert "backup-repo" in {c.service for c in limits}
    assert sum(c.cpus for c in limits) <= plan.spec.host_with("cache").cpus
    (budget,) = [b for b in plan.budgets if b.name == "memory on cache"]
    assert "pgBackRest repository server" in budget.arithmetic and budget.used == sum(
        v for _, v in next(h for h in plan.hosts if h.name == "cache").memory_items)
