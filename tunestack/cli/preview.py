"""`tunestack preview`: the resources `pulumi up` would create, offline (Pulumi mocks)."""
from __future__ import annotations

from ..console import print_json, waiting
from ..extensions import extension
from .parser import percent, report_options, stack_options
from .stacks import require_stack


def register(sub) -> None:
    p = sub.add_parser("preview", help="the resources `pulumi up` would create, offline (Pulumi mocks)",
                       description="Run the real Pulumi program under Pulumi's mock runtime and print the "
                                   "resource tree with key inputs, ending with a summary as `pulumi preview` "
                                   "does. Needs no Pulumi CLI, backend, credentials or Docker. Secrets show "
                                   "as [secret].")
    stack_options(p)
    p.add_argument("--canary-weight", type=percent, metavar="0-100",
                   help="preview another rollout state than the stack's canaryWeight")
    report_options(p, "the resources")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..plan import plan_stack

    require_stack(args.stack)
    # Validate first, so a bad file gives the usual error and the program never starts.
    plan_stack(args.stack, target="docker")
    with waiting(f"running the Pulumi program of {args.stack} under mocks …"):
        if args.format == "json":
            print_json(extension("preview_json")(args.stack, canary_weight=args.canary_weight))
        else:
            print(extension("preview")(args.stack, canary_weight=args.canary_weight))
    return 0
