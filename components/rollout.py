"""RolloutGuard: one rollout at a time, for everyone who runs `pulumi up` on the stack.

A Docker rollout (tunestack/rollout/engines/docker.py) keeps its canaries in the stack's config
(canaryReplicas, images.canary_app), which lives where the operator runs it. A `pulumi up` from CI
or another checkout, with that config as it was before, would put the canaries back to stable in
the middle of a gate. So the rollout also leaves a marker where every `up` reaches: on the load
balancer's live volume, on the stack's own host (`tunestack-lb rollout set`). Whenever an `up`
changes the canary config, this command reads the marker before any app replica is replaced and
fails the `up` when a rollout is in progress that this config would undo."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_command as command

# Inputs arrive as environment, never in the script's text.
GUARD = (
    'marker=$(docker exec "$LB" tunestack-lb rollout show 2>/dev/null || true); '
    'version=$(printf "%s\\n" "$marker" | sed -n "s/^version=//p"); '
    'if [ -n "$version" ] && { [ "$CANARY_REPLICAS" = 0 ] || [ "$CANARY_IMAGE" != "$version" ]; }; then '
    'echo "a rollout of $version is in progress on this stack ($(printf "%s" "$marker" | tr "\\n" " ")): this '
    '`pulumi up` would undo it. Finish it where it runs (tunestack rollout promote, or abort), or, if that '
    'rollout is gone for good, clear its marker: docker exec $LB tunestack-lb rollout clear" >&2; exit 1; fi; '
    'echo "rollout: ${version:-none in progress}"')


@dataclass
class RolloutGuardArgs:
    lb_container: str            # the load balancer's container name
    lb_host_url: str             # DOCKER_HOST of its host
    canary_image: str            # images.canary_app, "" without one
    canary_replicas: int         # the canary replicas this program runs (plan.replicas on the canary track)


class RolloutGuard(pulumi.ComponentResource):
    def __init__(self, name: str, args: RolloutGuardArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:RolloutGuard", name, None, opts)
        canary = [args.canary_image, str(args.canary_replicas)]
        self.check = command.local.Command(
            f"{name}-check", create=GUARD,
            environment={"DOCKER_HOST": args.lb_host_url, "LB": args.lb_container, "CANARY_IMAGE": args.canary_image,
                         "CANARY_REPLICAS": str(args.canary_replicas)},
            triggers=canary,   # runs whenever an `up` changes the canary config, and at the first
            opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})
