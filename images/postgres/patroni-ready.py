#!/usr/bin/python3
"""tunestack-patroni-ready PORT [SCHEME]: the node container's health check under Patroni. Healthy once
Patroni runs PostgreSQL in a cluster that has a leader: a new cluster's first primary only after
its post_bootstrap (roles, grants) is done and it took the leader key, so nothing delivered next
meets a database without its roles; a standby once it follows a leader. GET /patroni answers 503
for a standby with the same body, so its body is read either way."""
import json
import sys
import urllib.error
import urllib.request

try:
    # HTTPS when the API serves it (verified with the CA in SSL_CERT_FILE, the container's env)
    scheme = sys.argv[2] if len(sys.argv) > 2 else "http"
    with urllib.request.urlopen(f"{scheme}://127.0.0.1:{sys.argv[1]}/patroni", timeout=2) as answer:
        state = json.loads(answer.read())
except urllib.error.HTTPError as exc:
    state = json.loads(exc.read() or b"{}")
except (OSError, ValueError) as exc:
    sys.exit(f"Patroni does not answer: {exc}")
unlocked = state.get("cluster_unlocked", False)   # in the answer only when true
if state.get("state") != "running" or unlocked:
    sys.exit(f"not ready: PostgreSQL {state.get('state')}" + (", the cluster has no leader" if unlocked else ""))
