# frozen_string_literal: true

# The Rails reference app: as small as a real Rails 6.1 app can be, configured only by the
# environment tunestack's plan renders (web.env / jobs.env), like the Python one in refapp/.
#
#   GET /health             liveness: no backing service touched (sampled at 0 by the plan's rules)
#   GET /                   a query through PgBouncer (Active Record), a Rails.cache read/write on
#                           the cache Redis, and a Sidekiq job on the queue Redis that inserts a row
#   GET /version            the version and rollout track of this process
#   GET /_tunestack/runtime what this worker really runs with, for `tunestack verify`; only with
#                           the X-Tunestack-Token header (the runtime token, read from its file on
#                           each request: `up` rotates it)
#   GET /_tunestack/metrics the metrics tunestack's alerts read, of every Puma worker (below)
#
# APP_FAULT_RATE (0–1) answers that share of requests with 500; APP_EXTRA_LATENCY_MS adds latency.
# Puma: puma -C puma.rb config.ru. Sidekiq: sidekiq -C sidekiq.yml -r ./app.rb.
require "json"
require "securerandom"
require "rails"
require "active_record/railtie"
require "action_controller/railtie"
require "sidekiq"
require "sidekiq/api"
require "rack/timeout/base"
require "sentry-ruby"
require "sentry-rails"
require "sentry-sidekiq"
require_relative "connections"   # RefApp.secret, Redis TLS, the previous database password

# Sidekiq 6.4 calls redis-rb 4.8 in a form 4.8 deprecates, every fetch (each 2 s): keep the log for
# what matters.
Redis.silence_deprecations = true

module RefApp
  def self.seconds(name, default)
    Float(ENV.fetch(name, default))
  end

  # SENTRY_TRACES_SAMPLER_RULES: "path=rate,…". A request path takes the first rule naming it or
  # a folder above it; other transactions take SENTRY_TRACES_SAMPLE_RATE.
  def self.sampler_rules
    ENV.fetch("SENTRY_TRACES_SAMPLER_RULES", "").split(",").map do |rule|
      path, rate = rule.split("=", 2)
      [path, Float(rate)]
    end
  end

  def self.traces_rate_for(path)
    rule = sampler_rules.find { |prefix, _| path == prefix || path.start_with?(prefix.chomp("/") + "/") }
    rule ? rule[1] : Sentry.configuration.traces_sample_rate.to_f
  end

  def self.malloc
    File.read("/proc/self/maps").include?("libjemalloc") ? "jemalloc" : "glibc"
  end

  # What this process really runs with: read back from the libraries, never from the environment.
  def self.runtime
    pool = ActiveRecord::Base.connection_pool
    pool.with_connection do |conn|
      {
        pid: Process.pid,
        ruby: RUBY_VERSION,
        yjit: defined?(RubyVM::YJIT) ? RubyVM::YJIT.enabled? : false,
        malloc: malloc,
        malloc_arena_max: ENV["MALLOC_ARENA_MAX"],
        db_pool: pool.size,
        prepared_statements: conn.prepared_statements,
        advisory_locks: conn.advisory_locks_enabled?,
        database_user: conn.select_value("SELECT current_user"),
        statement_timeout: conn.select_value("SHOW statement_timeout"),
        lock_timeout: conn.select_value("SHOW lock_timeout"),
      }
    end
  end

  JOB_REPORT_TTL = 300

  def self.job_report_key(nonce)
    "tunestack:job-runtime:#{nonce}"
  end

  # The metrics tunestack's alerts read, under the names every reference app uses. Puma's cluster
  # workers are separate processes and a scrape reaches one of them, so the counts live in the
  # queue Redis (noeviction), where every worker adds to them; each worker's DB pool use is a key
  # that expires with the worker. The text is Prometheus' exposition format, written here: Debian
  # packages no Ruby Prometheus client, and no gem server is reachable.
  module Metrics
    BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 5, 10, 30].freeze
    KEY = "tunestack:metrics"
    POOL_TTL = 60

    def self.observe(status, seconds)
      Sidekiq.redis do |r|
        r.pipelined do |p|
          BUCKETS.each { |le| p.hincrby("#{KEY}:latency", le.to_s, 1) if seconds <= le }
          p.hincrby("#{KEY}:latency", "+Inf", 1)
          p.hincrbyfloat("#{KEY}:latency", "sum", seconds)
          p.hincrby("#{KEY}:requests", "#{status / 100}xx", 1)
          stat = ActiveRecord::Base.connection_pool.stat
          p.set("#{KEY}:pool:#{Process.pid}", JSON.generate(busy: stat[:busy], size: stat[:size]), ex: POOL_TTL)
          p.sadd("#{KEY}:pools", Process.pid.to_s)
        end
      end
    rescue StandardError => e   # metrics never fail a request
      Rails.logger.warn("metrics: #{e.class}")
    end

    def self.cache_read(hit)
      Sidekiq.redis { |r| r.hincrby("#{KEY}:cache", hit ? "hit" : "miss", 1) }
    rescue StandardError
      nil
    end

    def self.queue_unreplicated(conn)
      conn.hincrby("#{KEY}:queue", "unreplicated", 1)
    end

    def self.exposition
      latency, requests, cache, pools, queue = Sidekiq.redis do |r|
        pids = r.smembers("#{KEY}:pools")
        values = pids.empty? ? [] : r.mget(*pids.map { |pid| "#{KEY}:pool:#{pid}" })
        gone = pids.zip(values).select { |_, v| v.nil? }.map(&:first)
        r.srem("#{KEY}:pools", gone) unless gone.empty?   # workers that ended: their key expired
        [r.hgetall("#{KEY}:latency"), r.hgetall("#{KEY}:requests"), r.hgetall("#{KEY}:cache"),
         values.compact.map { |v| JSON.parse(v) }, r.hgetall("#{KEY}:queue")]
      end
      depth = Sidekiq::Queue.new("default").size
      lines = ["# TYPE tunestack_http_request_duration_seconds histogram"]
      (BUCKETS.map(&:to_s) + ["+Inf"]).each do |le|
        lines << %(tunestack_http_request_duration_seconds_bucket{le="#{le}"} #{latency.fetch(le, 0)})
      end
      lines << "tunestack_http_request_duration_seconds_sum #{latency.fetch("sum", 0)}"
      lines << "tunestack_http_request_duration_seconds_count #{latency.fetch("+Inf", 0)}"
      lines << "# TYPE tunestack_http_requests_total counter"
      requests.each { |code, n| lines << %(tunestack_http_requests_total{code="#{code}"} #{n}) }
      lines << "# TYPE tunestack_cache_reads_total counter"
      cache.each { |result, n| lines << %(tunestack_cache_reads_total{result="#{result}"} #{n}) }
      lines << "# TYPE tunestack_db_pool_in_use_connections gauge"
      lines << "tunestack_db_pool_in_use_connections #{pools.sum { |p| p["busy"] }}"
      lines << "# TYPE tunestack_db_pool_max_connections gauge"
      lines << "tunestack_db_pool_max_connections #{pools.sum { |p| p["size"] }}"
      lines << "# TYPE tunestack_job_queue_depth gauge"
      lines << "tunestack_job_queue_depth #{depth}"
      lines << "# TYPE tunestack_queue_unreplicated_total counter"
      lines << "tunestack_queue_unreplicated_total #{queue.fetch("unreplicated", 0)}"
      lines.join("\n") + "\n"
    end

    # Rack middleware: every request but the probes is timed and counted.
    class Middleware
      def initialize(app)
        @app = app
      end

      def call(env)
        path = env["PATH_INFO"].to_s
        return @app.call(env) if path == "/health" || path.start_with?("/_tunestack/")
        started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        status, headers, body = @app.call(env)
        Metrics.observe(status.to_i, Process.clock_gettime(Process::CLOCK_MONOTONIC) - started)
        [status, headers, body]
      rescue StandardError
        Metrics.observe(500, Process.clock_gettime(Process::CLOCK_MONOTONIC) - started)
        raise
      end
    end
  end

  class Application < Rails::Application
    config.root = __dir__
    config.load_defaults 6.1
    config.api_only = true
    config.eager_load = true
    config.logger = ActiveSupport::Logger.new($stdout)
    config.log_level = :info
    # No cookies or signed data: a per-boot key is enough, and there is no key file to leak.
    config.secret_key_base = SecureRandom.hex(64)
    config.cache_store = :redis_cache_store, {
      url: ENV.fetch("REDIS_CACHE_URL"), password: RefApp.secret("REDIS_CACHE_PASSWORD"),
      **RefApp.redis_tls(ENV.fetch("REDIS_CACHE_URL")),
      pool_size: Integer(ENV.fetch("REDIS_POOL_SIZE", 5)), pool_timeout: 5,
      # a cache that cannot be reached soon is a miss, not a wait
      connect_timeout: RefApp.seconds("REDIS_CACHE_CONNECT_TIMEOUT", RefApp.seconds("REDIS_CONNECT_TIMEOUT", 5)),
      read_timeout: RefApp.seconds("REDIS_READ_TIMEOUT", 1),
      write_timeout: RefApp.seconds("REDIS_WRITE_TIMEOUT", 1),
      # A cache that does not answer is a miss, never an error page.
      error_handler: ->(method:, returning:, exception:) { Rails.logger.warn("cache #{method}: #{exception.class}") },
    }
    # rack-timeout reads RACK_TIMEOUT_SERVICE_TIMEOUT (the plan's request timeout) itself.
    config.middleware.insert_before Rack::Runtime, Rack::Timeout
    config.middleware.insert_before Rack::Timeout, RefApp::Metrics::Middleware

    # Where sentry-rails expects it (a config/initializers file would run here): after the logger.
    initializer "refapp.sentry", before: :load_config_initializers do
      Sentry.init do |c|
        c.dsn = ENV["SENTRY_DSN"]   # none here: nothing is sent, the rates still apply
        c.traces_sample_rate = Float(ENV.fetch("SENTRY_TRACES_SAMPLE_RATE", 0))
        if c.respond_to?(:profiles_sample_rate=)
          c.profiles_sample_rate = Float(ENV.fetch("SENTRY_PROFILES_SAMPLE_RATE", 0))
        end
        c.traces_sampler = lambda do |context|
          env = context[:env]
          path = env && env["PATH_INFO"]
          next context[:parent_sampled] unless context[:parent_sampled].nil?
          path ? RefApp.traces_rate_for(path) : c.traces_sample_rate
        end
      end
    end
  end

  class Hit < ActiveRecord::Base
    self.table_name = "hits"
  end

  class HitJob
    include Sidekiq::Worker
    sidekiq_options retry: 3

    def perform
      Hit.create!
    end
  end

  # Runs in a Sidekiq process: what a job's session sees, left in the queue Redis for the web
  # endpoint (and so for `tunestack verify`) to read.
  class RuntimeReportJob
    include Sidekiq::Worker
    sidekiq_options retry: false

    def perform(nonce)
      report = RefApp.runtime.merge(concurrency: Sidekiq.options[:concurrency])
      Sidekiq.redis { |r| r.set(RefApp.job_report_key(nonce), report.to_json, ex: JOB_REPORT_TTL) }
    end
  end

  class PagesController < ActionController::API
    before_action :mark

    def health
      render json: { ok: true }
    end

    def version
      render json: { version: ENV.fetch("APP_VERSION", "dev"), track: ENV.fetch("TUNESTACK_TRACK", "stable") }
    end

    def index
      extra = Float(ENV.fetch("APP_EXTRA_LATENCY_MS", 0))
      sleep(extra / 1000) if extra.positive?
      if rand < Float(ENV.fetch("APP_FAULT_RATE", 0))
        return render(json: { error: "injected fault (APP_FAULT_RATE)" }, status: 500)
      end
      hits = Hit.count
      key = "page:#{rand(100)}"
      cached = Rails.cache.read(key)
      Metrics.cache_read(!cached.nil?)
      Rails.cache.write(key, hits, expires_in: 60) if cached.nil?
      job = HitJob.perform_async   # its jid, named in the answer: a client can find its job
      render json: { hits: hits, cached: !cached.nil?, job: job }
    rescue RefApp::WaitForReplicas::NotReplicated => e   # the client is not told the job was queued
      render json: { error: "queue: #{e.message}" }, status: 503
    end

    def metrics
      render plain: Metrics.exposition, content_type: "text/plain; version=0.0.4"
    end

    def runtime
      token = RefApp.secret("TUNESTACK_RUNTIME_TOKEN")
      given = request.headers["X-Tunestack-Token"].to_s
      return head(:not_found) if token.to_s.empty? || !ActiveSupport::SecurityUtils.secure_compare(given, token)

      body = RefApp.runtime.merge(
        request_timeout: request.env["rack-timeout.info"]&.timeout,
        threads: Integer(ENV.fetch("PUMA_MAX_THREADS", 0)),
        sentry: {
          traces_sample_rate: Sentry.configuration.traces_sample_rate,
          profiles_sample_rate: Sentry.configuration.respond_to?(:profiles_sample_rate) ? Sentry.configuration.profiles_sample_rate : nil,
          sampled: RefApp.sampler_rules.to_h { |path, _| [path, RefApp.traces_rate_for(path)] }.merge(
            "/" => RefApp.traces_rate_for("/")),
        },
      )
      if (nonce = params[:job].presence)
        raise ActionController::BadRequest unless nonce.match?(/\A[0-9a-f]{16,64}\z/)
        report = Sidekiq.redis { |r| r.get(RefApp.job_report_key(nonce)) }
        RuntimeReportJob.perform_async(nonce) if report.nil?
        body[:job] = report && JSON.parse(report)
      end
      render json: body
    end

    private

    def mark
      response.headers["X-App-Version"] = ENV.fetch("APP_VERSION", "dev")
      response.headers["X-Track"] = ENV.fetch("TUNESTACK_TRACK", "stable")
    end
  end
end

queue_redis = {
  url: ENV.fetch("REDIS_URL"), password: RefApp.secret("REDIS_PASSWORD"), **RefApp.redis_tls(ENV.fetch("REDIS_URL")),
  connect_timeout: RefApp.seconds("REDIS_CONNECT_TIMEOUT", 5),
  read_timeout: RefApp.seconds("REDIS_READ_TIMEOUT", 1),
  write_timeout: RefApp.seconds("REDIS_WRITE_TIMEOUT", 1),
  **RefApp.sentinels,   # with queue replicas: the master the Sentinels name (REDIS_URL's host is its name)
}
# The pool sizes are the plan's (REDIS_POOL_SIZE): web threads in Puma, job threads + 2 in Sidekiq.
Sidekiq.configure_server { |c| c.redis = queue_redis.merge(size: Integer(ENV.fetch("REDIS_POOL_SIZE", 7))) }
Sidekiq.configure_client do |c|
  c.redis = queue_redis.merge(size: Integer(ENV.fetch("REDIS_POOL_SIZE", 5)))
  c.client_middleware { |chain| chain.add RefApp::WaitForReplicas }
end


RefApp::Application.initialize!

# Drawn after initialize!: initialization loads (empty) config/routes.rb and would clear them.
RefApp::Application.routes.draw do
  get "/health", to: "ref_app/pages#health"
  get "/version", to: "ref_app/pages#version"
  get "/_tunestack/runtime", to: "ref_app/pages#runtime"
  get "/_tunestack/metrics", to: "ref_app/pages#metrics"
  get "/", to: "ref_app/pages#index"
end
