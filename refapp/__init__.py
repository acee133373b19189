"""The reference web app of the local stack: PostgreSQL through PgBouncer, a Redis cache and a
Redis job queue, configured only by the environment the plan renders."""

import os
from urllib.parse import parse_qs, urlparse


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


def database_keywords(url: str) -> dict:
    """libpq keywords from DATABASE_URL: where and as whom, and its TLS parameters
    (sslmode=verify-full&sslrootcert=… when the server is on another host)."""
    parts = urlparse(url)
    tls = {k: v[-1] for k, v in parse_qs(parts.query).items() if k in ("sslmode", "sslrootcert")}
    return dict(host=parts.hostname, port=parts.port or 5432, dbname=parts.path.lstrip("/"), user=parts.username,
                **tls)


def sentinel_hosts(value: str) -> list[tuple[str, int]]:
    """REDIS_SENTINELS ("host:port,host:port,…") as (host, port) pairs."""
    return [(host, int(port)) for host, port in (entry.rsplit(":", 1) for entry in value.split(",") if entry)]
