"""tunestack:tlsCaCert and tunestack:tlsCaKey: the operator's own CA for TLS between hosts
(components/tls.py). Both or neither; the certificate must be a CA's, and valid now, or every
server certificate signed with it is refused by the clients that verify it."""
from __future__ import annotations

import datetime

from ...errors import MISSING, Problem
from ..checker import Checker
from ..problems import path_text
from ..schema import NS

CERT, KEY = f"{NS}:tlsCaCert", "tlsCaKey"


def tls_ca(ck: Checker, secrets: tuple[str, ...]) -> None:
    pem = ck.config.get(CERT)
    if pem is None:
        if KEY in secrets:
            ck.problems.append(Problem(ck.file, path_text(["config", CERT]), MISSING,
                                       "the CA certificate (PEM) that goes with tunestack:tlsCaKey",
                                       "pulumi config set tunestack:tlsCaCert -- \"$(cat ca.crt)\", or remove "
                                       "tunestack:tlsCaKey to let the program make the stack's own CA"))
        return
    if KEY not in secrets:
        ck.problems.append(Problem(ck.file, path_text(["config", f"{NS}:{KEY}"]), MISSING,
                                   "a Pulumi secret with the CA's private key (PEM)",
                                   "pulumi config set --secret tunestack:tlsCaKey -- \"$(cat ca.key)\""))
    problem = _not_a_usable_ca(pem)
    if problem:
        ck.problem([CERT], "(a PEM certificate)", "a CA certificate (basicConstraints CA:TRUE) valid today, in PEM",
                   f"{problem}: give your CA's certificate, or remove tunestack:tlsCaCert and tunestack:tlsCaKey")


def _not_a_usable_ca(pem: str) -> str | None:
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        return "not a PEM certificate"
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        return "not a CA certificate"
    now = datetime.datetime.now(datetime.timezone.utc)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return f"valid only from {cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d}"
    return None
