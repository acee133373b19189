"""Writing recommendations into an existing postgresql.conf, as timescaledb-tune does: the file's
other lines kept, each recommended setting set once (its earlier lines commented out, since the
last setting of a name wins), a backup beside the file first, and the newest backup put back by
`--restore`. The text transform is pure; the file operations are at the end."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from ..render import pg_conf_value
from .catalog import catalog

BACKUP_SUFFIX = ".tunestack-backup-"
MARK = "# tunestack postgres"


def _setting_name(line: str) -> str | None:
    match = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=|\s)", line)
    return match.group(1).lower() if match and not line.lstrip().startswith("#") else None


def with_recommendations(text: str, values: dict[str, str], pg_version: int) -> str:
    """`text` with each of `values` set: the first line that sets it is replaced, later ones are
    commented out, and settings the file lacks are appended under a marked block."""
    gucs = catalog(pg_version)
    lines, placed = text.splitlines(), set()
    out = []
    for line in lines:
        name = _setting_name(line)
        if name in values and name not in placed:
            out.append(f"{name} = {pg_conf_value(values[name], gucs[name].vartype)}\t{MARK}")
            placed.add(name)
        elif name in values:
            out.append(f"#{line}\t{MARK}: set above")
        else:
            out.append(line)
    missing = [n for n in values if n not in placed]
    if missing:
        out += ["", f"{MARK}: recommendations this file did not set"]
        out += [f"{n} = {pg_conf_value(values[n], gucs[n].vartype)}" for n in missing]
    return "\n".join(out) + "\n"


def backups(path: Path) -> list[Path]:
    """The backups of `path`, oldest first (their names carry a sortable UTC timestamp)."""
    return sorted(path.parent.glob(path.name + BACKUP_SUFFIX + "*"))


def _replace(path: Path, text: str, like: os.stat_result) -> None:
    """Write through a temporary file in the same folder (O_EXCL), with the file's mode and owner."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, like.st_mode & 0o7777)
        if os.geteuid() == 0:
            os.fchown(fd, like.st_uid, like.st_gid)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write(path: Path, text: str) -> Path:
    """Back `path` up beside it (mode and owner kept), then write `text` over it; the backup's path."""
    like = path.stat()
    stamp, n = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), 0
    while (backup := path.with_name(f"{path.name}{BACKUP_SUFFIX}{stamp}{f'-{n}' if n else ''}")).exists():
        n += 1   # two writes within a second
    shutil.copy2(path, backup)
    _replace(path, text, like)
    return backup


def restore(path: Path) -> Path:
    """Put the newest backup back over `path`; the backup used. FileNotFoundError when there is none."""
    found = backups(path)
    if not found:
        raise FileNotFoundError(f"no backup of {path} ({path.name}{BACKUP_SUFFIX}…)")
    _replace(path, found[-1].read_text(), found[-1].stat())
    return found[-1]
