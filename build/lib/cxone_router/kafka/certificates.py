"""A throw-away certificate authority for a local secured Apache Kafka: the CA, the
brokers' certificate and client certificates (mutual TLS), as PEM files. For tests and
local clusters only; needs the `cryptography` package (the dev extra)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Pem:
    cert: Path
    key: Path

    @property
    def bundle(self) -> Path:
        """Key and certificate in one file: what a Java PEM keystore reads."""
        return self.cert.with_suffix(".bundle.pem")


class LocalCA:
    """Signs certificates valid for a day; every file under `folder`."""

    def __init__(self, folder: Path, name: str = "cxone-router test CA") -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import ec

        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, name)])
        builder = self._builder(subject, subject, self._key.public_key())
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0),
                                        critical=True)
        self._cert = builder.sign(self._key, _sha256())
        self.cert = folder / "ca.pem"
        self.cert.write_bytes(_cert_pem(self._cert))

    def issue(self, common_name: str, dns_names: tuple[str, ...] = ()) -> Pem:
        """A certificate for a server (with `dns_names`) or a client (the principal is
        its common name)."""
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, common_name)])
        builder = self._builder(subject, self._cert.subject, key.public_key())
        usages = [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
        if dns_names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]),
                critical=False)
            usages.append(x509.oid.ExtendedKeyUsageOID.SERVER_AUTH)
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        cert = builder.sign(self._key, _sha256())
        pem = Pem(self.folder / f"{common_name}.pem", self.folder / f"{common_name}.key")
        pem.cert.write_bytes(_cert_pem(cert))
        pem.key.write_bytes(_key_pem(key))
        pem.key.chmod(0o600)
        pem.bundle.write_bytes(_key_pem(key) + _cert_pem(cert))
        pem.bundle.chmod(0o600)
        return pem

    @staticmethod
    def _builder(subject: Any, issuer: Any, public_key: Any) -> Any:
        from cryptography import x509

        now = datetime.datetime.now(datetime.UTC)
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                .public_key(public_key).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1)))


def _sha256() -> Any:
    from cryptography.hazmat.primitives import hashes

    return hashes.SHA256()


def _cert_pem(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(cert.public_bytes(serialization.Encoding.PEM))


def _key_pem(key: Any) -> bytes:
    """PKCS#8, unencrypted: what both Python's ssl and Java's PEM keystore read."""
    from cryptography.hazmat.primitives import serialization

    return bytes(key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
