"""`python -m tunestack preview`: the resources `pulumi up` would create, as a readable tree."""
from __future__ import annotations

import json

from .mockrun import SECRET_SIG, ProgramRun, Registration, run_program



def _short(type_: str) -> str:
    return type_.split(":")[-1] if type_.startswith(("docker:", "random:", "command:")) else type_


def _mask(value):
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return "[secret]"
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def _key_inputs(r: Registration) -> list[str]:
    i = _mask(r.inputs)
    out = []
    if r.type == "docker:index/container:Container":
        out.append(f"on: {r.provider_name}" + (f", named {i['name']}" if i.get("name") != r.name else ""))
        out.append(f"limits: {int(i.get('memory', 0))} MB, {i.get('cpus')} cpus; restart {i.get('restart')}")
        if i.get("command"):
            out.append("command: " + " ".join(i["command"]))
        for u in i.get("uploads", []):
            content = u.get("content")
            size = "[secret]" if content == "[secret]" else f"{len(content or '')} bytes"
            out.append(f"upload {u['file']} ({size})")
        envs = i.get("envs", [])
        if envs:
            shown = ", ".join(e if isinstance(e, str) else "[secret]" for e in envs[:6])
            out.append(f"env ({len(envs)}): {shown}{', …' if len(envs) > 6 else ''}")
        for p in i.get("ports", []):
            out.append(f"publish {p.get('ip')}:{int(p.get('external'))} → {int(p.get('internal'))}")
        for v in i.get("volumes", []):
            out.append(f"volume {v.get('volumeName')} → {v.get('containerPath')}")
        for u in i.get("ulimits", []):
            out.append(f"ulimit {u['name']}={int(u['soft'])}")
        out.append("replace: delete first (fixed name or ports)" if r.delete_before_replace
                   else "replace: the new generation first, then the old one goes (surge)")
    elif r.type == "docker:index/volume:Volume":
        out.append("protected, kept on delete" if r.protect else "not protected (scratch or re-delivered)")
    elif r.type == "command:local:Command":
        out.append(f"runs: {i.get('create')} < {r.name.split('-live-')[-1]} (at every change; no replacement)")
    elif r.type == "pulumi:providers:docker":
        out.append(f"host: {i.get('host')}")
    elif r.type == "docker:index/remoteImage:RemoteImage":
        out.append(f"image: {i.get('name')}")
    elif r.type == "docker:index/network:Network":
        out.append(f"network: {i.get('name')} ({i.get('driver')})")
    elif r.type.startswith("random:"):
        out.append("generated once, stored as a Pulumi secret")
    return out


def render_tree(run: ProgramRun) -> str:
    children: dict[str, list[Registration]] = {}
    for r in run.registrations:
        children.setdefault(r.parent, []).append(r)
    roots = [r for r in run.registrations if "::pulumi:pulumi:Stack::" in r.parent or not r.parent]
    lines = [f"stack {run.stack}: {len(run.registrations)} resources"]

    def walk(r: Registration, depth: int) -> None:
        pad = "    " * depth
        lines.append(f"{pad}+ {_short(r.type)}  {r.name}")
        for detail in _key_inputs(r):
            lines.append(f"{pad}      {detail}")
        for child in sorted(children.get(r.urn, []), key=lambda c: (c.type, c.name)):
            walk(child, depth + 1)

    for r in sorted(roots, key=lambda c: c.name):
        walk(r, 1)
    lines.append("outputs")
    for line in json.dumps(run.outputs, indent=2, default=str).splitlines():
        lines.append("  " + line)
    # As `pulumi preview` ends: what the update would do. Under mocks there is no prior state, so
    # every resource is one to create.
    lines += ["", "Resources:", f"    + {len(run.registrations)} to create"]
    return "\n".join(lines)


def preview_json(stack: str, stack_file=None, canary_weight: int | None = None) -> dict:
    """The same as data: every resource with its parent and masked inputs, the outputs, the summary."""
    extra = {"tunestack:canaryWeight": str(canary_weight)} if canary_weight is not None else None
    run = run_program(stack, stack_file, extra)
    return {"stack": run.stack,
            "resources": [{"type": r.type, "name": r.name, "urn": r.urn, "parent": r.parent, "op": "create",
                           "protect": r.protect, "inputs": _mask(r.inputs)} for r in run.registrations],
            "outputs": _mask(run.outputs), "summary": {"create": len(run.registrations)}}


def preview(stack: str, stack_file=None, canary_weight: int | None = None) -> str:
    extra = {"tunestack:canaryWeight": str(canary_weight)} if canary_weight is not None else None
    return render_tree(run_program(stack, stack_file, extra))
