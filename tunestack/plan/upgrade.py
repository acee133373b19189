"""A change of PostgreSQL major on an existing stack. Pure.

A server opens only a data directory of its own major (PostgreSQL docs, pg_upgrade: "major
PostgreSQL releases regularly add new features that often change the layout of the system
tables"), and no tool goes back down. So `up` is never how a major changes: review blocks such a
change with the procedure, and the Pulumi program's guard refuses to replace the server
(components/postgres.py)."""
from __future__ import annotations

PROCEDURE = ("upgrade with pg_upgrade first, on a copy of the volume, with both majors' binaries, keeping the old "
             "cluster until the new one is verified (README: PostgreSQL major upgrades); then change postgres.version")


def major_change(stack: str, before: int | None, after: int | None) -> str | None:
    """Why a stack's move from major `before` to `after` cannot be applied as it stands, or None."""
    if before is None or after is None or before == after:
        return None
    if after < before:
        return (f"stack {stack}: postgres.version {before} → {after} is a downgrade: PostgreSQL {after} cannot open "
                f"a PostgreSQL {before} data directory and no tool converts one back; restore a dump into a new "
                f"stack instead, or keep version {before}")
    return (f"stack {stack}: postgres.version {before} → {after} is a major upgrade, which `pulumi up` does not "
            f"carry out (PostgreSQL {after} cannot open a PostgreSQL {before} data directory, and the program's "
            f"guard refuses to replace the server): {PROCEDURE}")
