"""A throwaway copy of the local stack: own ports, own state folder, own overrides. Brought up and
torn down through the real CLI, as a user would. Benchmarks and end-to-end tests use it."""
from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from .choices import MONITORING_PORTS
from .paths import ROOT
from .servers import psql_socket
PORTS = 6  # postgres, pgbouncer, redis cache, redis queue, app, load balancer (app + 100: canary)


def raise_nofile() -> None:
    """For load generators: 1,000 clients need more than the default 1,024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class ThrowawayStack:
    def __init__(self, name: str, base_port: int, edit=None, say=print, keep_up: bool = False,
                 source: str = "local", monitoring: bool = False):
        """`source`: the stack file copied (local: the Python app; local-rails: the Rails app);
        `monitoring`: keep its tunestack:monitoring section, on ports base + 10 to base + 15
        (otherwise dropped: Prometheus and the exporters would only slow the copy down)."""
        # Ports stay below Linux's ephemeral range (32768+), where a client socket may hold them.
        assert base_port + 4 + 200 < 32768
        self.name, self.base, self.say = name, base_port, say
        self.stacks = Path(tempfile.mkdtemp(prefix="tunestack-scratch-stacks-"))
        self.state = Path(tempfile.mkdtemp(prefix="tunestack-scratch-state-"))  # reachable by the service user
        self.state.chmod(0o755)
        doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{source}.yaml").read_text())
        c = doc["config"]
        c["tunestack:postgres"]["port"] = base_port
        c["tunestack:pgbouncer"]["port"] = base_port + 1
        c["tunestack:redis"]["cache"]["port"] = base_port + 2
        c["tunestack:redis"]["queue"]["port"] = base_port + 3
        c["tunestack:app"]["port"] = base_port + 4
        c["tunestack:app"]["lb_port"] = base_port + 5
        if monitoring:
            c["tunestack:monitoring"]["ports"] = {name: base_port + 10 + i for i, (name, _) in enumerate(MONITORING_PORTS)}
        else:
            c.pop("tunestack:monitoring", None)
        if edit:
            edit(c)
        self.doc = doc
        (self.stacks / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(doc))
        self.env = {**os.environ, "TUNESTACK_STACKS_DIR": str(self.stacks), "TUNESTACK_STATE_DIR": str(self.state)}

    def edit(self, change) -> None:
        """Rewrite the scratch stack file through `change(config)`, starting from the original."""
        doc = yaml.safe_load(yaml.safe_dump(self.doc))
        change(doc["config"])
        (self.stacks / f"Pulumi.{self.name}.yaml").write_text(yaml.safe_dump(doc))

    def plan(self):
        """The scratch stack's plan, as `up` makes it (its file, not stacks/)."""
        from .plan import plan_stack
        return plan_stack(self.stacks / f"Pulumi.{self.name}.yaml", is_path=True)

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tunestack", *args, "--stack", self.name], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, timeout=600)

    def __enter__(self) -> "ThrowawayStack":
        self.say(f"  bringing up scratch stack {self.name} …")
        res = self.cli("up")
        self.last_up = res
        if res.returncode:
            logs = "\n".join(f"--- {p.name}\n" + p.read_text()[-1500:] for p in sorted((self.dir / "log").glob("*.log")))
            self.__exit__(None, None, None)
            res.stderr += "\n" + logs
            raise RuntimeError(f"scratch stack did not come up:\n{res.stdout}\n{res.stderr}")
        return self

    def __exit__(self, *exc) -> None:
        self.cli("down")
        shutil.rmtree(self.stacks, ignore_errors=True)
        shutil.rmtree(self.state, ignore_errors=True)

    @property
    def dir(self) -> Path:
        return self.state / self.name

    def password(self, key: str) -> str:
        return json.loads((self.dir / "secrets" / "passwords.json").read_text())[key]

    def psql_socket(self, sql: str, db: str = "app") -> str:
        res = psql_socket(str(self.dir / "run" / "postgres"), self.base, sql, db=db)
        if res.returncode:
            raise RuntimeError(res.stderr)
        return res.stdout

