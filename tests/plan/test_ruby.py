"""Ruby runtime rules by version, and Active Record's prepared statements behind PgBouncer."""
import pytest

from tunestack.plan import build_plan
from tunestack.plan.ruby import rails_prepared_statements, ruby_runtime

from .helpers import spec, with_app


@pytest.mark.parametrize("version,yjit,rubyopt,gc_init_slots", [
    ("3.0", False, "", True),                            # YJIT arrived in Ruby 3.1 …
    ("3.1", False, "", True),                            # … experimental until 3.2 (Ruby 3.2 NEWS)
    ("3.2", True, "--yjit-exec-mem-size=64", True),
    ("3.3", True, "--yjit-exec-mem-size=64", False),     # Ruby 3.3 NEWS: RUBY_GC_HEAP_INIT_SLOTS removed
    ("3.4", True, "--yjit-mem-size=128", False),         # Ruby 3.4 NEWS: --yjit-mem-size
])
def test_ruby_rules_by_version(version, yjit, rubyopt, gc_init_slots):
    rules = ruby_runtime(version)
    assert (rules.yjit, rules.rubyopt, rules.gc_init_slots) == (yjit, rubyopt, gc_init_slots)


@pytest.mark.parametrize("rails,pgbouncer,mode,prepared", [
    ("6.1", (1, 18), "session", True),       # session pooling keeps a client's server connection
    ("6.1", (1, 18), "transaction", False),  # PgBouncer < 1.21 tracks no prepared statements
    ("7.1", (1, 24), "transaction", False),  # pgbouncer#1041: Rails frees them with SQL DEALLOCATE
    ("8.0", (1, 21), "transaction", False),
    ("8.1", (1, 21), "transaction", True),   # rails#55683: closed at the protocol level
])
def test_prepared_statements_by_rails_and_pgbouncer(rails, pgbouncer, mode, prepared):
    assert rails_prepared_statements(rails, pgbouncer, mode)[0] is prepared


def test_the_env_follows_the_ruby_version():
    base = spec("staging")
    old = build_plan(with_app(base, ruby="3.2"), strict=False).web_env
    new = build_plan(with_app(base, ruby="3.4"), strict=False).web_env
    assert old["RUBY_GC_HEAP_INIT_SLOTS"].text == "600000" and "RUBY_GC_HEAP_INIT_SLOTS" not in new
    assert (old["RUBYOPT"].text, new["RUBYOPT"].text) == ("--yjit-exec-mem-size=64", "--yjit-mem-size=128")
    for version in ("3.0", "3.1"):
        off = build_plan(with_app(base, ruby=version), strict=False)
        # absent, never 0: Ruby 3.1 turns YJIT on when RUBY_YJIT_ENABLE is set to anything
        assert "RUBY_YJIT_ENABLE" not in off.web_env and "RUBYOPT" not in off.web_env
        assert off.app["yjit"].value is False


def test_sidekiq_gets_its_concurrency_from_its_config_file_not_an_env_var():
    # Sidekiq 6 reads -c or the config file's :concurrency: (sidekiq cli.rb); SIDEKIQ_CONCURRENCY is ignored.
    from tunestack.render import render_plan

    plan = build_plan(spec("prod"), strict=False)
    assert "SIDEKIQ_CONCURRENCY" not in plan.jobs_env
    assert f":concurrency: {plan.app['job_concurrency'].value}\n" in render_plan(plan)["sidekiq.yml"]


def test_jobs_connect_as_their_own_role_with_their_own_timeouts():
    plan = build_plan(spec("prod"), strict=False)
    assert plan.jobs_env["DATABASE_URL"].value.startswith("postgres://jobs@")
    assert plan.web_env["DATABASE_URL"].value.startswith("postgres://app@")
    jobs, app = plan.postgres_roles["jobs"], plan.postgres_roles["app"]
    assert jobs["statement_timeout"].value == 300_000 > app["statement_timeout"].value
    assert jobs["lock_timeout"].value == app["lock_timeout"].value


def test_rack_timeout_carries_the_request_timeout():
    # Puma docs: worker_timeout "is not a request timeout"; rack-timeout reads RACK_TIMEOUT_SERVICE_TIMEOUT.
    plan = build_plan(spec("prod"), strict=False)
    assert plan.web_env["RACK_TIMEOUT_SERVICE_TIMEOUT"].value == plan.spec.app.request_timeout_ms


def test_a_stack_naming_no_ruby_is_planned_for_the_hosts_ruby():
    """Issue #13: the Ruby version is the stack's, else the one the host runs (local stacks pass
    `ruby -v`), else Debian 12's 3.1."""
    base = spec("staging")
    assert base.app.ruby is None
    from_host = build_plan(base, strict=False, host_ruby="3.3")
    assert from_host.app["ruby_version"].value == "3.3" and "host" in from_host.app["ruby_version"].reason
    assert "RUBY_GC_HEAP_INIT_SLOTS" not in from_host.web_env      # 3.3's rules, not 3.1's
    named = build_plan(with_app(base, ruby="3.2"), strict=False, host_ruby="3.3")
    assert named.app["ruby_version"].value == "3.2"
    assert build_plan(base, strict=False).app["ruby_version"].value == "3.1"
