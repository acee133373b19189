"""Install the Debian packages a local stack's framework needs (as root), or say how."""
from __future__ import annotations

import os
import subprocess

from ..errors import EnvironmentProblem
from ..recipes import PGBOUNCER_EXPORTER_VENV
from ..servers import pg_bin, which
from .errors import LocalStackError
from .packages import GO_PACKAGES, MONITORING_BINARIES, MONITORING_LIBRARIES, NODE_BINARIES, RAILS_BINARIES, RAILS_LIBRARIES, SERVERS


def _installed(package: str) -> bool:
    res = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return res.returncode == 0 and "install ok installed" in res.stdout


def missing_packages(framework: str, monitoring: bool = False) -> list[str]:
    """The packages of the servers, of `framework`'s reference app and of the monitoring servers
    where the stack runs them, that this machine lacks."""
    missing = [pkg for binary, pkg in SERVERS.items()
               if not (pg_bin("postgres") if binary == "postgres" else which(binary))]
    if monitoring:
        missing += [pkg for binary, pkg in MONITORING_BINARIES.items() if not which(binary)]
        missing += [pkg for pkg in MONITORING_LIBRARIES if not _installed(pkg)]
    if framework == "rails":
        missing += [pkg for binary, pkg in RAILS_BINARIES.items() if not which(binary)]
        missing += [pkg for pkg in RAILS_LIBRARIES if not _installed(pkg)]
    if framework == "go":
        missing += [pkg for pkg in GO_PACKAGES if not _installed(pkg)]
    if framework == "node":
        missing += [pkg for binary, pkg in NODE_BINARIES.items() if not which(binary)]
    return missing


def ensure_packages(framework: str = "python", say=print, monitoring: bool = False) -> None:
    if monitoring and not os.access(f"{PGBOUNCER_EXPORTER_VENV}/bin/pgbouncer-exporter", os.X_OK):
        raise EnvironmentProblem(f"PgBouncer's exporter is not in {PGBOUNCER_EXPORTER_VENV} (tunestack:monitoring "
                                 "runs it); install it with: bash scripts/setup")
    missing = missing_packages(framework, monitoring)
    if not missing:
        return
    command = ["apt-get", "install", "-y", *missing]
    if os.geteuid() != 0:
        raise EnvironmentProblem("missing Debian packages: " + " ".join(missing)
                                 + "\ninstall them with: sudo apt-get update && sudo " + " ".join(command))
    say(f"installing {' '.join(missing)} (apt-get)…")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    res = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if res.returncode:
        raise LocalStackError(f"apt-get install failed:\n{res.stderr[-2000:]}")
