"""AppServerGroup: web and job containers per app replica; the first replicas run the canary image."""
from __future__ import annotations

from dataclasses import dataclass, replace

import pulumi
import pulumi_docker as docker

from tunestack.plan.memory import ContainerLimit

from ._container import ContainerSpec, Publish, service_container

COMMANDS = {
    "rails": {"web": ["bundle", "exec", "puma", "-C", "/etc/tunestack/puma.rb"],
              "jobs": ["bundle", "exec", "sidekiq"]},
    # The app image contract (README): its default command serves web with
    # /etc/tunestack/gunicorn.conf.py; `tunestack-jobs` on its PATH runs one job process.
    "python": {"web": None, "jobs": ["tunestack-jobs"]},
}


@dataclass
class Replica:
    name: str
    provider: docker.Provider
    network: pulumi.Input[str]
    track: str                   # stable | canary
    publish_address: str | None  # the app host's address when the load balancer is on another host


@dataclass
class AppServerGroupArgs:
    framework: str
    stable_image: str
    canary_image: str | None
    replicas: list[Replica]
    files: dict[str, str]                   # rendered web.env, jobs.env, puma.rb / gunicorn.conf.py
    web_env: dict[str, str]
    jobs_env: dict[str, str]
    web_limit: ContainerLimit
    jobs_limit: ContainerLimit | None
    port: int
    health_path: str
    db_password: pulumi.Output[str]
    redis_password: pulumi.Output[str]          # the queue's (REDIS_URL)
    redis_cache_password: pulumi.Output[str]    # the cache's (REDIS_CACHE_URL)
    job_processes: int = 1                      # jobs.processes: one container each


class AppServerGroup(pulumi.ComponentResource):
    def __init__(self, name: str, args: AppServerGroupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:AppServerGroup", name, None, opts)
        server_file = "puma.rb" if args.framework == "rails" else "gunicorn.conf.py"
        secrets = [pulumi.Output.concat("DATABASE_PASSWORD=", args.db_password),
                   pulumi.Output.concat("REDIS_PASSWORD=", args.redis_password),
                   pulumi.Output.concat("REDIS_CACHE_PASSWORD=", args.redis_cache_password)]
        self.web: list[docker.Container] = []
        self.jobs: list[docker.Container] = []
        for r in args.replicas:
            image = args.canary_image if r.track == "canary" else args.stable_image
            self.web.append(service_container(self, r.provider, r.network, ContainerSpec(
                name=r.name, image=image, limit=args.web_limit,
                command=COMMANDS[args.framework]["web"],
                files={"/etc/tunestack/web.env": args.files["web.env"],
                       f"/etc/tunestack/{server_file}": args.files[server_file]},
                envs=[f"{k}={v}" for k, v in args.web_env.items()] + [f"TUNESTACK_TRACK={r.track}"] + secrets,
                healthcheck=["CMD-SHELL", f"curl -fsS http://127.0.0.1:{args.port}{args.health_path} >/dev/null"],
                publish=[Publish(args.port, r.publish_address)] if r.publish_address else [],
            )))
            if args.jobs_limit is not None:
                # One container per job process (jobs.processes): each gets its share of the limit.
                n = max(1, args.job_processes)
                each = replace(args.jobs_limit, memory_bytes=args.jobs_limit.memory_bytes // n,
                               cpus=max(0.01, int(args.jobs_limit.cpus / n * 100) / 100))
                for p in range(n):
                    suffix = "" if n == 1 else f"-{p + 1}"
                    self.jobs.append(service_container(self, r.provider, r.network, ContainerSpec(
                        name=r.name.replace("-web-", "-jobs-") + suffix, image=image, limit=each,
                        command=COMMANDS[args.framework]["jobs"],
                        files={"/etc/tunestack/jobs.env": args.files["jobs.env"]},
                        envs=[f"{k}={v}" for k, v in args.jobs_env.items()] + [f"TUNESTACK_TRACK={r.track}"] + secrets,
                        healthcheck=["CMD-SHELL", "kill -0 1"],
                    )))
        self.register_outputs({"web": [c.name for c in self.web], "jobs": [c.name for c in self.jobs]})
