"""tunestack:backup: where the repository lives and what it keeps. Refused here: a repository host
that is not in the stack or is the db host, a repository on the db host's own disk for a stack of
several hosts (unless allowed), an S3 repository without its keys, an RPO below 10 s or above 1 h."""
from __future__ import annotations

from ...errors import MISSING, Problem
from ..checker import Checker
from ..problems import path_text
from ..schema import NS
from ..spec import BackupSpec, HostSpec

KEY = f"{NS}:backup"


def backup(ck: Checker, hosts: tuple[HostSpec, ...], secrets: tuple[str, ...]) -> BackupSpec:
    c = ck.config.get(KEY)
    if c is None:
        return BackupSpec()
    db = next(h for h in hosts if "db" in h.roles)
    kind, where = next(iter(c.get("repository", {"": ""}).items()))
    out: dict = {}
    if kind == "host":
        names = [h.name for h in hosts]
        if where not in names:
            ck.problem([KEY, "repository", "host"], where, "a host of this stack file: " + ", ".join(names),
                       "name another host, e.g. the cache host")
        elif where == db.name:
            ck.problem([KEY, "repository", "host"], where, "a host other than the db host",
                       "name another host, or use repository: {path: …} with allow_same_host: true")
    elif kind == "path" and len(hosts) > 1 and not c.get("allow_same_host"):
        ck.problem([KEY, "repository", "path"], where, "a repository off the db host on a stack of several hosts: "
                   "a lost db host would take its backups with it", "use repository: {host: <another host>}, S3, or "
                   "set allow_same_host: true")
    elif kind == "s3":
        out.update(s3_region=where["region"], s3_endpoint=where.get("endpoint", ""))
        for secret in ("backupS3Key", "backupS3KeySecret"):
            if secret not in secrets:
                ck.problems.append(Problem(ck.file, path_text(["config", f"{NS}:{secret}"]), MISSING,
                                           "the S3 credentials as Pulumi secrets",
                                           f"pulumi config set --secret tunestack:{secret} …"))
        where = where["bucket"]
    timeout = ck.duration([KEY, "archive_timeout"], c.get("archive_timeout"))
    if timeout is not None and not 10_000 <= timeout <= 3_600_000:
        ck.problem([KEY, "archive_timeout"], c["archive_timeout"], "from 10s to 1h: shorter fills the archive with "
                   "nearly empty 16 MB segments, longer loses that much committed work with the db host",
                   "write e.g. 60s")
    sizes = {k: ck.size([KEY, k], c[k]) for k in ("data_size", "wal_per_day", "repository_disk") if k in c}
    return BackupSpec(repository_kind=kind, repository=where, allow_same_host=bool(c.get("allow_same_host")),
                      full=c.get("full", "weekly"), retention_full=c.get("retention_full", 2),
                      archive_timeout_ms=timeout or 60_000, compress=c.get("compress", "lz4"),
                      data_bytes=sizes.get("data_size"), wal_per_day_bytes=sizes.get("wal_per_day"),
                      repository_disk_bytes=sizes.get("repository_disk"), **out)
