"""Reading a stack file's YAML safely: bounded size, nesting and alias expansion, and duplicate
keys refused with their line. A hostile file gets an error, never a hang, a MemoryError or a
RecursionError."""
from __future__ import annotations

import yaml

from ..units import MIB

MAX_BYTES = MIB                  # a stack file is a few kB
MAX_DEPTH = 16                   # the deepest real key path is 5 levels
MAX_NODES = 20_000               # every node counted as often as aliases repeat it


class YamlRefused(ValueError):
    """The document is not read. `line` is 1-based, or None; `allowed` and `fix` explain."""

    def __init__(self, what: str, line: int | None, allowed: str, fix: str):
        super().__init__(what)
        self.what, self.line, self.allowed, self.fix = what, line, allowed, fix


def check_shape(text: str) -> None:
    """Walk the event stream (iteratively: no recursion) and refuse deep nesting and alias bombs
    before anything is built. An alias costs as many nodes as the anchored node it repeats."""
    if len(text.encode()) > MAX_BYTES:
        raise YamlRefused(f"{len(text.encode())} bytes", None, f"at most {MAX_BYTES} bytes",
                          "a stack file holds one stack's settings; remove what does not belong")
    stack: list[list] = [[None, 0]]       # [anchor, nodes so far] per open collection
    sizes: dict[str, int] = {}
    total = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = event.start_mark.line + 1 if event.start_mark else None
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            stack.append([event.anchor, 1])
            if len(stack) - 1 > MAX_DEPTH:
                raise YamlRefused(f"nesting deeper than {MAX_DEPTH} levels", line, f"at most {MAX_DEPTH} levels",
                                  "flatten the document: stack files nest 5 levels at most")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            anchor, count = stack.pop()
            if anchor:
                sizes[anchor] = count
            stack[-1][1] += count
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor:
                sizes[event.anchor] = 1
            stack[-1][1] += 1
            total += 1
        elif isinstance(event, yaml.AliasEvent):
            stack[-1][1] += sizes.get(event.anchor, 1)
            total += sizes.get(event.anchor, 1)
        if total > MAX_NODES or stack[-1][1] > MAX_NODES:
            raise YamlRefused(f"more than {MAX_NODES} values once aliases are expanded", line,
                              f"at most {MAX_NODES} values", "write the values out; do not nest aliases")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML 1.2 says keys are unique)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlRefused("a merge key (<<)", line, "keys written out in each mapping (a merged key would "
                                  "have no line of its own to report)", "write the merged keys out here")
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                what = (f"the key {key_node.value or '~'} (read as {type(key).__name__})"
                        if isinstance(key_node, yaml.ScalarNode) else f"a {type(key).__name__} as a key")
                raise YamlRefused(what, line,
                                  "keys that are text: YAML reads 5, 3.10, yes or ~ as a number, a boolean or null",
                                  "write the key as a word, or quote it")
            if key in seen:
                raise YamlRefused(f"duplicate key {key!r}", key_node.start_mark.line + 1,
                                  f"each key once per mapping (first at line {seen[key]})",
                                  "remove one of the two; YAML would silently keep the last")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def read_yaml_text(text: str) -> object:
    """The document, or YamlRefused / yaml.YAMLError."""
    check_shape(text)
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def key_lines(text: str, path_text) -> dict[str, int]:
    """The 1-based line of every key and list item, by its key path as `path_text` writes it (the
    composed node tree keeps each node's position; nothing is constructed)."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    lines: dict[str, int] = {}
    todo = [((), root)] if root is not None else []
    while todo:   # iterative: the shape was already bounded by check_shape
        parts, node = todo.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = (*parts, key.value)
                lines[path_text(here)] = key.start_mark.line + 1
                todo.append((here, value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                here = (*parts, i)
                lines[path_text(here)] = item.start_mark.line + 1
                todo.append((here, item))
    return lines


def line_of(lines: dict[str, int], key_path: str) -> int | None:
    """The line of `key_path`, or of its nearest parent in the file (a missing key: its mapping)."""
    while key_path:
        if key_path in lines:
            return lines[key_path]
        cut = max(key_path.rfind(" → "), key_path.rfind("["))
        if cut <= 0:
            return None
        key_path = key_path[:cut]
    return None
