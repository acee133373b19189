"""The images this repository builds, as a pure table: which tags `tunestack images build` makes
and from which Dockerfile. The stack-file loader consults it without loading the image builder."""
from __future__ import annotations

from dataclasses import dataclass

BASE = "tunestack/base:bookworm"
MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class ImageRecipe:
    tag: str
    dockerfile: str       # relative to the repository
    context: str          # relative to the repository
    fetched_server: int | None = None   # a PostgreSQL major whose fetched build goes in as server/
    app_build: str | None = None        # a reference app made on this machine goes in as app/ (go, node, rails)


DEBIAN_PG_MAJOR = 15
# Patroni in the PostgreSQL image (images/postgres/Dockerfile): from PyPI, pinned, with its etcd3
# client and psycopg2's wheel; not Debian 12's 3.0.2 (see the Dockerfile for why).
PATRONI = "patroni[etcd3,psycopg2-binary]==3.3.11"
# The same release for the local-ha stack, in a root-owned virtualenv that scripts/setup makes from
# PyPI: one pinned Patroni wherever a cluster runs.
PATRONI_VENV = "/opt/tunestack/patroni"


# PgBouncer's exporter: spreaker's from PyPI (Debian 12's prometheus-pgbouncer-exporter 1.7 fails at
# start on PgBouncer 1.8 and later: it reads SHOW STATS' total_requests, which 1.8 dropped). Its
# own pins (psycopg2 2.8.5, prometheus_client 0.8) do not build on Python 3.11, so it goes in without
# them, onto Debian's python3-psycopg2, python3-prometheus-client and python3-yaml (a virtualenv with
# the system's site packages), with python-json-logger, its one library Debian lacks.
PGBOUNCER_EXPORTER = ("prometheus-pgbouncer-exporter==2.1.2", "python-json-logger>=2,<3")
PGBOUNCER_EXPORTER_VENV = "/opt/tunestack/pgbouncer-exporter"


def patroni_version() -> str:
    return PATRONI.rsplit("==", 1)[1]
POSTGRES_SOURCES = ("pgdg", "fetched")   # where a major other than Debian 12's comes from


def postgres_recipe(major: int, source: str = "pgdg") -> ImageRecipe:
    """tunestack/postgres:<major>: 15 from Debian 12. Another major from the PostgreSQL project's
    apt repository (`pgdg`: the build machine reaches apt.postgresql.org), or (`fetched`) from the
    server build scripts/fetch-postgres keeps, for machines that reach neither it nor a registry."""
    tag = f"tunestack/postgres:{major}"
    if major == DEBIAN_PG_MAJOR or source == "pgdg":
        return ImageRecipe(tag, "images/postgres/Dockerfile", "images/postgres")
    return ImageRecipe(tag, "images/postgres/Dockerfile.fetched", "images/postgres", fetched_server=major)


RECIPES = (
    postgres_recipe(15),
    ImageRecipe("tunestack/pgbouncer:1.18", "images/pgbouncer/Dockerfile", "images/pgbouncer"),
    ImageRecipe("tunestack/redis:7.0", "images/redis/Dockerfile", "images/redis"),
    ImageRecipe("tunestack/haproxy:2.6", "images/haproxy/Dockerfile", "images/haproxy"),
    # Prometheus 2.42, Alertmanager 0.25 and the exporters from Debian 12; PgBouncer's from PyPI.
    ImageRecipe("tunestack/monitoring:2.42", "images/monitoring/Dockerfile", "images/monitoring"),
    ImageRecipe("tunestack/refapp:0.1.0", "images/refapp/Dockerfile", "."),
    ImageRecipe("tunestack/refapp-go:0.1.0", "images/refapp-go/Dockerfile", "images/refapp-go", app_build="go"),
    ImageRecipe("tunestack/refapp-node:0.1.0", "images/refapp-node/Dockerfile", "images/refapp-node",
                app_build="node"),
    ImageRecipe("tunestack/refapp-rails:0.1.0", "images/refapp-rails/Dockerfile", "images/refapp-rails",
                app_build="rails"),
)
# The reference app image of each framework.
APP_IMAGES = {"python": "tunestack/refapp:0.1.0", "go": "tunestack/refapp-go:0.1.0",
              "node": "tunestack/refapp-node:0.1.0", "rails": "tunestack/refapp-rails:0.1.0"}
ALIASES = {"tunestack/refapp:0.2.0": "tunestack/refapp:0.1.0"}   # a second app version for canaries


def recipes_for(refs: set[str], postgres_source: str = "pgdg") -> list[ImageRecipe]:
    """The recipes that make exactly these references (a stack's images): each tunestack/* tag a
    recipe or an alias makes, and every PostgreSQL major. Others (a registry's) are not ours."""
    by_tag = {r.tag: r for r in RECIPES}
    out: dict[str, ImageRecipe] = {}
    for ref in sorted(refs):
        source = ALIASES.get(ref, ref)
        if source.startswith("tunestack/postgres:") and source.split(":")[1].isdigit():
            out[source] = postgres_recipe(int(source.split(":")[1]), postgres_source)
        elif source in by_tag:
            out[source] = by_tag[source]
    return list(out.values())


def is_local_build(ref: str) -> bool:
    """A reference to an image this project builds and delivers itself (tunestack/NAME:TAG, no
    registry host): never to be pulled, least of all from Docker Hub's `tunestack` namespace."""
    return ref.split("/", 1)[0] == "tunestack"


def buildable_tags() -> set[str]:
    """Every tunestack/* tag `tunestack images build` makes (PostgreSQL: any major, checked apart)."""
    return {r.tag for r in RECIPES} | set(ALIASES)


def is_buildable(ref: str) -> bool:
    """A reference `tunestack images build` can make: a recipe's tag, an alias, or any PostgreSQL major."""
    return ref in buildable_tags() or ref.startswith("tunestack/postgres:")
