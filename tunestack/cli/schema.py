"""`tunestack schema`: the JSON Schema of stack files, for editors."""
from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of stack files (for editors)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..stackfile.schema import STACK_SCHEMA

    print(json.dumps(STACK_SCHEMA, indent=2))
    return 0
