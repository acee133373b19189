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


def postgres_recipe(major: int) -> ImageRecipe:
    """tunestack/postgres:<major>: 15 from Debian 12; others need apt.postgresql.org at build time,
    e.g. `images.build(client, recipes=[recipes.postgres_recipe(17)])` on a machine that reaches it."""
    return ImageRecipe(f"tunestack/postgres:{major}", "images/postgres/Dockerfile", "images/postgres")


RECIPES = (
    postgres_recipe(15),
    ImageRecipe("tunestack/pgbouncer:1.18", "images/pgbouncer/Dockerfile", "images/pgbouncer"),
    ImageRecipe("tunestack/redis:7.0", "images/redis/Dockerfile", "images/redis"),
    ImageRecipe("tunestack/haproxy:2.6", "images/haproxy/Dockerfile", "images/haproxy"),
    ImageRecipe("tunestack/refapp:0.1.0", "images/refapp/Dockerfile", "."),
)
ALIASES = {"tunestack/refapp:0.2.0": "tunestack/refapp:0.1.0"}   # a second app version for canaries


def buildable_tags() -> set[str]:
    """Every tunestack/* tag `tunestack images build` makes (PostgreSQL: any major, checked apart)."""
    return {r.tag for r in RECIPES} | set(ALIASES)


def is_buildable(ref: str) -> bool:
    """A reference `tunestack images build` can make: a recipe's tag, an alias, or any PostgreSQL major."""
    return ref in buildable_tags() or ref.startswith("tunestack/postgres:")
