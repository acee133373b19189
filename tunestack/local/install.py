"""Install the Debian packages a local stack's framework needs (as root), or say how."""
from __future__ import annotations

import os
import subprocess

from ..errors import EnvironmentProblem
from ..servers import pg_bin, which
from .errors import LocalStackError
from .packages import GO_PACKAGES, NODE_BINARIES, RAILS_BINARIES, RAILS_LIBRARIES, SERVERS


def _installed(package: str) -> bool:
    res = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return res.returncode == 0 and "install ok installed" in res.stdout


def missing_packages(framework: str) -> list[str]:
    """The packages of the servers and of `framework`'s reference app that this machine lacks."""
    missing = [pkg for binary, pkg in SERVERS.items()
               if not (pg_bin("postgres") if binary == "postgres" else which(binary))]
    if framework == "rails":
        missing += [pkg for binary, pkg in RAILS_BINARIES.items() if not which(binary)]
        missing += [pkg for pkg in RAILS_LIBRARIES if not _installed(pkg)]
    if framework == "go":
        missing += [pkg for pkg in GO_PACKAGES if not _installed(pkg)]
    if framework == "node":
        missing += [pkg for binary, pkg in NODE_BINARIES.items() if not which(binary)]
    return missing


def ensure_packages(framework: str = "python", say=print) -> None:
    missing = missing_packages(framework)
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
