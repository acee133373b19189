"""What a second `up` does to each running server, as a pure policy (tunestack/local/apply.py):
reload where the server reads the change live, restart where it reads it only at start."""
import json

import pytest

from tunestack.local.apply import actions
from tunestack.plan import build_plan

from ..plan.helpers import spec


@pytest.fixture(scope="module")
def plan():
    return build_plan(spec("local"))


def applied(plan, edit=None):
    """The plan as `up` recorded it (applied-plan.json), optionally edited."""
    doc = json.loads(json.dumps(plan.to_json(), default=str))
    if edit:
        edit(doc["settings"])
    return doc


def test_nothing_changed_reapplies_only_redis_live_settings(plan):
    # CONFIG SET is idempotent, and repairs values changed by hand.
    assert actions(plan, applied(plan), set()) == {"redis-cache": "config set", "redis-queue": "config set"}


def test_a_postmaster_setting_restarts_postgres(plan):
    """PostgreSQL docs (pg_settings.context): `postmaster` settings take effect only at server start."""
    before = applied(plan, lambda s: s["postgresql.conf"]["shared_buffers"].update(text="64MB"))
    got = actions(plan, before, {"postgresql.conf"})["postgres"]
    assert got == "restart (shared_buffers need a restart)"


def test_a_sighup_setting_reloads_postgres(plan):
    """PostgreSQL docs: `user`/`sighup` settings (work_mem) are read on reload."""
    before = applied(plan, lambda s: s["postgresql.conf"]["work_mem"].update(text="1MB"))
    assert actions(plan, before, {"postgresql.conf"})["postgres"] == "reload"


def test_a_new_pg_hba_reloads(plan):
    # PostgreSQL docs (pg_hba.conf): "re-read ... when the main server process receives a SIGHUP".
    assert actions(plan, applied(plan), {"pg_hba.conf"})["postgres"] == "reload"


def test_pgbouncer_restarts_for_its_listen_port_and_reloads_otherwise(plan):
    """PgBouncer manual: listen_port and listen_addr are read only at start; pool sizes on RELOAD."""
    moved = applied(plan, lambda s: s["pgbouncer.ini"]["listen_port"].update(text="1"))
    assert actions(plan, moved, {"pgbouncer.ini"})["pgbouncer"].startswith("restart (listen_port")
    pools = applied(plan, lambda s: s["pgbouncer.ini"]["default_pool_size"].update(text="1"))
    assert actions(plan, pools, {"pgbouncer.ini"})["pgbouncer"] == "reload"
    assert actions(plan, applied(plan), {"service-secrets/pgbouncer-userlist.txt"})["pgbouncer"] == "reload"


def test_redis_restarts_from_its_own_folder_for_a_new_port_or_password(plan):
    moved = applied(plan, lambda s: s["redis queue"]["port"].update(value=1))
    assert actions(plan, moved, set())["redis-queue"].startswith("restart (new port or password")
    rotated = actions(plan, applied(plan), {"service-secrets/redis-cache.conf"})
    assert rotated["redis-cache"].startswith("restart") and rotated["redis-queue"] == "config set"


@pytest.mark.parametrize("changed,service,action", [
    ("gunicorn.conf.py", "web", "reload"),                       # Gunicorn: HUP reloads the config
    ("puma.rb", "web", "restart (puma.rb changed)"),            # preload_app!: only a restart reads it
    ("sidekiq.yml", "jobs", "restart (sidekiq.yml changed)"),
    ("haproxy.cfg", "haproxy", "reload"),                        # HAProxy master-worker: USR2 reloads
])
def test_app_and_load_balancer(plan, changed, service, action):
    assert actions(plan, applied(plan), {changed})[service] == action


def test_a_first_up_restarts_nothing_it_cannot_compare(plan):
    # No applied plan yet: PgBouncer reloads (nothing to compare at-start settings with).
    assert actions(plan, None, {"pgbouncer.ini", "postgresql.conf"})["pgbouncer"] == "reload"
