"""A finding's change written into the stack file with ruamel.yaml's round trip: comments, key
order and quoting of everything else stay as they were, so the pull request shows one line."""
from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML


def _mapping_indent(text: str) -> int:
    """How far the file indents a mapping's keys: the first key under `config:` (2 by default)."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    for line, after in zip(lines, lines[1:]):
        if line.rstrip() == "config:":
            return len(after) - len(after.lstrip()) or 2
    return 2


def _replace_keeping_mode(path: Path, write) -> None:
    """Write a new version of `path` through a temporary file made with O_EXCL in its folder (never a
    name someone planted, never a symlink followed), with the file's own mode and owner, then rename
    it over the file. Errors name the stack file, not the temporary one."""
    import os
    import tempfile

    from ..errors import UsageError

    try:
        st = os.stat(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise UsageError(f"{path}: cannot be written ({exc.strerror}); nothing was changed") from None
    try:
        os.fchmod(fd, st.st_mode & 0o7777)
        if os.geteuid() == 0:
            os.fchown(fd, st.st_uid, st.st_gid)
        with os.fdopen(fd, "w") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException as exc:
        os.unlink(tmp)
        if isinstance(exc, OSError):
            raise UsageError(f"{path}: cannot be written ({exc.strerror}); nothing was changed") from None
        raise


def write_changes(path: Path, changes: list[tuple[tuple[str, ...], object]]) -> None:
    """Set each `key path` (under `config`) to its value, making the mappings it needs."""
    from ruamel.yaml.util import load_yaml_guess_indent

    text = path.read_text()
    _, sequence, offset = load_yaml_guess_indent(text)
    yaml = YAML()          # round-trip mode, indented as the file is: only changed lines differ
    yaml.preserve_quotes = True
    yaml.width = 4096      # never re-wrap a long line the user wrote
    yaml.indent(mapping=_mapping_indent(text), sequence=sequence or 2, offset=offset or 0)
    doc = yaml.load(text)
    for keys, value in changes:
        node = doc["config"]
        for key in keys[:-1]:
            if key not in node or node[key] is None:
                node[key] = {}
            node = node[key]
        node[keys[-1]] = value
    _replace_keeping_mode(path, lambda f: yaml.dump(doc, f))

def write_checked(stack: str, findings) -> str:
    """Write the findings' changes into the stack file, once a copy with them plans cleanly: a
    change that would break a budget is reported (StackError / BudgetError: exit 2) and not written."""
    import tempfile

    from .. import stackfile
    from ..plan import plan_stack

    path = stackfile.stack_path(stack)
    changes = [(f.key, f.value) for f in findings]
    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / path.name
        trial.write_text(path.read_text())
        write_changes(trial, changes)
        plan_stack(trial, is_path=True)
    write_changes(path, changes)
    return str(path)
