"""One meaning of --stack and --stack-file for every command, and the local stack and its lock as
commands that change a stack take them."""
from __future__ import annotations

import difflib
import os
import re
import sys
from pathlib import Path

from ..errors import UsageError

# Commands whose --stack-file may be any file name: they plan it directly.
ANY_STACK_FILE = ("plan", "render", "images")


def require_stack(name: str) -> None:
    from .. import stackfile
    from ..paths import stacks_dir

    names = stackfile.stack_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        raise UsageError(f"unknown stack {name!r}" + (f"; did you mean {close[0]!r}?" if close else "")
                         + f" Stacks in {stacks_dir()}: " + ", ".join(names))


def plan_from_args(args, strict: bool = True, target: str = "hosts"):
    from ..plan import build_plan, plan_stack
    from ..stackfile import load

    if getattr(args, "stack_file", None):
        if target != "hosts":
            return build_plan(load(Path(args.stack_file)), target=target, strict=strict)
        return plan_stack(args.stack_file, is_path=True, strict=strict)
    require_stack(args.stack)
    return plan_stack(args.stack, strict=strict, target=target, pg_version=getattr(args, "pg_version", None))


def stack_spec(name: str):
    """The validated stack file of a named stack (StackError: exit 2)."""
    from .. import stackfile

    require_stack(name)
    return stackfile.load(stackfile.stack_path(name), name=name)


def resolve_stack(args) -> None:
    """A file named Pulumi.NAME.yaml is stack NAME in its folder; plan, render and images check
    also take any other file name."""
    if not hasattr(args, "stack"):
        return
    if args.stack_file:
        path = Path(args.stack_file)
        if not os.path.lexists(path):   # anything else there (a FIFO, a device) the loader names
            raise UsageError(f"--stack-file {path}: no such file")
        named = re.fullmatch(r"Pulumi\.([A-Za-z0-9][A-Za-z0-9_.-]*)\.yaml", path.name)
        if args.command in ANY_STACK_FILE:
            return   # planned from the file itself
        if named:
            _not_a_shared_name(path, named.group(1))
            os.environ["TUNESTACK_STACKS_DIR"] = str(path.resolve().parent)
            args.stack, args.stack_file = named.group(1), None
        else:
            raise UsageError(f"--stack-file {path}: `{args.command}` needs a file named Pulumi.<stack>.yaml "
                             f"(the name is the stack's); rename it, e.g. Pulumi.mystack.yaml")
    elif args.stack is None and args.command != "review":
        args.stack = "local"


def _not_a_shared_name(path: Path, name: str) -> None:
    """A stack file elsewhere named like one in stacks/ would share that stack's state, lock and
    rollout (they are kept by name): refused, with the fix."""
    from ..paths import ROOT

    shared = ROOT / "stacks" / f"Pulumi.{name}.yaml"
    if shared.exists() and path.resolve() != shared.resolve():
        raise UsageError(f"--stack-file {path}: its name is stack {name!r}, which stacks/ already has; its state, "
                         f"lock and rollout would be that stack's. Rename it, e.g. Pulumi.{name}-copy.yaml")


def stack_hint(args) -> str:
    """The options that name this stack again in a command a message suggests."""
    return f"-s {args.stack}"


def say_to(args):
    """Where a command reports what it does: stdout, or stderr when stdout carries JSON."""
    from ..console import say

    if getattr(args, "format", "text") == "json":
        return say
    return lambda m: print(m, flush=True)


def local_stack(args):
    """The local stack a command acts on."""
    from ..local import LocalStack

    require_stack(args.stack)
    return LocalStack(args.stack, say=say_to(args))


def locked(stack_dir: Path, command: str, args):
    """The stack's lock for a command that changes it (see tunestack/lock.py)."""
    from ..lock import stack_lock

    return stack_lock(stack_dir / "lock", command, wait_s=args.lock_wait, say=lambda m: print(m, flush=True))


def interrupted() -> int:
    print("\ninterrupted: state is saved; run the same command again to resume at this step", file=sys.stderr)
    return 130
