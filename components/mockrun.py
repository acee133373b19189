"""Run the real Pulumi program under Pulumi's mock runtime: no CLI, backend, plugin or Docker.

Used by `python -m tunestack preview` and by the tests. Every resource registration is recorded
with its type, name, parent, options and inputs as sent (secrets still wrapped), so callers can
inspect exactly what `pulumi up` would be asked to create.
"""
from __future__ import annotations

import runpy
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import yaml
from google.protobuf import json_format
from pulumi.runtime.mocks import MockMonitor

from tunestack.paths import PROGRAM, stacks_dir

from . import mocktls
from tunestack.pulumi_config import runtime_config

PROJECT = "tunestack"
SECRET_SIG = mocktls.SECRET_SIG
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"     # and for a value a preview cannot know yet


@dataclass
class Registration:
    type: str
    name: str
    parent: str
    custom: bool
    protect: bool
    delete_before_replace: bool
    retain_on_delete: bool
    provider: str
    inputs: dict            # as sent, secrets wrapped
    plain_inputs: dict      # as the mock sees them (secrets unwrapped)
    urn: str = ""
    dependencies: tuple[str, ...] = ()   # URNs it waits for (inputs and depends_on)

    @property
    def provider_name(self) -> str:
        """The provider's resource name (e.g. prod-hosts-app-3): which machine this lands on."""
        return self.provider.split("::")[-2] if self.provider else ""


@dataclass
class ProgramRun:
    stack: str
    registrations: list[Registration] = field(default_factory=list)
    outputs: dict = field(default_factory=dict)
    calls: list[tuple[str, str, str]] = field(default_factory=list)   # invokes: (function, name, provider)

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def by_name(self, name: str) -> Registration:
        return next(r for r in self.registrations if r.name == name)

    def waits_for(self, registration: Registration) -> set[str]:
        """What the engine finishes before it creates `registration`: its own dependencies and,
        since a child is registered only once its parent's URN resolves (after the parent's
        `depends_on`), every ancestor's."""
        by_urn = {r.urn: r for r in self.registrations}
        out, parent = set(registration.dependencies), by_urn.get(registration.parent)
        while parent is not None:
            out |= set(parent.dependencies)
            parent = by_urn.get(parent.parent)
        return out


def mock_image_id(ref: str, aliases: dict[str, str] | None = None) -> str:
    """An image's id follows its content, as Docker's does: the same reference has the same id on
    every machine, and a tag that aliases another (`aliases`: tag → the tag it points at) has that
    one's id. The mocks' registry gives a tag this id as its digest (getRegistryImage)."""
    import hashlib

    if "@sha256:" in ref:   # pinned to a digest (StackImages.pinned): that content, whatever the tag
        return "sha256:" + ref.split("@sha256:", 1)[1]
    ref = (aliases or {}).get(ref, ref)
    return "sha256:" + hashlib.sha256(ref.encode()).hexdigest()


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self, aliases: dict[str, str] | None = None, pulled: set[str] | None = None):
        # `pulled`: in a preview, the images already on the machines; any other one gets an unknown
        # id, as the engine's preview gives an image it has yet to pull.
        self.aliases, self.pulled = aliases or {}, pulled
        self.calls: list[tuple[str, str, str]] = []   # (function, name, provider) of each invoke

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        if args.typ == "docker:index/remoteImage:RemoteImage":
            ref = args.inputs["name"]
            outputs["imageId"] = (UNKNOWN if self.pulled is not None and ref not in self.pulled
                                  else mock_image_id(ref, self.aliases))
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = f"mock-generated-{args.name}"
        if args.typ in mocktls.TYPES:
            outputs = mocktls.outputs(args.typ, args.name, dict(args.inputs))
        return [f"{args.name}-id", outputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        name = args.args.get("name", "")
        self.calls.append((args.token, name, args.provider))
        if args.token == "docker:index/getRemoteImage:getRemoteImage":   # the image on the machine's engine
            return {"id": mock_image_id(name, self.aliases), "name": name, "repoDigest": ""}
        if args.token == "docker:index/getRegistryImage:getRegistryImage":   # the registry's digest
            return {"id": name, "name": name, "sha256Digest": mock_image_id(name, self.aliases)}
        return {}


class _RecordingMonitor(MockMonitor):
    def __init__(self, mocks, run: ProgramRun):
        super().__init__(mocks)
        self.run = run

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = json_format.MessageToDict(request.object)
            plain = self.resources[response.urn].state if response.urn in self.resources else {}
            self.run.registrations.append(Registration(
                type=request.type, name=request.name, parent=request.parent, custom=request.custom,
                protect=request.protect, delete_before_replace=request.deleteBeforeReplace,
                retain_on_delete=request.retainOnDelete, provider=request.provider, inputs=inputs,
                plain_inputs=dict(plain), urn=response.urn, dependencies=tuple(request.dependencies)))
        return response


def run_program(stack: str, stack_file: Path | None = None, extra_config: dict[str, str] | None = None,
                aliases: dict[str, str] | None = None, preview_with: set[str] | None = None) -> ProgramRun:
    """Run __main__.py once for `stack` with its stack file as config; a fresh run every call.
    `aliases`: image tags that point at another tag's content. `preview_with`: run as a preview on
    machines that hold these images already (any other image's id is unknown)."""
    path = stack_file or stacks_dir() / f"Pulumi.{stack}.yaml"
    values, secret_keys = runtime_config(yaml.safe_load(path.read_text()) or {})
    values.update(extra_config or {})
    run = ProgramRun(stack)
    mocks = _Mocks(aliases, preview_with)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview_with is not None,
                             monitor=_RecordingMonitor(mocks, run))
    pulumi.runtime.set_all_config(values, secret_keys=secret_keys)

    @pulumi.runtime.test
    def execute():
        # run_path, not import: a cached module would replay the first stack's config.
        runpy.run_path(str(PROGRAM), run_name="__pulumi_program__")
        # Under mocks the root stack never registers its outputs; resolve the exports ourselves.
        exports = pulumi.runtime.get_root_resource().outputs
        return pulumi.Output.from_input(dict(exports)).apply(run.outputs.update)

    execute()
    run.calls = list(mocks.calls)
    return run
