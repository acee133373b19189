"""What every PostgreSQL recommender reads. No I/O here and in the recommender modules."""
from __future__ import annotations

from dataclasses import dataclass

# pgtune's per-workload connection default, used only when no connection count is given.
DEFAULT_CONNECTIONS = {"web": 200, "oltp": 300, "dw": 40, "desktop": 20, "mixed": 100}


@dataclass(frozen=True)
class PgInputs:
    memory_kb: int          # memory PostgreSQL may plan with, in kB (1024 bytes)
    cpus: int | None        # None: not given (pgtune then prints no parallel or I/O worker settings)
    storage: str            # ssd | hdd | san | nvme
    workload: str           # web | oltp | dw | mixed | desktop
    version: int            # major version
    max_connections: int
    db_size: str = "mid_ram"  # pgtune's data-size bucket; mid_ram is pgtune's default
    memory_note: str = ""   # how memory_kb was arrived at, for reasons ("25% of <memory_note>")
    # What the server was built with. pgtune assumes both (and warns); a stack plan says which.
    lz4: bool = True        # configure --with-lz4: wal_compression = lz4
    liburing: bool = True   # configure --with-liburing: io_method = io_uring (PostgreSQL 18)
    io_uring_blocked: str = ""   # why the runtime forbids io_uring although the server has it ("": it allows it)


@dataclass(frozen=True)
class Rec:
    """One recommended setting: the text written to postgresql.conf, its number, and why."""

    value: str
    reason: str
    number: float | None = None  # kB for memory settings, the plain number otherwise

