"""The fault drill of issue #23: under bounded load, `kill -9` of PgBouncer or of the queue Redis
(supervisord starts it again), then every job a 200 answer enqueued must be written, within a
bound. Each served `/` enqueues exactly one job that writes one row of `hits` (every reference app),
so rows written ≥ answers served means no job was lost (at least once: a job may run twice)."""
from __future__ import annotations

import os
import signal
import time

from tunestack.local import LocalStack
from tunestack.loadgen import Load
from tunestack.poll import poll

LOAD_SECONDS = 8          # the load runs this long, the kill at its second second
DRAIN_BOUND_S = 90        # every job written within this of the load's end


def drill(stack, service: str, rate: float = 40) -> dict:
    local = LocalStack(stack.name, root=stack.state)
    rows = lambda: int(stack.psql_socket("SELECT count(*) FROM hits").strip())  # noqa: E731
    before = rows()
    url = f"http://127.0.0.1:{stack.base + 5}/"
    with Load(url, threads=4, limit_s=LOAD_SECONDS, rate=rate) as load:
        time.sleep(2)
        old = local.rpc().supervisor.getProcessInfo(service)["pid"]
        os.kill(old, signal.SIGKILL)
        back = poll(lambda: (i := local.rpc().supervisor.getProcessInfo(service))["statename"] == "RUNNING"
                    and i["pid"] != old, timeout=60)
        load.stop.wait(max(0.0, load.limit - time.monotonic()))
    served = sum(1 for status, _ in load.results if status == 200)
    ended = time.monotonic()
    drained = poll(lambda: rows() - before >= served, timeout=DRAIN_BOUND_S)
    written = rows() - before
    jobs = local.rpc().supervisor.getProcessInfo("jobs")
    return {"service": service, "restarted": bool(back), "served": served, "requests": len(load.results),
            "written": written, "lost": max(0, served - written), "drained_s": round(time.monotonic() - ended, 1),
            "drained": bool(drained), "jobs_state": jobs["statename"]}
