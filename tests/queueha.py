"""The queue with a replica under three Sentinels on a framework's throwaway stack (issue #28):
every reference app finds the master through the Sentinels, and the master lost under load loses
no job an answer 200 named (bench/queuefault.py)."""
from __future__ import annotations

from bench.queuefault import queue_master_lost


def with_queue_replica(c: dict, base: int) -> None:
    """One replica and three Sentinels, on ports clear of the stack's own (base..base+5, +100)."""
    c["tunestack:redis"]["queue"].update(port=base + 40, replicas=1, sentinel_port=base + 50)


def queue_master_lost_trial(stack, heal: bool = True) -> dict:
    """`heal`: wait for the old master back as a replica (test_local_ha.py does; the frameworks'
    trials, the last that needs the queue in their modules, leave it to heal by itself)."""
    qha = stack.plan().queue_ha
    result = queue_master_lost(stack, rate=20, seconds_after=1, heal=heal)
    # Sentinel's down-after-milliseconds, its election (a second or two) and the clients' retries
    bound = qha["down-after-milliseconds"].value / 1000 + 10
    print(f"\n{stack.plan().spec.app.framework}: queue master lost: RTO {result['rto_s']}s (bound {bound:g}s), "
          f"{result['lost']} of {result['acknowledged']} acknowledged jobs lost, {result['failed_requests']} failed; "
          f"Sentinel elected at {result['elected_s']}s, the app answered {result['first_ok_after_election_s']}s later")
    assert result["lost"] == 0 and result["acknowledged"] >= 50, result
    assert result["rto_s"] <= bound, result
    return result
