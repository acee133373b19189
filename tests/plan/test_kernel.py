"""Kernel stage: listen backlogs and the somaxconn that honours them."""
import pytest

from tunestack.plan.kernel import kernel_settings, listen_backlogs, pgbouncer_backlog, somaxconn


@pytest.mark.parametrize("clients,backlog", [(50, 4096), (4096, 4096), (4097, 8192), (10_000, 16384),
                                            (100_000, 65535)])
def test_pgbouncer_backlog_seats_every_client_reconnecting_at_once(clients, backlog):
    # PgBouncer manual (listen_backlog): default 128, read only at start, so it moves in steps;
    # Linux caps any backlog at somaxconn, at most 65535.
    assert pgbouncer_backlog(clients).value == backlog


@pytest.mark.parametrize("backlog,value", [(511, 4096), (4096, 4096), (6000, 6000), (70_000, 65535)])
def test_somaxconn_is_at_least_the_backlog_and_never_below_linux_default(backlog, value):
    # listen(2): a backlog above net.core.somaxconn is silently truncated; Linux ≥ 5.4 defaults to 4096.
    assert somaxconn(backlog, "test").value == value


def test_backlogs_follow_each_server_default_or_plan():
    # PostgreSQL listens with 2 × MaxConnections (pqcomm.c); Redis' tcp-backlog default is 511
    # (redis.conf); HAProxy's backlog defaults to the frontend maxconn (HAProxy docs, backlog);
    # Puma's binder uses 1024, Gunicorn's docs say 2048.
    rails = listen_backlogs(max_connections=300, pgbouncer_backlog_value=2000, lb_maxconn=512, framework="rails")
    assert {k: v for k, (v, _) in rails.items()} == {
        "postgres": 600, "pgbouncer": 2000, "redis-cache": 511, "redis-queue": 511, "haproxy": 512, "web": 1024}
    python = listen_backlogs(300, 2000, 512, "python")
    assert python["web"][0] == 2048


def test_every_service_gets_its_own_setting_with_the_backlog_it_serves():
    settings = kernel_settings(listen_backlogs(3000, 4096, 256, "python"))
    assert settings["postgres"]["net.core.somaxconn"].value == 6000
    assert settings["postgres"]["listen_backlog"].value == 6000
    assert settings["web"]["net.core.somaxconn"].value == 4096


from tunestack.plan.kernel import host_kernel, nr_hugepages, service_limits  # noqa: E402
from tunestack.plan.setting import Setting  # noqa: E402

GIB = 1024**3


@pytest.mark.parametrize("roles,mode", [
    # PostgreSQL docs (Linux Memory Overcommit): mode 2 on a database host. Redis docs (admin): mode 1,
    # or a background save's fork can fail; a host with both takes Redis' and protects the postmaster.
    (("db",), 2), (("cache",), 1), (("db", "cache"), 1), (("db", "cache", "app"), 1), (("app",), None)])
def test_overcommit_by_role(roles, mode, ):
    k = host_kernel(roles, 64 * GIB, 20 * GIB, None, Setting(4096, ""))
    assert (k["vm.overcommit_memory"].value if "vm.overcommit_memory" in k else None) == mode
    assert ("vm.overcommit_ratio" in k) == (mode == 2)
    # Redis docs (latency): disable transparent huge pages; PostgreSQL gains nothing from them.
    assert (k["transparent_hugepage"].value if "transparent_hugepage" in k else None) == (
        "never" if set(roles) & {"db", "cache"} else None)


@pytest.mark.parametrize("memory_gib,used_gib,huge_pages,ratio", [
    (64, 20, 0, 50),          # (20 × 1.1) / 64 = 35 % → the kernel's default 50 is enough
    (64, 50, 0, 86),          # 55 GiB of 64 → 86 %
    (128, 65, 16613, 50),     # prod: 32.4 GiB in huge pages are outside the commit limit
    (16, 15.5, 0, 100),       # never above 100
])
def test_overcommit_ratio_covers_the_planned_worst_case(memory_gib, used_gib, huge_pages, ratio):
    # Kernel docs (overcommit-accounting): CommitLimit = swap + (RAM − huge pages) × ratio / 100.
    huge = Setting(huge_pages, "") if huge_pages else None
    k = host_kernel(("db",), memory_gib * GIB, int(used_gib * GIB), huge, Setting(4096, ""))
    assert k["vm.overcommit_ratio"].value == ratio


def test_huge_pages_hold_shared_buffers_and_more():
    # 2 MiB pages for 8 GiB of shared_buffers: at least 4096; the real count is checked against
    # `postgres -C shared_memory_size_in_huge_pages` in tests/test_servers_accept_rendered.py.
    assert 4096 < nr_hugepages(8 * GIB, 16 * 1024**2, 100).value < 4096 * 1.05


def test_open_file_limits_per_service():
    limits = service_limits(Setting(2048, "pgbouncer"), 720, shared_db_and_redis=True)
    # Redis docs (clients): maxclients 10000 needs 10032 descriptors; HAProxy: two per connection.
    assert limits["redis-cache"]["LimitNOFILE"].value >= 10_032
    assert limits["haproxy"]["LimitNOFILE"].value >= 2 * 720
    assert limits["postgres"]["LimitNOFILE"].value >= 1000   # max_files_per_process
    assert limits["postgres"]["OOMScoreAdjust"].value == -1000
    assert "OOMScoreAdjust" not in service_limits(Setting(2048, ""), 720, False)["postgres"]


@pytest.mark.parametrize("memory_gib,storage,background", [
    (128, "nvme", 512 * 1024**2), (32, "ssd", 256 * 1024**2), (16, "hdd", 64 * 1024**2),
    (1, "ssd", 1024**3 // 10)])   # a small host: at most the default's 10 % of RAM
def test_a_db_host_writes_back_steadily(memory_gib, storage, background):
    """Issue #26, kernel docs (vm.rst: dirty_background_bytes, dirty_bytes, swappiness): the 10 %/20 %
    ratios let 12.8 GB pile up on a 128 GiB host before a checkpoint's fsync; bytes by storage, never
    above the default's 10 % of RAM, writers blocked at 4 ×; swap only to avoid an OOM kill."""
    from tunestack.plan.kernel import host_kernel
    from tunestack.plan.setting import Setting

    k = host_kernel(("db",), memory_gib * 1024**3, 0, None, Setting(4096, ""), storage)
    assert k["vm.dirty_background_bytes"].value == background
    assert k["vm.dirty_bytes"].value == 4 * k["vm.dirty_background_bytes"].value
    assert k["vm.swappiness"].value == 1


def test_only_db_hosts_get_writeback_bounds():
    from tunestack.plan.kernel import host_kernel
    from tunestack.plan.setting import Setting

    for roles in (("cache",), ("app",)):
        assert "vm.dirty_bytes" not in host_kernel(roles, 8 * 1024**3, 0, None, Setting(4096, ""), "ssd")


def test_a_protected_postmaster_lets_its_backends_be_killed():
    """Issue #26, PostgreSQL docs (Linux Memory Overcommit): with OOMScoreAdjust=-1000 on the
    postmaster, PG_OOM_ADJUST_FILE/VALUE give each child a normal score again."""
    from tunestack.plan.kernel import service_limits
    from tunestack.plan.setting import Setting

    limits = service_limits(Setting(1024, ""), 256, shared_db_and_redis=True)["postgres"]
    assert limits["OOMScoreAdjust"].value == -1000
    assert limits["Environment"].text == "PG_OOM_ADJUST_FILE=/proc/self/oom_score_adj PG_OOM_ADJUST_VALUE=0"
    assert "Environment" not in service_limits(Setting(1024, ""), 256, shared_db_and_redis=False)["postgres"]


@pytest.mark.parametrize("recommended,planned", [("try", "on"), ("off", "off")])
def test_reserved_huge_pages_fail_fast(recommended, planned):
    """Issue #26, PostgreSQL docs (huge_pages): with the pages reserved (nr_hugepages), `try` would
    silently fall back and strand them; `on` makes a missing reservation fail at start."""
    from tunestack.plan.kernel import reserved_huge_pages
    from tunestack.plan.setting import Setting

    assert reserved_huge_pages({"huge_pages": Setting(recommended, "pgtune")})["huge_pages"].value == planned


def test_every_stack_that_reserves_huge_pages_demands_them():
    from tunestack.plan import plan_stack

    for stack in ("local", "dev", "staging", "prod"):
        p = plan_stack(stack)
        reserved = any("vm.nr_hugepages" in k for k in p.host_kernel.values())
        assert (p.postgres["huge_pages"].value == "on") == reserved, stack
