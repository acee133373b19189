-- The reference app's one table: a row per request, written by a job.
CREATE TABLE IF NOT EXISTS hits (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
