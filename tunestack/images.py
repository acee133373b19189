"""The images a tunestack stack runs, built from Debian's packages on a base image of our own.

No image registry is assumed: the base comes from `debootstrap --variant=minbase bookworm`, imported
into the Docker engine, and every service image is `docker build`-ed on it from `images/<name>/`.
The stack files name these tags; `tunestack images build` makes them on a Docker engine."""
from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass

from .paths import ROOT

BASE = "tunestack/base:bookworm"
MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class ImageRecipe:
    tag: str
    dockerfile: str       # relative to the repository
    context: str          # relative to the repository


def postgres_recipe(major: int) -> "ImageRecipe":
    """tunestack/postgres:<major>: 15 from Debian 12; others need apt.postgresql.org at build time,
    e.g. `images.build(client, recipes=[images.postgres_recipe(17)])` on a machine that reaches it."""
    return ImageRecipe(f"tunestack/postgres:{major}", "images/postgres/Dockerfile", "images/postgres")


RECIPES = (
    ImageRecipe("tunestack/postgres:15", "images/postgres/Dockerfile", "images/postgres"),
    ImageRecipe("tunestack/pgbouncer:1.18", "images/pgbouncer/Dockerfile", "images/pgbouncer"),
    ImageRecipe("tunestack/redis:7.0", "images/redis/Dockerfile", "images/redis"),
    ImageRecipe("tunestack/haproxy:2.6", "images/haproxy/Dockerfile", "images/haproxy"),
    ImageRecipe("tunestack/refapp:0.1.0", "images/refapp/Dockerfile", "."),
)
ALIASES = {"tunestack/refapp:0.2.0": "tunestack/refapp:0.1.0"}   # a second app version for canaries
# The user each image's service runs as. Checks inside a container run as that user: Docker gives
# root no CAP_SYS_PTRACE, so only the owner may read a process's sockets, limits and environment.
RUNS_AS = {"postgres": "postgres", "pgbouncer": "postgres", "redis-cache": "redis", "redis-queue": "redis",
           "lb": "haproxy", "app": "app"}


def buildable_tags() -> set[str]:
    """Every tunestack/* tag `tunestack images build` makes (PostgreSQL: any major, checked apart)."""
    return {r.tag for r in RECIPES} | set(ALIASES)


class ImageError(Exception):
    """An image could not be built; the message carries the builder's own last words."""


def has_image(client, tag: str) -> bool:
    import docker

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def build_base(client, say=print, mirror: str = MIRROR) -> None:
    """debootstrap a minimal Debian 12 and import it as BASE (needs root and the debootstrap package)."""
    with tempfile.TemporaryDirectory(prefix="tunestack-rootfs-") as tmp:
        say(f"debootstrap --variant=minbase bookworm ({mirror}) …")
        res = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", tmp, mirror], capture_output=True,
                             text=True)
        if res.returncode:
            raise ImageError(f"debootstrap failed:\n{res.stdout[-1500:]}{res.stderr[-1500:]}")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(tmp, arcname=".")
        repository, tag = BASE.split(":")
        client.api.import_image_from_data(buffer.getvalue(), repository=repository, tag=tag)
    say(f"imported {BASE}")


def build(client, say=print, recipes=None) -> list[str]:
    """Build the base if missing, then every recipe whose tag the engine lacks (default: RECIPES).
    Returns the tags built."""
    import docker

    if not has_image(client, BASE):
        build_base(client, say)
    built = []
    for recipe in recipes or RECIPES:
        if has_image(client, recipe.tag):
            continue
        say(f"building {recipe.tag} from {recipe.dockerfile} …")
        args = {"BASE": BASE}
        if recipe.tag.startswith("tunestack/postgres:"):
            args["PG_MAJOR"] = recipe.tag.split(":")[1]
        try:
            client.images.build(path=str(ROOT / recipe.context), dockerfile=str(ROOT / recipe.dockerfile),
                                tag=recipe.tag, network_mode="host", buildargs=args, rm=True, forcerm=True)
        except docker.errors.BuildError as exc:
            log = "".join(chunk.get("stream", "") for chunk in exc.build_log if isinstance(chunk, dict))
            raise ImageError(f"building {recipe.tag} failed: {exc}\n{log[-2000:]}") from None
        built.append(recipe.tag)
    for alias, source in ALIASES.items():
        repository, tag = alias.split(":")
        client.images.get(source).tag(repository, tag)
    return built


__all__ = ["BASE", "RECIPES", "RUNS_AS", "build", "build_base", "postgres_recipe", "ImageError"]
