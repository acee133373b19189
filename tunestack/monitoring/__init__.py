"""Prometheus, Alertmanager and the exporters the stack runs (issue #29): their configuration from
the plan (config.py) and what tunestack asks them (api.py)."""
