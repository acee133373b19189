"""The Debian packages the local stack runs on, in one list: `up` installs what is missing of its
stack's share, `scripts/setup` installs them all (it runs this file: `python3
tunestack/local/packages.py setup`), and the README's list is checked against it by a test.

Plain data and the standard library only, so that a machine without the virtualenv can read it."""
from __future__ import annotations

import sys

# binary → the package that brings it: the servers every local stack runs.
SERVERS = {"postgres": "postgresql", "pgbouncer": "pgbouncer", "redis-server": "redis-server",
           "haproxy": "haproxy", "supervisord": "supervisor",
           "pgbackrest": "pgbackrest"}   # backups and point-in-time recovery (plan/backup.py)
SERVER_EXTRAS = ("postgresql-contrib",       # pg_stat_statements
                 "python3-venv")             # the pinned Patroni's virtualenv (scripts/setup)
# PostgreSQL with standbys (postgres.replicas, plan/ha.py): Patroni, etcd and its client.
# Patroni itself comes from PyPI, pinned (scripts/setup, tunestack/recipes.py PATRONI_VENV); Debian's
# `patroni` package stays for what it brings along (psycopg2 for the tests' tools, patronictl).
HA_BINARIES = {"patroni": "patroni", "etcd": "etcd-server", "etcdctl": "etcd-client"}
# Monitoring (tunestack:monitoring, local/monitoring.py): Prometheus, Alertmanager and the exporters.
# PgBouncer's exporter comes from PyPI (scripts/setup, tunestack/recipes.py PGBOUNCER_EXPORTER) onto
# Debian's libraries, listed here.
MONITORING_BINARIES = {"prometheus": "prometheus", "prometheus-alertmanager": "prometheus-alertmanager",
                       "prometheus-node-exporter": "prometheus-node-exporter",
                       "prometheus-postgres-exporter": "prometheus-postgres-exporter",
                       "prometheus-redis-exporter": "prometheus-redis-exporter"}
MONITORING_LIBRARIES = ("python3-psycopg2", "python3-prometheus-client", "python3-yaml")
# The Rails reference app (refapp/rails) runs on Debian's Ruby packages: no gem server is needed.
RAILS_BINARIES = {"ruby": "ruby", "puma": "puma", "sidekiq": "ruby-sidekiq"}
RAILS_LIBRARIES = ("ruby-activerecord", "ruby-railties", "ruby-actionpack", "ruby-pg", "ruby-redis",
                   "ruby-rack-timeout", "ruby-sentry-ruby", "ruby-sentry-rails", "ruby-sentry-sidekiq",
                   "ruby-connection-pool", "libjemalloc2")
# The Go reference app (refapp/go) builds GOPATH-style from Debian's Go library packages: no module proxy.
GO_PACKAGES = ("golang-go", "golang-github-lib-pq-dev", "golang-github-gomodule-redigo-dev",
               "golang-github-prometheus-client-golang-dev",
               "golang-github-fzambia-sentinel-dev")   # redigo through Redis Sentinel (redis.queue.replicas)
# The Node reference app: Debian's nodejs and npm where the machine has no Node of its own.
NODE_BINARIES = {"node": "nodejs", "npm": "npm"}
# What the tests and benchmarks add: load generation, the Docker engine and the multihost test bed.
TEST_TOOLS = ("wrk", "docker.io", "iptables", "debootstrap", "openssh-server", "openssh-client", "tmux")


def setup_packages() -> list[str]:
    """Everything `scripts/setup` installs with apt-get (Node apart: only where none is on PATH)."""
    return [*SERVERS.values(), *SERVER_EXTRAS, *HA_BINARIES.values(), *MONITORING_BINARIES.values(), *MONITORING_LIBRARIES,
            *TEST_TOOLS, *RAILS_BINARIES.values(), *RAILS_LIBRARIES,
            *GO_PACKAGES]


if __name__ == "__main__":
    if sys.argv[1:] != ["setup"]:
        sys.exit("usage: python3 tunestack/local/packages.py setup")
    print(" ".join(setup_packages()))
