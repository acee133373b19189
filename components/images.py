"""StackImages: every image of the stack on every machine that runs it, before any container.

Each container takes its own image's id as its `image` input, and the components wait for the
whole StackImages (`depends_on`: Pulumi expands a component into its children), so an image that
cannot be had (a tag nobody pushed, a tunestack/* image nobody built on that host: `tunestack
images build`) fails `pulumi up` before any container is created or replaced, while a preview of
an app-only release leaves every other container's image known and unchanged (an input that waited
on all images would be unknown, i.e. "replace", whenever any one of them changes).
`tunestack images check --stack NAME` asks the same question of each host ahead of time."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from tunestack.recipes import is_local_build

MachineKey = tuple[str, int]


def content_of(ref: str, provider: docker.Provider) -> pulumi.Output[str]:
    """What the image under `ref` is right now, as RemoteImage's pull trigger: a new value replaces
    the RemoteImage, so a rebuilt or re-pushed image reaches its containers.

    An image this project builds (tunestack/*, no registry) is read from the machine's own engine
    (getRemoteImage: never pulls; a missing one fails the program there, naming it), so the provider
    never goes looking for it on Docker Hub, a namespace the project does not own. Any other image
    is asked of its registry (getRegistryImage: its digest)."""
    options = pulumi.InvokeOutputOptions(provider=provider)
    if is_local_build(ref):
        return docker.get_remote_image_output(name=ref, opts=options).id
    return docker.get_registry_image_output(name=ref, opts=options).sha256_digest


def pinned(ref: str, digest: pulumi.Output[str]) -> pulumi.Input[str]:
    """The reference the provider pulls. A registry tag is pinned to the digest its registry has
    now: the provider looks for the name locally before it pulls (terraform-provider-docker,
    findImage), and with keep_locally the old image under the same tag is still there, so a
    re-pushed tag would never be pulled; `tag@digest` is found only once that digest is here. A
    reference pinned already, and our own images (never pulled), stay as they are."""
    if is_local_build(ref) or "@" in ref:
        return ref
    return pulumi.Output.concat(ref, "@", digest)


@dataclass
class StackImagesArgs:
    providers: dict[MachineKey, docker.Provider]
    names: dict[MachineKey, str]                 # machine key → name suffix (DockerHosts.names)
    needs: dict[MachineKey, set[str]]            # machine key → image references it runs


class StackImages(pulumi.ComponentResource):
    def __init__(self, name: str, args: StackImagesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:StackImages", name, None, opts)
        self.images: dict[tuple[MachineKey, str], docker.RemoteImage] = {}
        for key in sorted(args.needs):
            provider = args.providers[key]
            for ref in sorted(args.needs[key]):
                slug = re.sub(r"[^A-Za-z0-9.-]+", "-", ref)
                content = content_of(ref, provider)
                self.images[(key, ref)] = docker.RemoteImage(
                    f"{name}-{args.names[key]}-{slug}", name=pinned(ref, content), keep_locally=True,
                    pull_triggers=[content],
                    opts=pulumi.ResourceOptions(parent=self, provider=provider))
        self.register_outputs({"images": sorted({ref for _, ref in self.images})})

    def image_id(self, machine: MachineKey, ref: str) -> pulumi.Output[str]:
        """The image's id on that machine: known in a preview whenever that image is unchanged.
        The order "every image first" is the components' `depends_on=[stack_images]`."""
        return self.images[(machine, ref)].image_id
