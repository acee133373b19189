-- The monitoring login: run by bootstrap.sql (\ir), and alone on a cluster's primary at every
-- delivery of roles.sql (tunestack-live): Patroni's post_bootstrap runs bootstrap.sql only when a
-- cluster is made, and monitoring may be turned on later. The password is read with psql's
-- backticks, statistics and logging off.
SET pg_stat_statements.track = 'none';
SET log_statement = 'none';
SET log_min_duration_statement = -1;
SET log_min_error_statement = 'panic';
-- postgres_exporter's own login (tunestack:monitoring), when its password file was uploaded:
-- pg_monitor reads statistics and settings, never table data; its CONNECTION LIMIT is what
-- max_connections counts for it (the entrypoint, post_bootstrap and tunestack-live pass TUNESTACK_MONITOR_CONNECTIONS).
\set monitor_password `cat /etc/tunestack/secrets/monitor-password 2>/dev/null || true`
SELECT :'monitor_password' <> '' AS monitoring \gset
\if :monitoring
SELECT 'CREATE ROLE tunestack_monitor LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tunestack_monitor') \gexec
ALTER ROLE tunestack_monitor CONNECTION LIMIT :monitor_connections PASSWORD :'monitor_password';
GRANT pg_monitor TO tunestack_monitor;
\endif
\unset monitor_password
