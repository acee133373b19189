"""Bad input in tunestack:monitoring (issue #29): an alert receiver that is not http(s), a scrape
target on a public address or not written as address:port, a retention too large for the disk the
stack file gives Prometheus, an interval Prometheus would mark stale. Each case is a whole stack
file: exit 2, one clear error, nothing planned (badinput.check)."""
import pytest

from .badinput import check, doc_with

M = ["tunestack:monitoring"]

CASES = [
    ("receiver-ftp", doc_with(M, {"receiver": "ftp://alerts.internal/hook"}), ["monitoring → receiver", "http://"]),
    ("receiver-no-host", doc_with(M, {"receiver": "https:///hook"}), ["monitoring → receiver", "with a host"]),
    ("receiver-with-password", doc_with(M, {"receiver": "https://bob:s3cret@alerts.internal/hook"}),
     ["monitoring → receiver", "without a user or password"]),
    ("target-public", doc_with(M, {"targets": ["8.8.8.8:9100"]}), ["targets[0]", "private or loopback"]),
    ("target-name", doc_with(M, {"targets": ["10.0.0.7:9100", "metrics.example.com:9100"]}),
     ["targets[1]", "address:port"]),
    ("retention-1h", doc_with(M, {"retention": "1h"}), ["monitoring → retention", "at least 2h"]),
    # 400 days of 15 s samples from the local stack's targets need tens of GiB: the planner refuses
    ("retention-past-the-disk", doc_with(M, {"retention": "400d", "disk": "2GiB"}),
     ["monitoring → retention", "at most", "monitoring.disk at least"]),
    ("interval-10m", doc_with(M, {"scrape_interval": "10m"}), ["scrape_interval", "from 1s to 5m"]),
]


@pytest.mark.parametrize("case,text,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, capsys, case, text, fragments):
    check(tmp_path, capsys, case, text, fragments)


def test_the_password_of_a_refused_receiver_is_not_repeated(tmp_path, capsys):
    check(tmp_path, capsys, "receiver-secret", doc_with(M, {"receiver": "https://bob:s3cret@alerts.internal/hook"}),
          ["without a user or password"])
    assert "s3cret" not in capsys.readouterr().err
