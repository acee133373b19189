"""Bad input in tunestack:pgbouncer: versions, pool sizes and ports of the right type.
Each case is a whole stack file: exit 2, one clear error, nothing planned (badinput.check)."""
import pytest

from .badinput import B, doc_with, check

CASES = [
    ("float-port", doc_with([B, "port"], 16432.0), ["pgbouncer → port", "16432.0", "integer"]),
    ("bouncer-version", doc_with([B, "version"], "2.0"), ["pgbouncer → version", "2.0"]),
    ("pool-size-zero", doc_with([B, "default_pool_size"], 0), ["default_pool_size", "at least 1"]),
    ("max-client-word", doc_with([B, "max_client_conn"], "many"), ["max_client_conn", "many", "integer"]),
]


@pytest.mark.parametrize("case,text,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, capsys, case, text, fragments):
    check(tmp_path, capsys, case, text, fragments)
