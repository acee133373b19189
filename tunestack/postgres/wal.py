"""WAL and checkpoint recommender (pgtune)."""
from __future__ import annotations

from ..units import MB_IN_KB, GB_IN_KB, format_kb, round_up
from .inputs import PgInputs, Rec
from .memory import shared_buffers_kb

_MIN_WAL_KB = {"web": GB_IN_KB, "oltp": 2 * GB_IN_KB, "dw": 4 * GB_IN_KB, "desktop": 100 * MB_IN_KB,
               "mixed": GB_IN_KB}
COMPLETION_TARGET = 0.9   # pgtune's checkpoint_completion_target (PostgreSQL 14+'s default)
_MAX_WAL_KB = {"web": 4 * GB_IN_KB, "oltp": 8 * GB_IN_KB, "dw": 16 * GB_IN_KB, "desktop": 2 * GB_IN_KB,
               "mixed": 4 * GB_IN_KB}


def recommend(i: PgInputs) -> dict[str, Rec]:
    out = {"checkpoint_completion_target": Rec(str(COMPLETION_TARGET), "spread checkpoint writes over 90% of the "
                                                                        "interval", COMPLETION_TARGET)}
    w = 3 * shared_buffers_kb(i) // 100
    reason = "3% of shared_buffers"
    if w > 16 * MB_IN_KB:
        w, reason = 16 * MB_IN_KB, "3% of shared_buffers, capped at 16MB (one WAL segment)"
    if 14 * MB_IN_KB < w < 16 * MB_IN_KB:
        w, reason = 16 * MB_IN_KB, "3% of shared_buffers, rounded up to one 16MB WAL segment"
    if w < 32:
        w, reason = 32, "PostgreSQL's 32kB minimum"
    out["wal_buffers"] = Rec(format_kb(w), reason, w)
    if i.version >= 15 and i.lz4:
        out["wal_compression"] = Rec("lz4", "PostgreSQL ≥ 15 compresses full-page writes with lz4")
    elif i.version >= 15:
        out["wal_compression"] = Rec("pglz", "the server is not built with lz4 (postgres.built_with): "
                                             "pglz compresses full-page writes on every build")
    else:
        out["wal_compression"] = Rec("on", "PostgreSQL < 15 only has pglz compression (on)")
    out["min_wal_size"] = Rec(format_kb(_MIN_WAL_KB[i.workload]), f"pgtune's size for {i.workload}",
                              _MIN_WAL_KB[i.workload])
    out["max_wal_size"] = Rec(format_kb(_MAX_WAL_KB[i.workload]),
                              f"pgtune's size for {i.workload}: fewer forced checkpoints",
                              _MAX_WAL_KB[i.workload])
    if i.workload == "desktop":
        out["wal_level"] = Rec("minimal", "desktop: no replication, least WAL")
        out["max_wal_senders"] = Rec("0", "wal_level=minimal requires no WAL senders", 0)
    return out


# Stack plans: max_wal_size from the WAL rate and checkpoint_timeout -------------------------------
PG_CHECKPOINT_TIMEOUT_MS = 300_000   # PostgreSQL's default, 5min
WAL_SEGMENT_KB = 16 * MB_IN_KB
WAL_DISK_SHARE = 0.6                  # timescaledb-tune: max_wal_size is 60% of the WAL disk


def implied_wal_rate_kb_s(workload: str) -> float:
    """The WAL rate pgtune's max_wal_size for the workload implies: it sizes one checkpoint cycle at
    PostgreSQL's 5min checkpoint_timeout, which spans (1 + checkpoint_completion_target) intervals
    of WAL (PostgreSQL docs, WAL configuration: WAL since the previous checkpoint's start is kept)."""
    return _MAX_WAL_KB[workload] / (PG_CHECKPOINT_TIMEOUT_MS / 1000 * (1 + COMPLETION_TARGET))



def stack_wal_sizes(i: PgInputs, checkpoint_timeout_ms: int, wal_rate_kb_s: float | None,
                    wal_disk_kb: int | None) -> dict[str, Rec]:
    """max_wal_size large enough that checkpoints come from checkpoint_timeout, not from WAL volume:
    rate × timeout × (1 + checkpoint_completion_target), in whole 16MB segments; at most 60% of a
    stated WAL disk (timescaledb-tune). min_wal_size stays pgtune's, below half of max."""
    rate, rate_why = (wal_rate_kb_s, "the stack's postgres.wal_rate") if wal_rate_kb_s else \
        (implied_wal_rate_kb_s(i.workload), f"the rate pgtune's {format_kb(_MAX_WAL_KB[i.workload])} for "
                                            f"{i.workload} implies at 5min checkpoints")
    minutes = checkpoint_timeout_ms / 60_000
    need = rate * checkpoint_timeout_ms / 1000 * (1 + COMPLETION_TARGET)
    # PostgreSQL refuses min_wal_size below two segments, and min stays at most half of max: max
    # is at least four segments.
    size = max(_MAX_WAL_KB[i.workload] if not wal_rate_kb_s else WAL_SEGMENT_KB * 4,
               round_up(int(need), WAL_SEGMENT_KB))
    why = (f"{format_kb(int(rate))}/s of WAL ({rate_why}) × {minutes:g}min checkpoint_timeout × 1.9 "
           f"(checkpoint_completion_target 0.9): checkpoints come from the timer, not from WAL volume")
    if wal_disk_kb:
        cap = int(wal_disk_kb * WAL_DISK_SHARE) // WAL_SEGMENT_KB * WAL_SEGMENT_KB
        if size > cap:
            size, why = cap, why + f"; capped at 60% of the {format_kb(wal_disk_kb)} WAL disk (timescaledb-tune)"
    low = max(2 * WAL_SEGMENT_KB, min(_MIN_WAL_KB[i.workload], size // 2 // WAL_SEGMENT_KB * WAL_SEGMENT_KB))
    return {"max_wal_size": Rec(format_kb(size), why, size),
            "min_wal_size": Rec(format_kb(low), f"pgtune's size for {i.workload}, at most half of max_wal_size", low)}
