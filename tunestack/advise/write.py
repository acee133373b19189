"""A finding's change written into the stack file with ruamel.yaml's round trip: comments, key
order and quoting of everything else stay as they were, so the pull request shows one line."""
from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML


def write_changes(path: Path, changes: list[tuple[tuple[str, ...], object]]) -> None:
    """Set each `key path` (under `config`) to its value, making the mappings it needs."""
    yaml = YAML()          # round-trip mode
    yaml.preserve_quotes = True
    yaml.width = 120
    doc = yaml.load(path.read_text())
    for keys, value in changes:
        node = doc["config"]
        for key in keys[:-1]:
            if key not in node or node[key] is None:
                node[key] = {}
            node = node[key]
        node[keys[-1]] = value
    tmp = path.with_suffix(".yaml.tmp")
    with tmp.open("w") as f:
        yaml.dump(doc, f)
    tmp.replace(path)
