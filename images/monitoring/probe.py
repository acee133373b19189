#!/usr/bin/python3
"""The containers' healthcheck: GET the URL given, HTTPS verified against the stack's CA; exit 0
on a 2xx answer, 1 otherwise."""
import ssl
import sys
import urllib.request

CA_FILE = "/etc/tunestack/tls/ca.crt"

url = sys.argv[1]
context = ssl.create_default_context(cafile=CA_FILE) if url.startswith("https:") else None
try:
    with urllib.request.urlopen(url, timeout=4, context=context) as answer:
        sys.exit(0 if 200 <= answer.status < 300 else 1)
except Exception as exc:   # any failure is "unhealthy"; say why for `docker inspect`
    print(f"{url}: {exc}", file=sys.stderr)
    sys.exit(1)
