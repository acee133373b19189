"""advise's statement queries on a real PostgreSQL with pg_stat_statements (issue #26): its own reads
of the statistics views never appear among a stack's top statements, and the temp blocks of
maintenance statements are told apart from those of queries."""
import json

import pytest

from tests.realservers import psql, start_postgres
from tunestack.advise.snapshot import CHECKPOINTS_OLD, DEAD_TUPLES, PG_DATABASE, STATEMENTS, TEMP_BY_KIND

pytestmark = pytest.mark.servers


def test_advise_sees_the_stacks_statements_not_its_own(server_dir):
    server = start_postgres(server_dir, "shared_preload_libraries = 'pg_stat_statements'\n"
                                        "maintenance_work_mem = '1MB'\n")
    try:
        psql(server.port, "CREATE DATABASE app")
        psql(server.port, "CREATE EXTENSION pg_stat_statements", db="app")
        psql(server.port, "CREATE TABLE t AS SELECT g AS v, md5(g::text) AS s FROM generate_series(1, 100000) g",
             db="app")
        psql(server.port, "CREATE INDEX ON t (s)", db="app")   # sorts more than 1MB: temp blocks
        for own in (PG_DATABASE, CHECKPOINTS_OLD.replace("num_", ""), DEAD_TUPLES, TEMP_BY_KIND,
                    "SHOW server_version_num"):
            psql(server.port, own, db="app")
        psql(server.port, "SELECT count(*) FROM t WHERE v > 10", db="app")
        queries = [s["query"] for s in json.loads(psql(server.port, STATEMENTS, db="app"))]
        maintenance, every = (int(x) for x in psql(server.port, TEMP_BY_KIND, db="app").strip().split("|"))
    finally:
        server.stop()
    assert any(q.startswith("SELECT count(*) FROM t") for q in queries)
    assert not any("pg_stat_" in q or q.upper().startswith("SHOW") for q in queries), queries
    assert maintenance > 0 and maintenance == every   # the index build's spill, attributed to maintenance
