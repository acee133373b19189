"""The local stack: the plan brought up for real on this machine, under supervisord.

Safe on a shared machine: no `trust` anywhere (the superuser comes in only as the service user
over a socket in a folder only it can enter; everything else uses SCRAM over loopback), every file
root executes or reads as configuration belongs to root, secrets and data are readable only by
their service, and passwords reach PostgreSQL as SCRAM verifiers with statistics and logging off.

`up` plans, renders, checks the new configs against the real servers before touching anything,
then installs the files and applies them: reload where the server supports it, restart where it
must. Data (PostgreSQL's cluster, the Redis queue's AOF) stays in the state folder across runs
(folders.py says what lives where)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..choices import RUBY_VERSIONS
from ..errors import UsageError
from ..plan import Plan, plan_stack
from ..render import render_plan
from ..servers import installed_pg_major, installed_ruby
from ..targets import is_local_stack
from ..units import utc_timestamp
from . import apply, status
from .appbuild import build_app
from .backups import LocalBackups
from .restore import LocalRestore
from .cluster import postmaster_pids
from .control import Servers, hba_files
from .errors import LocalStackError
from .folders import StateFolders
from .install import ensure_packages
from .ports import check_ports_free, listening_ports
from .preflight import initdb, preflight
from .programs import supervisord_conf
from .secrets import Passwords, write_secret_files
from .supervisor import Supervisor

_KEEP = object()


class LocalStack:
    def __init__(self, stack: str, root: Path | None = None, say=print):
        self.stack, self.say = stack, say
        self.folders = StateFolders.of(stack, root)
        self.dir, self.secrets_dir = self.folders.dir, self.folders.secrets
        self.passwords = Passwords(self.folders)
        self.supervisor = Supervisor(self.folders, redact=self.redact)
        self.servers = Servers(self.folders, self.supervisor, self.passwords)
        self.backups = LocalBackups(self)
        self.restore = LocalRestore(self)

    def _say(self, message: str) -> None:
        self.say(f"[{self.stack}] {message}")

    def plan(self) -> Plan:
        """The stack's plan for this machine: planned for the installed PostgreSQL major."""
        plan = plan_stack(self.stack, target="hosts", pg_version=installed_pg_major(), host_ruby=installed_ruby())
        # No Ruby yet: Debian 12's (the default) is what ensure_packages installs.
        if plan.spec.app.framework == "rails" and plan.spec.app.ruby not in (None, *RUBY_VERSIONS):
            raise UsageError(f"stacks/Pulumi.{self.stack}.yaml → config → tunestack:app → ruby: this host's Ruby "
                             f"{plan.spec.app.ruby} has no rules (allowed: {', '.join(RUBY_VERSIONS)}); fix: name "
                             "the Ruby the app runs in app.ruby, or install one of those")
        if not is_local_stack(plan.spec):
            remote = [h.name for h in plan.spec.hosts if not h.is_local]
            raise UsageError(f"stack {self.stack} has remote hosts ({', '.join(remote)}); the local stack runs "
                             "on this machine only. Use `pulumi up` (see README) for it.")
        _check_cpu_sets(plan)
        return plan

    def redact(self, text: str) -> str:
        return self.passwords.redact(text)

    def rpc(self):
        return self.supervisor.rpc()

    def supervisor_running(self) -> bool:
        return self.supervisor.is_up()

    def require_running(self, why: str = "") -> None:
        """Exit 3 with the command that starts the stack, unless it runs (`why`: what cannot be done)."""
        from ..errors import EnvironmentProblem

        if not self.supervisor.is_up():
            raise EnvironmentProblem(f"stack {self.stack} is not running{why}; start it with: "
                                     f"tunestack up --stack {self.stack}")

    def files(self, plan: Plan) -> dict[str, str]:
        files = render_plan(plan, self.folders.layout)
        files.update(hba_files(self.folders))
        files["supervisord.conf"] = supervisord_conf(self.stack, plan, self.folders, self.passwords.get(),
                                                     self.rollout_programs())
        return files

    def rollout_programs(self) -> dict:
        path = self.dir / "rollout-programs.json"
        return json.loads(path.read_text()) if path.exists() else {"stable": None, "canary": None}

    def write_rollout_programs(self, stable=_KEEP, canary=_KEEP) -> None:
        """Record the stable and canary app versions, then rewrite supervisord.conf to match."""
        programs = self.rollout_programs()
        if stable is not _KEEP:
            programs["stable"] = stable
        if canary is not _KEEP:
            programs["canary"] = canary
        self.folders.write(self.dir / "rollout-programs.json", json.dumps(programs), 0o600)   # holds --env values
        self.folders.write(self.folders.etc / "supervisord.conf", self.files(self.plan())["supervisord.conf"], 0o600)

    def applied_plan(self) -> dict | None:
        """The plan the running stack was last brought up with (its JSON), or None."""
        path = self.dir / "applied-plan.json"
        return json.loads(path.read_text()) if path.exists() else None

    # --- up -----------------------------------------------------------------------------------
    def up(self) -> dict:
        t0 = time.monotonic()
        plan = self.plan()  # StackError / BudgetError: exit 2, nothing touched
        self._say(f"plan ok: {len(plan.postgres)} PostgreSQL settings, budgets hold")
        check_ports_free(self.stack, listening_ports(plan), self.folders.run, self.supervisor.is_up(),
                         postmaster_pids(plan, self.folders))   # exit 3
        ensure_packages(plan.spec.app.framework, say=self.say, monitoring=plan.spec.monitoring.enabled)
        self.folders.make()
        build_app(self.folders, plan.spec.app.framework, self._say)   # a failed build leaves the running stack as it was
        files = self.files(plan)
        self._say("checking the new configs with the real servers…")
        preflight(self.folders, files, monitoring=plan.spec.monitoring.enabled)
        was_running = self.supervisor.is_up()
        changed = self._install(files, plan)
        self.servers.queue.prepare(plan, files)   # the Sentinels' own rewritable copies, once
        if not plan.ha:   # Patroni runs initdb (and pg_basebackup) itself
            self._initdb()
        actions = self._actions(plan, changed)
        try:
            self._run_actions(plan, actions)
            self.servers.wait_healthy(plan)
            self.supervisor.wait_all_running(apply.services_in_order(plan))
            if not self.backups.has_backup(plan):   # restorable from its first minute, as RDS is
                self._say("taking the first backup (full) …")
                self.backups.backup(plan, "full")
        except BaseException:
            self._undo(was_running, actions)
            raise
        state = record_state(self.dir, self.stack, plan, actions)
        if was_running and not changed and set(actions.values()) <= {"config set", "sentinel set"}:
            self._say("no changes")
        self._say(f"up in {time.monotonic() - t0:.1f}s")
        return state

    def _undo(self, was_running: bool, actions: dict[str, str]) -> None:
        """A failed `up` stops what it started: the whole supervisord when it launched it, else the
        programs it started; what ran before keeps running."""
        try:
            if not was_running:
                self._say("up failed: stopping what it started")
                self.supervisor.shutdown()
            else:
                started = [s for s, a in actions.items() if a == "start"]
                if started:
                    self._say(f"up failed: stopping what it started ({', '.join(started)})")
                    self.supervisor.ctl("stop", *started)
        except Exception as exc:   # the original failure is what the user needs to see
            self._say(f"could not stop everything it started: {exc}")

    def _install(self, files: dict[str, str], plan: Plan) -> set[str]:
        """Write the secret files and the configs (root's: no service user may change what root
        runs or reads); the names of those whose content changed."""
        etc = self.folders.etc
        changed = {name for name in files if not (etc / name).exists() or (etc / name).read_text() != files[name]}
        changed |= write_secret_files(self.folders, self.passwords.rotate(), plan)   # a captured token ends here
        for name, content in files.items():
            self.folders.write(etc / name, content, 0o600 if name == "supervisord.conf" else 0o644)
        return changed

    def _initdb(self) -> None:
        data = self.folders.data / "postgres"
        if (data / "PG_VERSION").exists():
            return
        self._say(f"initdb {data}")
        init = initdb(data, self.folders.user, "-E", "UTF8")
        if init.returncode:
            raise LocalStackError(init.stderr)

    def _actions(self, plan: Plan, changed: set[str]) -> dict[str, str]:
        if not self.supervisor.is_up():
            self._say("starting supervisord")
            self.supervisor.launch()
            return {s: "start" for s in apply.services_in_order(plan)}
        self.supervisor.update()   # programs whose command or environment changed are restarted here
        actions = apply.actions(plan, self.applied_plan(), changed)
        running = self.supervisor.running()
        for service in apply.services_in_order(plan):   # anything stopped or crashed is started again
            if service not in running:
                actions[service] = "start"
        return actions

    def _run_actions(self, plan: Plan, actions: dict[str, str]) -> None:
        moving = [s for s, a in actions.items() if s.startswith("redis-") and a.startswith("restart")]
        if moving:  # stop every instance that moves first: swapped ports would otherwise collide
            self.supervisor.ctl("stop", *moving)
        pw = self.passwords.get()
        groups = apply.start_groups(plan)
        postgres_ready = apply.postgres_ready_group(plan)   # the group after which PostgreSQL serves
        for index, group in enumerate(groups):
            if plan.ha and index == postgres_ready and self.servers.cluster.secure_etcd(plan):
                self._say("etcd: authentication on (users root and patroni)")
            self.servers.start(plan, [s for s in group if actions.get(s) == "start"])
            # with standbys, "postgres" is the cluster's action (reload or restart through Patroni)
            for service in group + (("postgres",) if plan.ha and index == postgres_ready else ()):
                action = actions.get(service)
                if action and action != "start":
                    self.servers.apply(service, action, plan)
                if action:
                    self._say(f"{service}: {action}")
            if index == postgres_ready:
                self.servers.bootstrap(plan, pw)
                self.backups.ensure_stanza(plan)   # archiving works from the first WAL segment
            self.servers.queue.after_group(plan, group, self._say)

    # --- status / down --------------------------------------------------------------------------
    def status_json(self) -> dict:
        return status.as_json(self)

    def status(self) -> str:
        return status.as_text(self)

    def purge(self) -> None:
        """Delete the stack's state folder (data, secrets, logs): `down --purge`, once it is stopped.
        The lock file inside is held by the caller; it goes with the folder."""
        import shutil

        if self.supervisor.is_up():
            raise LocalStackError(f"stack {self.stack} is still running; nothing was deleted")
        shutil.rmtree(self.dir)
        self._say(f"deleted {self.dir}")

    def down(self) -> None:
        if not self.supervisor.is_up():
            self._say("not running")
            return
        self.supervisor.shutdown()
        self._say(f"stopped; data kept in {self.folders.data}")


def record_state(folder: Path, stack: str, plan: Plan, actions: dict[str, str]) -> dict:
    """What `status` and the next `up` read: the applied plan, its digest and what was done."""
    applied = json.dumps(plan.to_json(), sort_keys=True, default=str)
    (folder / "applied-plan.json").write_text(applied)
    state = {"stack": stack, "plan_digest": plan.digest(),
             "applied_at": utc_timestamp(), "actions": actions, "pg_version": plan.spec.postgres.version}
    (folder / "state.json").write_text(json.dumps(state, indent=2))
    return state


def read_state(folder: Path) -> dict | None:
    """What record_state wrote, or None before the first `up`."""
    path = folder / "state.json"
    return json.loads(path.read_text()) if path.exists() else None


def _check_cpu_sets(plan: Plan) -> None:
    """The local stack's host is this machine: CPU sets the plan pins Puma and Sidekiq to must be
    CPUs it may use, or taskset would stop both from starting."""
    if "cpu_sets" not in plan.app:
        return
    mine = os.sched_getaffinity(0)
    host = plan.spec.app_hosts()[0]
    if not set(range(host.cpus)) <= mine:
        raise UsageError(f"{plan.spec.path} → config → tunestack:hosts → {host.name} → cpus: {host.cpus}; this "
                         f"machine lets tunestack use {len(mine)} CPU(s), and the plan pins Puma and Sidekiq to CPUs "
                         f"{plan.app['cpu_sets'].text}; fix: set cpus to at most {len(mine)}")
