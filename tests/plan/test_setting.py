"""A setting carries its typed value and the exact text files receive."""
import pytest

from tunestack.plan.setting import Setting, duration_ms, seconds, size_kb


@pytest.mark.parametrize("setting,value,text,unit", [
    (size_kb(4 * 1024 * 1024, ""), 4 * 1024**3, "4GB", "bytes"),      # pgtune promotes exact multiples only
    (size_kb(20560, ""), 20560 * 1024, "20560kB", "bytes"),
    (duration_ms(60_000, ""), 60_000, "1min", "ms"),                   # PostgreSQL's display rule
    (duration_ms(3333, ""), 3333, "3333ms", "ms"),
    (seconds(30_000, ""), 30_000, "30", "ms"),                        # PgBouncer and HAProxy take seconds
    (Setting((10, 25, 50, 100), ""), (10, 25, 50, 100), "10,25,50,100", ""),
    (Setting(False, "", text="false"), False, "false", ""),
])
def test_value_and_text(setting, value, text, unit):
    assert (setting.value, setting.text, setting.unit) == (value, text, unit)


def test_unknown_source_is_refused():
    with pytest.raises(ValueError):
        Setting(1, "", "guessed")


def test_a_default_is_never_called_the_stack_file():
    """Issue #24: prod sets no port, yet the plan said `port = 5432 — stack file`."""
    from tunestack.plan import plan_stack

    prod, local = plan_stack("prod"), plan_stack("local")
    assert prod.postgres["port"].source == "default" and prod.postgres["port"].reason.startswith("default:")
    assert local.postgres["port"].source == "stack file" and local.postgres["port"].reason == "stack file: postgres.port"
    assert prod.pgbouncer["listen_port"].reason.startswith("default:")
    assert prod.app["port"].reason.startswith("default:")
