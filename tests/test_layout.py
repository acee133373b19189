"""The shape of the code base (issues #9 and #22): small modules, classes and functions; one module
per plan stage and per CLI command, each with its tests; layers that point one way; nothing that
edits sys.path; nothing written into the checkout."""
import ast
import re
import subprocess
import sys
import tomllib

import pytest

from tunestack.paths import ROOT

STAGES = sorted(p.stem for p in (ROOT / "tunestack" / "plan").glob("*.py") if p.stem not in ("__init__", "model"))
PACKAGE = sorted((ROOT / "tunestack").rglob("*.py"))
# The bounds of issue #22 for the package; the Pulumi components keep the older bound of #9.
MAX_MODULE_LINES, MAX_CLASS_LINES, MAX_FUNCTION_LINES = 400, 200, 60
# The CLI's shared parts; every other module in tunestack/cli/ is one command.
CLI_SHARED = {"__init__", "main", "parser", "stacks"}


def nodes(paths, kinds):
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, kinds):
                yield path.relative_to(ROOT), node.name, node.end_lineno - node.lineno + 1


def test_no_module_over_400_lines():
    long = [f"{p.relative_to(ROOT)} ({n} lines)" for p in PACKAGE if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES]
    assert not long


def test_no_class_over_200_lines():
    long = [f"{p}:{name} ({n} lines)" for p, name, n in nodes(PACKAGE, ast.ClassDef) if n > MAX_CLASS_LINES]
    assert not long


def test_no_function_over_60_lines_in_the_package():
    long = [f"{p}:{name} ({n} lines)" for p, name, n in nodes(PACKAGE, (ast.FunctionDef, ast.AsyncFunctionDef))
            if n > MAX_FUNCTION_LINES]
    assert not long


def test_no_component_function_longer_than_100_lines():
    long = [f"{p}:{name} ({n} lines)" for p, name, n in nodes(sorted((ROOT / "components").rglob("*.py")),
                                                              (ast.FunctionDef, ast.AsyncFunctionDef)) if n > 100]
    assert not long


def imported_roots(path):
    """The top-level packages a module imports (absolute imports only: relative ones stay inside)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def test_the_package_imports_nothing_from_the_layers_above_it():
    """tunestack/ is the bottom layer: the checks (verify/), the benchmarks (bench/), the Pulumi
    components and the tests import it, never the other way round (the CLI reaches the preview and
    the benchmarks through entry points, tunestack/extensions.py)."""
    upward = [f"{p.relative_to(ROOT)} imports {root}" for p in PACKAGE for root in imported_roots(p)
              if root in ("verify", "bench", "components", "tests", "refapp")]
    assert not upward


def test_the_benchmarks_import_no_tests():
    upward = [f"{p.relative_to(ROOT)} imports {root}" for p in sorted((ROOT / "bench").glob("*.py"))
              for root in imported_roots(p) if root in ("tests", "verify")]
    assert not upward


def test_the_install_ships_only_what_runs():
    """The package, and what its entry points load: the Pulumi components (preview) and the
    benchmarks. The checks run by path, the reference apps from the checkout, the tests never."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = project["tool"]["setuptools"]["packages"]["find"]["include"]
    assert sorted(shipped) == ["bench*", "components*", "tunestack*"]
    entry = project["project"]["entry-points"]["tunestack.extensions"]
    assert {v.split(":")[0].split(".")[0] for v in entry.values()} == {"bench", "components"}


CLI_COMMANDS = sorted(p.stem for p in (ROOT / "tunestack" / "cli").glob("*.py") if p.stem not in CLI_SHARED)


@pytest.mark.parametrize("command", CLI_COMMANDS)
def test_each_cli_module_registers_its_commands_and_holds_no_rule(command):
    """pip's commands/: one module per command, its parser beside its run; the domain lives in the
    package (a command module parses, calls and prints)."""
    tree = ast.parse((ROOT / "tunestack" / "cli" / f"{command}.py").read_text())
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "register" in functions and any(f == "run" or f.startswith("run_") for f in functions)


def test_every_cli_command_module_is_registered():
    from tunestack.cli.main import COMMANDS

    assert sorted(m.__name__.rsplit(".", 1)[1] for m in COMMANDS) == CLI_COMMANDS


@pytest.mark.parametrize("stage", STAGES)
def test_each_plan_stage_has_its_own_tests(stage):
    assert (ROOT / "tests" / "plan" / f"test_{stage}.py").exists()


SECTIONS = sorted(p.stem for p in (ROOT / "tunestack" / "stackfile" / "sections").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("section", SECTIONS)
def test_each_stack_file_section_has_its_bad_input_cases_beside_it(section):
    """ansible-lint's rules/: each section's checks with their own fixtures."""
    assert (ROOT / "tests" / "stackfile" / f"test_{section}.py").exists()


def test_the_readme_layout_names_every_folder_of_the_package():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    folders = sorted(p.relative_to(ROOT).as_posix() + "/" for p in (ROOT / "tunestack").rglob("*")
                     if p.is_dir() and (p / "__init__.py").exists())
    missing = [f for f in folders if f"`{f}`" not in section]
    assert not missing
    named = re.findall(r"`((?:tunestack|components|verify|bench|refapp|configs|images|stacks|tests|scripts)/[^`]*)`",
                       section)
    gone = [n for n in named if "<" not in n and not (ROOT / n.split(" ")[0]).exists()]
    assert not gone


def test_nothing_edits_sys_path():
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    offenders = [f for f in tracked if (ROOT / f).exists() and "sys.path.insert" in (ROOT / f).read_text()
                 and f != "tests/test_layout.py"]
    assert not offenders


def test_console_script_reports_the_version():
    res = subprocess.run([sys.executable, "-m", "tunestack", "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("tunestack ")
