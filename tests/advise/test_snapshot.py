"""advise's samplers read what the servers print (psql -At, PgBouncer's SHOW with its header,
redis-cli INFO), through a stand-in host that answers as those clients do. An area that cannot be
read says why; the others are still read."""
from types import SimpleNamespace

from tunestack.advise.snapshot import pgbouncer, postgres, redis, sample_areas

# What psql -AtX prints for each of the sampler's queries on PostgreSQL 16 (columns joined by |).
PSQL = {
    "server_version_num": "160004",
    "pg_stat_database": "3|104857600|9000|1000|0|5000|1700000000",
    "pg_stat_bgwriter": "12|3",
    "pg_stat_wal": "123456789",
    "sum(temp_blks_written) FILTER": "8192|10240",   # temp blocks: maintenance statements, all statements
    # json_agg's text, as PostgreSQL prints it: a control character in a query is escaped JSON.
    "pg_stat_statements": '[{"id":"42","calls":10,"ms":1234.5,"rows":10,"temp":64,"query":"SELECT * FROM t ORDER BY x"}, '
                          '{"id":"43","calls":1,"ms":2.5,"rows":1,"temp":0,"query":"INSERT INTO hits DEFAULT VALUES"}]',
    "pg_stat_user_tables": '[{"name":"hits","live":100,"dead":20,"vacuums":1}]',
    "idle in transaction": "2|35.5",
    "SHOW POOLS": "database|user|cl_active|cl_waiting|maxwait|maxwait_us\napp|app|5|3|2|500000\npgbouncer|pgbouncer|1|0|0|0",
    "SHOW STATS": "database|total_xact_count|total_wait_time\napp|1000|250000",
}
INFO = "# Stats\r\nevicted_keys:7\r\nkeyspace_hits:90\r\nkeyspace_misses:10\r\n# Memory\r\nmaxmemory:201326592\r\n"


class Host:
    """Answers each command by the first key of `answers` it contains (a testinfra host's check_output)."""

    def __init__(self, answers):
        self.answers, self.commands = answers, []

    def check_output(self, command):
        self.commands.append(command)
        for key, out in self.answers.items():
            if key in command:
                return out
        raise AssertionError(f"unexpected command: {command}")


def test_postgres_counters_statements_tables_and_idle_transactions():
    out = postgres(Host(PSQL), "/secrets", 5432)
    assert (out["temp_files"], out["temp_bytes"], out["checkpoints_timed"], out["checkpoints_requested"]) == \
        (3, 104857600, 12, 3)
    assert out["wal_bytes"] == 123456789
    assert out["statements"]["42"] == [10.0, 1234.5, 10.0, 64.0, "SELECT * FROM t ORDER BY x"]
    assert out["tables"] == {"hits": [100.0, 20.0, 1.0]}
    assert (out["idle_in_transaction"], out["idle_in_transaction_oldest_s"]) == (2, 35.5)


def test_postgres_17_reads_checkpoints_from_pg_stat_checkpointer():
    # PostgreSQL 17 release notes ("Monitoring"): checkpoint counts moved to pg_stat_checkpointer.
    answers = {**PSQL, "server_version_num": "170002", "pg_stat_checkpointer": "30|4"}
    out = postgres(Host(answers), "/secrets", 5432)
    assert (out["checkpoints_timed"], out["checkpoints_requested"]) == (30, 4)


def test_pgbouncer_reads_its_console_by_column_name():
    out = pgbouncer(Host(PSQL), "/secrets", 6432)
    assert out == {"cl_waiting": 3, "maxwait_s": 2.5, "total_wait_time_us": 250000.0, "total_xact_count": 1000.0}


def test_redis_info_and_no_password_on_the_command_line():
    host = Host({"INFO": INFO})
    assert redis(host, "/secrets", "cache", 6379) == {"evicted_keys": 7.0, "keyspace_hits": 90.0,
                                                      "keyspace_misses": 10.0, "maxmemory": 201326592.0}
    assert "REDISCLI_AUTH=\"$(cat /secrets/redis-cache-password)\"" in host.commands[0]


def test_an_area_that_cannot_be_read_says_why_and_the_others_are_read():
    plan = SimpleNamespace(postgres={"port": SimpleNamespace(value=5432)},
                           pgbouncer={"listen_port": SimpleNamespace(value=6432)},
                           redis={"cache": {"port": SimpleNamespace(value=6379)},
                                  "queue": {"port": SimpleNamespace(value=6380)}}, tls={})

    class Down(Host):
        def check_output(self, command):
            raise RuntimeError("connection refused\nmore")

    sample = sample_areas({"postgres": Host(PSQL), "redis_cache": Down({})}, plan, "/secrets", "/control")
    assert sample["postgres"]["temp_files"] == 3
    assert sample["redis_cache"] == {"error": "connection refused"}
    assert "pgbouncer" not in sample


def test_a_query_holding_carriage_returns_and_escapes_is_read_whole():
    """Issue #23: one `\\r` in a query made the whole PostgreSQL sample fail (line-based parsing),
    and escape sequences reached the terminal raw. json_agg escapes both; the parse keeps them."""
    hostile = "SELECT 1 /* \\r\\u001b]0;pwned\\u0007 | x */"
    answers = {**PSQL, "pg_stat_statements": '[{"id":"7","calls":3,"ms":9.0,"rows":3,"temp":0,"query":"%s"}]' % hostile,
               "pg_stat_user_tables": '[{"name":"we|ird\\nname","live":1,"dead":5,"vacuums":0}]'}
    out = postgres(Host(answers), "/secrets", 5432)
    assert out["statements"]["7"][4] == "SELECT 1 /* \r\x1b]0;pwned\x07 | x */"
    assert out["tables"] == {"we|ird\nname": [1.0, 5.0, 0.0]}
    assert out["temp_files"] == 3, "every other counter of the sample is still read"


def test_server_text_reaches_the_terminal_escaped():
    from tunestack.console import printable

    assert printable("a\x1b]0;pwned\x07\r\nOK: no findings") == "a\\x1b]0;pwned\\x07\\r\\nOK: no findings"
    assert printable("SELECT 'ü'") == "SELECT 'ü'"
