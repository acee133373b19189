"""Bad input in tunestack:backup (issue #27): a repository a lost db host would take with it, one
that names no host of the stack, S3 without its keys, a retention of 0, an RPO outside 10 s–1 h.
Each case is a whole stack file: exit 2, one clear error, nothing planned (badinput.check)."""
import pytest

from .badinput import check, doc_with, staging_with

B = "tunestack:backup"


def backup(**kw):
    return lambda c: c.__setitem__(B, kw)


CASES = [
    ("repo-host-unknown", staging_with(backup(repository={"host": "nas"})), ["backup → repository → host", "db, cache, app"]),
    ("repo-on-db-host", staging_with(backup(repository={"host": "db"})), ["repository → host", "other than the db host"]),
    ("repo-path-on-a-fleet", staging_with(backup(repository={"path": "/srv/backups"})),
     ["repository → path", "allow_same_host"]),
    ("s3-without-keys", staging_with(backup(repository={"s3": {"bucket": "acme-backups", "region": "eu-west-1"}})),
     ["tunestack:backupS3Key", "--secret"]),
    ("retention-0", doc_with([B], {"retention_full": 0}), ["retention_full", "at least 1"]),
    ("rpo-5s", doc_with([B], {"archive_timeout": "5s"}), ["archive_timeout", "from 10s to 1h"]),
    ("rpo-2h", doc_with([B], {"archive_timeout": "2h"}), ["archive_timeout", "from 10s to 1h"]),
    ("two-repositories", doc_with([B], {"repository": {"path": "/a", "host": "b"}}), ["repository"]),
]


@pytest.mark.parametrize("case,text,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, capsys, case, text, fragments):
    check(tmp_path, capsys, case, text, fragments)
