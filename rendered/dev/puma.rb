# puma.rb for stack dev, rendered by tunestack from the plan.
# Workers: 1 Puma worker per core (4 cores)
workers Integer(ENV.fetch("WEB_CONCURRENCY", 4))
# Threads: stack file; the DB pool is threads + headroom (DB_POOL).
threads_count = Integer(ENV.fetch("PUMA_MAX_THREADS", 3))
threads threads_count, threads_count
port Integer(ENV.fetch("PORT", 8000))
# A hung worker is replaced after twice the request timeout.
worker_timeout 60
# Rollouts restart processes per host, so preloading is safe (phased restarts would not load new code).
preload_app!
