-- Per-role settings for stack local-ha, rendered by tunestack. statement_timeout and
-- lock_timeout belong to roles, not to postgresql.conf (PostgreSQL docs, runtime-config-client),
-- and SET does not survive PgBouncer transaction pooling.
ALTER ROLE app SET statement_timeout = '15s';  -- half the 30s request timeout
ALTER ROLE app SET lock_timeout = '5s';  -- a third of statement_timeout: lock waits give up first
ALTER ROLE jobs SET statement_timeout = '5min';  -- jobs run longer than requests: 5 min ends a runaway one
ALTER ROLE jobs SET lock_timeout = '5s';  -- the web role's: web requests queue behind a job that waits for a lock
ALTER ROLE migrator SET statement_timeout = '0';  -- migrations may run long; they connect directly
ALTER ROLE migrator SET lock_timeout = '5s';  -- DDL must not queue behind long locks
ALTER ROLE migrator SET idle_session_timeout = '15min';  -- a forgotten psql or migration session ends after 15 min idle: it holds a direct connection slot (PostgreSQL 14+)
