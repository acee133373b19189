"""etcd's own authentication for Patroni (etcd docs, "Role-based access control"): a root user, and
a `patroni` user whose role may read and write only Patroni's keys (/service/). Until it is on, any
local user could rewrite the leader key. Done through etcd's JSON gateway (POST /v3/auth/...), so no
password is ever on a command line; idempotent."""
from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request

PATRONI_USER = "patroni"
PATRONI_PREFIX = "/service/"   # Patroni's namespace (its default)


class EtcdAuthError(RuntimeError):
    pass


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _prefix_end(prefix: str) -> str:
    """etcd's range end for every key under `prefix`: the prefix with its last byte plus one."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _post(url: str, path: str, body: dict, token: str | None = None, cafile: str | None = None) -> dict:
    req = urllib.request.Request(url + path, method="POST", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **({"Authorization": token} if token else {})})
    try:
        context = ssl.create_default_context(cafile=cafile) if cafile else None   # https: the stack's CA
        with urllib.request.urlopen(req, timeout=10, context=context) as r:
            return json.loads(r.read().decode() or "{}")
    except urllib.error.HTTPError as e:
        return json.loads(e.read().decode() or "{}")
    except OSError as exc:
        raise EtcdAuthError(f"etcd at {url} does not answer: {exc}") from None


def auth_enabled(url: str, cafile: str | None = None) -> bool:
    answer = _post(url, "/v3/auth/authenticate", {"name": "root", "password": "-"}, cafile=cafile)
    return "not enabled" not in answer.get("error", "")


def ensure_auth(url: str, root_password: str, patroni_password: str) -> bool:
    """Turn etcd's authentication on with the two users; False when it was on already."""
    if auth_enabled(url):
        return False
    steps = [("/v3/auth/user/add", {"name": "root", "password": root_password}),
             ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
             ("/v3/auth/user/add", {"name": PATRONI_USER, "password": patroni_password}),
             ("/v3/auth/role/add", {"name": PATRONI_USER}),
             ("/v3/auth/role/grant", {"name": PATRONI_USER, "perm": {
                 "permType": "READWRITE", "key": _b64(PATRONI_PREFIX), "range_end": _b64(_prefix_end(PATRONI_PREFIX))}}),
             ("/v3/auth/user/grant", {"user": PATRONI_USER, "role": PATRONI_USER}),
             ("/v3/auth/enable", {})]
    for path, body in steps:
        answer = _post(url, path, body)
        if "error" in answer and "already exists" not in answer["error"] and "already granted" not in answer["error"]:
            raise EtcdAuthError(f"etcd refused {path.rsplit('/', 2)[-2]} {path.rsplit('/', 1)[-1]}: {answer['error']}")
    return True
