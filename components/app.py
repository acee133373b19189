"""AppServerGroup: web and job containers per app replica; the first replicas run the canary image.

An app change (image, env, files) replaces containers; it must never take every replica down at once:
- Replicas that publish nothing (all roles on one Docker host) are named per generation
  (`dev-app-web-1-3f2a9c1e`) and keep their replica name as the network alias the load balancer
  resolves. The engine creates the new generation, waits for its health (`wait`), and deletes the
  old one only after every new one runs: a surge. HAProxy's server-template finds both through
  Docker's DNS and retries a refused connection on the other, so no request fails.
- Replicas that publish their port on their host's address must free it first (delete before
  replace). Each such replica depends on the one before it, so the engine replaces them one at a
  time: Pulumi sends a resource's registration only once its dependencies' steps are done, and a
  dependency by `depends_on` alone never drags the dependent into a replacement of its own."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

import pulumi
import pulumi_docker as docker

from tunestack.plan.memory import ContainerLimit

from ._container import ContainerSpec, Publish, service_container

SECRETS = "/etc/tunestack/secrets"
COMMANDS = {
    # The app image contract (README): its default command serves web with
    # /etc/tunestack/gunicorn.conf.py or puma.rb; `tunestack-jobs` on its PATH runs one job process
    # (Rails: Sidekiq with /etc/tunestack/sidekiq.yml).
    "rails": {"web": None, "jobs": ["tunestack-jobs"]},
    "python": {"web": None, "jobs": ["tunestack-jobs"]},
    # Go and Node images: the default command serves web from the env (GOMAXPROCS, PG_POOL_MAX, …).
    "go": {"web": None, "jobs": ["tunestack-jobs"]},
    "node": {"web": None, "jobs": ["tunestack-jobs"]},
}
SERVER_FILES = {"rails": "puma.rb", "python": "gunicorn.conf.py"}   # Go and Node read only their env
JOBS_FILES = {"rails": "sidekiq.yml"}   # what a job process reads besides jobs.env


@dataclass
class Replica:
    name: str
    provider: docker.Provider
    network: pulumi.Input[str]
    track: str                   # stable | canary
    image: pulumi.Input[str]     # the id of the track's image on this replica's machine (StackImages)
    publish_address: str | None  # the app host's address when the load balancer is on another host
    publish_port: int | None = None   # the port published there, if not the app's (the canary beside stable)


@dataclass
class AppServerGroupArgs:
    framework: str
    replicas: list[Replica]
    files: dict[str, str]                   # rendered web.env, jobs.env, puma.rb / gunicorn.conf.py
    web_env: dict[str, str]
    jobs_env: dict[str, str]
    web_limit: ContainerLimit
    jobs_limit: ContainerLimit | None
    port: int
    health_path: str
    db_password: pulumi.Output[str]             # the app role's (web)
    jobs_db_password: pulumi.Output[str]        # the jobs role's: job processes connect as it
    redis_password: pulumi.Output[str]          # the queue's (REDIS_URL)
    redis_cache_password: pulumi.Output[str]    # the cache's (REDIS_CACHE_URL)
    job_processes: int = 1                      # jobs.processes: one container each
    canary_env: dict[str, str] = field(default_factory=dict)   # extra env of canary replicas (rollout --env)
    tls_files: dict[str, pulumi.Input[str]] = field(default_factory=dict)   # the CA its clients verify with
    db_password_previous: pulumi.Output[str] | None = None   # during a rotation (components/dbpassword.py)
    redis_sentinel_password: pulumi.Output[str] | None = None   # with queue replicas: the Sentinels'


def generation(name: str, *inputs: pulumi.Input) -> pulumi.Output[str]:
    """`name-<8 hex>` from everything that forces a replacement, so a change gets a new name. The
    digest covers secret env values too (a rotated password is a new generation); 32 bits of a
    SHA-256 reveal nothing of them, so the name itself is not secret."""
    digest = pulumi.Output.all(*inputs).apply(
        lambda values: hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:8])
    return pulumi.Output.unsecret(pulumi.Output.concat(name, "-", digest))


class AppServerGroup(pulumi.ComponentResource):
    def __init__(self, name: str, args: AppServerGroupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:AppServerGroup", name, None, opts)
        server_file, jobs_file = SERVER_FILES.get(args.framework), JOBS_FILES.get(args.framework)
        # Passwords are secret files, never env vars (`docker inspect` shows env): the app image
        # contract reads NAME_FILE (README).
        secret_files = {f"{SECRETS}/database-password": args.db_password,
                        f"{SECRETS}/redis-password": args.redis_password,
                        f"{SECRETS}/redis-cache-password": args.redis_cache_password}
        secrets = [f"DATABASE_PASSWORD_FILE={SECRETS}/database-password",
                   f"REDIS_PASSWORD_FILE={SECRETS}/redis-password",
                   f"REDIS_CACHE_PASSWORD_FILE={SECRETS}/redis-cache-password"]
        if args.redis_sentinel_password is not None:   # the queue through its Sentinels
            secret_files[f"{SECRETS}/redis-sentinel-password"] = args.redis_sentinel_password
            secrets.append(f"REDIS_SENTINEL_PASSWORD_FILE={SECRETS}/redis-sentinel-password")
        # Web processes connect as the app role: during a rotation they know the previous password
        # too, and use it when the new one is refused (the servers switch after the replicas).
        web_secrets = {f"{SECRETS}/database-password-previous": args.db_password_previous} \
            if args.db_password_previous is not None else {}
        web_env_secrets = [f"DATABASE_PASSWORD_PREVIOUS_FILE={SECRETS}/database-password-previous"] if web_secrets else []
        self.web: list[docker.Container] = []
        self.jobs: list[docker.Container] = []
        previous: list[docker.Container] = []   # the replica before, for one-at-a-time replacement
        for r in args.replicas:
            surge = r.publish_address is None
            mine: list[docker.Container] = []

            def container(spec: ContainerSpec, service: str) -> docker.Container:
                spec = replace(spec, labels={"tunestack.replica": r.name, "tunestack.service": service,
                                                        "tunestack.track": r.track},
                               delete_first=not surge, depends_on=[] if surge else list(previous))
                if surge:
                    spec = replace(spec, container_name=generation(
                        spec.name, spec.image, spec.command, spec.envs, spec.files, spec.limit.memory_bytes, spec.limit.cpus,
                        list(spec.limit.sysctls)))
                made = service_container(self, r.provider, r.network, spec)
                mine.append(made)
                return made

            self.web.append(container(ContainerSpec(
                name=r.name, image=r.image, limit=args.web_limit,
                command=COMMANDS[args.framework]["web"],
                files={"/etc/tunestack/web.env": args.files["web.env"], **secret_files, **web_secrets, **args.tls_files,
                       **({f"/etc/tunestack/{server_file}": args.files[server_file]} if server_file else {})},
                secret_files=set(secret_files) | set(web_secrets),
                envs=[f"{k}={v}" for k, v in args.web_env.items()] + [f"TUNESTACK_TRACK={r.track}"] + secrets
                + web_env_secrets
                + ([f"{k}={v}" for k, v in sorted(args.canary_env.items())] if r.track == "canary" else []),
                healthcheck=["CMD-SHELL", f"curl -fsS http://127.0.0.1:{args.port}{args.health_path} >/dev/null"],
                publish=[Publish(args.port, r.publish_address, r.publish_port)] if r.publish_address else [],
                # The network alias stays the replica's name across generations: what HAProxy resolves.
                aliases=[r.name],
            ), "web"))
            if args.jobs_limit is not None:
                # One container per job process (jobs.processes): each gets its share of the limit.
                n = max(1, args.job_processes)
                each = replace(args.jobs_limit, memory_bytes=args.jobs_limit.memory_bytes // n,
                               cpus=max(0.01, int(args.jobs_limit.cpus / n * 100) / 100))
                for p in range(n):
                    suffix = "" if n == 1 else f"-{p + 1}"
                    jobs_name = r.name.replace("-web-", "-jobs-") + suffix
                    self.jobs.append(container(ContainerSpec(
                        name=jobs_name, image=r.image, limit=each,
                        command=COMMANDS[args.framework]["jobs"],
                        files={"/etc/tunestack/jobs.env": args.files["jobs.env"], **secret_files, **args.tls_files,
                               f"{SECRETS}/database-password": args.jobs_db_password,
                               **({f"/etc/tunestack/{jobs_file}": args.files[jobs_file]} if jobs_file else {})},
                        secret_files=set(secret_files),
                        envs=[f"{k}={v}" for k, v in args.jobs_env.items()] + [f"TUNESTACK_TRACK={r.track}"] + secrets,
                        healthcheck=["CMD-SHELL", "kill -0 1"],
                        aliases=[jobs_name],
                    ), "jobs"))
            previous = mine
        self.register_outputs({"web": [c.name for c in self.web], "jobs": [c.name for c in self.jobs]})
