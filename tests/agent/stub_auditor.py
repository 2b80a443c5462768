"""A small real HTTP(S) server standing in for the auditor in the agent's delivery tests.

Not a mock: the agent talks real HTTP over a real socket (with real TLS and a CA made here), and
the default batch answer verifies every signature with the host's public key like the auditor
does. Tests script other answers per path (503s, 401, 413...) and read back what was sent.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rra.agent.enroll import ENROLLMENT_FILE, Enrollment
from rra.agent.identity import HostKey, key_path, verify_signature
from rra.checks.protocol import BatchRequest, BatchResponse, IngestResult


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Answer = tuple[int, Any]  # status, JSON body
Responder = Callable[[Request], Answer]


@dataclass
class StubAuditor:
    url: str = ""
    public_key: str | None = None  # when set, the default batch answer verifies signatures
    requests: list[Request] = field(default_factory=list)
    scripted: dict[str, list[Answer | Responder]] = field(default_factory=dict)

    def script(self, path: str, *answers: Answer | Responder) -> None:
        """Answer the next requests to ``path`` with these, in order, then the default."""
        self.scripted.setdefault(path, []).extend(answers)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def answer(self, request: Request) -> Answer:
        self.requests.append(request)
        queue = self.scripted.get(request.path)
        if queue:
            scripted = queue.pop(0)
            return scripted(request) if callable(scripted) else scripted
        if request.path == "/api/v1/reports/batch":
            return self.verify_batch(request)
        return 404, {"detail": "not found"}

    def verify_batch(self, request: Request) -> Answer:
        batch = BatchRequest.model_validate_json(request.body)
        results = []
        for item in batch.reports:
            report_id = json.loads(item.payload)["report_id"]
            good = self.public_key is not None and verify_signature(
                self.public_key, item.payload.encode("utf-8"), item.signature
            )
            status = "stored" if good else "rejected"
            error = None if good else "signature does not verify"
            results.append(IngestResult(report_id=report_id, status=status, error=error))
        return 200, BatchResponse(results=results).model_dump(mode="json")


class _Handler(BaseHTTPRequestHandler):
    stub: StubAuditor

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        request = Request(self.path, dict(self.headers.items()), self.rfile.read(length))
        status, body = self.server.stub.answer(request)  # type: ignore[attr-defined]
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


@contextmanager
def serve(stub: StubAuditor, tls: TlsFiles | None = None) -> Iterator[StubAuditor]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.stub = stub  # type: ignore[attr-defined]
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.server_cert, tls.server_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    stub.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_tls(directory: Path, name: str = "test") -> TlsFiles:
    """A CA and a server certificate for 127.0.0.1/localhost signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_cert.write_bytes(_pem(ca))
    files.server_cert.write_bytes(_pem(server))
    files.server_key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def write_agent_config(directory: Path, state_dir: Path, delivery: str = "") -> Path:
    """A config with the slow collectors off (no backups, auth, exposure) and tiny retry waits."""
    path = directory / "agent.toml"
    path.write_text(
        f'[agent]\norg = "mic/ais"\nstate_dir = "{state_dir}"\n'
        "[auth]\nenabled = false\n[exposure]\nenabled = false\n"
        f'[delivery]\nretry_attempts = 3\nretry_max_wait = "0.01s"\n{delivery}\n'
    )
    return path


def write_enrollment(state_dir: Path, auditor_url: str, ca_cert: Path | None = None) -> str:
    """Enroll ``state_dir`` without an auditor (as ``rra agent enroll`` leaves it); returns the
    public key the stub verifies with."""
    key = HostKey.generate()
    key.save(key_path(state_dir))
    enrollment = Enrollment(
        host_id="host-1",
        auditor_url=auditor_url,
        ca_cert=ca_cert,
        org="mic/ais",
        criticality="high",
        enrolled_at=dt.datetime.now(dt.UTC),
    )
    (state_dir / ENROLLMENT_FILE).write_text(enrollment.model_dump_json())
    return key.public_key_b64
