# frozen_string_literal: true

# The Rails app's migration: its one table, created by the role that owns the schema. Run as the
# migrator, straight to PostgreSQL: DATABASE_URL=postgres://migrator@host:5432/app ruby migrate.rb
require "active_record"
require "uri"

url = URI(ENV.fetch("DATABASE_URL"))
password = ENV["DATABASE_PASSWORD"] || (ENV["DATABASE_PASSWORD_FILE"] && File.read(ENV["DATABASE_PASSWORD_FILE"]).chomp)
ActiveRecord::Base.establish_connection(adapter: "postgresql", host: url.host, port: url.port || 5432,
                                        database: url.path.delete_prefix("/"), username: url.user,
                                        password: password, connect_timeout: 10)
ActiveRecord::Base.connection.create_table(:hits, if_not_exists: true) do |t|
  t.column :at, :timestamptz, null: false, default: -> { "now()" }
end
puts "migrated"
