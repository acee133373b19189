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
