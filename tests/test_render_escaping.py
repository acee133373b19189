"""Every value is escaped for the file format it lands in, so that even a value the loader did not
check cannot add a line. Each format is read back by its own parser: PostgreSQL's (`postgres -C`),
supervisor's, and the rules of the rest."""
import pytest
from supervisor.datatypes import dict_of_key_value_pairs

from tests.realservers import postgres_check_config
from tunestack.render import (UnsafeValue, haproxy_word, line_value, pg_conf_value, redis_value, sql_literal,
                              supervisor_env_value)

HOSTILE = ["it's", "trailing\\", "back\\'slash", "50%(ENV_HOME)s", "a,b=c", "x y"]


@pytest.mark.servers
def test_postgresql_conf_values_round_trip_through_postgres(server_dir):
    # PostgreSQL docs (config-setting): quotes doubled; the file parser reads backslash escapes,
    # so a trailing backslash must not swallow the closing quote, and a line break stays inside.
    values = {"log_line_prefix": "it's \\ %m\nnext", "application_name": "trail\\"}
    conf = "".join(f"{k} = {pg_conf_value(v, 'string')}\n" for k, v in values.items())
    assert conf.count("\n") == len(values), "one line per setting"
    assert postgres_check_config(server_dir, conf, list(values)) == values


@pytest.mark.parametrize("value", HOSTILE)
def test_supervisor_reads_back_what_was_written(value):
    # supervisor.datatypes.dict_of_key_value_pairs is how supervisord reads environment=…
    # (after its %-expansion, which turns %% back into %).
    line = f"A={supervisor_env_value(value)},B={supervisor_env_value('x')}".replace("%%", "%")
    assert dict_of_key_value_pairs(line) == {"A": value, "B": "x"}


@pytest.mark.parametrize("value,written", [
    ("", '""'), ("allkeys-lru", "allkeys-lru"), ("3600 1 300 100", "3600 1 300 100"),
    ('pa"ss\\word', '"pa\\"ss\\\\word"'), ("two\nlines", '"two\\x0alines"'),
])
def test_redis_values(value, written):
    # Redis config parsing (sdssplitargs): double quotes with \\, \" and \xHH escapes.
    assert redis_value(value) == written and "\n" not in redis_value(value)


@pytest.mark.parametrize("value", ['say "hi"', "'quoted'"])
def test_supervisor_refuses_what_it_cannot_carry(value):
    with pytest.raises(UnsafeValue):
        supervisor_env_value(value)


@pytest.mark.parametrize("fmt", [line_value, haproxy_word, supervisor_env_value, sql_literal])
def test_line_breaks_never_reach_a_file(fmt):
    with pytest.raises(UnsafeValue):
        fmt("/health\n    stats enable")


def test_haproxy_takes_single_words_only():
    assert haproxy_word("/health") == "/health"
    for bad in ("/a b", "/a#b", "/a'b"):
        with pytest.raises(UnsafeValue):
            haproxy_word(bad)


def test_sql_literal_doubles_quotes():
    assert sql_literal("it's") == "'it''s'"
