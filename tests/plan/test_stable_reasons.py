"""A rendered file changes only where a value does (issue #16): when another input moves (a host's
memory or cores, traffic, threads, the request timeout) and a setting keeps its value (a cap, a
floor, a rounding), the reason its file states keeps its words too. `tunestack plan` still shows
the full arithmetic."""
from dataclasses import replace

import pytest

from tunestack import stackfile
from tunestack.errors import BudgetError, StackError
from tunestack.plan import build_plan


def nudged(spec):
    for h in spec.hosts:
        for factor in (1.03, 0.97, 1.2):
            mib = int(h.memory_bytes * factor) // 1024**2 * 1024**2
            yield f"{h.name} memory ×{factor}", replace(spec, hosts=tuple(
                replace(x, memory_bytes=mib) if x is h else x for x in spec.hosts))
        yield f"{h.name} +1 cpu", replace(spec, hosts=tuple(replace(x, cpus=x.cpus + 1) if x is h else x
                                                              for x in spec.hosts))
    yield "traffic +5%", replace(spec, traffic=replace(spec.traffic, peak_rps=spec.traffic.peak_rps * 1.05))
    yield "threads +1", replace(spec, app=replace(spec.app, threads=spec.app.threads + 1))
    yield "request timeout +1s", replace(spec, app=replace(spec.app, request_timeout_ms=spec.app.request_timeout_ms + 1000))


@pytest.mark.parametrize("name", stackfile.stack_names())
def test_a_kept_value_keeps_its_words(name):
    spec = stackfile.load(stackfile.stack_path(name), name=name)
    base = build_plan(spec)
    moved = []
    for what, other_spec in nudged(spec):
        try:
            other = build_plan(other_spec)
        except (StackError, BudgetError):
            continue   # a nudge the stack cannot take is another test's business
        for section, settings in base.sections().items():
            for key, s in settings.items():
                o = other.sections().get(section, {}).get(key)
                if o and o.text == s.text and o.file_reason != s.file_reason:
                    moved.append(f"{section} {key} ({what}): {s.file_reason!r} → {o.file_reason!r}")
    assert not moved, "\n".join(moved[:5])
