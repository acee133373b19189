"""Patroni's REST API (Patroni docs, "REST API"): the cluster's members and roles, and the writes
tunestack makes (switchover, reload, restart, the dynamic configuration). Reads need no password;
writes carry the API's basic-auth user (restapi.authentication), whose password never leaves the
process that holds it."""
from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass


class PatroniUnreachable(RuntimeError):
    pass


@dataclass(frozen=True)
class PatroniApi:
    url: str             # PgNode.api_url: http(s)://address:rest_port of one node
    user: str = ""
    password: str = ""
    cafile: str = ""     # https: the stack's CA, which the node's certificate is verified against

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 10) -> tuple[int, str]:
        """(status, body); PatroniUnreachable when nothing answers."""
        req = urllib.request.Request(self.url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"} if body is not None else {})
        if method != "GET" and self.user:
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            context = ssl.create_default_context(cafile=self.cafile) if self.cafile else None
            with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError as exc:
            raise PatroniUnreachable(f"{self.url}: {exc}") from None

    def post(self, path: str, body: dict, timeout: float = 60) -> tuple[int, str]:
        return self.request("POST", path, body, timeout)

    def status(self) -> dict:
        """GET /patroni: this node's state, role, timeline and whether a setting waits for a restart."""
        status, body = self.request("GET", "/patroni", timeout=3)
        if status not in (200, 503):   # a replica or a stopped node answers 503 with the same body
            raise PatroniUnreachable(f"{self.url}/patroni answered {status}")
        return json.loads(body)

    def members(self) -> list[dict]:
        """GET /cluster: every member with its role (leader, sync_standby, replica), state, lag, timeline."""
        status, body = self.request("GET", "/cluster", timeout=3)
        if status != 200:
            raise PatroniUnreachable(f"{self.url}/cluster answered {status}")
        return json.loads(body)["members"]


def first_answer(apis: list[PatroniApi]) -> list[dict]:
    """The members as the first node that answers sees them; [] when none does."""
    for api in apis:
        try:
            return api.members()
        except PatroniUnreachable:
            continue
    return []


def role_of(members: list[dict], role: str) -> str | None:
    return next((m["name"] for m in members if m["role"] == role and m["state"] in ("running", "streaming")), None)
