"""The images a tunestack stack runs, built from Debian's packages on a base image of our own.

No image registry is assumed: the base comes from `debootstrap --variant=minbase bookworm`, imported
into the Docker engine, and every service image is `docker build`-ed on it from `images/<name>/`.
The stack files name these tags; `tunestack images build` makes them on a Docker engine."""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from .dockerengine import engine_client
from .monitoring.containers import monitoring_containers
from .paths import ROOT
from .plan.rollout import running
from .recipes import (ALIASES, BASE, MIRROR, PATRONI, PGBOUNCER_EXPORTER, RECIPES, buildable_tags, is_buildable, postgres_recipe,  # noqa: F401
                      recipes_for)
from .targets import LOCAL_SOCKET, RUNS_AS, Machine, docker_url  # noqa: F401

# The table of recipes and the machines' addresses live in their own modules; re-exported here
# because `images.build` and `images.check` are where callers look for them.
__all__ = ["BASE", "RECIPES", "RUNS_AS", "build", "build_base", "buildable_tags", "check", "docker_url",
           "images_by_machine", "postgres_recipe", "recipes_for", "ImageError"]


def migration_image(plan) -> str | None:
    """The app image whose migrate command runs before app replicas change: the newest version the
    program runs (the canary's while there are canary replicas; migrations must keep the stable
    version working, as in any rolling deploy)."""
    images = plan.spec.images
    if images.get("canary_app") and any(r.track == "canary" for r in running(plan.replicas)):
        return images["canary_app"]
    return images.get("app")


def migration_machine(plan) -> Machine:
    """Where migrations run: beside PostgreSQL, or with standbys beside the proxy that reaches the
    primary (the cache host, components/cluster.py)."""
    role = "cache" if plan.ha and plan.placement.docker else "db"
    return plan.spec.host_with(role).name, 0


def images_by_machine(plan) -> dict[Machine, set[str]]:
    """Which image references each machine runs: PostgreSQL and PgBouncer on the db host, and the
    app image whose migration runs beside them (migration_image); both Redis and HAProxy on the
    cache host; each replica its track's app image; the PostgreSQL image also on the host of a
    repository server (pgBackRest is in it); the monitoring image on every machine a monitoring
    container runs on (a node exporter on each)."""
    spec, images = plan.spec, plan.spec.images
    db, cache = (spec.host_with("db").name, 0), (spec.host_with("cache").name, 0)
    track = {"stable": images.get("app"), "canary": images.get("canary_app")}
    needs: dict[Machine, set[str]] = {}
    # with standbys: every node's machine and every etcd member's (etcd is in the PostgreSQL image)
    cluster = [(n.host, n.machine) for n in plan.ha["nodes"].value] + \
        [(m.host, m.machine) for m in plan.ha["etcd members"].value] if plan.ha else []
    # with queue replicas: every queue node's machine and every Sentinel's (Sentinel is in the Redis image)
    queue = [(n.host, n.machine) for n in plan.queue_ha["nodes"].value] + \
        [(m.host, m.machine) for m in plan.queue_ha["sentinels"].value] if plan.queue_ha else []
    for machine, ref in [(db, images.get("postgres")), *((m, images.get("postgres")) for m in cluster),
                         ((plan.placement["pgbouncer"].host.name, 0), images.get("pgbouncer")),
                         (migration_machine(plan), migration_image(plan)),
                         (cache, images.get("redis")), (cache, images.get("haproxy")),
                         *((m, images.get("redis")) for m in queue),
                         *[((r.host, r.machine), track[r.track]) for r in running(plan.replicas)],
                         *([((plan.backup["repository server"].value.host, 0), images.get("postgres"))]
                           if "repository server" in plan.backup else []),
                         *(((c.host, c.machine), images.get("monitoring")) for c in monitoring_containers(plan))]:
        if ref:
            needs.setdefault(machine, set()).add(ref)
    return needs


def _connect(url: str):
    return engine_client(url, timeout=30)   # a check asks each machine once: an engine slower than this is unreachable


def check(plan, connect=None, only: dict[Machine, set[str]] | None = None) -> list[dict]:
    """Each machine's answer for each image it needs (or `only` these): present, buildable (a
    tunestack/* tag that `tunestack images build` makes there), pullable (its registry knows it),
    missing, or unreachable (the machine's engine does not answer)."""
    import docker

    connect = connect or _connect
    hosts = {h.name: h for h in plan.spec.hosts}
    rows = []
    for (name, index), refs in sorted((only or images_by_machine(plan)).items()):
        url = docker_url(hosts[name], index)
        if url == LOCAL_SOCKET:   # this machine's engine: where DOCKER_HOST points, as for the docker CLI
            url = os.environ.get("DOCKER_HOST") or LOCAL_SOCKET
        try:
            client = connect(url)
            client.ping()
        except Exception as exc:  # the SDK raises several kinds for an unreachable engine
            rows.append({"machine": f"{name}#{index}", "engine": url, "image": ", ".join(sorted(refs)),
                         "state": "unreachable", "detail": str(exc).splitlines()[0][:200]})
            continue
        for ref in sorted(refs):
            state, detail = "present", ""
            if not has_image(client, ref):
                if is_buildable(ref):
                    state, detail = "buildable", f"tunestack images build --stack {plan.stack} --docker-host {url}"
                    if ref.startswith("tunestack/postgres:") and ref != postgres_recipe(15).tag:
                        detail += " (PostgreSQL from apt.postgresql.org; without it: --postgres-source fetched)"
                else:
                    try:
                        client.images.get_registry_data(ref)
                        state = "pullable"
                    except docker.errors.APIError as exc:
                        state, detail = "missing", (exc.explanation or str(exc)).splitlines()[0][:200]
            rows.append({"machine": f"{name}#{index}", "engine": url, "image": ref, "state": state, "detail": detail})
    return rows


def app_machines(plan) -> list[Machine]:
    return sorted({(r.host, r.machine) for r in running(plan.replicas)})


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
            args.update(PG_MAJOR=recipe.tag.split(":")[1], PATRONI_REQUIREMENT=PATRONI)
        if recipe.tag.startswith("tunestack/monitoring:"):
            args.update(PGBOUNCER_EXPORTER=" ".join(PGBOUNCER_EXPORTER))
        with _context(recipe) as context:
            try:
                client.images.build(path=context, dockerfile=str(ROOT / recipe.dockerfile), tag=recipe.tag,
                                    network_mode="host", buildargs=args, rm=True, forcerm=True)
            except docker.errors.BuildError as exc:
                log = "".join(chunk.get("stream", "") for chunk in exc.build_log if isinstance(chunk, dict))
                raise ImageError(f"building {recipe.tag} failed: {exc}\n{log[-2000:]}") from None
        built.append(recipe.tag)
    for alias, source in ALIASES.items():
        if has_image(client, source):
            repository, tag = alias.split(":")
            client.images.get(source).tag(repository, tag)
    return built


@contextlib.contextmanager
def _context(recipe):
    """The build context: the recipe's folder, plus (for a fetched PostgreSQL) the server build as
    server/, copied with its symlinks into a temporary folder, or (for the Go and Node reference
    apps) the app as the local stack builds it, with this machine's compiler, npm and their caches,
    as app/, with the migrations and the migrate command beside it."""
    if recipe.app_build:
        from .local.appbuild import build_reference_app

        with tempfile.TemporaryDirectory(prefix="tunestack-image-") as tmp:
            shutil.copytree(ROOT / recipe.context, tmp, dirs_exist_ok=True)
            (Path(tmp) / "app").mkdir()
            build_reference_app(recipe.app_build, Path(tmp) / "app")
            shutil.copytree(ROOT / "refapp" / "migrations", Path(tmp) / "migrations")
            shutil.copy2(ROOT / "images" / "app-common" / "tunestack-migrate", Path(tmp) / "tunestack-migrate")
            yield tmp
        return
    if recipe.tag.startswith("tunestack/monitoring:"):   # PgBouncer's exporter: from this machine's pip
        with tempfile.TemporaryDirectory(prefix="tunestack-image-") as tmp:
            shutil.copytree(ROOT / recipe.context, tmp, dirs_exist_ok=True)
            _wheels(Path(tmp) / "wheels", PGBOUNCER_EXPORTER, deps=False)
            yield tmp
        return
    if not recipe.tag.startswith("tunestack/postgres:"):
        yield str(ROOT / recipe.context)
        return
    with tempfile.TemporaryDirectory(prefix="tunestack-image-") as tmp:
        shutil.copytree(ROOT / recipe.context, tmp, dirs_exist_ok=True)
        _patroni_wheels(Path(tmp) / "wheels")
        if recipe.fetched_server is not None:
            from .servers import pg_build_cache

            server = Path(pg_build_cache()) / str(recipe.fetched_server)
            if not (server / "bin" / "postgres").exists():
                raise ImageError(f"{recipe.tag}: no PostgreSQL {recipe.fetched_server} build in {server.parent}; fetch "
                                 f"it with: scripts/fetch-postgres {recipe.fetched_server}")
            shutil.copytree(server, Path(tmp) / "server", symlinks=True, ignore=shutil.ignore_patterns(".pin"))
        yield tmp


def _patroni_wheels(into: Path) -> None:
    """Patroni and its dependencies for the image's Python (Debian 12: CPython 3.11 on x86-64),
    downloaded by this machine's pip from PyPI, so the build container needs no index. Wheels
    where PyPI has them (binary ones for this machine, which must match the image's), sources for
    the pure-Python rest (ydiff and python-etcd publish no wheels)."""
    import platform

    if sys.version_info[:2] != (3, 11) or platform.machine() != "x86_64" or sys.platform != "linux":
        raise ImageError(f"the PostgreSQL image takes Patroni's wheels from the building machine, which must run "
                         f"CPython 3.11 on Linux x86-64 as the image does (Debian 12); this one runs "
                         f"{platform.python_implementation()} {platform.python_version()} on {sys.platform} "
                         f"{platform.machine()}. Build on a Debian 12 machine (scripts/setup).")
    _wheels(into, (PATRONI,))


def _wheels(into: Path, requirements, deps: bool = True) -> None:
    """Download `requirements` with this machine's pip (its index, proxy and certificates), so that
    the image's build installs them with no index at all."""
    res = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--prefer-binary",
                          *([] if deps else ["--no-deps"]), "--dest", str(into), *requirements],
                         capture_output=True, text=True)
    if res.returncode:
        raise ImageError(f"downloading {' '.join(requirements)} for an image failed (PyPI unreachable?):\n"
                         f"{res.stderr.strip()[-1500:]}")
