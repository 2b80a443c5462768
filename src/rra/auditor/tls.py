"""The auditor's own small PKI: a self-signed CA that agents pin, and a server certificate it signs.

EC P-256 everywhere: every TLS stack (OpenSSL, Windows SChannel, browsers for the OpenAPI page)
accepts it, unlike Ed25519 certificates. Keys are written 0600 through an atomic rename so a crash
never leaves a torn key; existing files are kept, so re-running ``init`` never invalidates the CA
agents already pinned.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from rra.agent.state import atomic_write_bytes

CA_CERT_NAME = "ca.pem"
CA_KEY_NAME = "ca-key.pem"
SERVER_CERT_NAME = "server.pem"
SERVER_KEY_NAME = "server-key.pem"
CA_DAYS = 3650
# DNS labels; '_' is tolerated because some machines are named that way, '*' for a wildcard.
_HOSTNAME = re.compile(
    r"(\*|[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
)
# Backdating absorbs clock skew between the auditor and agents right after init.
_BACKDATE = timedelta(minutes=5)


@dataclass(frozen=True)
class TlsPaths:
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path

    @classmethod
    def in_dir(cls, tls_dir: Path) -> TlsPaths:
        return cls(
            ca_cert=tls_dir / CA_CERT_NAME,
            ca_key=tls_dir / CA_KEY_NAME,
            server_cert=tls_dir / SERVER_CERT_NAME,
            server_key=tls_dir / SERVER_KEY_NAME,
        )

    def all_exist(self) -> bool:
        return all(
            p.exists() for p in (self.ca_cert, self.ca_key, self.server_cert, self.server_key)
        )


def _private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_ca_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: the CA key is not an EC key")
    return key


def _make_ca(common_name: str, days: int) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rra"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = datetime.now(UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def _subject_alternative_names(
    hostnames: list[str], ip_addresses: list[str]
) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for hostname in dict.fromkeys(h.strip() for h in hostnames if h.strip()):
        if len(hostname) > 253 or not _HOSTNAME.fullmatch(hostname):
            raise ValueError(f"{hostname!r} is not a valid DNS name")
        names.append(x509.DNSName(hostname))
    for address in dict.fromkeys(a.strip() for a in ip_addresses):
        names.append(x509.IPAddress(ipaddress.ip_address(address)))
    if not names:
        raise ValueError("a server certificate needs at least one hostname or IP address")
    return names


def check_server_names(hostnames: list[str], ip_addresses: list[str]) -> None:
    """Raise ValueError, naming the culprit, unless every name fits a server certificate."""
    _subject_alternative_names(hostnames, ip_addresses)


def _make_server_cert(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    *,
    hostnames: list[str],
    ip_addresses: list[str],
    days: int,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names = _subject_alternative_names(hostnames, ip_addresses)
    common_name = hostnames[0] if hostnames else ip_addresses[0]
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rra"),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return certificate, key


def init_tls(
    tls_dir: Path, *, hostnames: list[str], ip_addresses: list[str], days: int = 825
) -> TlsPaths:
    """Create the CA and a server certificate under ``tls_dir`` unless they already exist.

    ``days`` (825, the longest validity Apple clients accept) applies to the server certificate;
    the CA lives ten years because replacing it means re-pinning every agent.
    """
    paths = TlsPaths.in_dir(tls_dir)
    if paths.all_exist():
        return paths
    _subject_alternative_names(hostnames, ip_addresses)  # bad names fail before any file is written
    tls_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if paths.ca_cert.exists() and paths.ca_key.exists():
        # Only the server pair is missing: keep the CA agents may already have pinned.
        ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
        ca_key = _load_ca_key(paths.ca_key)
    else:
        ca_cert, ca_key = _make_ca("rra auditor CA", CA_DAYS)
        atomic_write_bytes(paths.ca_key, _private_key_pem(ca_key), mode=0o600)
        atomic_write_bytes(
            paths.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM), mode=0o644
        )
    server_cert, server_key = _make_server_cert(
        ca_cert, ca_key, hostnames=hostnames, ip_addresses=ip_addresses, days=days
    )
    atomic_write_bytes(paths.server_key, _private_key_pem(server_key), mode=0o600)
    atomic_write_bytes(
        paths.server_cert, server_cert.public_bytes(serialization.Encoding.PEM), mode=0o644
    )
    return paths


def certificate_names(path: Path) -> set[str]:
    """The DNS names and IP addresses (as text) a certificate is valid for."""
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return set()
    names = set(extension.value.get_values_for_type(x509.DNSName))
    return names | {str(a) for a in extension.value.get_values_for_type(x509.IPAddress)}


def cert_fingerprint(path: Path) -> str:
    """SHA-256 of the first certificate in a PEM file, as colon-separated upper-case hex."""
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def default_server_names() -> tuple[list[str], list[str]]:
    """localhost and this machine's name; the IPv4 and IPv6 loopback addresses."""
    hostnames = ["localhost"]
    machine = socket.gethostname()
    if machine and machine != "localhost":
        hostnames.append(machine)
        fqdn = socket.getfqdn()
        if fqdn and fqdn not in hostnames and fqdn != "localhost":
            hostnames.append(fqdn)
    return hostnames, ["127.0.0.1", "::1"]
