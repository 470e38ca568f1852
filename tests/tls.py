"""A certificate authority made for one test, and a server certificate it signs for this
machine: what a real relay or broker presents, trusted only where a test says so."""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Certificates:
    """PEM files: the CA's certificate, a server's certificate and key, and a client's
    (signed by the same CA: for a server that asks clients for a certificate)."""

    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(folder: Path, name: str = "server") -> Certificates:
    """A fresh CA, and a server and a client certificate it signs for 127.0.0.1 and
    localhost (a day valid)."""
    now = datetime.datetime.now(datetime.UTC)
    # Under ./dev test --at, Python reads a moved clock but OpenSSL (ours, stunnel's,
    # Dovecot's) the real one: the certificates are valid at both.
    real = now - datetime.timedelta(seconds=float(os.environ.get("PALAUTE_TEST_CLOCK_OFFSET", 0)))
    valid_from = min(now, real) - datetime.timedelta(minutes=5)
    valid_until = max(now, real) + datetime.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Palaute test CA"))
        .issuer_name(_name("Palaute test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    made = Certificates(
        folder / "ca.pem",
        folder / f"{name}.pem",
        folder / f"{name}-key.pem",
        folder / "client.pem",
        folder / "client-key.pem",
    )
    made.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for cert_path, key_path, common_name in (
        (made.cert, made.key, "127.0.0.1"),
        (made.client_cert, made.client_key, "palaute-client"),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(valid_from)
            .not_valid_after(valid_until)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [
                        x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                        x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH,
                    ]
                ),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return made
