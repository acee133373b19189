"""Before `up` touches anything: the new configs loaded into throwaway servers. A rejection stops
`up` with the server's own words, and nothing was changed."""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from ..servers import pg_bin, which
from .errors import LocalStackError
from .folders import StateFolders

# The cluster's own pg_hba.conf (unused: the stack passes its own) still must not trust anyone.
INITDB_AUTH = ("--auth-local=peer", "--auth-host=reject")


def initdb(data: Path, user: str | None, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([pg_bin("initdb"), "-D", str(data), *INITDB_AUTH, "-U", "postgres", *extra, "--no-sync"],
                          user=user, capture_output=True, text=True)


def preflight(folders: StateFolders, files: dict[str, str], monitoring: bool = False) -> None:
    """HAProxy checks its config (-c); PostgreSQL starts on the new postgresql.conf in a scratch
    cluster; promtool and amtool check the monitoring files where the stack runs them."""
    with tempfile.TemporaryDirectory(prefix="tunestack-preflight-") as tmp:
        tmp_path = Path(tmp)
        folders.own(tmp_path, 0o700, True)   # the throwaway server's socket folder: its user only
        cfg = tmp_path / "haproxy.cfg"
        cfg.write_text(files["haproxy.cfg"].replace(str(folders.run / "haproxy"), tmp))
        res = subprocess.run([which("haproxy"), "-c", "-q", "-f", str(cfg)], capture_output=True, text=True)
        if res.returncode:
            raise LocalStackError(f"haproxy rejected haproxy.cfg:\n{res.stdout}{res.stderr}".strip())
        _preflight_postgres(folders, tmp_path, files["postgresql.conf"])
        if monitoring:
            _preflight_monitoring(tmp_path, files)


def _preflight_monitoring(tmp: Path, files: dict[str, str]) -> None:
    """Prometheus' and Alertmanager's own checkers (promtool, amtool) on the new files."""
    for name in ("prometheus.yml", "alerts.yml", "alertmanager.yml"):
        (tmp / name).write_text(files[name])
    for tool, args, name in ((which("promtool"), ["check", "config", str(tmp / "prometheus.yml")], "prometheus.yml"),
                             (which("amtool"), ["check-config", str(tmp / "alertmanager.yml")], "alertmanager.yml")):
        res = subprocess.run([tool, *args], capture_output=True, text=True)
        if res.returncode:
            raise LocalStackError(f"{name} was rejected ({Path(tool).name}); nothing was changed:\n"
                                  f"{res.stdout}{res.stderr}".strip())


def _preflight_postgres(folders: StateFolders, tmp: Path, conf: str) -> None:
    data = tmp / "pg"
    init = initdb(data, folders.user)
    if init.returncode:
        raise LocalStackError(f"initdb for the preflight failed: {init.stderr}")
    (data / "postgresql.conf").write_text(conf)
    folders.own(data / "postgresql.conf", 0o600, True)
    log = tmp / "preflight.log"
    res = subprocess.run([pg_bin("pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "30",
                          "-o", f"-c listen_addresses='' -c unix_socket_directories={tmp} -c archive_mode=off", "start"],
                         user=folders.user, capture_output=True, text=True)
    if res.returncode == 0:
        subprocess.run([pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       user=folders.user, capture_output=True)
        return
    text = log.read_text() if log.exists() else res.stderr
    lines = [ln for ln in text.splitlines() if any(w in ln for w in ("FATAL", "ERROR", "LOG:  invalid", "DETAIL", "HINT"))]
    raise LocalStackError("PostgreSQL rejected the new postgresql.conf; nothing was changed:\n"
                          + "\n".join(lines or text.splitlines()[-5:]))
