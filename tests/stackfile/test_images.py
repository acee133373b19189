"""Bad input in tunestack:images: references nothing can inject through, tags images/ builds, the planned major.
Each case is a whole stack file: exit 2, one clear error, nothing planned (badinput.check)."""
import pytest

from .badinput import doc_with, check

CASES = [
    ("image-with-space", doc_with(["tunestack:images", "app"], "refapp:1 --privileged"), ["images → app", "image reference"]),
    ("image-uppercase", doc_with(["tunestack:images", "app"], "Refapp:1"), ["images → app"]),
    ("postgres-image-other-major", doc_with(["tunestack:images", "postgres"], "tunestack/postgres:16"),
     ["images → postgres", "tunestack/postgres:15"]),
    ("image-unknown-key", doc_with(["tunestack:images", "worker"], "x:1"), ["images", "worker"]),
    # --- issue #23: a held-out set of hostile files ---------------------------------------------
    ("registry-user-control", doc_with(["tunestack:registry"], {"address": "ghcr.io", "username": "bot\x1b[31m"}),
     ["registry → username", "printable text only"]),
    ("registry-port-99999", doc_with(["tunestack:registry"], {"address": "ghcr.io:99999", "username": "bot"}),
     ["registry → address", "a port from 1 to 65535"])
]


@pytest.mark.parametrize("case,text,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, capsys, case, text, fragments):
    check(tmp_path, capsys, case, text, fragments)
