"""Helpers for the bad-input tables beside each section (test_<section>.py): stack files made from
stacks/Pulumi.local.yaml with one thing wrong, and the one check every case must pass: exit 2, one
clear error (file, key path, value, allowed, fix), no traceback, nothing planned or printed.

Runs `tunestack plan --stack-file` in-process: the same `main()` the console script calls."""
import copy

import yaml

from tunestack.cli import main
from tunestack.paths import ROOT

BASE = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
H, PG, B, R, A, T, RO = ("tunestack:hosts", "tunestack:postgres", "tunestack:pgbouncer", "tunestack:redis",
                         "tunestack:app", "tunestack:traffic", "tunestack:rollout")


def doc_with(path, value):
    doc = copy.deepcopy(BASE)
    node = doc["config"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return yaml.safe_dump(doc, allow_unicode=True)


STAGING = yaml.safe_load((ROOT / "stacks" / "Pulumi.staging.yaml").read_text())


def staging_with(change):
    """stacks/Pulumi.staging.yaml (hosts with addresses) changed by `change(config)`."""
    doc = copy.deepcopy(STAGING)
    change(doc["config"])
    return yaml.safe_dump(doc)


def go_doc(go):
    doc = yaml.safe_load(doc_with([A, "framework"], "go"))
    doc["config"][A]["go"] = go
    return yaml.safe_dump(doc)


def node_doc(node):
    doc = yaml.safe_load(doc_with([A, "framework"], "node"))
    doc["config"][A]["node"] = node
    return yaml.safe_dump(doc)


def without_line(text, line):
    assert line in text, line
    return text.replace(line, "")


def doc_without(path):
    doc = copy.deepcopy(BASE)
    node = doc["config"]
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return yaml.safe_dump(doc)


def raw(old, new):
    """Edit the stack file's own text, for what a YAML dump cannot write (duplicates, aliases)."""
    text = (ROOT / "stacks" / "Pulumi.local.yaml").read_text()
    assert old in text, old
    return text.replace(old, new, 1)


def alias_bomb():
    lines = ["a0: &a0 [/x, /x, /x, /x, /x, /x, /x, /x, /x, /x]"]
    lines += [f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}]"
              for i in range(1, 9)]
    return "\n".join(lines) + "\n" + raw("    peak_rps: 20", "    peak_rps: 20\n    health_paths: *a8")


SECRET_WORDS = ("hunter2",)


def check(tmp_path, capsys, case, text, fragments):
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(text)
    code = main(["plan", "--stack-file", str(path)])
    out, err = capsys.readouterr()
    assert code == 2, err + out
    assert out == "", "nothing is planned or printed for a bad file"
    assert "Traceback" not in err and str(path) in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in:\n{err}"
    if "budget" not in err:
        assert "allowed:" in err
    assert "fix" in err
    assert len(err) < 5000, "one clear error, not a dump of the file"
    assert not any(w in err for w in SECRET_WORDS if case != "secret-in-clear")
