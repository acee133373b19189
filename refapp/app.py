"""WSGI app served by Gunicorn (gthread). Endpoints:

- /health        liveness: no backing service touched (sampled at 0 by the plan's rules)
- /              one query through PgBouncer, a cache read/write, one job enqueued
- /version       the version and rollout track of this process
- /_tunestack/metrics  Prometheus metrics of every worker (refapp/metrics.py)

APP_FAULT_RATE (0–1) answers that share of requests with 500; APP_EXTRA_LATENCY_MS adds latency.
Both exist to exercise rollout gates.
"""
from __future__ import annotations

import json
from http import HTTPStatus
import os
import random
import threading
import time
import uuid

import psycopg
import psycopg_pool
import redis

from . import database_keywords, metrics, secret, sentinel_hosts

_lock = threading.Lock()
_state: dict = {}


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


class PasswordConnection(psycopg.Connection):
    """Logs in with DATABASE_PASSWORD; during a rotation (DATABASE_PASSWORD_PREVIOUS_FILE given, the
    app image contract) a refused password is tried once more with the previous one: the servers
    switch to the new password only after every replica knows it. Read at each connect, never kept."""

    @classmethod
    def connect(cls, conninfo: str = "", **kwargs):
        try:
            return super().connect(conninfo, password=secret("DATABASE_PASSWORD"), **kwargs)
        except psycopg.OperationalError as exc:
            previous = secret("DATABASE_PASSWORD_PREVIOUS")
            # PostgreSQL says "password authentication failed", PgBouncer with SCRAM "SASL
            # authentication failed"; a connection error carries no SQLSTATE to test instead.
            if previous is None or not any(w in str(exc) for w in ("password authentication failed",
                                                                   "SASL authentication failed")):
                raise
            return super().connect(conninfo, password=previous, **kwargs)


def _resources() -> dict:
    """Pools are created per worker process after fork, sized by the plan's env."""
    with _lock:
        if _state.get("pid") != os.getpid():
            # libpq keywords, not a conninfo string; the password is PasswordConnection's to give.
            conninfo = psycopg.conninfo.make_conninfo(**database_keywords(os.environ["DATABASE_URL"]),
                                                      connect_timeout=_env_int("DB_CONNECT_TIMEOUT", 5))
            # PgBouncer < 1.21 in transaction mode: no server-side prepared statements.
            prepare = None if os.environ.get("DB_PREPARED_STATEMENTS") == "false" else 5
            pool = psycopg_pool.ConnectionPool(conninfo, min_size=1, max_size=_env_int("DB_POOL", 5),
                                               connection_class=PasswordConnection,
                                               kwargs={"prepare_threshold": prepare, "autocommit": True},
                                               open=True, timeout=10)
            common = dict(socket_connect_timeout=_env_int("REDIS_CONNECT_TIMEOUT", 5),
                          socket_timeout=float(os.environ.get("REDIS_READ_TIMEOUT", 1)),
                          max_connections=_env_int("REDIS_POOL_SIZE", 4))
            # rediss:// (TLS between hosts): verify the server against the stack's CA.
            if os.environ.get("REDIS_TLS_CA_FILE"):
                common.update(ssl_ca_certs=os.environ["REDIS_TLS_CA_FILE"], ssl_cert_reqs="required")
            # One password per instance: REDIS_PASSWORD for the queue (REDIS_URL), REDIS_CACHE_PASSWORD for the cache.
            metrics.POOL_MAX.set(pool.max_size)
            # A cache that cannot be reached soon is a miss (REDIS_CACHE_CONNECT_TIMEOUT), not a wait.
            cache_connect = _env_int("REDIS_CACHE_CONNECT_TIMEOUT", common["socket_connect_timeout"])
            _state.update(pid=os.getpid(), db=pool,
                          cache=redis.Redis.from_url(os.environ["REDIS_CACHE_URL"],
                                                     password=secret("REDIS_CACHE_PASSWORD"),
                                                     **{**common, "socket_connect_timeout": cache_connect}),
                          queue=_queue_client(common))
        return _state


def _queue_client(common: dict) -> redis.Redis:
    """The queue: REDIS_URL, or with replicas (REDIS_SENTINELS) the master the Sentinels name.
    redis-py asks them again whenever a connection to it fails, and drops a connection whose node
    answers READONLY (a master demoted by a failover)."""
    if not os.environ.get("REDIS_SENTINELS"):
        return redis.Redis.from_url(os.environ["REDIS_URL"], password=secret("REDIS_PASSWORD"), **common)
    from redis.sentinel import Sentinel

    timeouts = {k: common[k] for k in ("socket_timeout", "socket_connect_timeout")}
    # rediss:// (the nodes and Sentinels on other machines): TLS to both, verified against the CA
    tls = {k: common[k] for k in ("ssl_ca_certs", "ssl_cert_reqs") if k in common}
    tls = {"ssl": True, **tls} if os.environ["REDIS_URL"].startswith("rediss://") else {}
    sentinel = Sentinel(sentinel_hosts(os.environ["REDIS_SENTINELS"]),
                        sentinel_kwargs={"password": secret("REDIS_SENTINEL_PASSWORD"), **timeouts, **tls})
    db = int(os.environ["REDIS_URL"].rsplit("/", 1)[1] or 0)
    return sentinel.master_for(os.environ["REDIS_SENTINEL_MASTER"], password=secret("REDIS_PASSWORD"), db=db,
                               **common, **({"ssl": True} if tls else {}))


class QueueNotReplicated(Exception):
    """A connected replica did not acknowledge the job within REDIS_WAIT_TIMEOUT_MS: not counted as
    queued (the client may retry)."""


def enqueue(queue: redis.Redis, job: str) -> None:
    """LPUSH, and with REDIS_WAIT_REPLICAS the WAIT for that many replicas on the same connection
    (a pipeline: WAIT counts the writes of its own connection only). With fewer replicas connected
    than asked (one lost, or resynchronising after a failover) the job is accepted and counted in
    tunestack_queue_unreplicated_total, as Patroni's non-strict synchronous mode keeps committing
    without a standby: the queue stays up, and RedisQueueReplicaMissing says the risk."""
    replicas = _env_int("REDIS_WAIT_REPLICAS", 0)
    if not replicas:
        queue.lpush("jobs", job)
        return
    pipe = queue.pipeline(transaction=False)
    pipe.lpush("jobs", job)
    pipe.wait(replicas, _env_int("REDIS_WAIT_TIMEOUT_MS", 1000))
    acknowledged = pipe.execute()[1]
    if acknowledged >= replicas:
        return
    connected = len(queue.execute_command("ROLE")[2])   # the master's replicas: ["master", offset, [[ip, port, offset], …]]
    if connected >= replicas:
        raise QueueNotReplicated(f"{acknowledged} of {connected} connected replica(s) acknowledged the job in time")
    metrics.QUEUE_UNREPLICATED.inc()


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/health":
        return _reply(start_response, 200, {"ok": True})
    if path == "/version":
        return _reply(start_response, 200, {"version": os.environ.get("APP_VERSION", "dev"),
                                            "track": os.environ.get("TUNESTACK_TRACK", "stable")})
    if path == "/_tunestack/metrics":
        content_type, body = metrics.exposition(_queue_depth())
        start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]
    started = time.monotonic()
    status = 500
    try:
        try:
            status, body = _page(started + float(os.environ.get("REQUEST_TIMEOUT", 30)))
        except (RequestTimeout, psycopg_pool.PoolTimeout) as exc:
            status, body = 503, {"error": f"request timeout: {exc}"}
        except QueueNotReplicated as exc:   # the client is not told the job was queued
            status, body = 503, {"error": f"queue: {exc}"}
        return _reply(start_response, status, body)
    finally:   # an exception is a 500 to the client: counted as one
        metrics.LATENCY.observe(time.monotonic() - started)
        metrics.REQUESTS.labels(code=f"{status // 100}xx").inc()


def _queue_depth() -> int:
    try:
        return _resources()["queue"].llen("jobs")
    except redis.RedisError:
        return -1   # visible as impossible, never as an empty queue


class RequestTimeout(Exception):
    """The request used up REQUEST_TIMEOUT: answered 503 at once, never finished late."""


def _left(deadline: float, step: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise RequestTimeout(f"no time left before {step}")
    return left


def _page(deadline: float) -> tuple[int, dict]:
    """Each wait bounded by what is left of the request's time: the pool's by its timeout, the
    query by the role's statement_timeout (below the request timeout), Redis by its socket timeout."""
    extra = float(os.environ.get("APP_EXTRA_LATENCY_MS", 0))
    if extra:
        time.sleep(extra / 1000)
    if random.random() < float(os.environ.get("APP_FAULT_RATE", 0)):
        return 500, {"error": "injected fault (APP_FAULT_RATE)"}
    _left(deadline, "the database")
    r = _resources()
    with metrics.POOL_IN_USE.track_inprogress(), r["db"].connection(timeout=_left(deadline, "a connection")) as conn:
        (n,) = conn.execute("SELECT count(*) FROM hits").fetchone()
    _left(deadline, "the cache")
    key = f"page:{random.randint(0, 99)}"
    cached = r["cache"].get(key)
    metrics.CACHE_READS.labels(result="miss" if cached is None else "hit").inc()
    if cached is None:
        r["cache"].set(key, str(n), ex=60)
    job = uuid.uuid4().hex   # named in the answer: a client can find its job in the queue
    enqueue(r["queue"], json.dumps({"at": time.time(), "id": job}))
    return 200, {"hits": n, "cached": cached is not None, "job": job}


def _reply(start_response, status: int, body: dict):
    data = json.dumps(body).encode()
    start_response(f"{status} {HTTPStatus(status).phrase}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                    ("X-App-Version", os.environ.get("APP_VERSION", "dev")),
                    ("X-Track", os.environ.get("TUNESTACK_TRACK", "stable"))])
    return [data]
