"""Shared inputs for the plan-stage tables: the committed stack files, and small host shapes."""
from dataclasses import replace

from tunestack import stackfile
from tunestack.stackfile.spec import HostSpec

GIB = 1024**3
MIB = 1024**2


def spec(name="staging"):
    return stackfile.load(stackfile.stack_path(name), name=name)


def with_app(s, **kw):
    return replace(s, app=replace(s.app, **kw))


def host(cpus, mem_gib, roles=("app",), storage="ssd", name="h", addresses=()):
    return HostSpec(name, tuple(roles), 1 if not addresses else len(addresses), cpus, int(mem_gib * GIB), storage,
                    "stack file", addresses=tuple(addresses))
