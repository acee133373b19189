"""The Pulumi program: stack config → plan (tunestack) → components. Wiring only; no setting is
computed here. `pulumi up` runs it; `python -m tunestack preview` runs it under Pulumi's mocks."""
import pulumi

from components import (AppMigration, AppMigrationArgs, AppServerGroup, AppServerGroupArgs, BackupRepository,
                        BackupRepositoryArgs, DatabasePassword,
                        DatabasePasswordArgs, DockerHosts,
                        DockerHostsArgs, LoadBalancer, LoadBalancerArgs, Monitoring, MonitoringArgs, PgBouncer, PgBouncerArgs, PostgresServer, PostgresServerArgs,
                        PostgresCluster, PostgresClusterArgs,
                        PrivateNetwork, PrivateNetworkArgs, QueueCluster, QueueClusterArgs, QueuePasswords, Redis,
                        RedisArgs, RolloutGuard, RolloutGuardArgs,
                        StackCertificates, StackCertificatesArgs, StackImages, StackImagesArgs, StackSecrets,
                        StackSecretsArgs)
from components._container import Publish
from components.app import Replica
from components.cluster import Machine, Passwords, cluster_hba
from tunestack.errors import BudgetError, Problem, StackError
from tunestack.hafiles import REPLICATION_USER, EtcdTlsFiles, dynamic_config, etcd_args
from tunestack.images import images_by_machine, migration_image, migration_machine
from tunestack.monitoring.containers import credentials, monitoring_containers
from tunestack.plan.monitoring import MONITOR_CONNECTIONS
from tunestack.plan import build_plan, container_name
from tunestack.plan.backupserver import CERT_FILE as BACKUP_CERT, KEY_FILE as BACKUP_KEY
from tunestack.plan.rollout import running
from tunestack.plan.tls import CA_FILE as TLS_CA, CERT_FILE as TLS_CERT, KEY_FILE as TLS_KEY
from tunestack.pulumi_config import stack_document
from tunestack.render import Layout, render_container_bases, render_plan
from tunestack.stackfile import load_document

stack = pulumi.get_stack()
config = pulumi.Config("tunestack")
try:  # a bad stack file stops the program before any resource is registered
    spec = load_document(stack_document(config), f"stacks/Pulumi.{stack}.yaml", stack)
    plan = build_plan(spec, target="docker")
    if spec.missing_images():
        raise StackError([Problem(spec.path, "config → tunestack:images", spec.images,
                                  "an image for " + ", ".join(spec.missing_images()), "pin each image in the stack file")])
except (StackError, BudgetError) as exc:
    raise pulumi.RunError(str(exc)) from None
for warning in plan.warnings:   # what the plan says of this stack, in the preview's own diagnostics
    pulumi.log.warn(warning)
files = render_plan(plan, Layout(run_dir="/tmp"))
starts = render_container_bases(plan)
where = plan.placement
db, cache = spec.host_with("db"), spec.host_with("cache")
app_hosts = spec.app_hosts()
images = spec.images

hosts = DockerHosts(f"{stack}-hosts", DockerHostsArgs(spec.hosts, spec.registry,
                                                      config.get_secret("registryPassword")))
db_machine, cache_machine = (db.name, 0), (cache.name, 0)
repo_server, agent = (plan.backup[k].value if k in plan.backup else None for k in ("repository server", "database agent"))
track_image = {"stable": images["app"], "canary": images.get("canary_app")}
stack_images = StackImages(f"{stack}-images", StackImagesArgs(hosts.providers, hosts.names, images_by_machine(plan)))
network = PrivateNetwork(f"{stack}-private", PrivateNetworkArgs(hosts.providers, hosts.names))
secrets = StackSecrets(f"{stack}-secrets", StackSecretsArgs(config.get_secret("dbPassword"),
                                                            config.get_secret("redisPassword"),
                                                            config.get_secret("dbPasswordPrevious"), ha=bool(plan.ha),
                                                            queue_ha=bool(plan.queue_ha),
                                                            monitoring=bool(monitoring_containers(plan))))
certs = StackCertificates(f"{stack}-tls", StackCertificatesArgs(stack, plan.tls, config.get("tlsCaCert"),
                                                              config.get_secret("tlsCaKey")))



def machine(name: str, index: int, image: str = images["postgres"]) -> Machine:
    key = (name, index)
    return Machine(hosts.providers[key], network.networks[key].name, stack_images.image_id(key, image), hosts.urls[key])


if plan.ha:   # standbys: Patroni on every db machine, etcd, and the proxy to the primary (cluster.py)
    cluster = PostgresCluster(container_name(stack, "pg"), PostgresClusterArgs(
        [(n, machine(n.host, n.machine)) for n in plan.ha["nodes"].value],
        [(m, machine(m.host, m.machine)) for m in plan.ha["etcd members"].value],
        machine(*cache_machine, images["haproxy"]),
        {**files, **starts}, {m.name: etcd_args(plan, m, "/var/lib/tunestack/etcd", listen="0.0.0.0",
                                                tls=EtcdTlsFiles(TLS_CERT, TLS_KEY, TLS_CA))
                              for m in plan.ha["etcd members"].value},
        plan.container(db.name, "postgres"), plan.container(db.name, "etcd") or plan.container(cache.name, "etcd"),
        plan.container(cache.name, "haproxy"), where["postgres"].reach,
        Passwords(secrets.admin_password, secrets.migrator_password, secrets.jobs_password,
                  replication=secrets.ha["replication"], rewind=secrets.ha["rewind"], restapi=secrets.ha["patroni-api"],
                  etcd_root=secrets.ha["etcd-root"], etcd_patroni=secrets.ha["etcd-patroni"]),
        cluster_hba(bool(certs.files("postgres")), REPLICATION_USER), tls_files=certs.files("postgres"),
        etcd_tls_files=certs.files("etcd"), ca_files=certs.client_files(),
        backup_files={k: v for k, v in {"/etc/pgbackrest/pgbackrest.conf": starts.get("pgbackrest.conf")}.items() if v}
        | certs.files("backup-agent", BACKUP_CERT, BACKUP_KEY),
        hosts=dict([(repo_server.name, repo_server.address)]) if repo_server else {},
        backup_agent_port=agent.port if agent else None, dynamic_config=dynamic_config(plan),
        monitor_password=secrets.monitor.get("postgres"), monitor_connections=MONITOR_CONNECTIONS),
        opts=pulumi.ResourceOptions(depends_on=[stack_images]))
    postgres = None
    database_ready = [cluster.proxy, *cluster.proxy_live]   # what PgBouncer and the migrations connect through
else:
    postgres = PostgresServer(container_name(stack, "postgres"), PostgresServerArgs(
        hosts.providers[db_machine], network.networks[db_machine].name, stack_images.image_id(db_machine, images["postgres"]),
        hosts.urls[db_machine],
        starts["postgresql.live.conf"], files["roles.sql"], starts["postgresql.conf"],
        plan.container(db.name, "postgres"), spec.postgres.port, where["postgres"].publish, secrets.admin_password,
        secrets.migrator_password, secrets.jobs_password, major=spec.postgres.version,
        tls_files=certs.files("postgres"), backup_conf=starts.get("pgbackrest.conf"), stanza=plan.backup["stanza"].value,
        backup_cron=starts.get("backup.cron"),
        backup_tls_files=certs.files("backup-agent", BACKUP_CERT, BACKUP_KEY),
        backup_agent=Publish(agent.port, agent.address) if agent else None,
        repository_server=(repo_server.name, repo_server.address) if repo_server else None,
        monitor_password=secrets.monitor.get("postgres"), monitor_connections=MONITOR_CONNECTIONS),
        opts=pulumi.ResourceOptions(depends_on=[stack_images]))
    database_ready = [postgres]
# pgBackRest's repository on another host of the stack (plan: backup → repository server).
backup_repository = BackupRepository(repo_server.name, BackupRepositoryArgs(
    hosts.providers[(repo_server.host, 0)], network.networks[(repo_server.host, 0)].name,
    stack_images.image_id((repo_server.host, 0), images["postgres"]), hosts.urls[(repo_server.host, 0)],
    starts["pgbackrest.repository.conf"], plan.container(repo_server.host, repo_server.service), repo_server.port,
    repo_server.address, {a.name: a.address for a in plan.backup["database agents"].value},
    plan.backup["stanza"].value, starts["backup.cron"],
    certs.files("backup-repo", BACKUP_CERT, BACKUP_KEY),
    [*cluster.nodes, *cluster.live] if plan.ha else [postgres.container, *postgres.live]),
    opts=pulumi.ResourceOptions(depends_on=[stack_images])) if repo_server else None
bouncer_machine = (where["pgbouncer"].host.name, 0)   # the db machine, or with standbys the cache host
pgbouncer = PgBouncer(container_name(stack, "pgbouncer"), PgBouncerArgs(
    hosts.providers[bouncer_machine], network.networks[bouncer_machine].name,
    stack_images.image_id(bouncer_machine, images["pgbouncer"]), hosts.urls[bouncer_machine],
    starts["pgbouncer.live.ini"], starts["pgbouncer.ini"], cluster.proxy.id if plan.ha else postgres.container.id,
    plan.container(bouncer_machine[0], "pgbouncer"), spec.pgbouncer.port,
    where["pgbouncer"].publish, secrets.admin_password, secrets.jobs_password,
    tls_files=certs.files("pgbouncer") or certs.client_files(),   # it verifies PostgreSQL too
    monitor_password=secrets.monitor.get("pgbouncer")),
    opts=pulumi.ResourceOptions(depends_on=[stack_images, *database_ready]))
# The app role's password reaches the running servers before the replicas; during a rotation's
# first `up` the servers keep the previous one (components/dbpassword.py).
db_password = DatabasePassword(f"{stack}-db-password", DatabasePasswordArgs(
    hosts.urls[db_machine], cluster.nodes[0] if plan.ha else postgres.container, pgbouncer.container,
    secrets.db_password if secrets.db_password_previous is None else secrets.db_password_previous,
    nodes=[(hosts.urls[(n.host, n.machine)], c) for n, c in zip(plan.ha["nodes"].value, cluster.nodes)] if plan.ha else [],
    bouncer_host_url=hosts.urls[bouncer_machine] if plan.ha else ""))   # with standbys PgBouncer has a host of its own
redis = {inst.role: Redis(container_name(stack, f"redis-{inst.role}"), RedisArgs(
    hosts.providers[(cache.name, 0)], network.networks[(cache.name, 0)].name,
    stack_images.image_id(cache_machine, images["redis"]), inst.role, files,
    plan.container(cache.name, f"redis-{inst.role}"), inst.port, where[f"redis-{inst.role}"].publish,
    secrets.redis_cache_password if inst.role == "cache" else secrets.redis_password,
    tls_files=certs.files(f"redis-{inst.role}"), monitor_password=secrets.monitor.get("redis")),
    opts=pulumi.ResourceOptions(depends_on=[stack_images]))
    for inst in (spec.redis_cache, spec.redis_queue) if not (inst.role == "queue" and plan.queue_ha)}
if plan.queue_ha:   # the queue's replicas and its Sentinels (components/queue.py)
    redis["queue"] = QueueCluster(container_name(stack, "queue"), QueueClusterArgs(
        [(n, machine(n.host, n.machine, images["redis"])) for n in plan.queue_ha["nodes"].value],
        [(m, machine(m.host, m.machine, images["redis"])) for m in plan.queue_ha["sentinels"].value],
        files, plan.queue_ha["master name"].text, plan.container(cache.name, "redis-queue"),
        plan.container(plan.queue_ha["sentinels"].value[0].host, "sentinel"),
        QueuePasswords(secrets.redis_password, secrets.redis_sentinel_password),
        node_tls_files=certs.files("redis-queue"), sentinel_tls_files=certs.files("redis-sentinel"),
        monitor_password=secrets.monitor.get("redis")),
        opts=pulumi.ResourceOptions(depends_on=[stack_images]))

rollout_guard = RolloutGuard(f"{stack}-rollout-guard", RolloutGuardArgs(
    container_name(stack, "lb"), hosts.urls[cache_machine], images.get("canary_app") or "",
    sum(1 for r in running(plan.replicas) if r.track == "canary")))
migrate_machine = migration_machine(plan)   # beside PostgreSQL, or the proxy to the primary
migration = AppMigration(f"{stack}-migrate", AppMigrationArgs(
    hosts.urls[migrate_machine], network.networks[migrate_machine].name,
    stack_images.image_id(migrate_machine, migration_image(plan)), {k: s.text for k, s in plan.migrate_env.items()},
    secrets.migrator_password, certs.ca_pem),
    opts=pulumi.ResourceOptions(depends_on=[stack_images, rollout_guard, *database_ready]))
replicas = [Replica(r.name, hosts.providers[(r.host, r.machine)], network.networks[(r.host, r.machine)].name,
                    r.track, stack_images.image_id((r.host, r.machine), track_image[r.track]), r.publish, r.port)
            for r in running(plan.replicas)]
app = AppServerGroup(container_name(stack, "app"), AppServerGroupArgs(
    spec.app.framework, replicas, files,
    {k: s.text for k, s in plan.web_env.items()}, {k: s.text for k, s in plan.jobs_env.items()},
    plan.container(app_hosts[0].name, "web"), plan.container(app_hosts[0].name, "jobs"),
    spec.app.port, plan.loadbalancer["health_path"].text, secrets.db_password, secrets.jobs_password,
    secrets.redis_password,
    secrets.redis_cache_password, spec.app.jobs.processes, dict(spec.rollout.canary_env), certs.client_files(),
    secrets.db_password_previous, secrets.redis_sentinel_password),
    opts=pulumi.ResourceOptions(depends_on=[stack_images, rollout_guard, migration, pgbouncer, *redis.values(),
                                            db_password]))
lb = LoadBalancer(container_name(stack, "lb"), LoadBalancerArgs(
    hosts.providers[(cache.name, 0)], network.networks[(cache.name, 0)].name, stack_images.image_id(cache_machine, images["haproxy"]),
    hosts.urls[(cache.name, 0)], files,
    plan.container(cache.name, "haproxy"), plan.loadbalancer["port"].value, where["haproxy"].publish),
    opts=pulumi.ResourceOptions(depends_on=[stack_images, app]))
# Prometheus, Alertmanager and the exporters (tunestack/monitoring/containers.py), once the servers
# they read run with the exporters' logins.
watch = monitoring_containers(plan)
monitoring = Monitoring(f"{stack}-monitoring", MonitoringArgs(
    watch, {(c.host, c.machine): machine(c.host, c.machine, images["monitoring"]) for c in watch},
    {(c.host, c.service): plan.container(c.host, c.service) for c in watch}, files,
    pulumi.Output.all(**secrets.monitor).apply(lambda pw: credentials(plan, {f"monitor-{k}": v for k, v in pw.items()})),
    {c.tls: certs.files(c.tls) for c in watch if c.tls}, certs.client_files()),
    opts=pulumi.ResourceOptions(depends_on=[stack_images, pgbouncer, *database_ready, *redis.values(), app, lb,
                                            *(cluster.live if plan.ha else [])])) \
    if watch else None

pulumi.export("endpoints", {
    "web": lb.endpoint,
    "pgbouncer": f"{where['pgbouncer'].host.address}:{spec.pgbouncer.port}",
    "postgres": f"{where['postgres'].host.address}:{spec.postgres.port}",
    "redis_cache": f"{where['redis-cache'].host.address}:{spec.redis_cache.port}",
    "redis_queue": f"{where['redis-queue'].host.address}:{spec.redis_queue.port}",
})
pulumi.export("plan", {
    "hosts": {h.name: {"count": h.count, "cpus": h.cpus, "memory_bytes": h.memory_bytes, "source": h.shape_source}
              for h in spec.hosts},
    "workers": plan.app["workers"].value, "threads": plan.app["threads"].value,
    "web_db_pool": plan.app["web_db_pool"].value, "job_db_pool": plan.app["job_db_pool"].value,
    "max_connections": plan.postgres["max_connections"].value,
    "pgbouncer_pool": plan.pgbouncer["default_pool_size"].value,
    "max_client_conn": plan.pgbouncer["max_client_conn"].value,
    "budgets": {b.name: {"used": b.used, "limit": b.limit, "headroom": b.headroom} for b in plan.budgets},
})
split = plan.splits[spec.rollout.canary_weight]
pulumi.export("rollout", {
    "canary_weight": spec.rollout.canary_weight, "stable_replicas": split.stable, "canary_replicas": split.canary,
    "stable_image": images["app"], "canary_image": images.get("canary_app"),
    "lb_weights": {"stable": split.stable_server_weight, "canary": split.canary_server_weight},
})
