"""Bad input in tunestack:redis: memory per instance and the eviction policy of each role.
Each case is a whole stack file: exit 2, one clear error, nothing planned (badinput.check)."""
import pytest

from .badinput import R, doc_with, check

CASES = [
    ("redis-larger-than-host", doc_with([R, "cache", "memory"], "8GiB"), ["memory on local", "room for"]),
    ("redis-1B", doc_with([R, "queue", "memory"], "1B"), ["queue → memory", "at least 16MiB"]),
    ("cache-volatile", doc_with([R, "cache", "policy"], "volatile-lru"), ["cache → policy", "allkeys-lru"]),
    ("queue-evicts", doc_with([R, "queue", "policy"], "allkeys-lfu"), ["queue → policy", "noeviction"]),
]


@pytest.mark.parametrize("case,text,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, capsys, case, text, fragments):
    check(tmp_path, capsys, case, text, fragments)
