"""`tunestack postgres` around pgtune's numbers (issue #24): its inputs first, only real changes
counted (a setting the file leaves at PostgreSQL's default is that default, from pg_settings'
boot_val), restart-needing settings marked (pg_settings.context postmaster), the file's
max_connections kept unless asked, and --write/--dry-run/--yes/--restore as timescaledb-tune has."""
import os
import subprocess
import sys

import pytest

from tunestack.postgres import confwrite
from tunestack.postgres.catalog import catalog
from tunestack.postgres.inputs import PgInputs
from tunestack.postgres.pgtune import recommend
from tunestack.postgres.standalone import compare
from tunestack.paths import ROOT


@pytest.mark.parametrize("version,name,default", [
    # PostgreSQL docs, "Resource Consumption" / "Query Planning": the documented defaults.
    (17, "shared_buffers", "128MB"), (17, "work_mem", "4MB"), (17, "maintenance_work_mem", "64MB"),
    (17, "effective_cache_size", "4GB"), (17, "random_page_cost", "4"), (17, "checkpoint_timeout", "5min"),
    (13, "effective_io_concurrency", "1"), (18, "effective_io_concurrency", "16"), (17, "max_wal_size", "1GB"),
])
def test_defaults_come_from_the_real_servers(version, name, default):
    assert catalog(version)[name].shown_default == default


def recs(connections=100):
    return recommend(PgInputs(16 * 1024**2, 4, "ssd", "web", 17, connections))


def test_a_recommendation_equal_to_the_default_is_no_change():
    by_name = {c.name: c for c in compare(recs(), {}, 17)}
    assert by_name["checkpoint_completion_target"].same and by_name["checkpoint_completion_target"].default == "0.9"
    assert by_name["default_statistics_target"].same
    assert not by_name["shared_buffers"].same and by_name["shared_buffers"].default == "128MB"


def test_restart_needing_settings_are_marked():
    by_name = {c.name: c for c in compare(recs(), {}, 17)}
    assert by_name["shared_buffers"].restart and by_name["max_worker_processes"].restart
    assert not by_name["work_mem"].restart and not by_name["random_page_cost"].restart


def test_the_file_keeps_its_other_lines_and_each_setting_is_set_once():
    text = "# mine\nshared_buffers = 128MB  # old\nwork_mem=4MB\nshared_buffers = 256MB\nlisten_addresses = '*'\n"
    out = confwrite.with_recommendations(text, {"shared_buffers": "4GB", "jit": "off"}, 17).splitlines()
    assert out[0] == "# mine" and out[2] == "work_mem=4MB" and out[4] == "listen_addresses = '*'"
    assert out[1] == "shared_buffers = 4GB\t# tunestack postgres"
    assert out[3].startswith("#shared_buffers = 256MB"), "a later line would win: commented out"
    assert out[-1] == "jit = off"


def unwrapped(text: str) -> str:
    """Comment lines joined again: the output wraps them at 80 columns as `#   …` continuations."""
    return text.replace("\n#   ", " ")


def cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "tunestack", "postgres", *args], cwd=ROOT, capture_output=True,
                          text=True, stdin=stdin or subprocess.DEVNULL, timeout=120)


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "postgresql.conf"
    path.write_text("max_connections = 300\nshared_buffers = 128MB\n")
    path.chmod(0o640)
    return path


def test_write_keeps_a_backup_and_restore_puts_it_back(conf):
    before = conf.read_text()
    res = cli("--memory", "16GB", "--cpus", "4", "--write", str(conf), "--yes")
    assert res.returncode == 0, res.stderr
    assert "shared_buffers = 4GB" in conf.read_text() and "max_connections = 300" in conf.read_text()
    assert os.stat(conf).st_mode & 0o777 == 0o640
    (backup,) = confwrite.backups(conf)
    assert backup.read_text() == before and "300 connections (the file's max_connections)" in unwrapped(res.stdout)
    assert cli("--restore", str(conf)).returncode == 0 and conf.read_text() == before


def test_dry_run_changes_nothing_and_no_terminal_needs_yes(conf):
    before = conf.read_text()
    res = cli("--memory", "16GB", "--write", str(conf), "--dry-run")
    assert res.returncode == 0 and "would become" in res.stdout and conf.read_text() == before
    res = cli("--memory", "16GB", "--write", str(conf))
    assert res.returncode == 2 and "add --yes" in res.stderr and conf.read_text() == before
    assert not confwrite.backups(conf)


def test_restore_without_a_backup_is_bad_input(conf):
    res = cli("--restore", str(conf))
    assert res.returncode == 2 and "no backup" in res.stderr


def test_the_output_opens_with_its_inputs():
    first = unwrapped(cli("--memory", "16GB", "--cpus", "4").stdout).splitlines()[0]
    assert first == ("# inputs: PostgreSQL 18, 16 GiB memory, 4 CPUs, 200 connections (pgtune's for web), ssd "
                     "storage, web workload, mid_ram")


@pytest.mark.parametrize("memory_gib,says", [
    (1024, "above the 100 GB pgtune's formulas were made for"),   # pgtune warns above 100 GB
    (0.5, "their own memory alone is"),                            # 300 connections × 2 MiB on 512 MiB
    (8, None),                                                     # the hosts pgtune is made for: quiet
])
def test_extreme_hosts_are_warned_with_the_arithmetic_and_pgtunes_numbers_stay(memory_gib, says):
    """Issue #26: on 1 TiB OLTP the worst case exceeds the host, and on 512 MiB 300 connections
    take more than the host before any query, both without a word; pgtune itself warns on very large
    hosts (le0pard/pgtune: "not optimal for very high memory systems"). The numbers stay pgtune's."""
    from tunestack.postgres.standalone import memory_warnings

    memory = int(memory_gib * 1024**3)
    inputs = PgInputs(memory // 1024, 8, "ssd", "oltp", 17, 300)
    recs = recommend(inputs)
    warnings = memory_warnings(recs, memory, 17)
    if says is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and says in warnings[0] and "% of the host" in warnings[0]
    assert recommend(inputs) == recs   # warned, never changed
