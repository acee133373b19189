"""Which standby `tunestack failover` promotes (tunestack/cli/failover.py): the synchronous one unless
--to names another healthy standby; anything else is refused with exit 2 before Patroni is asked."""
import pytest

from tunestack.cli.failover import _candidate
from tunestack.errors import UsageError

NODES = ["s-pg-0", "s-pg-1", "s-pg-2"]


def members(*roles):
    return [{"name": n, "role": r, "state": "streaming" if r != "leader" else "running"} for n, r in zip(NODES, roles)]


@pytest.mark.parametrize("roles,wanted,chosen", [
    (("leader", "replica", "sync_standby"), None, "s-pg-2"),      # rpo 0: only the synchronous one has every commit
    (("leader", "replica", "replica"), None, "s-pg-1"),           # asynchronous: any healthy standby
    (("leader", "replica", "sync_standby"), "s-pg-1", "s-pg-1"),  # the operator's choice, when it is healthy
])
def test_the_standby_promoted(roles, wanted, chosen):
    assert _candidate(members(*roles), wanted, NODES) == chosen


@pytest.mark.parametrize("roles,wanted,words", [
    (("leader", "sync_standby", "replica"), "s-pg-0", "not a healthy standby"),
    (("leader", "sync_standby", "replica"), "s-pg-9", "not a node of this stack"),
    (("leader",), None, "no healthy standby"),
])
def test_what_cannot_be_promoted_is_refused(roles, wanted, words):
    with pytest.raises(UsageError, match=words):
        _candidate(members(*roles), wanted, NODES)
