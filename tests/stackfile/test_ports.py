"""Bad input in Every port once, inside the range, the canary slot included.
Each case is a whole stack file: exit 2, one clear error, nothing planned (badinput.check)."""
import copy

import pytest
import yaml

from .badinput import A, BASE, H, PG, R, doc_with, check


def remote_with_lb_on_the_canary_port() -> str:
    """One remote Docker host: its canary (issue #26, point 6) sits beside stable on app port + 100."""
    doc = copy.deepcopy(BASE)
    doc["config"][H] = [{"name": "one", "roles": ["db", "cache", "app"], "cpus": 2, "memory": "4GiB",
                         "addresses": ["10.9.0.5"]}]
    doc["config"][A]["lb_port"] = doc["config"][A]["port"] + 100
    return yaml.safe_dump(doc)

CASES = [
    ("lb-on-canary-port", doc_with([A, "lb_port"], 18100), ["lb_port", "18100", "canary"]),
    ("remote-lb-on-canary-port", remote_with_lb_on_the_canary_port(), ["lb_port", "18100", "canary"]),
    ("port-70000", doc_with([PG, "port"], 70000), ["postgres → port", "at most 65535"]),
    ("port-zero", doc_with([A, "port"], 0), ["app → port", "at least 1"]),
    ("app-port-high", doc_with([A, "port"], 65500), ["app → port", "65435"]),
    ("port-clash", doc_with([R, "cache", "port"], 15432), ["cache → port", "taken by postgres"]),
    # pgBackRest's TLS port (its default, 8432) belongs to backups across hosts (issue #27)
    ("on-pgbackrest-port", doc_with([PG, "port"], 8432), ["postgres → port", "8432", "pgBackRest"]),
]


@pytest.mark.parametrize("case,text,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, capsys, case, text, fragments):
    check(tmp_path, capsys, case, text, fragments)
