"""Pulumi's runtime config ↔ a stack document the planner validates.

`pulumi up` hands the program its stack file as config values (strings, JSON for objects). Both
directions live here so that the program, the mocks and `preview` read stack files the same way."""
from __future__ import annotations

import json

from .stackfile.schema import CONFIG, NS

KEYS = [k.split(":", 1)[1] for k in CONFIG["properties"]]
SECRET_KEYS = ("dbPassword", "dbPasswordPrevious", "redisPassword", "registryPassword", "tlsCaKey")


def stack_document(config) -> dict:
    """Rebuild `{"config": {...}}` from a `pulumi.Config("tunestack")` for validation."""
    out = {}
    for key in KEYS:
        if key in SECRET_KEYS:
            if config.get(key) is not None:  # present: validate its shape, never its value
                out[f"{NS}:{key}"] = {"secure": "(set)"}
            continue
        # A string key (a PEM) is kept as it is; every other one is JSON (runtime_config writes it so).
        value = config.get(key) if CONFIG["properties"][f"{NS}:{key}"].get("type") == "string" \
            else config.get_object(key)
        if value is not None:
            out[f"{NS}:{key}"] = value
    return {"config": out}


def runtime_config(doc: dict, fake_secrets: bool = True) -> tuple[dict[str, str], list[str]]:
    """A stack file's `config:` as Pulumi's runtime config (all strings), and the secret keys.

    Encrypted values cannot be read without the Pulumi backend; with `fake_secrets` they become
    placeholders so the program can run under mocks."""
    values, secret = {}, []
    for key, value in doc.get("config", {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            if fake_secrets:
                values[key] = f"mock-secret-{key.split(':', 1)[1]}"
                secret.append(key)
            continue
        if isinstance(value, bool):
            values[key] = "true" if value else "false"
        elif isinstance(value, (dict, list)):
            values[key] = json.dumps(value)
        else:
            values[key] = str(value)
    return values, secret
