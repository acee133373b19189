"""SCRAM-SHA-256 verifiers (RFC 5802, RFC 7677), as PostgreSQL stores them in pg_authid.

Handing PostgreSQL the verifier instead of the password keeps the password out of every SQL text
the server sees, logs or keeps in pg_stat_statements."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

ITERATIONS = 4096   # PostgreSQL's scram_iterations default


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64 throughout. The password
    must be ASCII (SASLprep leaves ASCII unchanged; tunestack generates URL-safe ASCII passwords)."""
    if not password.isascii():
        raise ValueError("SCRAM verifiers are computed for ASCII passwords only (no SASLprep here)")
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"
