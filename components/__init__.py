"""Pulumi ComponentResources, one per service. They take typed Args built from the plan and
compute nothing themselves."""
from .app import AppServerGroup, AppServerGroupArgs
from .backup import BackupRepository, BackupRepositoryArgs
from .cluster import PostgresCluster, PostgresClusterArgs
from .dbpassword import DatabasePassword, DatabasePasswordArgs
from .hosts import DockerHosts, DockerHostsArgs
from .images import StackImages, StackImagesArgs
from .loadbalancer import LoadBalancer, LoadBalancerArgs
from .migrate import AppMigration, AppMigrationArgs
from .monitoring import Monitoring, MonitoringArgs
from .network import PrivateNetwork, PrivateNetworkArgs
from .pgbouncer import PgBouncer, PgBouncerArgs
from .postgres import PostgresServer, PostgresServerArgs
from .queue import QueueCluster, QueueClusterArgs, QueuePasswords
from .redis import Redis, RedisArgs
from .rollout import RolloutGuard, RolloutGuardArgs
from .secrets import StackSecrets, StackSecretsArgs
from .tls import StackCertificates, StackCertificatesArgs

__all__ = [
    "AppMigration", "AppMigrationArgs", "AppServerGroup", "AppServerGroupArgs", "BackupRepository",
    "BackupRepositoryArgs", "DatabasePassword", "DatabasePasswordArgs",
    "DockerHosts", "DockerHostsArgs", "LoadBalancer",
    "LoadBalancerArgs", "Monitoring", "MonitoringArgs", "PgBouncer", "PgBouncerArgs", "PostgresCluster", "PostgresClusterArgs", "PostgresServer", "PostgresServerArgs",
    "PrivateNetwork", "PrivateNetworkArgs", "QueueCluster", "QueueClusterArgs", "QueuePasswords", "Redis", "RedisArgs", "RolloutGuard", "RolloutGuardArgs", "StackCertificates", "StackCertificatesArgs",
    "StackImages", "StackImagesArgs", "StackSecrets", "StackSecretsArgs",
]
