# frozen_string_literal: true

# How the Rails reference app reaches its servers, as the other reference apps do:
# - secrets from NAME or the file NAME_FILE names (on Docker the passwords are files, so that
#   `docker inspect` never shows them);
# - rediss:// across hosts, verified against the stack's CA (REDIS_TLS_CA_FILE);
# - during a database password rotation, the previous password when the new one is refused: the
#   servers switch after the app replicas, so a replica that already knows the new one keeps
#   connecting until they do (DATABASE_PASSWORD_PREVIOUS_FILE).
require "openssl"
require "active_record"
require "active_record/connection_adapters/postgresql_adapter"

module RefApp
  def self.secret(name)
    return ENV[name] if ENV.key?(name)
    path = ENV["#{name}_FILE"]
    path && !path.empty? ? File.read(path).chomp : nil
  end

  # redis-rb's options for `url`: for rediss://, the server's certificate verified against the CA.
  def self.redis_tls(url)
    return {} unless url.to_s.start_with?("rediss://")
    params = { verify_mode: OpenSSL::SSL::VERIFY_PEER }
    ca = ENV["REDIS_TLS_CA_FILE"]
    params[:ca_file] = ca if ca && !ca.empty?
    { ssl_params: params }
  end

  # redis-rb's Sentinel options for the queue with replicas (REDIS_SENTINELS): it asks the
  # Sentinels for the master named by REDIS_URL's host, and checks ROLE on every connect.
  def self.sentinels
    list = ENV["REDIS_SENTINELS"].to_s
    return {} if list.empty?
    password = secret("REDIS_SENTINEL_PASSWORD")
    { role: :master, sentinels: list.split(",").map do |entry|
      host, port = entry.rpartition(":").values_at(0, 2)
      { host: host, port: Integer(port), password: password }
    end }
  end

  # Sidekiq client middleware: with REDIS_WAIT_REPLICAS, a push counts only once that many replicas
  # have it (WAIT). WAIT counts the writes of its own connection, so the push runs inside this
  # connection's checkout (connection_pool hands a thread the connection it already holds). With
  # fewer replicas connected than asked the job is accepted and counted, as Patroni's non-strict
  # synchronous mode commits without a standby; a connected replica that has not acknowledged
  # within REDIS_WAIT_TIMEOUT_MS fails the push.
  class WaitForReplicas
    class NotReplicated < StandardError; end

    def call(_worker, _job, _queue, redis_pool)
      replicas = Integer(ENV.fetch("REDIS_WAIT_REPLICAS", "0"))
      return yield if replicas.zero?
      redis_pool.with do |conn|
        pushed = yield
        acknowledged = conn.call("WAIT", replicas, Integer(ENV.fetch("REDIS_WAIT_TIMEOUT_MS", "1000")))
        next pushed if acknowledged >= replicas
        connected = conn.call("ROLE")[2].size
        if connected >= replicas
          raise NotReplicated, "#{acknowledged} of #{connected} connected replica(s) acknowledged the job in time"
        end
        RefApp::Metrics.queue_unreplicated(conn)
        pushed
      end
    end
  end

  module PreviousPassword
    REFUSED = /password authentication failed|SASL authentication failed/.freeze

    # Active Record 6.1 opens every connection here (PG.connect); a refusal of the new password
    # is retried once with the previous one, any other failure is Active Record's usual error.
    def new_client(conn_params)
      PG.connect(conn_params)
    rescue PG::ConnectionBad => e
      previous = RefApp.secret("DATABASE_PASSWORD_PREVIOUS")
      unless e.message.match?(REFUSED) && previous && !previous.empty? && previous != conn_params[:password]
        raise ActiveRecord::ConnectionNotEstablished, e.message
      end
      super(conn_params.merge(password: previous))
    end
  end
end

ActiveRecord::ConnectionAdapters::PostgreSQLAdapter.singleton_class.prepend(RefApp::PreviousPassword)
