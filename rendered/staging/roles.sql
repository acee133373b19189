-- Per-role settings for stack staging, rendered by tunestack. statement_timeout and
-- lock_timeout belong to roles, not to postgresql.conf (PostgreSQL docs, runtime-config-client),
-- and SET does not survive PgBouncer transaction pooling.
ALTER ROLE app SET statement_timeout = '10s';  -- half the 20s request timeout
ALTER ROLE app SET lock_timeout = '3333ms';  -- a third of statement_timeout: lock waits give up first
ALTER ROLE jobs SET statement_timeout = '5min';  -- jobs run longer than requests: 5 min ends a runaway one
ALTER ROLE jobs SET lock_timeout = '3333ms';  -- the web role's: web requests queue behind a job that waits for a lock
ALTER ROLE migrator SET statement_timeout = '0';  -- migrations may run long; they connect directly
ALTER ROLE migrator SET lock_timeout = '3333ms';  -- DDL must not queue behind long locks
ALTER ROLE migrator SET idle_session_timeout = '15min';  -- a forgotten psql or migration session ends after 15 min idle: it holds a direct connection slot (PostgreSQL 14+)
