"""Bad input in tunestack:tlsCaCert / tunestack:tlsCaKey (your own CA for TLS between hosts): both
or neither, a CA's certificate, valid now. Each case is a whole stack file: exit 2, one clear
error, nothing planned (badinput.check)."""
import datetime

import pytest

from .badinput import check, doc_with

SECRET = {"secure": "v1:Y2Eta2V5"}


def certificate(tmp_path, ca: bool = True, days: tuple[int, int] = (0, 30)) -> str:
    """A self-signed P-256 certificate, valid from `days[0]` to `days[1]` days from now; its key in
    tmp_path/k.pem."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    now, name = datetime.datetime.now(datetime.timezone.utc), x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now + datetime.timedelta(days=days[0]))
            .not_valid_after(now + datetime.timedelta(days=days[1]))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def with_ca(cert, key):
    import yaml

    doc = yaml.safe_load(doc_with(["tunestack:app", "port"], 8000))
    if cert is not None:
        doc["config"]["tunestack:tlsCaCert"] = cert
    if key is not None:
        doc["config"]["tunestack:tlsCaKey"] = key
    return yaml.safe_dump(doc)


def test_a_key_without_its_certificate(tmp_path, capsys):
    check(tmp_path, capsys, "key-only", with_ca(None, SECRET), ["tunestack:tlsCaCert", "tunestack:tlsCaKey"])


def test_a_certificate_without_its_key(tmp_path, capsys):
    cert = certificate(tmp_path)
    check(tmp_path, capsys, "cert-only", with_ca(cert, None), ["tunestack:tlsCaKey", "--secret"])


@pytest.mark.parametrize("case,kind,fragment", [
    # a server's certificate, not a CA's: clients would never accept what it signs (RFC 5280 4.2.1.9)
    ("not-a-ca", {"ca": False}, "not a CA certificate"),
    ("expired", {"days": (-30, -1)}, "valid only from"),
    ("not-yet-valid", {"days": (2, 30)}, "valid only from"),
])
def test_a_certificate_that_cannot_sign(tmp_path, capsys, case, kind, fragment):
    check(tmp_path, capsys, case, with_ca(certificate(tmp_path, **kind), SECRET), ["tlsCaCert", fragment])


def test_not_a_certificate(tmp_path, capsys):
    text = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    check(tmp_path, capsys, "garbage", with_ca(text, SECRET), ["tlsCaCert", "not a PEM certificate"])


def test_a_usable_ca_is_taken(tmp_path):
    """The program uses it (components/tls.py): the servers' certificates are signed by it."""
    from components.mockrun import run_program

    cert = certificate(tmp_path)
    import yaml
    doc = yaml.safe_load((__import__("tunestack.paths", fromlist=["ROOT"]).ROOT / "stacks" / "Pulumi.staging.yaml")
                         .read_text())
    doc["config"]["tunestack:tlsCaCert"] = cert
    doc["config"]["tunestack:tlsCaKey"] = {"secure": "v1:eA=="}
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(yaml.safe_dump(doc))
    key = (tmp_path / "k.pem").read_text()
    run = run_program("staging", stack_file=path, extra_config={"tunestack:tlsCaKey": key})
    assert not [r for r in run.registrations if r.type == "tls:index/selfSignedCert:SelfSignedCert"], \
        "no CA of the program's own"
    signed = [r for r in run.registrations if r.type == "tls:index/locallySignedCert:LocallySignedCert"]
    # the 4 servers' and pgBackRest's two (repository server and database agent, issue #27)
    assert len(signed) == 6 and all(r.plain_inputs["caCertPem"] == cert for r in signed)
    from cryptography import x509
    ca = x509.load_pem_x509_certificate(cert.encode())
    for r in signed:
        x509.load_pem_x509_certificate(r.plain_inputs["certPem"].encode()).verify_directly_issued_by(ca)
