"""Budgets tie the layers together. Each is `used ≤ limit`, with the arithmetic spelled out.
The builders here read typed values from the other stages; they compute nothing new."""
from __future__ import annotations

from dataclasses import dataclass

from ..units import format_bytes_human, plural
from .connections import SUPERUSER_RESERVED, Connections, Fleet


@dataclass(frozen=True)
class Budget:
    name: str
    used: float
    limit: float
    arithmetic: str   # how `used` and `limit` were reached, in words and numbers
    fix: str          # what to change when it does not hold
    unit: str = ""

    @property
    def ok(self) -> bool:
        return self.used <= self.limit

    @property
    def headroom(self) -> float:
        return self.limit - self.used

    def to_json(self) -> dict:
        return {"name": self.name, "used": self.used, "limit": self.limit, "headroom": self.headroom,
                "unit": self.unit, "ok": self.ok, "arithmetic": self.arithmetic, "fix": self.fix}


def within(used: float, limit: float) -> str:
    """The relation the arithmetic shows: `≤` while the budget holds, `>` once it is broken."""
    return "≤" if used <= limit else ">"


def fleet_budget(fleet: Fleet, conns: Connections, per_host_text: str) -> Budget:
    limit = conns.max_client_conn.value
    return Budget("fleet client connections ≤ PgBouncer max_client_conn", fleet.with_surge, limit,
                  f"{plural(fleet.app_hosts, 'app host')} × {per_host_text}"
                  f" + surge {plural(fleet.surge_hosts, 'host')} × {fleet.surge_per_host}"
                  + (f" + the canary beside stable {fleet.canary}" if fleet.canary else "")
                  + f" = {fleet.with_surge} "
                  f"{within(fleet.with_surge, limit)} max_client_conn {limit}",
                  "raise pgbouncer.max_client_conn, or lower app threads, job concurrency or rollout.max_surge",
                  "connections")


def server_budget(conns: Connections, admin: int, max_connections: int, reserved: int) -> Budget:
    """PgBouncer's server connections plus direct admin ones fit under max_connections, less the
    superuser_reserved and reserved_connections slots ordinary roles never get."""
    used = conns.server + admin
    limit = max_connections - SUPERUSER_RESERVED - reserved
    return Budget("server pools ≤ max_connections − reserved", used, limit,
                  f"pool {conns.pool.value} + reserve {conns.reserve} + admin {admin} = {used} "
                  f"{within(used, limit)} max_connections {max_connections} − {SUPERUSER_RESERVED} superuser_reserved − {reserved} "
                  f"reserved = {limit}",
                  "remove the max_connections override or raise it, or lower pgbouncer.default_pool_size",
                  "connections")


def tracing_budget(expected: float, budget: int, unit: str) -> Budget | None:
    """Only per-path rules can overspend (the base rate is cut to fit): flag them when they do."""
    if expected <= budget * 1.0001:
        return None
    return Budget("traced volume ≤ tracing budget", expected, budget,
                  f"per-path rules alone expect {expected:,.0f} {unit}/month",
                  "lower the rates or shares of traffic.sampling_rules, or raise the budget", unit)


def memory_budget(host: str, items: list[tuple[str, int]], memory: int) -> Budget:
    used = sum(v for _, v in items)
    return Budget(f"memory on {host}", used, memory,
                  " + ".join(f"{k} {format_bytes_human(v)}" for k, v in items)
                  + f" = {format_bytes_human(used)} {within(used, memory)} {format_bytes_human(memory)}",
                  "give the host more memory, or lower Redis memory, app workers or PostgreSQL overrides",
                  "bytes")


def one_worker_budget(host: str, app_memory: int, per_worker: int) -> Budget:
    return Budget(f"memory on {host}: at least one web worker", 1, 0,
                  f"{format_bytes_human(app_memory)} for the app − jobs − master leaves "
                  f"no room for one {format_bytes_human(per_worker)} worker",
                  "give the host more memory, or lower memory_per_worker or job processes", "workers")


def share_budget(host: str, memory: int, service: str, share: int, minimum: int, redis: int) -> Budget:
    return Budget(f"memory on {host}: room for {service}", minimum, share,
                  f"{format_bytes_human(memory)} host − OS reserve − Redis {format_bytes_human(redis)} − "
                  f"PgBouncer/HAProxy leaves {format_bytes_human(share) if share > 0 else 'nothing'} for {service}, "
                  f"which needs at least {format_bytes_human(minimum)}",
                  "give the host more memory, or lower tunestack:redis memory", "bytes")
