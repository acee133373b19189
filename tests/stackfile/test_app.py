"""Bad input in tunestack:app: workers, threads, timeouts, jobs and the keys of one framework only.
Each case is a whole stack file: exit 2, one clear error, nothing planned (badinput.check)."""
import pytest

from .badinput import A, check, doc_with, go_doc, node_doc, raw

CASES = [
    ("float-threads", doc_with([A, "threads"], 4.0), ["threads", "4.0", "integer"]),
    ("request-timeout-500ms", doc_with([A, "request_timeout"], "500ms"), ["request_timeout", "500ms", "at least 1"]),
    ("request-timeout-zero", doc_with([A, "request_timeout"], "0s"), ["request_timeout", "0s", "at least 1"]),
    ("request-timeout-fraction", doc_with([A, "request_timeout"], "1500ms"), ["request_timeout", "whole seconds"]),
    ("jobs-concurrency-zero", doc_with([A, "jobs", "concurrency"], 0), ["concurrency", "at least 1"]),
    ("jobs-processes-float", doc_with([A, "jobs", "processes"], 1.5), ["processes", "1.5"]),
    ("framework-django", doc_with([A, "framework"], "django"), ["framework", "django", "rails"]),
    ("threads-zero", doc_with([A, "threads"], 0), ["threads", "at least 1"]),
    ("ruby-on-python", doc_with([A, "ruby"], "3.2"), ["app → ruby", "a setting of a rails app", "python"]),
    ("go-on-python", doc_with([A, "go"], {"conn_max_lifetime": "10m"}), ["app → go", "a setting of a go app"]),
    ("go-lifetime-over-pgbouncer", go_doc({"conn_max_lifetime": "2h"}),
     ["conn_max_lifetime", "2h", "less than PgBouncer's server_lifetime (60 min)"]),
    ("go-idle-over-lifetime", go_doc({"conn_max_lifetime": "10m", "conn_max_idle_time": "20m"}),
     ["conn_max_idle_time", "at most conn_max_lifetime"]),
    ("node-heap-over-memory", node_doc({"max_old_space": "2GiB"}),
     ["max_old_space", "2GiB", "less than memory_per_worker"]),
    ("worker-memory-zero", doc_with([A, "memory_per_worker"], "0MiB"), ["memory_per_worker", "above zero"]),
    # --- issue #23: a held-out set of hostile files ---------------------------------------------
    ("ruby-3.10-unquoted", raw("    framework: python", "    framework: rails\n    ruby: 3.10"),
     ["app → ruby", "in quotes: YAML reads an unquoted 3.1 as a number", 'quote it: ruby: "3.1"']),
    ("rails-6.10-unquoted", raw("    framework: python", "    framework: rails\n    rails: 6.10"), ["app → rails", "in quotes"]),
    ("rails-8-on-ruby-3.0", raw("    framework: python", '    framework: rails\n    ruby: "3.0"\n    rails: "8.0"'),
     ["app → ruby", "Ruby 3.2 or newer: Rails 8.0"]),
    ("go-lifetime-0s", go_doc({"conn_max_lifetime": "0s"}), ["conn_max_lifetime", "at least 1 s"]),
    ("go-lifetime-below-a-ms", go_doc({"conn_max_lifetime": "0.4ms"}), ["conn_max_lifetime", "at least 1 s"]),
    ("go-idle-0s", go_doc({"conn_max_idle_time": "0s"}), ["conn_max_idle_time", "at least 1 s"]),
    ("node-heap-3MiB", node_doc({"max_old_space": "3MiB"}), ["max_old_space", "at least 64MiB"])
]


@pytest.mark.parametrize("case,text,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, capsys, case, text, fragments):
    check(tmp_path, capsys, case, text, fragments)
