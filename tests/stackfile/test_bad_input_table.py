"""Bad input in the file as a whole: YAML that cannot be read safely, a document of the wrong
shape, unknown top-level keys, secrets in clear. The cases of each section live beside it
(test_<section>.py); this file also counts them all."""
import importlib

import pytest

from tunestack.cli import main
from tunestack.paths import ROOT

from .badinput import alias_bomb, check, doc_with, raw

CASES = [
    ("deep-nesting", "config:\n  tunestack:hosts: " + "[" * 5000 + "]" * 5000 + "\n", ["nesting deeper than"]),
    ("alias-bomb", alias_bomb(), ["aliases are expanded"]),
    ("duplicate-key", raw("    workload: web\n", "    workload: web\n    workload: oltp\n"),
     ["line 14", "duplicate key 'workload'", "first at line 13"]),
    ("duplicate-section", raw("  tunestack:traffic:\n", "  tunestack:app: {}\n  tunestack:traffic:\n"),
     ["duplicate key 'tunestack:app'"]),
    ("empty-file", "", ["(top level)", "config"]),
    ("top-level-list", "- config\n", ["(top level)"]),
    ("yaml-tab", "config:\n\ttunestack:hosts: []\n", ["line 2", "valid YAML"]),
    ("complex-key", "config:\n  ? [a, b]\n  : 1\n", ["list as a key"]),
    ("no-config", "secretsprovider: passphrase\n", ["config", "required"]),
    ("unknown-top-key", doc_with(["tunestack:postgress"], {}), ["tunestack:postgress", "did you mean"]),
    ("secret-in-clear", doc_with(["tunestack:dbPassword"], "hunter2"), ["dbPassword"]),
    ("huge-file", "config: {}\n" + "# " + "x" * (1024 * 1024) + "\n", ["bytes", "at most"]),
    # --- issue #23: a held-out set of hostile files ---------------------------------------------
    ("null-key", raw("    workload: web\n", "    workload: web\n    ~: 1\n"), ["the key ~ (read as NoneType)",
                                                                             "keys that are text"]),
    ("integer-key", raw("    workload: web\n", "    workload: web\n    5: 1\n"), ["the key 5 (read as int)"]),
    ("merge-key", raw("  tunestack:pgbouncer:\n", "  base: &b {pool_mode: transaction}\n  tunestack:pgbouncer:\n"
                                                   "    <<: *b\n"), ["a merge key (<<)", "write the merged keys out"]),
]
SECTIONS = ("hosts", "postgres", "pgbouncer", "redis", "app", "traffic", "rollout", "images", "ports")


def test_at_least_sixty_kinds():
    every = [c[0] for c in CASES]
    for section in SECTIONS:
        every += [c[0] for c in importlib.import_module(f"tests.stackfile.test_{section}").CASES]
    assert len(set(every)) == len(every) >= 60


@pytest.mark.parametrize("case,text,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, capsys, case, text, fragments):
    check(tmp_path, capsys, case, text, fragments)


def test_unreadable_file(tmp_path, capsys):
    path = tmp_path / "Pulumi.bin.yaml"
    path.write_bytes(b"\xff\xfe\x00config")
    assert main(["plan", "--stack-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert "UTF-8" in err and str(path) in err


def test_bad_stack_name(tmp_path, capsys):
    path = tmp_path / "Pulumi.Bad;Name.yaml"
    path.write_text((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    assert main(["plan", "--stack-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Bad;Name" in err and "lower-case letters" in err


def test_every_problem_names_its_line(tmp_path, capsys):
    """Like a compiler: FILE:LINE: key path, for a wrong value, a wrong type and a missing key (the
    line of the mapping it belongs in)."""
    text = (ROOT / "stacks" / "Pulumi.local.yaml").read_text()
    text = text.replace("workload: web", "workload: webb").replace("cpus: 2", "cpus: two")
    text = text.replace("    framework: python\n", "")
    path = tmp_path / "Pulumi.lines.yaml"
    path.write_text(text)
    assert main(["plan", "--stack-file", str(path)]) == 2
    err = capsys.readouterr().err
    lines = text.splitlines()
    for key, needle in (("tunestack:postgres → workload", "workload: webb"), ("tunestack:hosts[0] → cpus", "cpus: two"),
                        ("tunestack:app", "tunestack:app:")):
        number = next(i for i, line in enumerate(lines, 1) if needle in line)
        assert f"{path}:{number}: config → {key}" in err, err
