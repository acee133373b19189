# puma.rb for stack staging, rendered by tunestack from the plan.
# Workers: 1 Puma worker per core (3 cores), of 4 cores less 1 for 1 Sidekiq process(es): one core each (one GVL per process)
# (0 is single mode: one process, no master.)
workers Integer(ENV.fetch("WEB_CONCURRENCY", 3))
# Threads: stack file; the DB pool is threads + headroom (DB_POOL).
threads_count = Integer(ENV.fetch("PUMA_MAX_THREADS", 3))
threads threads_count, threads_count
# the host's private address only
bind "tcp://#{ENV.fetch("BIND", "0.0.0.0:#{ENV.fetch("PORT", 8000)}")}"
# A hung worker is replaced after twice the request timeout; the request timeout itself is
# rack-timeout's (RACK_TIMEOUT_SERVICE_TIMEOUT): Puma's worker_timeout is not one.
worker_timeout 40
# Rollouts restart processes per host, so preloading is safe (phased restarts would not load new code).
preload_app!
# Each worker opens its own connections after the fork.
before_fork { ActiveRecord::Base.connection_handler.clear_all_connections! if defined?(ActiveRecord::Base) }
# The control app serves stats to verify and advise on a unix socket (mode 0600) in a folder only
# this server's user enters: no port another local user could reach, no token to capture. It is
# opened only where that folder is private; elsewhere (a container) there is none. PUMA_CONTROL_URL
# set empty turns it off (a rollout's canary: one control app per host).
control_dir = '/run/tunestack/control'
control_url = ENV.fetch("PUMA_CONTROL_URL") { "unix://#{File.join(control_dir, 'puma.sock')}" }
private_dir = File.directory?(control_dir) && File.stat(control_dir).owned? && (File.stat(control_dir).mode & 0o077).zero?
if control_url.start_with?("unix://") && private_dir
  activate_control_app control_url, { no_token: true, umask: 0o077 }
end
