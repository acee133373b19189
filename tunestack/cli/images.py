"""`tunestack images`: build the project's images, or check a stack's images on its hosts."""
from __future__ import annotations

import json
import os
import sys

from ..recipes import POSTGRES_SOURCES
from ..units import plural
from .parser import EXIT_BAD_INPUT, EXIT_ENVIRONMENT, report_options, stack_options
from .stacks import plan_from_args

# What `images check` tells the user to do about an image its machine cannot have.
FIXES = {"buildable": "build it there: {detail}",
         "missing": "push {image} to its registry, or name another tag in tunestack:images",
         "unreachable": "make the engine at {engine} reachable ({detail})"}


def register(sub) -> None:
    p = sub.add_parser("images", help="build the project's images, or check a stack's images on its hosts",
                       description="build: make tunestack/base (debootstrap) and the tunestack/* images from "
                                   "images/ on one Docker engine (--docker-host, else DOCKER_HOST, else the "
                                   "local socket): with --stack, exactly the ones that stack runs (any PostgreSQL "
                                   "major it names included), else the default set; needs root and Debian's "
                                   "mirror. check: ask each machine of a stack whether it has each image it "
                                   "runs, or can pull it; exit 2 when one cannot be had, before `pulumi up` "
                                   "touches anything.")
    p.add_argument("action", choices=("build", "check"))
    stack_options(p, path_ok=True)
    p.add_argument("--docker-host", help="build: the engine, e.g. unix:///var/run/docker.sock or ssh://deploy@10.0.0.5")
    p.add_argument("--postgres-source", choices=POSTGRES_SOURCES, default="pgdg",
                   help="build: where a PostgreSQL major other than Debian 12's 15 comes from: pgdg (the "
                        "PostgreSQL project's apt repository, default) or fetched (the server build "
                        "scripts/fetch-postgres keeps, for machines without that repository)")
    report_options(p, "the images")
    p.set_defaults(func=run)


def run(args) -> int:
    return build(args) if args.action == "build" else check(args)


def build(args) -> int:
    """The project's images on one engine."""
    from .. import images
    from ..dockerengine import engine_client
    from ..console import say, waiting

    url = args.docker_host or os.environ.get("DOCKER_HOST") or images.LOCAL_SOCKET
    recipes, what = None, "the project's images"
    if args.stack or args.stack_file:   # exactly what that stack runs, checked before any engine is asked
        plan = plan_from_args(args, target="docker")
        needs = set().union(*images.images_by_machine(plan).values())
        recipes = images.recipes_for(needs, args.postgres_source)
        fetched = [r.tag for r in recipes if r.fetched_server]
        if plan.ha and fetched:
            print(f"error: stack {plan.stack} runs PostgreSQL with standbys (postgres.replicas), and the server build "
                  f"--postgres-source fetched puts in {fetched[0]} has no pg_controldata, pg_basebackup or pg_rewind, "
                  "which Patroni needs. Build it with --postgres-source pgdg (apt.postgresql.org), or set "
                  "postgres.version: 15 (Debian 12's own)", file=sys.stderr)
            return EXIT_BAD_INPUT
        what = f"stack {plan.stack}'s images ({', '.join(r.tag for r in recipes) or 'none of them are ours'})"
        if not recipes:
            print(f"stack {plan.stack} runs no image this project builds: nothing to do")
            return 0
    try:
        client = engine_client(url, timeout=600)   # a build takes minutes
        client.ping()
    except Exception as exc:  # the SDK raises several kinds for an unreachable engine
        print(f"error: no Docker engine at {url}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    try:
        with waiting(f"building {what} on {url} (minutes) …"):
            built = images.build(client, say=say, recipes=recipes)
    except images.ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"built {plural(len(built), 'image')} on {url}: " + (", ".join(built) or "all were there"))
    return 0


def check(args) -> int:
    """Does every machine of a stack have, or can it get, each image it runs? Run it before `pulumi up`."""
    from .. import images

    plan = plan_from_args(args, target="docker")
    rows = images.check(plan)
    bad = [r for r in rows if r["state"] in FIXES]
    if args.format == "json":
        print(json.dumps({"stack": plan.stack, "images": rows, "ok": not bad}, indent=2))
    else:
        for r in rows:
            print(f"{r['machine']:<14} {r['image']:<40} {r['state']:<11} {r['detail']}")
    if bad:
        print(f"\n{plural(len(bad), 'image')} of stack {plan.stack} cannot be had: `pulumi up` would stop at them. Fix:",
              file=sys.stderr)
        for r in bad:
            print(f"  {r['machine']} {r['image']}: {FIXES[r['state']].format(**r)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0
