"""Backups (plan.backup): WAL reaches the archive, the newest backup is younger than the policy
allows, and pgBackRest's own end-to-end check passes. Run on the db host, where pgBackRest runs
as the database's service user with the stack's config."""
import json
import time

import pytest

SERVICE = "postgres"


@pytest.fixture(autouse=True)
def _archiving(plan):
    if plan.postgres["archive_mode"].text != "on":
        pytest.skip(f"no archiving here: {plan.postgres['archive_mode'].reason}")


def _pgbackrest(host, config: str, stanza: str, *args: str):
    as_service = "runuser -u postgres -- " if host.user().uid == 0 else ""
    return host.run(f"{as_service}pgbackrest --config={config} --stanza={stanza} {' '.join(args)}")


def _leader_options(host, plan, secrets_dir: str) -> tuple[str, ...]:
    if not plan.ha:
        return ()
    from verify.helpers import psql

    path, port = psql(host, secrets_dir, plan.postgres["port"].value,
                      "SELECT current_setting('data_directory') || ' ' || inet_server_port()").split()
    return (f"--pg1-path={path}", f"--pg1-port={port}")


def test_archiving_has_not_failed_since_it_last_worked(host, plan, secrets_dir, record):
    """pg_stat_archiver (PostgreSQL docs 28.2): a failure newer than the last success means WAL is
    piling up in pg_wal and point-in-time recovery stops at the last archived segment."""
    from verify.helpers import psql

    row = psql(host, secrets_dir, plan.postgres["port"].value,
               "SELECT coalesce(last_archived_wal, 'none') || ' ' || (last_failed_time IS NOT NULL AND "
               "last_failed_time >= coalesce(last_archived_time, '-infinity'))::text FROM pg_stat_archiver").strip()
    wal, failing = row.split(" ")
    record("archived, no failure since", f"last archived {wal}" + (", failing since" if failing == "true" else ""),
           wal != "none" and failing == "false")


def test_the_newest_backup_is_younger_than_the_policy_allows(host, plan, pgbackrest_config, record):
    limit = plan.backup["newest backup at most"].value
    res = _pgbackrest(host, pgbackrest_config, plan.backup["stanza"].text, "--output=json", "info")
    stanzas = json.loads(res.stdout) if res.rc == 0 else []
    stops = [b["timestamp"]["stop"] for s in stanzas for b in s.get("backup", [])]
    age = time.time() - max(stops) if stops else None
    record(f"a backup younger than {limit // 3600}h", "no backup" if age is None else f"{age / 3600:.1f}h old",
           age is not None and age < limit)


def test_pgbackrest_check_passes(host, plan, pgbackrest_config, secrets_dir, record):
    """pgBackRest's `check`: the config, the repository, and a WAL switch that reaches the archive.
    With standbys, on the node that leads now (the one the primary service reaches)."""
    res = _pgbackrest(host, pgbackrest_config, plan.backup["stanza"].text, "--log-level-console=warn",
                      *_leader_options(host, plan, secrets_dir), "check")
    record("check passes", "check passes" if res.rc == 0 else (res.stdout + res.stderr).strip()[-160:], res.rc == 0)
