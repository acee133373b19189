-- Per-role settings for stack local-go, rendered by tunestack. statement_timeout and
-- lock_timeout belong to roles, not to postgresql.conf (PostgreSQL docs, runtime-config-client),
-- and SET does not survive PgBouncer transaction pooling.
ALTER ROLE app SET statement_timeout = '7500ms';  -- half the 15s request timeout
ALTER ROLE app SET lock_timeout = '2500ms';  -- a third of statement_timeout: lock waits give up first
ALTER ROLE jobs SET statement_timeout = '2min';  -- stack file (app.jobs.statement_timeout)
ALTER ROLE jobs SET lock_timeout = '5s';  -- stack file (app.jobs.lock_timeout)
ALTER ROLE migrator SET statement_timeout = '0';  -- migrations may run long; they connect directly
ALTER ROLE migrator SET lock_timeout = '2500ms';  -- DDL must not queue behind long locks
ALTER ROLE migrator SET idle_session_timeout = '15min';  -- a forgotten psql or migration session ends after 15 min idle: it holds a direct connection slot (PostgreSQL 14+)
