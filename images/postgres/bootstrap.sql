-- Applied by the entrypoint at every start, as the superuser over a private socket. Idempotent.
-- Passwords are read from the secret files with psql's backticks (never on a command line) and
-- set with statistics and statement logging off for this session.
SET pg_stat_statements.track = 'none';
SET log_statement = 'none';
SET log_min_duration_statement = -1;
SET log_min_error_statement = 'panic';
SELECT 'CREATE ROLE app LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') \gexec
SELECT 'CREATE ROLE jobs LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'jobs') \gexec
SELECT 'CREATE ROLE migrator LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'migrator') \gexec
\set app_password `cat /etc/tunestack/secrets/app-password`
\set jobs_password `cat /etc/tunestack/secrets/jobs-password`
\set migrator_password `cat /etc/tunestack/secrets/migrator-password`
ALTER ROLE app PASSWORD :'app_password';
ALTER ROLE jobs PASSWORD :'jobs_password';
-- Job processes may do what the app may (membership); their timeouts are their own (role
-- settings are not inherited).
GRANT app TO jobs;
ALTER ROLE migrator PASSWORD :'migrator_password';
\unset app_password
\unset jobs_password
\unset migrator_password
-- postgres_exporter's login (tunestack:monitoring): its own file beside this one, which
-- tunestack-live also runs on a cluster's primary (configs/monitor-role.sql.j2)
\ir monitor-role.sql
GRANT pg_read_all_settings, pg_read_all_stats TO migrator;
SELECT 'CREATE DATABASE app OWNER migrator' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'app') \gexec
\connect app
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
-- PostgreSQL 15+ revokes CREATE on public from everyone: migrator owns the schema's objects, and
-- the app may use whatever migrator creates, now and later.
GRANT USAGE ON SCHEMA public TO app;
GRANT CREATE ON SCHEMA public TO migrator;
ALTER DEFAULT PRIVILEGES FOR ROLE migrator IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO app;
ALTER DEFAULT PRIVILEGES FOR ROLE migrator IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO app;
