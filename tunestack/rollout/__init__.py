"""Staged rollouts with health gates and automatic rollback.

Semantics follow Argo Rollouts and Flagger: each step is setWeight, then pause (bake), then
analysis. A failed analysis aborts and rolls traffic back to stable. `promote` skips the remaining
steps; `abort` stops by hand. State is written after every transition, so a rollout interrupted
by Ctrl-C, a killed process or a restart resumes at the same step; a different version starts
again at step 0.

- state.py: what a rollout is and where it is kept;
- gates.py: the measurements and the pure gate rules;
- haproxy_log.py: HAProxy's request log as the measurement stream;
- controller.py: the state machine;
- notify.py, load.py: webhooks and the bounded synthetic load;
- engines/: the local stack (real processes, HAProxy's runtime API) and Pulumi Docker stacks.
"""
from .controller import Rollout, parse_steps
from .engines.docker import CanaryHostCheck, DockerEngine, LoadBalancerControl, PulumiStack
from .engines.local import LocalEngine
from .gates import GateResult, Metrics, evaluate, load_needed, p95
from .haproxy_log import SYNTHETIC_HEADER, HaproxyLogFile, parse_haproxy_log
from .notify import webhook
from .state import PHASES, RolloutState, StateStore, describe

__all__ = ["CanaryHostCheck", "DockerEngine", "GateResult", "HaproxyLogFile", "LoadBalancerControl", "LocalEngine",
           "Metrics", "PHASES", "PulumiStack", "Rollout", "RolloutState", "SYNTHETIC_HEADER", "StateStore",
           "describe", "evaluate", "load_needed", "p95", "parse_haproxy_log", "parse_steps", "webhook"]
