"""supervisord.conf of a local stack: one program per server, the app's web and jobs (and a canary
during a rollout), each with the planned environment and its secrets."""
from __future__ import annotations

import sys

from ..paths import ROOT, stacks_dir
from ..render import environment, supervisor_env_value
from ..servers import pg_bin, which
from .appbuild import BUILT, app_build_id, app_commands
from .cluster import cluster_programs
from .folders import StateFolders
from .monitoring import programs as monitoring_programs
from .sentinel import queue_ha_programs, queue_node_command

WEB_ONLY = {"TUNESTACK_RUNTIME_TOKEN_FILE"}   # the jobs never serve a runtime report


def program_env(settings: dict, extra: dict[str, str]) -> str:
    pairs = {k: s.text for k, s in settings.items()}
    pairs.update(extra)
    return ",".join(f"{k}={supervisor_env_value(v)}" for k, v in pairs.items())


def _secrets_env(framework: str, pw: dict[str, str], folders: StateFolders) -> dict[str, str]:
    out = {"DATABASE_PASSWORD": pw["app"], "REDIS_PASSWORD": pw["redis-queue"],
           "REDIS_CACHE_PASSWORD": pw["redis-cache"], "PYTHONPATH": str(ROOT),
           # read only where the plan gives REDIS_SENTINELS (redis.queue.replicas)
           "REDIS_SENTINEL_PASSWORD": pw["redis-sentinel"]}
    if framework == "rails" or framework in BUILT:
        # The path, not the token: the app reads the file on each request, so `up` rotates it
        # without a restart (secrets.ROTATED).
        out["TUNESTACK_RUNTIME_TOKEN_FILE"] = str(folders.secrets / "runtime-token")
    return out


def _server_programs(folders: StateFolders, plan, pw: dict[str, str]) -> list[dict]:
    etc, user = folders.etc, folders.user
    postgres = cluster_programs(plan, folders, pw, program_env) if plan.ha else [
        dict(name="postgres", user=user, startsecs=3, stopsignal="INT",
             command=f"{pg_bin('postgres')} -D {folders.data}/postgres -c config_file={etc}/postgresql.conf "
                     f"-c hba_file={etc}/pg_hba.conf -c ident_file={etc}/pg_ident.conf "
                     f"-c unix_socket_directories={folders.pg_socket_dir}",
             # archive_command's pgbackrest finds this stack's config here (plan/backup.py)
             environment=program_env({}, {"PGBACKREST_CONFIG": str(folders.pgbackrest_conf)}))]
    return postgres + [
        dict(name="pgbouncer", user=user, startsecs=1, stopsignal="INT", command=f"{which('pgbouncer')} {etc}/pgbouncer.ini"),
        dict(name="redis-cache", user=user, startsecs=1, stopsignal="TERM",
             command=f"{which('redis-server')} {etc}/redis-cache.conf --daemonize no"),
        dict(name="redis-queue", user=user, startsecs=1, stopsignal="TERM",
             command=queue_node_command(plan, folders, 0) if plan.queue_ha else
             f"{which('redis-server')} {etc}/redis-queue.conf --daemonize no"),
    ] + queue_ha_programs(plan, folders)


def _app_programs(plan, folders: StateFolders, pw: dict[str, str], rollout: dict) -> list[dict]:
    """web and jobs as the invoking user (the venv's interpreter may live in a private home); their
    code and configs belong to root, so no service user can change what they run."""
    framework = plan.spec.app.framework
    secrets_env = _secrets_env(framework, pw, folders)
    stable = rollout.get("stable") or {"version": "stable", "env": {}}
    stable_env = {"APP_VERSION": stable["version"], **stable["env"]}
    web_command, jobs_command = app_commands(framework, folders)
    if "cpu_sets" in plan.app:   # Rails: Puma and Sidekiq on their planned cores
        web_set, jobs_set = plan.app["cpu_sets"].value
        web_command, jobs_command = pinned(web_set, web_command), pinned(jobs_set, jobs_command)
    # A rebuilt app changes its programs' environment: supervisord's `update` restarts them.
    build = {"APP_BUILD": app_build_id(framework)} if framework in BUILT else {}
    progs = [
        dict(name="web", user=None, startsecs=2, stopsignal="TERM", command=web_command,
             environment=program_env(plan.web_env, {**secrets_env, **build, **stable_env, "TUNESTACK_TRACK": "stable"})),
        dict(name="jobs", user=None, startsecs=2, stopsignal="TERM", command=jobs_command,
             environment=program_env(plan.jobs_env, {**{k: v for k, v in secrets_env.items() if k not in WEB_ONLY}, **build,
                                              "DATABASE_PASSWORD": pw[plan.jobs_role]})),
    ]
    canary = rollout.get("canary")
    if canary and "canary_port" in plan.rollout:
        progs.append(dict(
            name="web-canary", user=None, startsecs=2, stopsignal="TERM", command=web_command,
            environment=program_env(plan.web_env, {**secrets_env, **build, "APP_VERSION": canary["version"], **canary["env"],
                                            "TUNESTACK_TRACK": "canary",
                                            # one control app per stack: the stable Puma's
                                            "PUMA_CONTROL_URL": "",
                                            "BIND": f"127.0.0.1:{plan.rollout['canary_port'].value}"})))
    return progs


def pinned(cpus: str, command: str) -> str:
    """`command` on the CPU list `cpus`: taskset execs it, so supervisord still signals the server itself."""
    return f"{which('taskset')} -c {cpus} {command}"


def backup_schedule(stack: str, folders: StateFolders) -> dict:
    """The plan's backup schedule: `tunestack backup --schedule` (root's: it runs pgBackRest as the
    service user and reads the Redis queue's password), with this stack's files."""
    return dict(name="backup-schedule", user=None, startsecs=2, stopsignal="TERM",
                command=f"{sys.executable} -m tunestack backup --schedule --stack {stack} --state-dir {folders.dir.parent}",
                environment=program_env({}, {"TUNESTACK_STACKS_DIR": str(stacks_dir()), "PYTHONPATH": str(ROOT)}))


def supervisord_conf(stack: str, plan, folders: StateFolders, pw: dict[str, str], rollout: dict) -> str:
    servers = _server_programs(folders, plan, pw)
    progs = servers + _app_programs(plan, folders, pw, rollout)
    progs.insert(len(servers) + 2, dict(name="haproxy", user=folders.user, startsecs=1, stopsignal="USR1",
                         command=f"{which('haproxy')} -W -db -f {folders.etc}/haproxy.cfg"))
    progs.append(backup_schedule(stack, folders))
    progs += monitoring_programs(plan, folders, program_env)
    for p in progs:
        p.setdefault("environment", "")
        p["directory"] = str(folders.dir)  # never the checkout: nothing a server writes lands in the repo
    return environment().get_template("supervisord.conf.j2").render(
        stack=stack, run=folders.run, log=folders.log, programs=progs,
        # supervisord raises its own limit to minfds and its programs inherit it: the largest
        # any service plans (systemd would set each one's LimitNOFILE).
        minfds=max(s["LimitNOFILE"].value for s in plan.service_limits.values()))
