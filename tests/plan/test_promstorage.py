"""Prometheus' storage (plan/promstorage.py, issue #29): the disk a retention needs and the longest
retention a disk holds, recomputed from the Prometheus docs' own formula and figures."""
from tunestack.plan.promstorage import disk_needed, longest_retention_ms
from tunestack.units import GIB, MIB


def test_the_disk_follows_the_prometheus_docs_formula():
    """Prometheus docs, Storage: retention seconds × samples per second × bytes per sample (1-2;
    planned at 2), here with 10 % for indexes, plus the write-ahead log: at least three 128 MiB
    segments."""
    # 10,000 series every 15 s for 15 days: 666.67 samples/s × 1,296,000 s × 2 B × 1.1 = 1,900,800,000 B;
    # the log: 3 h of raw samples at 16 B is 115,200,000 B, under its minimum of 3 × 128 MiB
    assert abs(disk_needed(10_000, 15_000, 15 * 86_400_000) - (1_900_800_000 + 3 * 128 * MIB)) <= 1


def test_the_longest_retention_is_what_the_disk_holds_after_the_log():
    days = longest_retention_ms(10_000, 15_000, 10 * GIB) / 86_400_000
    assert disk_needed(10_000, 15_000, int(days * 86_400_000)) <= 10 * GIB < \
        disk_needed(10_000, 15_000, int((days + 0.1) * 86_400_000))
