"""Bad input in tunestack:rollout and the canary keys: steps, gates, bake, a canary only with its image.
Each case is a whole stack file: exit 2, one clear error, nothing planned (badinput.check)."""
import math

import pytest

from .badinput import RO, doc_with, without_line, check

CASES = [
    ("gate-nan", doc_with([RO, "gates", "max_error_rate"], math.nan), ["max_error_rate", "nan"]),
    ("gate-p95-inf", doc_with([RO, "gates", "max_p95_ms"], math.inf), ["max_p95_ms", "inf"]),
    ("min-requests-float", doc_with([RO, "gates", "min_requests"], 50.5), ["min_requests", "50.5"]),
    ("steps-empty", doc_with([RO, "steps"], []), ["steps", "at least"]),
    ("steps-no-100", doc_with([RO, "steps"], [10, 50]), ["steps", "last step of 100"]),
    ("surge-150", doc_with([RO, "max_surge"], 150), ["max_surge", "at most 100"]),
    ("error-rate-2", doc_with([RO, "gates", "max_error_rate"], 2), ["max_error_rate", "at most 1"]),
    ("min-requests-zero", doc_with([RO, "gates", "min_requests"], 0), ["min_requests", "at least 1"]),
    ("bake-500ms", doc_with([RO, "bake"], "500ms"), ["bake", "at least 1"]),
    ("canary-weight-no-image", without_line(doc_with(["tunestack:canaryWeight"], 50), "    canary_app: tunestack/refapp:0.2.0\n"),
     ["canaryWeight", "no canary image"]),
    ("canary-weight-101", doc_with(["tunestack:canaryWeight"], 101), ["canaryWeight", "at most 100"]),
    # --- issue #23: a held-out set of hostile files ---------------------------------------------
    ("bake-100000h", doc_with([RO, "bake"], "100000h"), ["bake", "at most 24h"]),
    ("min-requests-unreachable", doc_with([RO, "gates", "min_requests"], 10**12), ["min_requests", "at most 1000"]),
    ("p95-below-a-ms", doc_with([RO, "gates", "max_p95_ms"], 1e-6), ["max_p95_ms", "whole ms"]),
    ("canary-env-database-url", doc_with(["tunestack:canaryEnv"], {"DATABASE_URL": "postgres://evil"}),
     ["canaryEnv → DATABASE_URL", "not one that changes what runs or where it connects"]),
    ("canary-env-ld-preload", doc_with(["tunestack:canaryEnv"], {"LD_PRELOAD": "/tmp/x.so"}), ["canaryEnv → LD_PRELOAD"]),
    ("canary-env-escape", doc_with(["tunestack:canaryEnv"], {"NOTE": "a\x1b[2Jb"}),
     ["canaryEnv → NOTE", "printable text only"]),
    # Issue #25: the provider keeps env as a set; a second DB_POOL= would leave the winner to chance.
    ("canary-env-planned-key", doc_with(["tunestack:canaryEnv"], {"DB_POOL": "50"}),
     ["canaryEnv → DB_POOL", "a variable the plan does not set"]),
    ("canary-env-track", doc_with(["tunestack:canaryEnv"], {"APP_VERSION": "v9"}), ["canaryEnv → APP_VERSION"])
]


@pytest.mark.parametrize("case,text,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, capsys, case, text, fragments):
    check(tmp_path, capsys, case, text, fragments)
