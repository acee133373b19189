"""The command line as people and scripts use it (issue #16): JSON from every report, output that
fits 80 columns, one meaning of --stack/--stack-file, exit codes as documented, "did you mean",
and a README that names only commands and flags that exist."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tunestack.cli import build_parser
from tunestack.paths import ROOT


def cli(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "tunestack", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture
def state(tmp_path):
    """A state folder of its own: status and rollout status read it, nothing runs."""
    return {"TUNESTACK_STATE_DIR": str(tmp_path / "state")}


@pytest.mark.parametrize("args", [
    ["plan", "-s", "prod", "--json"],
    ["plan", "--stack-file", "stacks/Pulumi.staging.yaml", "--format", "json"],
    ["render", "-s", "dev", "-o", "{tmp}", "-j"],
    ["render", "--check", "-j"],
    ["postgres", "--memory", "16GB", "--cpus", "4", "-j"],
    ["preview", "-s", "dev", "-j"],
    ["status", "-s", "local", "-j"],
    ["rollout", "status", "-s", "local", "-j"],
    ["bench", "--only", "plan", "-j"],
    ["schema"],
], ids=lambda a: " ".join(a[:2]))
def test_every_report_is_json(args, tmp_path, state):
    """Commands that need a running stack (up, down, verify) are checked on one in
    tests/test_local_stack_e2e.py; review's JSON in tests/test_review.py."""
    res = cli(*[a.replace("{tmp}", str(tmp_path)) for a in args], env=state)
    assert res.returncode == 0, res.stderr[-2000:]
    json.loads(res.stdout)


def test_plan_fits_80_columns():
    res = cli("plan", "--stack", "prod", env={"COLUMNS": "80"})
    assert res.returncode == 0, res.stderr
    long = [line for line in res.stdout.splitlines() if len(line) > 80]
    assert not long, long[:3]
    assert "\x1b[" not in res.stdout, "no colour when stdout is not a terminal"


def test_bytes_show_a_human_size_beside_them():
    res = cli("plan", "--stack", "local", env={"COLUMNS": "200"})
    assert re.search(r"maxmemory\s+201326592 \(192 MiB\)", res.stdout), res.stdout[-2000:]


@pytest.mark.parametrize("args,hint", [
    (["plna", "--stack", "dev"], "did you mean 'plan'?"),
    (["plan", "--stak", "dev"], "--stak → --stack"),
    (["plan", "--stack", "devv"], "did you mean 'dev'?"),
    (["preview", "--stack", "dev", "--canary-weight", "150"], "150: a percentage from 0 to 100"),
    (["postgres", "--memory", "16"], "with its unit"),
    (["status", "--stack-file", "stacks/stack.schema.json"], "Pulumi.<stack>.yaml"),
])
def test_bad_input_says_what_was_meant(args, hint):
    res = cli(*args)
    assert res.returncode == 2, res.stdout + res.stderr
    assert hint in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr) < 600, "one clear message, not a list of every choice"


def test_exit_codes_are_in_help():
    text = cli("--help").stdout + cli("verify", "--help").stdout
    assert text.count("3 the environment") == 2 and "2 bad input" in text


def test_a_stack_file_elsewhere_is_its_stack_for_every_command(tmp_path, state):
    (tmp_path / "Pulumi.mine.yaml").write_text((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    res = cli("status", "--stack-file", str(tmp_path / "Pulumi.mine.yaml"), "--json", env=state)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["stack"] == "mine"


def test_rollout_status_watch_gives_up_at_its_timeout(state, tmp_path):
    """`rollout status --watch --timeout`: follows a rollout in progress; exit 1 when it does not end."""
    folder = tmp_path / "state" / "local" / "rollout"
    folder.mkdir(parents=True)
    (folder / "rollout.json").write_text(json.dumps({"version": "v2", "env": {}, "steps": [10, 100], "bake_s": 60,
                                                     "step": 0, "phase": "pause"}))
    res = cli("rollout", "status", "--watch", "--timeout", "2s", "-s", "local", env=state, timeout=60)
    # A step that bakes says so: "pause" read as a rollout paused by hand (issue #24).
    assert res.returncode == 1 and "still baking at 10%" in res.stderr
    assert "version v2: baking at step 1/2 (10%)" in res.stdout


@pytest.mark.parametrize("phase,code", [("aborted", 1), ("promoted", 0)])
def test_rollout_status_watch_succeeds_only_when_the_rollout_ends_promoted(state, tmp_path, phase, code):
    """Argo Rollouts' contract for `status --watch`: exit 0 only for a promoted rollout, so CI can
    gate on it (it exited 0 on an abort)."""
    folder = tmp_path / "state" / "local" / "rollout"
    folder.mkdir(parents=True)
    (folder / "rollout.json").write_text(json.dumps({"version": "v2", "env": {}, "steps": [10, 100], "bake_s": 60,
                                                     "step": 0, "phase": phase}))
    res = cli("rollout", "status", "--watch", "-s", "local", env=state, timeout=60)
    assert res.returncode == code, res.stdout + res.stderr


def test_the_rendered_header_names_a_command_that_works(tmp_path):
    header = (ROOT / "rendered" / "dev" / "postgresql.conf").read_text().splitlines()[1]
    command = re.search(r"`tunestack (render --all)`", header).group(1).split()
    res = cli(*command, "--check")
    assert res.returncode == 0, res.stderr


def _parser_words():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict))
    return {name: {o for a in p._actions for o in a.option_strings} for name, p in sub.choices.items()}


def test_the_readme_names_only_commands_and_flags_that_exist():
    """Every `tunestack COMMAND … --flag` in the README's code is a command with that flag."""
    commands = _parser_words()
    readme = (ROOT / "README.md").read_text()
    invocation = r"(?:^|&&\s*|\.venv/bin/|python3? -m )tunestack ([a-z]+)((?:\s+(?:[^|&;`\s]+))*)"
    snippets = re.findall(r"`([^`\n]+)`", readme)
    snippets += [line.split(" #")[0] for block in re.findall(r"```(?:sh|bash)?\n(.*?)```", readme, re.S)
                 for line in block.splitlines() if not line.lstrip().startswith("#")]
    checked = 0
    for snippet in snippets:
        for m in re.finditer(invocation, snippet.strip()):
            command, rest = m.group(1), m.group(2)
            assert command in commands, f"README: `tunestack {command}` is no command ({snippet!r})"
            for flag in re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", rest):
                assert flag in commands[command] | {"-h", "--help"}, \
                    f"README: `tunestack {command}` has no {flag} ({snippet!r})"
            checked += 1
    assert checked > 20


def test_the_readme_command_table_is_each_commands_help():
    from tunestack.cli import EXIT_CODES

    parser = build_parser()
    sub = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict))
    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| `tunestack ([a-z]+)` \| (.+?) \|$", readme, re.M))
    assert rows == {a.dest: a.help.replace("%%", "%") for a in sub._choices_actions}
    assert " ".join(EXIT_CODES.removeprefix("exit codes: ").split()) in " ".join(readme.split())


def test_postgres_compares_an_existing_conf(tmp_path):
    """timescaledb-tune's view: current → recommended with the reason; equal values (in any unit) stay."""
    conf = tmp_path / "postgresql.conf"
    conf.write_text("shared_buffers = '2048MB'  # set by hand\nwork_mem = 1MB\nlog_line_prefix = '%m # %p'\n")
    res = cli("postgres", "--memory", "8GB", "--cpus", "2", "--conf", str(conf))
    assert res.returncode == 0, res.stderr
    assert "  shared_buffers = 2GB  (already)" in res.stdout
    assert re.search(r"~ work_mem: 1MB → \d+kB\n\s+\S", res.stdout)
    # A setting the file does not set is PostgreSQL's default, shown in the recommendation's unit.
    assert "~ effective_cache_size: 4GB (PostgreSQL's default) → 6GB" in res.stdout


def test_postgres_as_alter_system_and_detected():
    res = cli("postgres", "--detect", "--alter-system")
    assert res.returncode == 0, res.stderr
    statements = [line for line in res.stdout.splitlines() if not line.startswith("--")]
    assert statements and all(re.fullmatch(r"ALTER SYSTEM SET [a-z_]+ = '[^']*';", s) for s in statements)
    assert "-- detected memory" in res.stdout


def test_plan_leads_with_a_summary_the_headline_numbers_and_the_warnings():
    """Issue #24: warnings came after 460+ lines. Now a summary line, the numbers a reader looks
    for first (each the plan's own), then warnings, then the detail."""
    from tunestack.plan import plan_stack

    plan = plan_stack("prod")
    lines = cli("plan", "-s", "prod", env={"COLUMNS": "80"}).stdout.splitlines()
    assert re.fullmatch(r"3 hosts \(12 machines\), \d+ settings; 7 of 7 budgets hold; \d+ warnings?", lines[1])
    glance = " ".join(" ".join(lines[2:lines.index("warnings")]).split())
    assert f"max_connections {plan.postgres['max_connections'].value}," in glance
    assert (f"{plan.pgbouncer['default_pool_size'].value} server connections "
            f"(+{plan.pgbouncer['reserve_pool_size'].value} reserve)") in glance
    assert "10 replicas × " in glance   # stacks/Pulumi.prod.yaml: ten app machines
    assert lines.index("warnings") < lines.index("hosts") < lines.index("postgresql.conf")
    assert all(len(line) <= 80 for line in lines)


@pytest.mark.parametrize("section,shown,hidden", [
    ("redis", ["redis cache", "redis queue"], ["postgresql.conf", "budgets"]),
    ("budgets", ["budgets"], ["hosts", "redis cache"]),
    ("pgbouncer.ini", ["pgbouncer.ini"], ["limits pgbouncer", "postgresql.conf"]),
])
def test_plan_shows_one_section(section, shown, hidden):
    lines = cli("plan", "-s", "local", "--section", section).stdout.splitlines()
    assert all(s in lines for s in shown) and not any(h in lines for h in hidden)
    assert not any(re.match(r"\s+app\s+\d+ replicas? × ", line) for line in lines), "headline numbers: whole plan only"


def test_an_unknown_section_names_the_sections():
    res = cli("plan", "-s", "local", "--section", "pgbouncr.ini")
    assert res.returncode == 2 and "did you mean 'pgbouncer.ini'?" in res.stderr
