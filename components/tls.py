"""StackCertificates: the stack's private CA and one server certificate per TLS server (plan.tls).

The CA is the program's own (a P-256 key and a self-signed CA certificate, kept in the stack's
state as secrets), or the operator's: `tunestack:tlsCaCert` with the secret `tunestack:tlsCaKey`.
Each server gets its own key and a certificate for every name its clients connect to
(plan/tls.py): the private network's alias, the host's address, loopback. Certificates last a
year; within 30 days of the end (`early_renewal_hours`) the next `pulumi up` issues new ones,
which replaces those servers' containers: a restart at a time the operator chose."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_tls as tls

from tunestack.plan.tls import CA_FILE, CERT_FILE, KEY_FILE, ServerTls

CA_HOURS = 10 * 365 * 24
SERVER_HOURS = 365 * 24
RENEW_HOURS = 30 * 24


@dataclass
class StackCertificatesArgs:
    stack: str
    servers: dict[str, ServerTls]                    # plan.tls
    ca_cert: str | None = None                       # tunestack:tlsCaCert (PEM), the operator's CA
    ca_key: pulumi.Output[str] | None = None         # tunestack:tlsCaKey (secret PEM)


@dataclass
class ServerCertificate:
    cert_pem: pulumi.Output[str]
    key_pem: pulumi.Output[str]      # secret


class StackCertificates(pulumi.ComponentResource):
    """`ca_pem`: what clients verify with; `servers[service]`: that server's certificate and key."""

    def __init__(self, name: str, args: StackCertificatesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tunestack:index:StackCertificates", name, None, opts)
        self.servers: dict[str, ServerCertificate] = {}
        self.ca_pem: pulumi.Output[str] = pulumi.Output.from_input("")
        if not args.servers:
            self.register_outputs({})
            return
        mine = pulumi.ResourceOptions(parent=self)
        if args.ca_cert and args.ca_key is not None:
            self.ca_pem, ca_key = pulumi.Output.from_input(args.ca_cert), pulumi.Output.secret(args.ca_key)
        else:
            key = tls.PrivateKey(f"{name}-ca-key", algorithm="ECDSA", ecdsa_curve="P256", opts=mine)
            ca = tls.SelfSignedCert(
                f"{name}-ca", private_key_pem=key.private_key_pem, is_ca_certificate=True,
                subject=tls.SelfSignedCertSubjectArgs(common_name=f"tunestack {args.stack} CA", organization="tunestack"),
                validity_period_hours=CA_HOURS, allowed_uses=["cert_signing", "crl_signing"], opts=mine)
            self.ca_pem, ca_key = ca.cert_pem, pulumi.Output.secret(key.private_key_pem)
        for service, server in sorted(args.servers.items()):
            key = tls.PrivateKey(f"{name}-{service}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=mine)
            request = tls.CertRequest(
                f"{name}-{service}-request", private_key_pem=key.private_key_pem,
                subject=tls.CertRequestSubjectArgs(common_name=server.dns_names[0], organization="tunestack"),
                dns_names=list(server.dns_names), ip_addresses=list(server.ip_addresses), opts=mine)
            cert = tls.LocallySignedCert(
                f"{name}-{service}-cert", cert_request_pem=request.cert_request_pem, ca_private_key_pem=ca_key,
                ca_cert_pem=self.ca_pem, validity_period_hours=SERVER_HOURS, early_renewal_hours=RENEW_HOURS,
                allowed_uses=["digital_signature", "key_encipherment", "server_auth"]
                + (["client_auth"] if server.client else []), opts=mine)
            self.servers[service] = ServerCertificate(cert.cert_pem, pulumi.Output.secret(key.private_key_pem))
        self.register_outputs({"ca_pem": self.ca_pem})

    def files(self, service: str, cert_file: str = CERT_FILE, key_file: str = KEY_FILE) -> dict[str, pulumi.Output[str]]:
        """A TLS server's uploads: its certificate, its key (secret: `key_file`) and the CA; none for
        a server that serves no TLS (a client that verifies others takes `client_files`)."""
        if service not in self.servers:
            return {}
        return {cert_file: self.servers[service].cert_pem, key_file: self.servers[service].key_pem,
                CA_FILE: self.ca_pem}

    def client_files(self) -> dict[str, pulumi.Output[str]]:
        """What a client container needs to verify the servers: the CA; none without TLS."""
        return {CA_FILE: self.ca_pem} if self.servers else {}
