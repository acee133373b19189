"""PostgreSQL with a synchronous standby and the queue with a replica under Sentinel
(stacks/Pulumi.local-ha.yaml) under faults, through the real CLI: how long writers go without a
commit, or clients without a queued job (the RTO a user sees), per fault over several trials, what
was lost, and what rpo 0 costs each commit against asynchronous replication (rpo 1MiB), in one run
on the same stack. The queue's fault: bench/queuefault.py.

Faults: the leader's postmaster killed, its Patroni killed, and the leader's node lost (SIGSTOP of
its Patroni and every PostgreSQL process, so that nothing answers until the leader key expires, then
SIGKILL once a standby leads: the machine gone; supervisord starting its Patroni again is the machine
coming back, and it rejoins through pg_rewind).

A hung node that is thawed instead of killed is not a trial here: Debian's Patroni 3.0 can let such
a stale primary take the leader key back (Patroni PR #2787, in 3.1, narrows that window), which is
what a watchdog (Patroni's `watchdog`, softdog) prevents by resetting the machine first."""
from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import time
from pathlib import Path

import psycopg

from tunestack.commitwriter import CREATE_TABLE, CommitWriter
from tunestack.poll import wait_until
from tunestack.servers import which
from tunestack.throwaway import ThrowawayStack

from bench.queuefault import FAULT as QUEUE_FAULT, queue_master_lost

BASE = 32432   # below the ephemeral range (32768+) with its canary; no other test or benchmark uses it


def ha_ports(c, base: int = BASE):
    """local-ha's ports moved beside a scratch stack's base: the primary service, its nodes,
    Patroni's REST APIs, etcd, the queue's nodes and its Sentinels each 10 apart."""
    c["tunestack:postgres"].update(port=base + 10, patroni_port=base + 20, etcd_port=base + 30)
    c["tunestack:redis"]["queue"].update(port=base + 40, sentinel_port=base + 50)


# "patroni killed": kill -9 of the leader's Patroni alone; its postmaster runs on, supervisord starts
# Patroni again within seconds, and it renews the leader key it still holds: no failover.
FAULTS = ("node lost", "patroni killed")
# "postmaster killed": kill -9 of the leader's postmaster and its backends (its process group).
# Patroni starts it again in place after crash recovery (a new timeline). Not among FAULTS yet:
# writes always came back within seconds, but twice (in about 40 trials, both after ten node-lost
# trials) a process still held the node's shared memory ("pre-existing shared memory block is
# still in use"), Patroni 3.0 tried crash recovery once, and the node stayed "start failed".
# It runs when asked for: `faults=` below, or fault_trial directly.
UNSETTLED = ("postmaster killed",)


def _members(stack) -> list[dict]:
    res = stack.cli("status", "--json")
    return json.loads(res.stdout).get("cluster", []) if res.returncode == 0 else []


def _ready(stack) -> bool:
    roles = sorted(m["role"] for m in _members(stack) if m["state"] in ("running", "streaming"))
    return roles == ["leader", "sync_standby"]


def _leader(stack) -> tuple[int, Path]:
    """The leader's node index and data folder."""
    name = next(m["name"] for m in _members(stack) if m["role"] == "leader")
    return int(name.rsplit("-", 1)[1]), stack.dir / "data" / "patroni" / name


def _patroni_pid(stack, index: int) -> int:
    conf = stack.dir / "etc" / "supervisord.conf"
    return int(subprocess.run([which("supervisorctl"), "-c", str(conf), "pid", f"patroni-{index}"],
                              capture_output=True, text=True).stdout.strip())


def _groups(stack, index: int, data: Path) -> set[int]:
    """Process groups of the node: its Patroni (supervisord's program) and its postmaster's."""
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    return {os.getpgid(_patroni_pid(stack, index)), os.getpgid(postmaster)}


def fault_trial(stack, fault: str, seconds_after: float = 3) -> dict:
    """One fault under writes through the primary service; the longest write stall and the
    acknowledged commits missing afterwards."""
    if fault not in FAULTS + UNSETTLED:
        raise ValueError(f"fault {fault!r}: one of {', '.join(FAULTS + UNSETTLED)}")
    index, data = _leader(stack)
    first = int(time.time() * 1000) * 1000   # ids of their own per trial
    writer = CommitWriter(stack.base + 10, stack.password("app"), first_id=first, seconds=180)
    thread = writer.start()
    wait_until(lambda: len(writer.acked) >= 50, 30, "the writer committing")
    at = time.monotonic()
    groups = _groups(stack, index, data)
    if fault == "node lost":
        for g in groups:
            os.killpg(g, signal.SIGSTOP)
        wait_until(lambda: any(m["role"] == "leader" and not m["name"].endswith(f"-{index}") for m in _members(stack)),
                   120, "a new leader")
        # the fault fails the writes in flight: wait for the first commit after the outage
        wait_until(lambda: writer.outages and len(writer.outages[-1]) == 2, 120, f"writes resuming after: {fault}")
    elif fault == "postmaster killed":   # with its backends (its process group): see FAULTS
        os.killpg(os.getpgid(int((data / "postmaster.pid").read_text().split()[0])), signal.SIGKILL)
        wait_until(lambda: writer.outages and len(writer.outages[-1]) == 2, 120, f"writes resuming after: {fault}")
    else:   # patroni killed
        old = _patroni_pid(stack, index)
        os.kill(old, signal.SIGKILL)
        wait_until(lambda: _patroni_pid(stack, index) not in (0, old) and _ready(stack), 60, "Patroni started again")
        led = next(m["name"] for m in _members(stack) if m["role"] == "leader")
        if not led.endswith(f"-{index}"):
            raise RuntimeError(f"Patroni killed on the leader: {led} leads now, a failover that should not happen")
    if fault == "node lost":
        for g in groups:   # SIGKILL ends a stopped process too: nothing of the old primary runs again
            os.killpg(g, signal.SIGKILL)
    time.sleep(seconds_after)
    writer.stop(thread)
    with psycopg.connect(host="127.0.0.1", port=stack.base + 10, dbname="app", user="migrator",
                         password=stack.password("migrator")) as conn:
        have = {r[0] for r in conn.execute("SELECT id FROM acked WHERE id >= %s", (first,))}
    try:
        wait_until(lambda: _ready(stack), 180, "the cluster whole again")
    except Exception as exc:   # say what each node did: the trial is worth nothing without it
        logs = {p.name: p.read_text()[-3000:] for p in sorted((stack.dir / "log").glob("patroni-*.log"))}
        raise RuntimeError(f"{exc}\nmembers: {_members(stack)}\n" + "\n".join(f"--- {k}\n{v}" for k, v in logs.items()))

    return {"stall_s": round(writer.longest_stall_s(at), 2), "lost": len(set(writer.acked) - have),
            "acknowledged": len(writer.acked), "failed_writes": len(writer.errors)}


def summary(runs: list[dict], rto_key: str) -> dict:
    """A fault's trials: median and worst RTO, and what was lost over all of them."""
    rtos = [r[rto_key] for r in runs]
    return {"trials": runs, "median_rto_s": round(statistics.median(rtos), 2), "worst_rto_s": max(rtos),
            "lost": sum(r["lost"] for r in runs), "acknowledged": sum(r["acknowledged"] for r in runs)}


def _latency(stack, seconds: float) -> dict:
    writer = CommitWriter(stack.base + 1, stack.password("app"), first_id=int(time.time() * 1000) * 1000, seconds=seconds,
                          pause_s=0.0)
    writer.run()
    ms = sorted(writer.latencies_ms)
    return {"commits": len(ms), "p50_ms": round(statistics.median(ms), 3),
            "p95_ms": round(ms[int(len(ms) * 0.95) - 1], 3), "failed": len(writer.errors)}


def measure(say=print, trials: int = 10, seconds_after: float = 3, latency_seconds: float = 20,
            faults: tuple[str, ...] = FAULTS + (QUEUE_FAULT,)) -> dict:
    """`faults`: which to run (the smoke run takes the quickest of each kind; tests/test_local_ha.py
    runs every one)."""
    unknown = set(faults) - set(FAULTS + UNSETTLED + (QUEUE_FAULT,))
    if unknown:
        raise ValueError(f"faults {sorted(unknown)}: choose from {', '.join(FAULTS + UNSETTLED + (QUEUE_FAULT,))}")
    with ThrowawayStack("benchha", BASE, edit=ha_ports, source="local-ha", say=say) as stack:
        with psycopg.connect(host="127.0.0.1", port=stack.base + 10, dbname="app", user="migrator",
                             password=stack.password("migrator"), autocommit=True) as conn:
            conn.execute(CREATE_TABLE)
            conn.execute("GRANT INSERT, SELECT ON acked TO app")
        plan_rto_s = stack.plan().ha["rto"].value / 1000
        results = {}
        for fault in (f for f in FAULTS + UNSETTLED if f in faults):
            runs = []
            for i in range(trials):
                say(f"  {fault}, trial {i + 1} of {trials} …")
                runs.append(fault_trial(stack, fault, seconds_after))
            results[fault] = summary(runs, "stall_s")
        if QUEUE_FAULT in faults:   # Sentinel elects the replica (bench/queuefault.py)
            runs = []
            for i in range(trials):
                say(f"  {QUEUE_FAULT}, trial {i + 1} of {trials} …")
                runs.append(queue_master_lost(stack, seconds_after=seconds_after))
            results[QUEUE_FAULT] = summary(runs, "rto_s")
        say("  commit latency, rpo 0 (synchronous) …")
        sync = _latency(stack, latency_seconds)
        stack.edit(lambda c: c["tunestack:postgres"].update(rpo="1MiB"))
        assert stack.cli("up").returncode == 0
        say("  commit latency, rpo 1MiB (asynchronous) …")
        asynchronous = _latency(stack, latency_seconds)
    return {"plan_rto_s": plan_rto_s, "faults": results, "commit_latency": {
        "rpo_0": sync, "rpo_1MiB": asynchronous,
        "p50_ratio": round(sync["p50_ms"] / asynchronous["p50_ms"], 2) if asynchronous["p50_ms"] else None}}
