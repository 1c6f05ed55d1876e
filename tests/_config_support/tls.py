"""A throwaway PKI (CA, server and client certificates) and a one-shot TLS server on 127.0.0.1."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass, field
from typing import cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_NAME = "kubernetes.test"


@dataclass(frozen=True)
class Pki:
    ca_pem: bytes
    server_cert_pem: bytes
    server_key_pem: bytes = field(repr=False)
    client_cert_pem: bytes
    client_key_pem: bytes = field(repr=False)
    other_key_pem: bytes = field(repr=False)  # matches no certificate
    encrypted_client_key_pem: bytes = field(repr=False)


def _key_pem(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    sans: list[x509.GeneralName] | None = None,
    usage: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
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
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki() -> Pki:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("k8spb test CA", ca_key, None, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _cert(
        "kube-apiserver",
        server_key,
        ca.subject,
        ca_key,
        sans=[x509.DNSName(SERVER_NAME), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _cert("alice", client_key, ca.subject, ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    pem = serialization.Encoding.PEM
    return Pki(
        ca_pem=ca.public_bytes(pem),
        server_cert_pem=server.public_bytes(pem),
        server_key_pem=_key_pem(server_key),
        client_cert_pem=client.public_bytes(pem),
        client_key_pem=_key_pem(client_key),
        other_key_pem=_key_pem(ec.generate_private_key(ec.SECP256R1())),
        encrypted_client_key_pem=_key_pem(client_key, b"passphrase"),
    )


@dataclass
class HandshakeResult:
    server_error: BaseException | None = None
    sni: str | None = None
    client_cn: str | None = None


class OneShotTLSServer:
    """Accepts one TLS connection on 127.0.0.1, requiring a client certificate signed by the CA,
    records the SNI and the client's common name, and sends the common name back.
    """

    def __init__(self, pki: Pki, cert_file: str, key_file: str, ca_file: str) -> None:
        self.result = HandshakeResult()
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(cert_file, key_file)
        self._ctx.load_verify_locations(ca_file)
        self._ctx.verify_mode = ssl.CERT_OPTIONAL
        self._ctx.sni_callback = self._on_sni
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(5)
        self.port: int = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _on_sni(self, _obj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        self.result.sni = name

    def _serve(self) -> None:
        try:
            conn, _ = self._sock.accept()
            with self._ctx.wrap_socket(conn, server_side=True) as tls:
                peer = tls.getpeercert()
                cn: str | None = None
                if peer:
                    for rdn in peer.get("subject", ()):
                        for key, value in cast("tuple[tuple[str, str], ...]", rdn):
                            if key == "commonName":
                                cn = value
                self.result.client_cn = cn
                tls.sendall((cn or "-").encode())
        except (OSError, ssl.SSLError) as exc:
            self.result.server_error = exc
        finally:
            self._sock.close()

    def join(self) -> HandshakeResult:
        self._thread.join(5)
        return self.result


def handshake(ctx: ssl.SSLContext, port: int, server_hostname: str) -> bytes:
    """Connect with ``ctx`` and return what the server sends."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        return tls.recv(100)
