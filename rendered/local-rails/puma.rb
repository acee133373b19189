# puma.rb for stack local-rails, rendered by tunestack from the plan.
# Workers: single mode (Puma docs: fewer than 2 workers): 1 Puma worker per core (1 cores), of 2 cores less 1 for 1 Sidekiq process(es): one core each (one GVL per process)
# (0 is single mode: one process, no master.)
workers Integer(ENV.fetch("WEB_CONCURRENCY", 0))
# Threads: stack file; the DB pool is threads + headroom (DB_POOL).
threads_count = Integer(ENV.fetch("PUMA_MAX_THREADS", 3))
threads threads_count, threads_count
# the host's private address only
bind "tcp://#{ENV.fetch("BIND", "127.0.0.1:#{ENV.fetch("PORT", 18100)}")}"
# A hung worker is replaced after twice the request timeout; the request timeout itself is
# rack-timeout's (RACK_TIMEOUT_SERVICE_TIMEOUT): Puma's worker_timeout is not one.
worker_timeout 30
# Rollouts restart processes per host, so preloading is safe (phased restarts would not load new code).
preload_app!
# Each worker opens its own connections after the fork.
before_fork { ActiveRecord::Base.connection_handler.clear_all_connections! if defined?(ActiveRecord::Base) }
# The control app serves stats to verify: loopback only, behind a token from the secret store.
control_token = ENV["PUMA_CONTROL_TOKEN"] || (ENV["PUMA_CONTROL_TOKEN_FILE"] && File.read(ENV["PUMA_CONTROL_TOKEN_FILE"]).chomp)
if ENV["PUMA_CONTROL_URL"].to_s != "" && control_token
  activate_control_app ENV["PUMA_CONTROL_URL"], { auth_token: control_token }
end
