"""The reference web app of the local stack: PostgreSQL through PgBouncer, a Redis cache and a
Redis job queue, configured only by the environment the plan renders."""

import os


def secret(name: str) -> str | None:
    """A password from `NAME`, or from the file `NAME_FILE` names (the app image contract: on Docker
    the passwords are files, so that `docker inspect` never shows them)."""
    if name in os.environ:
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if path:
        with open(path, encoding="utf-8") as f:
            return f.read().rstrip("\n")
    return None
