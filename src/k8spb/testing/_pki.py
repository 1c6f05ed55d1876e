"""A throwaway PKI for ApiServer(tls=True): a CA, a server certificate, client certificates.

Needs ``cryptography`` (a development dependency); it is imported only when TLS is asked for.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CertificateAuthority"]


def _key_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    pem: bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
    return pem


@dataclass
class CertificateAuthority:
    """An ECDSA P-256 CA valid for a day; issues server and client certificates (PEM)."""

    name: str = "k8spb-testing-ca"
    cert_pem: bytes = field(init=False)
    _key: Any = field(init=False, repr=False)
    _cert: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self._key = ec.generate_private_key(ec.SECP256R1())
        self._cert = self._issue(self.name, self._key, ca=True)
        self.cert_pem = self._pem(self._cert)

    @staticmethod
    def _pem(cert: Any) -> bytes:
        from cryptography.hazmat.primitives import serialization

        pem: bytes = cert.public_bytes(serialization.Encoding.PEM)
        return pem

    def _issue(self, common_name: str, key: Any, *, ca: bool = False, organizations: tuple[str, ...] = (),
               hosts: tuple[str, ...] = (), client: bool = False) -> Any:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        now = datetime.datetime.now(datetime.UTC)
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        subject = x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject if ca else self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        else:
            builder = builder.add_extension(
                x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
            ).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]),
                critical=False,
            )
        if hosts:
            sans: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    sans.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    sans.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(key if ca else self._key, hashes.SHA256())

    def issue_server(self, *hosts: str) -> tuple[bytes, bytes]:
        """A server certificate for ``hosts`` (IP addresses or DNS names): (cert_pem, key_pem)."""
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._issue("kube-apiserver", key, hosts=tuple(dict.fromkeys(hosts)))
        return self._pem(cert), _key_pem(key)

    def issue_client(self, user: str, groups: tuple[str, ...] = ()) -> tuple[bytes, bytes]:
        """A client certificate for ``user`` (CN) in ``groups`` (O): (cert_pem, key_pem)."""
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._issue(user, key, organizations=groups, client=True)
        return self._pem(cert), _key_pem(key)


def server_context(cert_file: str, key_file: str, client_ca_pem: bytes | None) -> ssl.SSLContext:
    """A TLS server context; with ``client_ca_pem`` it asks for (but does not require) client certificates."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    if client_ca_pem is not None:
        ctx.load_verify_locations(cadata=client_ca_pem.decode("ascii"))
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def peer_identity(sock: Any) -> tuple[str, list[str]] | None:
    """The verified client certificate's (common name, organisations) on a TLS socket, else None: kube's
    user and groups."""
    if not isinstance(sock, ssl.SSLSocket):
        return None
    try:
        peer = sock.getpeercert()
    except (ValueError, OSError):
        return None
    subject: Any = (peer or {}).get("subject", ())
    name, groups = None, []
    for rdn in subject:
        for key, value in rdn:
            if key == "commonName":
                name = str(value)
            elif key == "organizationName":
                groups.append(str(value))
    return (name, groups) if name is not None else None


def peer_common_name(sock: Any) -> str | None:
    """The verified client certificate's common name on a TLS socket, else None."""
    identity = peer_identity(sock)
    return identity[0] if identity else None
