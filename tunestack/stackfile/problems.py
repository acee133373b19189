"""A stack file's problems as people read them: the key path written out, and JSON Schema's
errors turned into "value, allowed, fix"."""
from __future__ import annotations

import difflib
import math
import re

from ..errors import MISSING, Problem
from .schema import STACK_SCHEMA

JSON_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "list", dict: "mapping",
                   type(None): "empty value"}
# JSON Schema's bounds, in words.
BOUND_WORDS = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
               "exclusiveMaximum": "less than", "minItems": "at least this many items:",
               "maxItems": "at most this many items:", "minLength": "at least this many characters:",
               "pattern": "matching", "uniqueItems": "no repeated items"}


def path_text(parts) -> str:
    """`config → tunestack:hosts[0] → cpus`, from the key path's parts."""
    parts = list(parts)
    if not parts:
        return "(top level)"
    out = [f"[{p}]" if isinstance(p, int) else str(p) for p in parts]
    text = out[0]
    for p in out[1:]:
        text += p if p.startswith("[") else f" → {p}"
    return text


def with_article(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def description_at(path) -> str:
    """The schema's description of the key at `path`, for messages."""
    node = STACK_SCHEMA
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            props = node.get("properties", {})
            node = props.get(part) or node.get("additionalProperties") or {}
            if not isinstance(node, dict):
                return ""
    return node.get("description", "")


def _unknown_key(file: str, path: list, schema: dict, instance: dict) -> Problem:
    allowed = sorted(schema.get("properties", {}))
    unknown = [k for k in instance if k not in schema.get("properties", {})
               and not any(re.match(p, k) for p in schema.get("patternProperties", {}))]
    key = unknown[0] if unknown else "?"
    close = difflib.get_close_matches(key, allowed, n=1)
    fix = f"did you mean '{close[0]}'?" if close else "remove the key"
    return Problem(file, path_text(path + [key]), instance.get(key), "known keys: " + ", ".join(allowed),
                   f"unknown key; {fix}")


def schema_problem(file: str, err) -> Problem:
    path = list(err.absolute_path)
    if err.validator == "additionalProperties":
        return _unknown_key(file, path, err.schema, err.instance)
    if err.validator == "required":
        missing = err.message.split("'")[1]
        return Problem(file, path_text(path + [missing]), MISSING, "this key is required", f"add '{missing}'")
    if err.validator == "enum":
        close = difflib.get_close_matches(str(err.instance), [str(v) for v in err.validator_value], n=1)
        fix = f"did you mean '{close[0]}'?" if close else "use one of the allowed values"
        return Problem(file, path_text(path), err.instance,
                       "one of " + ", ".join(str(v) for v in err.validator_value), fix)
    described = description_at(path)
    if err.validator == "oneOf" and described:
        return Problem(file, path_text(path), err.instance, described, "write it as in the examples")
    if err.validator == "type" and isinstance(err.instance, float) and not math.isfinite(err.instance):
        return Problem(file, path_text(path), err.instance, "a finite number" + (f": {described}" if described else ""),
                       "write a number such as 20: YAML's .nan and .inf are no value a plan can use")
    if err.validator == "type":
        expected = err.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return Problem(file, path_text(path), err.instance,
                       f"a value of type {expected}" + (f": {described}" if described else ""),
                       f"write {with_article(expected)}, not "
                       f"{with_article(JSON_TYPE_NAMES.get(type(err.instance), 'value'))}")
    if err.validator in BOUND_WORDS:
        rule = BOUND_WORDS[err.validator] + ("" if err.validator == "uniqueItems" else f" {err.validator_value}")
        return Problem(file, path_text(path), err.instance, described or rule, f"use a value {rule}")
    return Problem(file, path_text(path), err.instance, described or err.message, "see stacks/stack.schema.json")
