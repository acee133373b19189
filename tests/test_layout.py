"""The shape of the code base that issue #9 set out: small functions, one module per plan stage
with its own tests, nothing that edits sys.path, and nothing written into the checkout."""
import ast
import subprocess
import sys

import pytest

from tunestack.paths import ROOT

STAGES = sorted(p.stem for p in (ROOT / "tunestack" / "plan").glob("*.py") if p.stem not in ("__init__", "model"))


def functions(folder):
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield path.relative_to(ROOT), node.name, node.end_lineno - node.lineno + 1


@pytest.mark.parametrize("folder", ["tunestack", "components"])
def test_no_function_longer_than_100_lines(folder):
    long = [f"{path}:{name} ({lines} lines)" for path, name, lines in functions(folder) if lines > 100]
    assert not long


@pytest.mark.parametrize("stage", STAGES)
def test_each_plan_stage_has_its_own_tests(stage):
    assert (ROOT / "tests" / "plan" / f"test_{stage}.py").exists()


def test_nothing_edits_sys_path():
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    offenders = [f for f in tracked if "sys.path.insert" in (ROOT / f).read_text() and f != "tests/test_layout.py"]
    assert not offenders


def test_console_script_reports_the_version():
    res = subprocess.run([sys.executable, "-m", "tunestack", "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("tunestack ")
