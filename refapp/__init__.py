"""The reference web app of the local stack: PostgreSQL through PgBouncer, a Redis cache and a
Redis job queue, configured only by the environment the plan renders."""
