"""WAL and checkpoint recommender (pgtune)."""
from __future__ import annotations

from ..units import MB_IN_KB, GB_IN_KB, format_kb
from .inputs import PgInputs, Rec
from .memory import shared_buffers_kb

_MIN_WAL_KB = {"web": GB_IN_KB, "oltp": 2 * GB_IN_KB, "dw": 4 * GB_IN_KB, "desktop": 100 * MB_IN_KB,
               "mixed": GB_IN_KB}
_MAX_WAL_KB = {"web": 4 * GB_IN_KB, "oltp": 8 * GB_IN_KB, "dw": 16 * GB_IN_KB, "desktop": 2 * GB_IN_KB,
               "mixed": 4 * GB_IN_KB}


def recommend(i: PgInputs) -> dict[str, Rec]:
    out = {"checkpoint_completion_target": Rec("0.9", "spread checkpoint writes over 90% of the interval", 0.9)}
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
