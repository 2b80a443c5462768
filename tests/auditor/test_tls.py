"""The auditor's CA and server certificate: a real TLS handshake verifies them the way agents do."""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from rra.auditor.tls import TlsPaths, cert_fingerprint, init_tls

HOSTNAMES = ["localhost", "auditor.example.org"]
ADDRESSES = ["127.0.0.1", "::1"]


@pytest.fixture
def tls(tmp_path: Path) -> TlsPaths:
    return init_tls(tmp_path / "tls", hostnames=HOSTNAMES, ip_addresses=ADDRESSES)


@pytest.fixture
def tls_server(tls: TlsPaths) -> Iterator[int]:
    """A TLS echo-once server on 127.0.0.1 using the generated server certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.server_cert, tls.server_key)
    listener = socket.create_server(("127.0.0.1", 0))
    port: int = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        while True:
            raw, _ = listener.accept()
            raw.settimeout(5)
            if stop.is_set():
                raw.close()
                return
            try:
                with context.wrap_socket(raw, server_side=True) as conn:
                    conn.sendall(conn.recv(64))
            except (ssl.SSLError, OSError):
                continue  # a client that rejected our certificate: wait for the next one

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    stop.set()
    # accept() does not return when the listener is closed: wake it with one last connection.
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    thread.join(timeout=5)
    listener.close()


def handshake(port: int, ca: Path, server_hostname: str) -> bytes:
    client = ssl.create_default_context(cafile=str(ca))
    assert client.check_hostname and client.verify_mode == ssl.CERT_REQUIRED
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        client.wrap_socket(raw, server_hostname=server_hostname) as conn,
    ):
        conn.sendall(b"ping")
        return conn.recv(64)


@pytest.mark.parametrize("name", ["localhost", "auditor.example.org", "127.0.0.1"])
def test_handshake_verifies_against_the_ca(tls: TlsPaths, tls_server: int, name: str) -> None:
    assert handshake(tls_server, tls.ca_cert, name) == b"ping"


def test_handshake_rejects_a_name_not_in_the_certificate(tls: TlsPaths, tls_server: int) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        handshake(tls_server, tls.ca_cert, "elsewhere.example.org")


def test_handshake_rejects_another_ca(tls: TlsPaths, tls_server: int, tmp_path: Path) -> None:
    other = init_tls(tmp_path / "other", hostnames=["localhost"], ip_addresses=[])
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        handshake(tls_server, other.ca_cert, "localhost")


def test_server_certificate_is_a_leaf_for_server_auth(tls: TlsPaths) -> None:
    ca = x509.load_pem_x509_certificate(tls.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(tls.server_cert.read_bytes())
    server.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usages = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.SERVER_AUTH]
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == HOSTNAMES
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(a) for a in ADDRESSES]


def test_private_keys_are_owner_only(tls: TlsPaths) -> None:
    for key in (tls.ca_key, tls.server_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert stat.S_IMODE(tls.ca_cert.parent.stat().st_mode) == 0o700


def test_init_is_idempotent(tls: TlsPaths) -> None:
    files = (tls.ca_cert, tls.ca_key, tls.server_cert, tls.server_key)
    before = [path.read_bytes() for path in files]
    again = init_tls(tls.ca_cert.parent, hostnames=["other"], ip_addresses=[])
    assert again == tls
    assert [path.read_bytes() for path in files] == before


def test_a_missing_server_pair_is_reissued_by_the_same_ca(tls: TlsPaths, tmp_path: Path) -> None:
    """Agents pinned the CA: regenerating the server certificate must not replace it."""
    ca_before = tls.ca_cert.read_bytes()
    tls.server_cert.unlink()
    tls.server_key.unlink()
    init_tls(tls.ca_cert.parent, hostnames=["localhost"], ip_addresses=["127.0.0.1"])
    assert tls.ca_cert.read_bytes() == ca_before
    ca = x509.load_pem_x509_certificate(ca_before)
    x509.load_pem_x509_certificate(tls.server_cert.read_bytes()).verify_directly_issued_by(ca)


def test_fingerprint_is_sha256_of_the_der_certificate(tls: TlsPaths) -> None:
    der = ssl.PEM_cert_to_DER_cert(tls.ca_cert.read_text())
    expected = hashlib.sha256(der).hexdigest().upper()
    assert cert_fingerprint(tls.ca_cert).replace(":", "") == expected


def test_a_certificate_needs_a_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one"):
        init_tls(tmp_path / "tls", hostnames=[], ip_addresses=[])
