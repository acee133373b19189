"""The pytest runs that check a stack: one for a stack on this machine (or given hosts), and one
per machine for a Docker stack on remote hosts, each with DOCKER_HOST=ssh://… so that the
docker:// checks run inside that machine's containers and the ssh:// checks on the machine."""
from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from ..backup.pgbackrest import DEFAULT_CONFIG
from ..errors import UsageError
from ..targets import (CONTAINER_OF, RUNS_AS, checked_host_spec, container_spec, docker_url, is_local_stack,
                       machine_name, ssh_url)


@dataclass(frozen=True)
class VerifyOptions:
    """What a user may choose for a verify run (the CLI's flags, as plain values)."""
    target: str = "hosts"
    hosts: str | None = None           # testinfra host specs, comma-separated
    secrets_dir: str | None = None
    pg_version: int | None = None
    ssh_config: str | None = None
    ssh_identity_file: str | None = None
    sudo: bool = False
    junit_xml: str | None = None
    collect_only: bool = False
    kernel: bool = False


@dataclass
class VerifyRun:
    """One pytest run of verify/: the machine it checks, its testinfra hosts and environment."""
    machine: str
    hosts: str
    cmd: list[str]
    env: dict[str, str] | None = None

    @property
    def report(self) -> Path:
        return Path(self.cmd[self.cmd.index("--report") + 1])


def testinfra_options(opts: VerifyOptions, machine: str = "") -> list[str]:
    """testinfra's own options, passed through: ssh config, identity file, sudo, junit output."""
    out = []
    if opts.ssh_config:
        out.append(f"--ssh-config={opts.ssh_config}")
    if opts.ssh_identity_file:
        out.append(f"--ssh-identity-file={opts.ssh_identity_file}")
    if opts.sudo:
        out.append("--sudo")
    if opts.junit_xml:
        path = Path(opts.junit_xml)
        out.append(f"--junit-xml={path.with_name(f'{path.stem}-{machine}{path.suffix}') if machine else path}")
    return out


def ssh_env(ssh_config: str | None, tmp: Path) -> dict[str, str] | None:
    """With --ssh-config, the docker CLI (docker:// checks over DOCKER_HOST=ssh://…) must read it
    too: an `ssh` on PATH that always passes it."""
    if not ssh_config:
        return None
    wrapper = tmp / "bin" / "ssh"
    wrapper.parent.mkdir(exist_ok=True)
    wrapper.write_text(f"#!/bin/sh\nexec /usr/bin/ssh -F {shlex.quote(str(Path(ssh_config).resolve()))} \"$@\"\n")
    wrapper.chmod(0o700)
    return {**os.environ, "PATH": f"{wrapper.parent}:{os.environ['PATH']}"}


def _app_containers(placement) -> list[str]:
    """The running app containers of a stack's replicas on this machine's Docker engine (DOCKER_HOST):
    single-host replicas are named per generation, so they are found by their replica label."""
    import docker

    client = docker.from_env()
    names = []
    for replica in placement.replicas:
        found = client.containers.list(filters={"label": f"tunestack.replica={replica.name}"})
        names += sorted(c.name for c in found) or [replica.name]
    return names


def _local_docker_hosts(stack: str) -> str:
    """The stack's containers on this machine's engine."""
    from ..plan import plan_stack
    from ..plan.placement import container_name

    plan = plan_stack(stack, target="docker")
    specs = [container_spec(s, container_name(stack, c)) for s, c in CONTAINER_OF.items()]
    specs += _prometheus(plan, plan.spec.hosts[0].name, 0)
    return ",".join(specs + [f"docker://{RUNS_AS['app']}@{name}" for name in _app_containers(plan.placement)])


def _prometheus(plan, host: str, index: int) -> list[str]:
    """The monitoring checks ask Prometheus' API from inside its container, where it runs."""
    from ..monitoring.containers import monitoring_containers

    return [container_spec("monitoring", c.name) for c in monitoring_containers(plan)
            if c.service == "prometheus" and (c.host, c.machine) == (host, index)]


def _machine_hosts(plan, host, index: int) -> str:
    """One remote machine of a Docker stack: the machine over SSH, then its containers."""
    from ..plan.placement import container_name
    from ..plan.rollout import running

    specs = [ssh_url(host, index)]
    specs += [container_spec(s, container_name(plan.stack, c)) for s, c in CONTAINER_OF.items()
              if plan.placement[s].host.name == host.name and index == 0]
    specs += [container_spec("app", r.name) for r in running(plan.replicas)
              if r.host == host.name and r.machine == index]
    return ",".join(specs + _prometheus(plan, host.name, index))


class Runs:
    """Builds the pytest command lines of one verify."""

    def __init__(self, stack: str, opts: VerifyOptions, tmp: Path):
        from .. import stackfile
        from ..render import Layout
        from ..servers import installed_pg_major, installed_ruby

        self.stack, self.opts, self.tmp = stack, opts, tmp
        self.spec = stackfile.load(stackfile.stack_path(stack), name=stack)
        self.local = is_local_stack(self.spec)
        self.on_this_machine = self.local and opts.target == "hosts"   # the local stack, under supervisord
        self.pg_version = opts.pg_version or (installed_pg_major() if self.on_this_machine else None)
        self.ruby = installed_ruby() if self.on_this_machine else None
        local = self._local_folders() if self.on_this_machine else None
        self.secrets = opts.secrets_dir or (str(local.secrets) if local else Layout().secrets_dir)
        self.control = str(local.control) if local else Layout().control_dir
        self.pgbackrest_config = str(local.pgbackrest_conf) if local else DEFAULT_CONFIG

    def _local_folders(self):
        from ..local.folders import StateFolders

        return StateFolders.of(self.stack)

    def command(self, hosts: str, report: Path, machine: str = "") -> list[str]:
        from ..paths import VERIFY

        o = self.opts
        # -o addopts=: the project's own test options (pyproject.toml) are not verify's
        cmd = [sys.executable, "-m", "pytest", str(VERIFY), "-o", "addopts=", "-p", "no:cacheprovider", "-q",
               "--no-header", "-rfE",
               "--tb=line", f"--hosts={hosts}", "--stack", self.stack, "--target", o.target,
               "--secrets-dir", self.secrets, "--control-dir", self.control,
               "--pgbackrest-config", self.pgbackrest_config, "--report", str(report), *testinfra_options(o, machine)]
        cmd += ["--pg-version", str(self.pg_version)] if self.pg_version else []
        cmd += ["--host-ruby", self.ruby] if self.ruby else []   # what `up` planned a rails stack without app.ruby for
        cmd += ["--collect-only"] if o.collect_only else []
        cmd += ["--kernel"] if o.kernel else []
        return cmd

    def runs(self) -> list[VerifyRun]:
        o = self.opts
        if o.hosts:
            hosts = ",".join(_given_spec(h) for h in o.hosts.split(","))
        elif self.local and o.target == "docker":
            hosts = _local_docker_hosts(self.stack)
        elif self.local:
            hosts = "local://"
        elif o.target == "docker":
            return self._remote_docker_runs()
        else:
            hosts = ",".join(ssh_url(h, i) for h in self.spec.hosts for i in range(len(h.addresses)))
        return [VerifyRun("", hosts, self.command(hosts, self.tmp / "report.json"), ssh_env(o.ssh_config, self.tmp))]

    def _remote_docker_runs(self) -> list[VerifyRun]:
        from ..plan import plan_stack

        plan = plan_stack(self.stack, target="docker")
        env = ssh_env(self.opts.ssh_config, self.tmp)
        runs = []
        for h in self.spec.hosts:
            for i in range(len(h.addresses)):
                machine = machine_name(h, i)
                hosts = _machine_hosts(plan, h, i)
                runs.append(VerifyRun(f"{machine} ({docker_url(h, i)})", hosts,
                                      self.command(hosts, self.tmp / f"report-{machine}.json", machine),
                                      {**(env or os.environ), "DOCKER_HOST": docker_url(h, i)}))
        return runs


def _given_spec(text: str) -> str:
    try:
        return checked_host_spec(text)
    except ValueError as exc:
        raise UsageError(f"--hosts {text!r}: {exc}") from None


def verify_runs(stack: str, opts: VerifyOptions, tmp: Path) -> list[VerifyRun]:
    """Every expectation comes from the plan: the stack, its PostgreSQL major and where services
    run. A stack whose hosts are all this machine is the local stack: planned for the installed
    PostgreSQL, with its secrets in the local state folder."""
    return Runs(stack, opts, tmp).runs()
