"""What pulumi-tls gives the program, for runs under Pulumi's mocks (mockrun.py): real keys and
certificates, made with `cryptography` the way the provider makes them (PEM keys, a CSR, a
certificate signed by the CA with the requested names and uses), so that the servers a test
replays on a real engine really verify each other.

Like the engine's state, a resource with the same name and inputs gets the same outputs again in
this process: a second run of the program (a day-2 change) keeps its keys and certificates, and
only what really changed gets new ones."""
from __future__ import annotations

import datetime
import ipaddress
import json

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert"
REQUEST = "tls:index/certRequest:CertRequest"
LOCALLY_SIGNED = "tls:index/locallySignedCert:LocallySignedCert"
TYPES = (PRIVATE_KEY, SELF_SIGNED, REQUEST, LOCALLY_SIGNED)
_STATE: dict[tuple[str, str, str], dict] = {}


SECRET_SIG = "4dabf18193072939515e22adb298388d"   # Pulumi's marker for a secret value on the wire


def _plain(value):
    if isinstance(value, dict):
        return _plain(value.get("value")) if SECRET_SIG in value else {k: _plain(v) for k, v in value.items()}
    return [_plain(v) for v in value] if isinstance(value, list) else value


def outputs(type_: str, name: str, inputs: dict) -> dict:
    """The resource's outputs: its inputs, and what the provider computes from them."""
    key = (type_, name, json.dumps(inputs, sort_keys=True, default=str))
    if key not in _STATE:
        _STATE[key] = {**inputs, **_MAKE[type_](_plain(inputs))}
    return dict(_STATE[key])


def _private_key(inputs: dict) -> dict:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return {"privateKeyPem": pem, "publicKeyPem": public, "algorithm": inputs.get("algorithm", "ECDSA")}


def _subject(subject: dict | None) -> x509.Name:
    fields = [(NameOID.COMMON_NAME, (subject or {}).get("commonName")),
              (NameOID.ORGANIZATION_NAME, (subject or {}).get("organization"))]
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in fields if value])


def _names(inputs: dict) -> list[x509.GeneralName]:
    return ([x509.DNSName(n) for n in inputs.get("dnsNames") or []]
            + [x509.IPAddress(ipaddress.ip_address(a)) for a in inputs.get("ipAddresses") or []])


def _usage(uses: list[str], is_ca: bool) -> list[tuple[object, bool]]:
    out: list[tuple[object, bool]] = [(x509.BasicConstraints(ca=is_ca, path_length=None), True)]
    out.append((x509.KeyUsage(digital_signature="digital_signature" in uses, content_commitment=False,
                              key_encipherment="key_encipherment" in uses, data_encipherment=False,
                              key_agreement=False, key_cert_sign="cert_signing" in uses,
                              crl_sign="crl_signing" in uses, encipher_only=False, decipher_only=False), True))
    # as the tls provider maps allowed_uses to extended key usages: one extension, every purpose named
    purposes = [oid for use, oid in (("server_auth", x509.oid.ExtendedKeyUsageOID.SERVER_AUTH),
                                     ("client_auth", x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH)) if use in uses]
    if purposes:
        out.append((x509.ExtendedKeyUsage(purposes), False))
    return out


def _certificate(subject: x509.Name, public_key, issuer: x509.Name, signer, inputs: dict,
                 names: list[x509.GeneralName]) -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
               .serial_number(x509.random_serial_number()).not_valid_before(now)
               .not_valid_after(now + datetime.timedelta(hours=int(inputs.get("validityPeriodHours") or 24))))
    for extension, critical in _usage(inputs.get("allowedUses") or [], bool(inputs.get("isCaCertificate"))):
        builder = builder.add_extension(extension, critical)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), False)
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
    return builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def _load_key(pem: str):
    return serialization.load_pem_private_key(pem.encode(), None)


def _self_signed(inputs: dict) -> dict:
    key = _load_key(inputs["privateKeyPem"])
    subject = _subject(inputs.get("subject"))
    return {"certPem": _certificate(subject, key.public_key(), subject, key, inputs, _names(inputs))}


def _request(inputs: dict) -> dict:
    key = _load_key(inputs["privateKeyPem"])
    csr = (x509.CertificateSigningRequestBuilder().subject_name(_subject(inputs.get("subject")))
           .add_extension(x509.SubjectAlternativeName(_names(inputs)), False).sign(key, hashes.SHA256()))
    return {"certRequestPem": csr.public_bytes(serialization.Encoding.PEM).decode()}


def _locally_signed(inputs: dict) -> dict:
    csr = x509.load_pem_x509_csr(inputs["certRequestPem"].encode())
    ca = x509.load_pem_x509_certificate(inputs["caCertPem"].encode())
    names = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    return {"certPem": _certificate(csr.subject, csr.public_key(), ca.subject, _load_key(inputs["caPrivateKeyPem"]),
                                    inputs, names)}


_MAKE = {PRIVATE_KEY: _private_key, SELF_SIGNED: _self_signed, REQUEST: _request, LOCALLY_SIGNED: _locally_signed}
