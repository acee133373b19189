"""The local stack: the plan brought up for real on this machine, under supervisord.

Safe on a shared machine: no `trust` anywhere (the superuser comes in only as the service user
over a socket in a folder only it can enter; everything else uses SCRAM over loopback), every file
root executes or reads as configuration belongs to root, secrets and data are readable only by
their service, and passwords reach PostgreSQL as SCRAM verifiers with statistics and logging off.

`up` plans, renders, checks the new configs against the real servers before touching anything,
then installs the files and applies them: reload where the server supports it, restart where it
must. Data (PostgreSQL's cluster, the Redis queue's AOF) stays in the state folder across runs.
State lives outside the checkout, in `paths.state_root()/<stack>/`:

- etc/ (root, 0755): rendered configs (0644; supervisord.conf 0600) and the applied plan;
- secrets/ (root, 0700): passwords.json, and pgpass / redis-*-password for verify;
- service-secrets/ (service user, 0700): PgBouncer's auth file and Redis' requirepass includes;
- data/ (service user, 0700 per server), run/ (sockets: one 0700 folder per server), log/ (root, 0700,
  files 0600 through supervisord's umask).
"""
from __future__ import annotations

import hashlib
import json
import os
import pwd
import secrets as pysecrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import xmlrpc.client
from pathlib import Path

from .choices import RUBY_VERSIONS
from .errors import EnvironmentProblem, UsageError
from .paths import ROOT, state_root
from .plan import Plan, plan_stack
from .poll import wait_until as _wait_until
from .postgres.catalog import catalog
from .render import PGBOUNCER_AT_START, Layout, environment, render_plan, supervisor_env_value
from .scram import scram_verifier
from .servers import fetched_cache, installed_pg_major, installed_ruby, pg_bin, port_open, psql_socket, which

PACKAGES = {"postgres": "postgresql", "pgbouncer": "pgbouncer", "redis-server": "redis-server",
            "haproxy": "haproxy", "supervisord": "supervisor"}
# The Rails reference app (refapp/rails) runs on Debian's Ruby packages: no gem server is needed.
RAILS_PACKAGES = {"ruby": "ruby", "puma": "puma", "sidekiq": "ruby-sidekiq"}
RAILS_LIBRARIES = ("ruby-activerecord", "ruby-railties", "ruby-actionpack", "ruby-pg", "ruby-redis",
                   "ruby-rack-timeout", "ruby-sentry-ruby", "ruby-sentry-rails", "ruby-sentry-sidekiq",
                   "ruby-connection-pool", "libjemalloc2")
RAILS_APP = ROOT / "refapp" / "rails"
# The Go reference app (refapp/go) builds GOPATH-style from Debian's Go library packages: no module proxy.
GO_PACKAGES = ("golang-go", "golang-github-lib-pq-dev", "golang-github-gomodule-redigo-dev",
               "golang-github-prometheus-client-golang-dev")
GO_APP = ROOT / "refapp" / "go"
# The Node reference app (refapp/node) takes pg, ioredis and prom-client from npm (package-lock.json).
NODE_APP = ROOT / "refapp" / "node"
NODE_APP_FILES = ("package.json", "package-lock.json", "server.js")
SERVICES_IN_ORDER = ("postgres", "pgbouncer", "redis-cache", "redis-queue", "web", "jobs", "haproxy")
# Services that need nothing from each other to start: each group starts at once, after the one
# before it is up (PostgreSQL first: its roles are made before anyone logs in).
START_TOGETHER = (("postgres",), ("pgbouncer", "redis-cache", "redis-queue"), ("web", "jobs", "haproxy"))
# The cluster's own pg_hba.conf (unused: the stack passes its own) still must not trust anyone.
INITDB_AUTH = ("--auth-local=peer", "--auth-host=reject")


def _installed(package: str) -> bool:
    res = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return res.returncode == 0 and "install ok installed" in res.stdout


class LocalStackError(Exception):
    """`up` failed; the message is the server's own where there is one. Exit code 1."""


def build_reference_app(framework: str, out: Path) -> None:
    """Build refapp/go into `out`/refapp-go, or install refapp/node with its locked npm packages into
    `out`. One compiler and npm cache serves every stack on the machine (a second stack builds in
    seconds); scripts/setup warms it."""
    cache = Path(fetched_cache("build", "TUNESTACK_BUILD_CACHE"))
    cache.mkdir(parents=True, exist_ok=True)
    cache.chmod(0o700)
    if framework == "go":
        command = [which("go"), "build", "-trimpath", "-o", str(out / "refapp-go"), "."]
        res = subprocess.run(command, cwd=GO_APP, capture_output=True, text=True,
                             env={**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode",
                                  "GOCACHE": str(cache / "go-build"), "GOFLAGS": "", "CGO_ENABLED": "0"})
    else:
        for name in NODE_APP_FILES:
            (out / name).write_bytes((NODE_APP / name).read_bytes())
        command = [which("npm"), "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"]
        res = subprocess.run(command, cwd=out, capture_output=True, text=True,
                             env={**os.environ, "npm_config_cache": str(cache / "npm")})
    if res.returncode:
        raise LocalStackError(f"{Path(command[0]).name} {command[1]} failed for refapp/{framework}:\n"
                              f"{(res.stdout + res.stderr)[-3000:]}")


def warm_build_caches() -> None:
    """Build both reference apps once into a throwaway folder: the compiler and npm caches are then
    warm for every `up` (scripts/setup runs this)."""
    for framework in ("go", "node"):
        with tempfile.TemporaryDirectory(prefix="tunestack-warm-") as tmp:
            build_reference_app(framework, Path(tmp))


class ProgramGaveUp(LocalStackError):
    """A program supervisord could not keep running: waiting longer will not help."""


def wait_until(check, timeout: float, what: str, interval: float = 0.2):
    """The project's poller; a timeout is an `up` failure (exit 1), and so, at once, is a program
    that gave up."""
    return _wait_until(check, timeout, what, interval, error=LocalStackError, give_up_on=(ProgramGaveUp,))


class LocalStack:
    def __init__(self, stack: str, root: Path | None = None, say=print):
        self.stack = stack
        self.dir = (root or state_root()) / stack
        self.etc, self.secrets_dir = self.dir / "etc", self.dir / "secrets"
        self.service_secrets = self.dir / "service-secrets"
        self.data, self.run, self.log = self.dir / "data", self.dir / "run", self.dir / "log"
        self.pg_socket_dir = self.run / "postgres"   # only the service user may enter it
        self.say = say
        self.user = "postgres" if os.geteuid() == 0 else None

    # --- plan and files ---------------------------------------------------------------------
    def plan(self) -> Plan:
        """The stack's plan for this machine: planned for the installed PostgreSQL major."""
        ruby = installed_ruby()
        plan = plan_stack(self.stack, target="hosts", pg_version=installed_pg_major(), host_ruby=ruby)
        # No Ruby yet: Debian 12's (the default) is what ensure_packages installs.
        if plan.spec.app.framework == "rails" and plan.spec.app.ruby not in (None, *RUBY_VERSIONS):
            raise UsageError(f"stacks/Pulumi.{self.stack}.yaml → config → tunestack:app → ruby: this host's Ruby "
                             f"{plan.spec.app.ruby} has no rules (allowed: {', '.join(RUBY_VERSIONS)}); fix: name "
                             "the Ruby the app runs in app.ruby, or install one of those")
        remote = [h.name for h in plan.spec.hosts if not h.is_local]
        if remote:
            raise UsageError(f"stack {self.stack} has remote hosts ({', '.join(remote)}); the local stack runs "
                             "on this machine only. Use `pulumi up` (see README) for it.")
        return plan

    @property
    def layout(self) -> Layout:
        return Layout(secrets_dir=str(self.service_secrets), data_dir=str(self.data), run_dir=str(self.run / "haproxy"))

    def _own(self, path: Path, mode: int, service: bool) -> None:
        """Give `path` to the service user (data, sockets, its secrets) or to root (everything root
        executes or reads as configuration), with `mode`."""
        path.chmod(mode)
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.user) if service and self.user else pwd.getpwuid(0)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def _mkdirs(self) -> None:
        layout = [(self.dir, 0o711, False), (self.etc, 0o755, False), (self.secrets_dir, 0o700, False),
                  (self.log, 0o700, False), (self.run, 0o711, False), (self.data, 0o711, False),
                  (self.service_secrets, 0o700, True), (self.pg_socket_dir, 0o700, True),
                  (self.run / "haproxy", 0o700, True), (self.data / "redis-cache", 0o700, True),
                  (self.data / "redis-queue", 0o700, True), (self.data / "postgres", 0o700, True)]
        for d, mode, service in layout:
            d.mkdir(parents=True, exist_ok=True)
            self._own(d, mode, service)
        if self.user:  # the service user must pass through the state root to its stack folder
            self.dir.parent.chmod(self.dir.parent.stat().st_mode | 0o011)

    def passwords(self) -> dict[str, str]:
        """Generated once per purpose; kept in secrets/passwords.json (root, 0600), never in the
        checkout. One per role and per Redis instance: a leaked cache password opens no queue."""
        path = self.secrets_dir / "passwords.json"
        values = json.loads(path.read_text()) if path.exists() else {}
        wanted = ("app", "jobs", "migrator", "admin", "redis-cache", "redis-queue", "puma-control", "runtime")
        if not all(k in values for k in wanted):
            values = {k: values.get(k) or pysecrets.token_urlsafe(24) for k in wanted}
            path.write_text(json.dumps(values))
            self._own(path, 0o600, False)
        return values

    def files(self, plan: Plan) -> dict[str, str]:
        pw = self.passwords()
        files = render_plan(plan, self.layout)
        ident_user = self.user or pwd.getpwuid(os.geteuid()).pw_name
        files["pg_hba.conf"] = (
            "# local stack: the superuser only as the service user, over a socket in a folder only it can\n"
            "# enter (peer); every other connection with a password over loopback (SCRAM). No trust.\n"
            "local all postgres peer map=tunestack\n"
            "host all all 127.0.0.1/32 scram-sha-256\n")
        files["pg_ident.conf"] = f"tunestack {ident_user} postgres\n"
        files["supervisord.conf"] = self._supervisord(plan, files, pw)
        return files

    def secret_files(self, pw: dict[str, str]) -> dict[str, dict[str, str]]:
        """Secret files by folder: root's (read by verify) and the service user's (read by servers)."""
        return {
            # verify reads <user>-password on the host (tunestack verify --secrets-dir)
            "secrets": {"migrator-password": pw["migrator"], "app-password": pw["app"], "jobs-password": pw["jobs"],
                        "puma-control-token": pw["puma-control"], "runtime-token": pw["runtime"],
                        "tunestack_admin-password": pw["admin"],
                        "redis-cache-password": pw["redis-cache"], "redis-queue-password": pw["redis-queue"]},
            "service-secrets": {
                "pgbouncer-userlist.txt": f'"app" "{pw["app"]}"\n"jobs" "{pw["jobs"]}"\n'
                                          f'"tunestack_admin" "{pw["admin"]}"\n',
                "redis-cache.conf": f"requirepass {pw['redis-cache']}\n",
                "redis-queue.conf": f"requirepass {pw['redis-queue']}\n"},
        }

    def _write_secrets(self, pw: dict[str, str]) -> set[str]:
        """Write the secret files; return `folder/name` of each whose content changed (a rotation)."""
        changed = set()
        for folder, files in self.secret_files(pw).items():
            for name, content in files.items():
                path = self.dir / folder / name
                if not path.exists() or path.read_text() != content:
                    changed.add(f"{folder}/{name}")
                path.write_text(content)
                self._own(path, 0o600, folder == "service-secrets")
        return changed

    def _supervisord(self, plan: Plan, files: dict[str, str], pw: dict[str, str]) -> str:
        def env_of(settings: dict, extra: dict[str, str]) -> str:
            pairs = {k: s.text for k, s in settings.items()}
            pairs.update(extra)
            return ",".join(f"{k}={supervisor_env_value(v)}" for k, v in pairs.items())

        secrets_env = {"DATABASE_PASSWORD": pw["app"], "REDIS_PASSWORD": pw["redis-queue"],
                       "REDIS_CACHE_PASSWORD": pw["redis-cache"], "PYTHONPATH": str(ROOT)}
        venv_bin = Path(sys.executable).parent
        rollout = self.rollout_programs()
        stable = rollout.get("stable") or {"version": "stable", "env": {}}
        stable_env = {"APP_VERSION": stable["version"], **stable["env"]}
        web_command, jobs_command = self._app_commands(plan, venv_bin)
        web_only = {"PUMA_CONTROL_TOKEN", "TUNESTACK_RUNTIME_TOKEN"}   # the jobs never serve a runtime report
        if plan.spec.app.framework == "rails":
            secrets_env["PUMA_CONTROL_TOKEN"] = pw["puma-control"]
        elif plan.spec.app.framework in ("go", "node"):
            secrets_env["TUNESTACK_RUNTIME_TOKEN"] = pw["runtime"]
        # A rebuilt app changes its programs' environment: supervisord's `update` restarts them.
        build = {"APP_BUILD": self._app_build_id(plan)} if plan.spec.app.framework in ("go", "node") else {}
        progs = [
            dict(name="postgres", user=self.user, startsecs=3, stopsignal="INT",
                 command=f"{pg_bin('postgres')} -D {self.data}/postgres -c config_file={self.etc}/postgresql.conf "
                         f"-c hba_file={self.etc}/pg_hba.conf -c ident_file={self.etc}/pg_ident.conf "
                         f"-c unix_socket_directories={self.pg_socket_dir}"),
            dict(name="pgbouncer", user=self.user, startsecs=1, stopsignal="INT",
                 command=f"{which('pgbouncer')} {self.etc}/pgbouncer.ini"),
            dict(name="redis-cache", user=self.user, startsecs=1, stopsignal="TERM",
                 command=f"{which('redis-server')} {self.etc}/redis-cache.conf --daemonize no"),
            dict(name="redis-queue", user=self.user, startsecs=1, stopsignal="TERM",
                 command=f"{which('redis-server')} {self.etc}/redis-queue.conf --daemonize no"),
            # The app runs as the invoking user: the venv's interpreter may live in a private home.
            # Its code and configs belong to root, so no service user can change what it runs.
            dict(name="web", user=None, startsecs=2, stopsignal="TERM", command=web_command,
                 environment=env_of(plan.web_env, {**secrets_env, **build, **stable_env, "TUNESTACK_TRACK": "stable"})),
            dict(name="jobs", user=None, startsecs=2, stopsignal="TERM", command=jobs_command,
                 environment=env_of(plan.jobs_env, {**{k: v for k, v in secrets_env.items() if k not in web_only}, **build,
                                                    "DATABASE_PASSWORD": pw[plan.jobs_role]})),
            dict(name="haproxy", user=self.user, startsecs=1, stopsignal="USR1",
                 command=f"{which('haproxy')} -W -db -f {self.etc}/haproxy.cfg"),
        ]
        canary = rollout.get("canary")
        if canary and "canary_port" in plan.rollout:
            progs.append(dict(
                name="web-canary", user=None, startsecs=2, stopsignal="TERM", command=web_command,
                environment=env_of(plan.web_env, {**secrets_env, **build, "APP_VERSION": canary["version"], **canary["env"],
                                               "TUNESTACK_TRACK": "canary",
                                               # one control app per stack: the stable Puma's
                                               "PUMA_CONTROL_URL": "",
                                               "BIND": f"127.0.0.1:{plan.rollout['canary_port'].value}"})))
        for p in progs:
            p.setdefault("environment", "")
            p["directory"] = str(self.dir)  # never the checkout: nothing a server writes lands in the repo
        return environment().get_template("supervisord.conf.j2").render(
            stack=self.stack, run=self.run, log=self.log, programs=progs,
            # supervisord raises its own limit to minfds and its programs inherit it: the largest
            # any service plans (systemd would set each one's LimitNOFILE).
            minfds=max(s["LimitNOFILE"].value for s in plan.service_limits.values()))

    def _app_commands(self, plan: Plan, venv_bin: Path) -> tuple[str, str]:
        """The web and jobs commands of the stack's reference app: Puma and Sidekiq for rails
        (refapp/rails), Gunicorn and the Python worker otherwise (refapp/)."""
        framework = plan.spec.app.framework
        if framework == "rails":
            return (f"{which('puma')} -C {self.etc}/puma.rb {RAILS_APP}/config.ru",
                    f"{which('sidekiq')} -C {self.etc}/sidekiq.yml -r {RAILS_APP}/app.rb")
        if framework == "go":
            binary = self.app_dir / "refapp-go"
            return str(binary), f"{binary} jobs"
        if framework == "node":
            node, server = which("node"), self.app_dir / "server.js"
            return f"{node} {server}", f"{node} {server} jobs"
        return (f"{venv_bin}/gunicorn -c {self.etc}/gunicorn.conf.py refapp.app:application",
                f"{venv_bin}/python -m refapp.worker")

    # --- the Go and Node apps: built or installed into the state folder, owned by root -------
    @property
    def app_dir(self) -> Path:
        return self.dir / "app"

    def _app_sources(self, framework: str) -> list[Path]:
        if framework == "go":
            return sorted(GO_APP.glob("*.go"))
        return [NODE_APP / name for name in NODE_APP_FILES]

    def _app_build_id(self, plan: Plan) -> str:
        """A digest of the app's sources and toolchain: what `build_app` last built is this."""
        framework = plan.spec.app.framework
        digest = hashlib.sha256(framework.encode())
        for path in self._app_sources(framework):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()[:12]

    def build_app(self, plan: Plan) -> bool:
        """Build refapp/go or install refapp/node's locked npm packages into app/ (root's: no
        service user may change what runs), unless what is there was built from these sources.
        Returns whether it built. A failed build changes nothing that runs."""
        framework = plan.spec.app.framework
        if framework not in ("go", "node"):
            return False
        build_id = self._app_build_id(plan)
        stamp = self.app_dir / "BUILD"
        if stamp.exists() and stamp.read_text() == build_id:
            return False
        self.app_dir.mkdir(exist_ok=True)
        self._own(self.app_dir, 0o755, False)
        with tempfile.TemporaryDirectory(prefix="build-", dir=self.dir) as tmp:
            self.say(f"[{self.stack}] building the {framework} reference app…")
            build_reference_app(framework, Path(tmp))
            for entry in Path(tmp).iterdir():   # replace what runs only once the build succeeded
                target = self.app_dir / entry.name
                if target.is_dir():
                    shutil.rmtree(target)
                os.replace(entry, target)
        stamp.write_text(build_id)
        for path in [self.app_dir, *self.app_dir.rglob("*")]:   # root's, readable, written by no one else
            if os.geteuid() == 0:
                os.lchown(path, 0, 0)
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() or path.stat().st_mode & 0o100 else 0o644)
        return True

    # --- rollout programs ---------------------------------------------------------------------
    _KEEP = object()

    def rollout_programs(self) -> dict:
        path = self.dir / "rollout-programs.json"
        return json.loads(path.read_text()) if path.exists() else {"stable": None, "canary": None}

    def write_rollout_programs(self, stable=_KEEP, canary=_KEEP) -> None:
        """Record the stable and canary app versions, then rewrite supervisord.conf to match."""
        programs = self.rollout_programs()
        if stable is not LocalStack._KEEP:
            programs["stable"] = stable
        if canary is not LocalStack._KEEP:
            programs["canary"] = canary
        path = self.dir / "rollout-programs.json"   # holds --env values: root only
        path.write_text(json.dumps(programs))
        self._own(path, 0o600, False)
        plan = self.plan()
        files = self.files(plan)
        conf = self.etc / "supervisord.conf"
        conf.write_text(files["supervisord.conf"])
        self._own(conf, 0o600, False)

    # --- supervisord ------------------------------------------------------------------------
    def ctl(self, *args: str, check: bool = True) -> str:
        res = subprocess.run([which("supervisorctl") or "supervisorctl", "-c", str(self.etc / "supervisord.conf"),
                              *args], capture_output=True, text=True)
        if check and res.returncode not in (0, 3):  # 3: some program not running (status)
            raise LocalStackError(f"supervisorctl {' '.join(args)}: {res.stdout}{res.stderr}".strip())
        return res.stdout

    def running_services(self) -> set[str]:
        """The programs supervisord reports RUNNING (its XML-RPC getAllProcessInfo)."""
        return {p["name"] for p in self.rpc().supervisor.getAllProcessInfo() if p["statename"] == "RUNNING"}

    def supervisor_running(self) -> bool:
        """supervisord answers on this stack's socket (its XML-RPC getState)."""
        if not (self.run / "supervisor.sock").exists():
            return False
        try:
            return self.rpc().supervisor.getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Error):
            return False

    # --- packages -----------------------------------------------------------------------------
    def ensure_packages(self, framework: str = "python") -> None:
        missing = [pkg for binary, pkg in PACKAGES.items()
                   if not (pg_bin("postgres") if binary == "postgres" else which(binary))]
        if framework == "rails":
            missing += [pkg for binary, pkg in RAILS_PACKAGES.items() if not which(binary)]
            missing += [pkg for pkg in RAILS_LIBRARIES if not _installed(pkg)]
        if framework == "go":
            missing += [pkg for pkg in GO_PACKAGES if not _installed(pkg)]
        if framework == "node":   # Debian's nodejs where the machine has no Node of its own
            missing += [pkg for pkg in ("node", "npm") if not which(pkg)]
            missing = ["nodejs" if pkg == "node" else pkg for pkg in missing]
        if not missing:
            return
        command = ["apt-get", "install", "-y", *missing]
        if os.geteuid() != 0:
            raise EnvironmentProblem("missing Debian packages: " + " ".join(missing)
                                     + "\ninstall them with: sudo apt-get update && sudo " + " ".join(command))
        self.say(f"installing {' '.join(missing)} (apt-get)…")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        res = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if res.returncode:
            raise LocalStackError(f"apt-get install failed:\n{res.stderr[-2000:]}")

    # --- preflight ----------------------------------------------------------------------------
    def preflight(self, files: dict[str, str]) -> None:
        """Load the new configs into throwaway servers; a rejection stops `up` before any change."""
        with tempfile.TemporaryDirectory(prefix="tunestack-preflight-") as tmp:
            tmp_path = Path(tmp)
            self._own(tmp_path, 0o700, True)   # the throwaway server's socket folder: its user only
            cfg = tmp_path / "haproxy.cfg"
            cfg.write_text(files["haproxy.cfg"].replace(str(self.run / "haproxy"), tmp))
            res = subprocess.run([which("haproxy"), "-c", "-q", "-f", str(cfg)], capture_output=True, text=True)
            if res.returncode:
                raise LocalStackError(f"haproxy rejected haproxy.cfg:\n{res.stdout}{res.stderr}".strip())
            self._preflight_postgres(tmp_path, files["postgresql.conf"])

    def _preflight_postgres(self, tmp: Path, conf: str) -> None:
        data = tmp / "pg"
        init = subprocess.run([pg_bin("initdb"), "-D", str(data), *INITDB_AUTH, "-U", "postgres", "--no-sync"],
                              user=self.user, capture_output=True, text=True)
        if init.returncode:
            raise LocalStackError(f"initdb for the preflight failed: {init.stderr}")
        (data / "postgresql.conf").write_text(conf)
        self._own(data / "postgresql.conf", 0o600, True)
        log = tmp / "preflight.log"
        res = subprocess.run([pg_bin("pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "30",
                              "-o", f"-c listen_addresses='' -c unix_socket_directories={tmp}", "start"],
                             user=self.user, capture_output=True, text=True)
        started = res.returncode == 0
        if started:
            subprocess.run([pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           user=self.user, capture_output=True)
        else:
            text = log.read_text() if log.exists() else res.stderr
            lines = [ln for ln in text.splitlines() if any(w in ln for w in ("FATAL", "ERROR", "LOG:  invalid", "DETAIL", "HINT"))]
            raise LocalStackError("PostgreSQL rejected the new postgresql.conf; nothing was changed:\n"
                                  + "\n".join(lines or text.splitlines()[-5:]))

    # --- up -----------------------------------------------------------------------------------
    def up(self) -> dict:
        t0 = time.monotonic()
        plan = self.plan()  # StackError / BudgetError: exit 2, nothing touched
        self.say(f"[{self.stack}] plan ok: {len(plan.postgres)} PostgreSQL settings, budgets hold")
        self.ensure_packages(plan.spec.app.framework)
        self._mkdirs()
        self.build_app(plan)   # before anything changes: a failed build leaves the running stack as it was
        files = self.files(plan)
        self.say(f"[{self.stack}] checking the new configs with the real servers…")
        self.preflight(files)
        old = {name: (self.etc / name).read_text() for name in files if (self.etc / name).exists()}
        changed = {name for name in files if old.get(name) != files[name]}
        pw = self.passwords()
        changed |= self._write_secrets(pw)
        for name, content in files.items():  # root's: no service user may change what root runs or reads
            path = self.etc / name
            path.write_text(content)
            self._own(path, 0o600 if name == "supervisord.conf" else 0o644, False)
        first = not (self.data / "postgres" / "PG_VERSION").exists()
        if first:
            self.say(f"[{self.stack}] initdb {self.data / 'postgres'}")
            init = subprocess.run([pg_bin("initdb"), "-D", str(self.data / "postgres"), *INITDB_AUTH, "-U", "postgres",
                                   "-E", "UTF8", "--no-sync"], user=self.user, capture_output=True, text=True)
            if init.returncode:
                raise LocalStackError(init.stderr)
        if not self.supervisor_running():
            self.say(f"[{self.stack}] starting supervisord")
            subprocess.run([which("supervisord"), "-c", str(self.etc / "supervisord.conf")], check=True)
            wait_until(self.supervisor_running, 15, "supervisord")
            actions = {s: "start" for s in SERVICES_IN_ORDER}
        else:
            self.ctl("reread")
            self.ctl("update")  # programs whose command or environment changed are restarted here
            actions = self._actions(plan, changed)
            running = self.running_services()
            for service in SERVICES_IN_ORDER:  # anything stopped or crashed is started again
                if service not in running:
                    actions[service] = "start"
        moving = [s for s, a in actions.items() if s.startswith("redis-") and a.startswith("restart")]
        if moving:  # stop every instance that moves first: swapped ports would otherwise collide
            self.ctl("stop", *moving)
        for group in START_TOGETHER:
            self._start(plan, [s for s in group if actions.get(s) == "start"])
            for service in group:
                action = actions.get(service)
                if action and action != "start":
                    self._apply(service, action, plan)
                if action:
                    self.say(f"[{self.stack}] {service}: {action}")
                if service == "postgres":
                    self._bootstrap_db(plan, pw)
        self._wait_healthy(plan)
        applied = json.dumps(plan.to_json(), sort_keys=True, default=str)
        (self.dir / "applied-plan.json").write_text(applied)
        state = {"stack": self.stack, "plan_digest": hashlib.sha256(applied.encode()).hexdigest()[:12],
                 "applied_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "actions": actions, "pg_version": plan.spec.postgres.version}
        (self.dir / "state.json").write_text(json.dumps(state, indent=2))
        self.say(f"[{self.stack}] up in {time.monotonic() - t0:.1f}s")
        return state

    def _actions(self, plan: Plan, changed: set[str]) -> dict[str, str]:
        """What each running service needs, from the applied plan and the files that changed."""
        actions: dict[str, str] = {}
        applied = self.applied_plan()
        if changed & {"postgresql.conf", "pg_hba.conf", "pg_ident.conf"}:
            gucs = catalog(plan.spec.postgres.version)
            before = {k: s["text"] for k, s in applied["settings"]["postgresql.conf"].items()} if applied else {}
            after = {k: s.text for k, s in plan.postgres.items()}
            keys = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
            restart = [k for k in keys if k in gucs and gucs[k].context == "postmaster"]
            actions["postgres"] = f"restart ({', '.join(sorted(restart))} need a restart)" if restart else "reload"
        if changed & {"pgbouncer.ini", "service-secrets/pgbouncer-userlist.txt"}:
            before = applied["settings"]["pgbouncer.ini"] if applied else {}
            at_start = sorted(k for k in PGBOUNCER_AT_START
                              if k in plan.pgbouncer and before.get(k, {}).get("text") != plan.pgbouncer[k].text)
            actions["pgbouncer"] = (f"restart ({', '.join(at_start)} need a restart)" if applied and at_start
                                    else "reload")
        for role in ("cache", "queue"):
            before = (applied or {}).get("settings", {}).get(f"redis {role}", {}).get("port", {}).get("value")
            if before not in (None, plan.redis[role]["port"].value) or f"service-secrets/redis-{role}.conf" in changed:
                # A new port or password: restart the instance from its own data folder. Its
                # settings follow its identity (the folder), never whichever process holds a port.
                actions[f"redis-{role}"] = "restart (new port or password; data kept in its own folder)"
            else:
                # CONFIG SET is idempotent: applying the plan every time also repairs values changed by hand.
                actions[f"redis-{role}"] = "config set"
        if "gunicorn.conf.py" in changed:
            actions["web"] = "reload"
        if "puma.rb" in changed:     # preload_app!: only a restart loads a new puma.rb and code
            actions["web"] = "restart (puma.rb changed)"
        if "sidekiq.yml" in changed:
            actions["jobs"] = "restart (sidekiq.yml changed)"
        if "haproxy.cfg" in changed:
            actions["haproxy"] = "reload"
        return actions

    def _start(self, plan: Plan, services: list[str]) -> None:
        """Start `services` at once (supervisor's XML-RPC startProcess without waiting out each
        one's startsecs), then wait until each serves: its port open, or running if it has none.
        A program that gives up fails `up` at once with its own last words."""
        rpc = self.rpc()
        for service in services:
            rpc.supervisor.startProcess(service, False)
        ports = plan.ports()

        def serving(service: str) -> bool:
            state = rpc.supervisor.getProcessInfo(service)["statename"]
            if state in ("FATAL", "EXITED", "BACKOFF", "STOPPED"):
                log = self.log / f"{service}.log"
                tail = "\n".join(log.read_text().splitlines()[-10:]) if log.exists() else ""
                raise ProgramGaveUp(self.redact(f"{service} did not start ({state})\n{service} log ({log}):\n{tail}"))
            return port_open(ports[service]) if service in ports else state == "RUNNING"
        for service in services:
            wait_until(lambda: serving(service), 60, f"{service} to serve")
            if service == "postgres":
                self._wait_service(service, plan)

    def rpc(self):
        """supervisord's XML-RPC interface, over its Unix socket (supervisor's own transport)."""
        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, f"unix://{self.run / 'supervisor.sock'}")
        return xmlrpc.client.ServerProxy("http://localhost", transport=transport)

    def _apply(self, service: str, action: str, plan: Plan) -> None:
        if action == "start":
            self._start(plan, [service])
            return
        if action.startswith("restart") and service == "postgres":
            with self.pgbouncer_paused(plan):   # clients queue in PgBouncer instead of failing
                self.ctl("restart", service)
                self._wait_service(service, plan)
        elif action.startswith("restart"):
            self.ctl("restart", service)
        elif action == "reload":
            self.ctl("signal", "HUP" if service != "haproxy" else "USR2", service)
        elif action == "config set":
            self._redis_config_set(service.split("-")[1], plan)
        self._wait_service(service, plan)

    def redact(self, text: str) -> str:
        """Error text with every known password masked: errors may quote config lines."""
        path = self.secrets_dir / "passwords.json"
        secrets = json.loads(path.read_text()).values() if path.exists() else ()
        for secret in secrets:
            text = text.replace(secret, "••••••")
        return text

    def pgbouncer_paused(self, plan: Plan):
        """PgBouncer's PAUSE (manual: waits for running queries, then closes server connections)
        around a PostgreSQL restart; RESUME afterwards. Clients wait instead of failing."""
        import contextlib

        import psycopg

        @contextlib.contextmanager
        def paused():
            if "pgbouncer" not in self.running_services():
                yield
                return
            conn = psycopg.connect(host="127.0.0.1", port=plan.pgbouncer["listen_port"].value, dbname="pgbouncer",
                                   user="tunestack_admin", password=self.passwords()["admin"], autocommit=True,
                                   connect_timeout=5, prepare_threshold=None)
            try:
                conn.execute("PAUSE")
                yield
            finally:
                conn.execute("RESUME")
                conn.close()

        return paused()

    def redis_client(self, role: str, plan: Plan, port: int | None = None):
        """A client for the instance that holds `role`'s data: its `dir` is checked before anything
        is changed, so a port swap can never apply cache settings to the queue's process."""
        import redis as redis_py

        port = port or plan.redis[role]["port"].value
        client = redis_py.Redis(host="127.0.0.1", port=port, password=self.passwords()[f"redis-{role}"],
                                socket_timeout=5)
        try:
            holds = client.config_get("dir").get("dir", "")
        except redis_py.AuthenticationError:
            holds = "(another instance: our password for it was refused)"
        if Path(holds) != self.data / f"redis-{role}":
            raise LocalStackError(f"the Redis on port {port} holds {holds}, not the {role}'s data "
                                  f"({self.data / f'redis-{role}'}); nothing was changed. Run `up` again: "
                                  "it restarts each instance from its own folder")
        return client

    def _redis_config_set(self, role: str, plan: Plan) -> None:
        """Live changes through CONFIG SET: restarting with a changed appendonly loses data (redis.conf)."""
        settings = plan.redis[role]
        client = self.redis_client(role, plan)
        for key in ("maxmemory", "maxmemory-policy", "appendonly", "timeout", "tcp-keepalive", "save", "appendfsync"):
            if key in settings:
                client.config_set(key, settings[key].text)

    def _wait_service(self, service: str, plan: Plan) -> None:
        ports = plan.ports()
        if service in ports:
            wait_until(lambda: port_open(ports[service]), 60, f"{service} on port {ports[service]}")
        if service == "postgres":
            wait_until(lambda: self.psql(plan, "SELECT 1").strip() == "1", 60, "postgres accepting queries")

    def psql(self, plan: Plan, sql: str, db: str = "postgres", stdin: str | None = None) -> str:
        res = psql_socket(str(self.pg_socket_dir), plan.postgres["port"].value, sql, db=db, stdin=stdin)
        if res.returncode:
            raise LocalStackError(f"psql: {res.stderr.strip()}")
        return res.stdout

    def applied_plan(self) -> dict | None:
        """The plan the running stack was last brought up with (its JSON), or None."""
        path = self.dir / "applied-plan.json"
        return json.loads(path.read_text()) if path.exists() else None

    def _bootstrap_db(self, plan: Plan, pw: dict[str, str]) -> None:
        """Roles, database, extension and the app's table; idempotent. Passwords go in as SCRAM
        verifiers, in a session with statement statistics and statement logging off, so that no
        password (nor verifier) lands in pg_stat_statements or the server log."""
        sql = f"""
SET pg_stat_statements.track = 'none';
SET log_statement = 'none';
SET log_min_duration_statement = -1;
SET log_min_error_statement = 'panic';
SELECT 'CREATE ROLE app LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') \\gexec
SELECT 'CREATE ROLE jobs LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'jobs') \\gexec
SELECT 'CREATE ROLE migrator LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'migrator') \\gexec
ALTER ROLE app PASSWORD '{scram_verifier(pw["app"])}';
ALTER ROLE jobs PASSWORD '{scram_verifier(pw["jobs"])}';
-- jobs may do what the app may (membership), with its own timeouts (role settings are not inherited)
GRANT app TO jobs;
ALTER ROLE migrator PASSWORD '{scram_verifier(pw["migrator"])}';
GRANT pg_read_all_settings, pg_read_all_stats TO migrator;  -- verify reads every setting as migrator
SELECT 'CREATE DATABASE app OWNER migrator' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'app') \\gexec
"""
        self.psql(plan, "", stdin=sql)
        self.psql(plan, "", db="app", stdin="""
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE IF NOT EXISTS hits (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
GRANT SELECT, INSERT ON hits TO app;
GRANT USAGE ON SEQUENCE hits_id_seq TO app;
""")
        roles_sql = (self.etc / "roles.sql").read_text()
        self.psql(plan, "", stdin=roles_sql)

    def _wait_healthy(self, plan: Plan) -> None:
        """Healthy means a real query through PgBouncer as the app role, and the app answering
        through the load balancer: not just open ports."""
        import psycopg

        def database():
            with psycopg.connect(host="127.0.0.1", port=plan.pgbouncer["listen_port"].value, dbname="app", user="app",
                                 password=self.passwords()["app"], connect_timeout=3, prepare_threshold=None) as conn:
                return conn.execute("SELECT 1").fetchone() == (1,)

        wait_until(database, 60, "a query through PgBouncer as the app role")
        url = f"http://127.0.0.1:{plan.loadbalancer['port'].value}{plan.loadbalancer['health_path'].text}"

        def ok():
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status == 200

        wait_until(ok, 60, f"app health through the load balancer ({url})")

    # --- status / down --------------------------------------------------------------------------
    def status_json(self) -> dict:
        """What `status` says, for machines: the applied plan's digest, each program's state and
        pid (supervisord's XML-RPC), and the endpoints."""
        state_path = self.dir / "state.json"
        out = {"stack": self.stack, "state_dir": str(self.dir), "running": self.supervisor_running(),
               "applied": json.loads(state_path.read_text()) if state_path.exists() else None, "programs": {}}
        if out["running"]:
            out["programs"] = {p["name"]: {"state": p["statename"], "pid": p["pid"] or None}
                               for p in self.rpc().supervisor.getAllProcessInfo()}
        try:
            out["endpoints"] = {service: f"127.0.0.1:{port}" for service, port in self.plan().ports().items()}
        except Exception as exc:  # status must work even when the stack file is broken
            out["endpoints"], out["plan_error"] = None, str(exc)
        return out

    def status(self) -> str:
        lines = [f"stack {self.stack}: state in {self.dir}"]
        state = self.dir / "state.json"
        if state.exists():
            s = json.loads(state.read_text())
            lines.append(f"plan {s['plan_digest']} applied {s['applied_at']} (PostgreSQL {s['pg_version']})")
        if not self.supervisor_running():
            lines.append("not running")
            return "\n".join(lines)
        lines.append(self.ctl("status", check=False).rstrip())
        try:
            plan = self.plan()
            lines.append(f"web:        http://127.0.0.1:{plan.loadbalancer['port'].value}/ (HAProxy)")
            lines.append(f"postgres:   127.0.0.1:{plan.postgres['port'].value}  pgbouncer: 127.0.0.1:{plan.pgbouncer['listen_port'].value}")
            lines.append(f"redis:      cache 127.0.0.1:{plan.redis['cache']['port'].value}, queue 127.0.0.1:{plan.redis['queue']['port'].value}")
            lines.append(f"logs:       {self.log}   passwords: {self.secrets_dir / 'passwords.json'} (root only)")
        except Exception as exc:  # status must work even when the stack file is broken
            lines.append(f"(plan unavailable: {exc})")
        return "\n".join(lines)

    def down(self) -> None:
        if not self.supervisor_running():
            self.say(f"[{self.stack}] not running")
            return
        self.ctl("stop", "all")
        self.ctl("shutdown")
        wait_until(lambda: not self.supervisor_running(), 60, "supervisord to exit")
        self.say(f"[{self.stack}] stopped; data kept in {self.data}")

