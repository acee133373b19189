"""What the CLI reaches outside the package through entry points (pyproject.toml,
[project.entry-points."tunestack.extensions"]): the Pulumi program's preview under mocks
(components/) and the benchmarks (bench/). The layers point one way: those packages import
tunestack, tunestack never imports them."""
from __future__ import annotations

from importlib.metadata import entry_points

from .errors import EnvironmentProblem

GROUP = "tunestack.extensions"


def extension(name: str):
    """The callable registered as `name`; exit 3 with the fix when the install lacks it."""
    found = [e for e in entry_points(group=GROUP) if e.name == name]
    if not found:
        raise EnvironmentProblem(f"tunestack's {name!r} entry point is not installed; reinstall the package from its "
                                 "checkout: pip install -e '.[test]' (scripts/setup does)")
    return found[0].load()
