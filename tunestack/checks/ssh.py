"""Every ssh:// host of a verify answers before any check runs; else one error that names the host
and says what to fix (exit 3: the environment)."""
from __future__ import annotations

import subprocess

from ..errors import EnvironmentProblem


def ssh_fix(stderr: str, host: str) -> str:
    """What to do about an SSH failure, from ssh's own words."""
    if "IDENTIFICATION HAS CHANGED" in stderr or "Host key verification failed" in stderr:
        return (f"the host key of {host} is not the one on record: if the machine was rebuilt, check its new key "
                f"and remove the old one (ssh-keygen -R {host})")
    if "Permission denied" in stderr:
        return "the SSH user or key is refused: check ssh_user in the stack file, --ssh-identity-file or --ssh-config"
    return "the host does not answer over SSH: check its address in the stack file and that sshd runs"


def ensure_reachable(runs, identity_file: str | None = None) -> None:
    for run in runs:
        for target in [h for h in run.hosts.split(",") if h.startswith("ssh://")]:
            user_host = target[len("ssh://"):]
            # With --ssh-config, `ssh` in run.env is the wrapper that passes it (runs.ssh_env).
            cmd = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]
            cmd += ["-i", identity_file] if identity_file else []
            res = subprocess.run([*cmd, user_host, "true"], capture_output=True, text=True, timeout=30, env=run.env)
            if res.returncode == 0:
                continue
            said = res.stderr.strip().splitlines()
            raise EnvironmentProblem(f"{run.machine or user_host}: {target} — {said[-1] if said else 'ssh failed'}\n"
                                     f"  fix: {ssh_fix(res.stderr, user_host.split('@')[-1])}")
