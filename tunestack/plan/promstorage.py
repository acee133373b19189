"""Prometheus' storage for a number of series: the disk its retention needs and the memory its head
block holds. Pure.

Sources: Prometheus docs, "Storage" → "Operational aspects": needed disk = retention seconds ×
samples ingested per second × bytes per sample, "on average only around 1-2 bytes per sample";
the write-ahead log keeps at least three 128 MB segments and two hours of raw data. Robust
Perception, "Why does Prometheus use so much RAM" (Prometheus 2.20 on): about 3 kB per series in
the head block."""
from __future__ import annotations

from ..units import KIB, MIB

BYTES_PER_SAMPLE = 2            # the docs' upper figure: the disk is planned for the worst of 1-2
HEAD_BYTES_PER_SERIES = 3 * KIB
BASE_MEMORY = 128 * MIB         # Prometheus itself, its rule evaluation and a few queries
WAL_SEGMENT = 128 * MIB
WAL_SEGMENTS_MIN = 3
WAL_HOURS = 3                   # two hours of raw data, and up to one more until the head is compacted
WAL_BYTES_PER_SAMPLE = 16       # raw in the log: an 8-byte value, its series reference and timestamp
INDEX_SHARE = 0.1               # blocks hold indexes and metadata beside their chunks


def _wal_bytes(per_second: float) -> float:
    """The write-ahead log: its minimum segments, or the raw samples of WAL_HOURS if more."""
    return max(WAL_SEGMENTS_MIN * WAL_SEGMENT, WAL_HOURS * 3600 * per_second * WAL_BYTES_PER_SAMPLE)


def disk_needed(series: int, interval_ms: int, retention_ms: int) -> int:
    """The docs' formula for the blocks, with indexes on top, plus the write-ahead log."""
    per_second = series * 1000 / interval_ms
    blocks = retention_ms / 1000 * per_second * BYTES_PER_SAMPLE * (1 + INDEX_SHARE)
    return int(blocks + _wal_bytes(per_second))


def longest_retention_ms(series: int, interval_ms: int, disk: int) -> int:
    """The longest retention whose blocks and log fit on `disk` (0 when the log alone does not)."""
    per_second = series * 1000 / interval_ms
    room = disk - _wal_bytes(per_second)
    return max(0, int(room / (per_second * BYTES_PER_SAMPLE * (1 + INDEX_SHARE)) * 1000))
