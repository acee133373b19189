"""Autovacuum workers by core count (pgtune)."""
from __future__ import annotations

from .inputs import PgInputs, Rec


def recommend(i: PgInputs) -> dict[str, Rec]:
    if i.cpus is None:
        return {}
    if i.cpus >= 32:
        return {"autovacuum_max_workers": Rec("5", "≥ 32 cores: more tables vacuumed at once", 5)}
    if i.cpus >= 16:
        return {"autovacuum_max_workers": Rec("4", "≥ 16 cores: more tables vacuumed at once", 4)}
    return {}
