"""The queue's master lost under load, on a stack with a queue replica and three Sentinels
(stacks/Pulumi.local-ha.yaml): SIGSTOP of the master's process, so that it answers nothing until
the Sentinels elect its replica, then SIGKILL (the machine gone; supervisord starting it again is
the machine coming back, and Sentinel makes it a replica).

Counted exactly: the job workers are stopped for the trial, every answer 200 names the job it
queued, and afterwards every one of those must be in the new master's queue. Failed requests may
have queued a job too (a WAIT that timed out); those count for nothing either way. The longest
time without an answer 200 is the RTO a user sees."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request

from tunestack.local import LocalStack
from tunestack.poll import wait_until

FAULT = "queue master lost"


class JobClient:
    """Threads asking the app's `/` (each answer 200 queues one job and names it) at most `rate`
    times a second in all, for at most `limit_s`; every outcome with its time."""

    def __init__(self, url: str, threads: int = 4, rate: float = 40, limit_s: float = 120):
        self.url, self.interval, self.limit = url, threads / rate, time.monotonic() + limit_s
        self.stop = threading.Event()
        self.outcomes: list[tuple[float, int, str]] = []   # (monotonic time, status, job id)
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        while not self.stop.is_set() and time.monotonic() < self.limit:
            status, job = 0, ""
            try:
                with urllib.request.urlopen(self.url, timeout=10) as r:
                    status, job = r.status, json.loads(r.read()).get("job", "")
            except urllib.error.HTTPError as e:
                status = e.code
            except (OSError, ValueError):
                pass
            self.outcomes.append((time.monotonic(), status, job))
            self.stop.wait(self.interval)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)

    def acknowledged(self) -> set[str]:
        return {job for _, status, job in list(self.outcomes) if status == 200 and job}

    def ok_after(self, at: float) -> bool:
        return any(t > at and status == 200 for t, status, _ in list(self.outcomes))

    def longest_gap_s(self, since: float) -> float:
        """The longest time between two answers 200 around and after `since`."""
        oks = [t for t, status, _ in sorted(self.outcomes) if status == 200]
        before = [t for t in oks if t <= since][-1:] or [since]
        after = [t for t in oks if t > since]
        points = before + after
        return max((b - a for a, b in zip(points, points[1:])), default=0.0)


def _roles(stack) -> list[dict]:
    res = stack.cli("status", "--json")
    return json.loads(res.stdout).get("queue", []) if res.returncode == 0 else []


def _whole(stack, nodes: int) -> bool:
    roles = _roles(stack)
    return (sorted(r["role"] for r in roles) == ["master"] + ["replica"] * (nodes - 1)
            and all(r["link"] == "up" for r in roles if r["role"] == "replica"))


# Where each reference app queues its jobs, and the field that names one: the list `jobs` with an
# `id` (Python, Go, Node), Sidekiq's `queue:default` with its `jid` (Rails).
JOB_LISTS = (("jobs", "id"), ("queue:default", "jid"))


def queued_jobs(local: LocalStack, plan) -> set[str]:
    """Every job id in the queue of the node the Sentinels call the master."""
    node = local.servers.queue.node(local.servers.queue.master(plan), timeout=10)
    return {json.loads(raw).get(field, "") for key, field in JOB_LISTS for raw in node.lrange(key, 0, -1)}


def queue_master_lost(stack, rate: float = 40, seconds_after: float = 3, heal: bool = True) -> dict:
    """`heal`: also wait until the old master is back as a replica (the next trial waits for it anyway)."""
    local = LocalStack(stack.name, root=stack.state)
    plan = stack.plan()
    nodes = plan.queue_ha["nodes"].value
    programs = {n.name: ("redis-queue" if i == 0 else f"redis-queue-{i}") for i, n in enumerate(nodes)}
    # a fair start: every replica streaming (an earlier fault may still be healing)
    wait_until(lambda: _whole(stack, len(nodes)), 90, "the queue whole before the fault")
    old = next(r["name"] for r in _roles(stack) if r["role"] == "master")
    rpc = local.rpc().supervisor
    rpc.stopProcess("jobs")   # the queue only grows: every acknowledged job must still be in it
    try:
        with JobClient(f"http://127.0.0.1:{plan.loadbalancer['port'].value}/", rate=rate) as client:
            wait_until(lambda: len(client.acknowledged()) >= 50, 30, "jobs being queued")
            pid, at = rpc.getProcessInfo(programs[old])["pid"], time.monotonic()
            os.kill(pid, signal.SIGSTOP)
            try:
                wait_until(lambda: any(r["role"] == "master" and r["name"] != old for r in _roles(stack)), 60,
                           "the Sentinels electing a new master")
            finally:
                os.kill(pid, signal.SIGKILL)   # ends a stopped process too: the old master never answers again
            elected = time.monotonic()
            wait_until(lambda: client.ok_after(elected), 60, "jobs queued again on the new master")
            client.stop.wait(seconds_after)
        acknowledged = client.acknowledged()
        have = queued_jobs(local, plan)
        lost = acknowledged - have
        first_ok = min((t for t, status, _ in client.outcomes if t > elected and status == 200), default=elected)
        result = {"rto_s": round(client.longest_gap_s(at), 2), "acknowledged": len(acknowledged),
                  # the Sentinels' part (seen through `status`) and the app's part after it
                  "elected_s": round(elected - at, 2), "first_ok_after_election_s": round(first_ok - elected, 2),
                  "lost": len(lost), "failed_requests": sum(1 for _, s, _ in client.outcomes if s != 200),
                  # when each lost job was answered, in seconds from the fault: what went wrong, and when
                  "lost_at_s": sorted(round(t - at, 2) for t, _, job in client.outcomes if job in lost)}
    finally:
        rpc.startProcess("jobs")
    if heal:
        wait_until(lambda: _whole(stack, len(nodes)), 90, "the old master back as a replica")
    return result

