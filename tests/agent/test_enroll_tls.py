"""``rra agent enroll`` against a real HTTPS server with its own CA pinned."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from rra.agent.enroll import (
    CA_COPY_FILE,
    ENROLLMENT_FILE,
    EnrollError,
    build_enroll_request,
    enroll,
    load_identity,
)
from rra.agent.identity import HostKey, key_path, verify_signature
from rra.checks.canonical import canonical_json
from rra.checks.facts import HostInfo, OsInfo
from tests.agent.stub_auditor import StubAuditor, TlsFiles, make_tls, serve

ENROLL = "/api/v1/enroll"
TOKEN = "rra_enr_" + "s3cret-t0ken-value-0123456789abcdef"
HOST = HostInfo(
    hostname="web-01", os=OsInfo(family="linux"), machine_id="0123abcd", org="config/org"
)
WELCOME = {"host_id": "7d4e-host", "org": "mic/ais", "criticality": "high", "clone_of": None}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("other-tls"), name="impostor")


@pytest.fixture
def auditor(tls: TlsFiles) -> Iterator[StubAuditor]:
    with serve(StubAuditor(), tls) as stub:
        yield stub


def test_enroll_over_pinned_tls(auditor: StubAuditor, tls: TlsFiles, tmp_path: Path) -> None:
    auditor.script(ENROLL, (201, WELCOME))
    enrollment, answer = enroll(tmp_path, auditor.url, TOKEN, tls.ca_cert, HOST)
    assert (answer.host_id, enrollment.org, enrollment.criticality) == (
        "7d4e-host",
        "mic/ais",
        "high",
    )

    sent = auditor.requests[0].json()
    assert sent["token"] == TOKEN
    assert (sent["hostname"], sent["machine_id"], sent["os_family"]) == (
        "web-01",
        "0123abcd",
        "linux",
    )
    unsigned = {k: v for k, v in sent.items() if k != "proof"}
    assert verify_signature(sent["public_key"], canonical_json(unsigned), sent["proof"])

    assert key_path(tmp_path).stat().st_mode & 0o777 == 0o600
    assert (tmp_path / CA_COPY_FILE).read_bytes() == tls.ca_cert.read_bytes()
    stored = json.loads((tmp_path / ENROLLMENT_FILE).read_text())
    assert set(stored) == {"host_id", "auditor_url", "ca_cert", "org", "criticality", "enrolled_at"}
    assert stored["ca_cert"] == str(tmp_path / CA_COPY_FILE)
    loaded, key = load_identity(tmp_path)
    assert loaded == enrollment
    assert key.public_key_b64 == sent["public_key"]


def test_proof_covers_a_null_machine_id() -> None:
    key = HostKey.generate()
    request = build_enroll_request(key, TOKEN, HOST.model_copy(update={"machine_id": None}))
    unsigned = request.model_dump(mode="json", exclude={"proof"})
    assert unsigned["machine_id"] is None
    assert verify_signature(key.public_key_b64, canonical_json(unsigned), request.proof)


def test_another_ca_fails_tls_and_writes_nothing(
    auditor: StubAuditor, other_ca: TlsFiles, tmp_path: Path
) -> None:
    with pytest.raises(EnrollError, match="TLS verification") as raised:
        enroll(tmp_path, auditor.url, TOKEN, other_ca.ca_cert, HOST)
    assert not raised.value.bad_input
    assert auditor.requests == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "refused the enrollment token"),
        (409, "already has this host key"),
        (422, "enrollment failed"),
        (500, "enrollment failed"),
    ],
)
def test_refusals_are_operational_and_never_echo_the_token(
    auditor: StubAuditor, tls: TlsFiles, tmp_path: Path, status: int, expected: str
) -> None:
    auditor.script(ENROLL, (status, {"detail": "nope"}))
    with pytest.raises(EnrollError, match=expected) as raised:
        enroll(tmp_path, auditor.url, TOKEN, tls.ca_cert, HOST)
    assert not raised.value.bad_input
    assert TOKEN not in str(raised.value)
    assert not (tmp_path / ENROLLMENT_FILE).exists()
    assert not key_path(tmp_path).exists()


def test_existing_enrollment_needs_force(
    auditor: StubAuditor, tls: TlsFiles, tmp_path: Path
) -> None:
    auditor.script(ENROLL, (201, WELCOME), (201, {**WELCOME, "host_id": "second"}))
    enroll(tmp_path, auditor.url, TOKEN, tls.ca_cert, HOST)
    first_key = key_path(tmp_path).read_bytes()
    with pytest.raises(EnrollError, match="already enrolled; use --force") as raised:
        enroll(tmp_path, auditor.url, TOKEN, tls.ca_cert, HOST)
    assert raised.value.bad_input
    assert len(auditor.requests) == 1
    enrollment, _ = enroll(tmp_path, auditor.url, TOKEN, tls.ca_cert, HOST, force=True)
    assert enrollment.host_id == "second"
    assert key_path(tmp_path).read_bytes() != first_key


def test_a_failed_reenrollment_keeps_the_old_identity(
    auditor: StubAuditor, tls: TlsFiles, tmp_path: Path
) -> None:
    auditor.script(ENROLL, (201, WELCOME), (401, {"detail": "token used"}))
    enroll(tmp_path, auditor.url, TOKEN, tls.ca_cert, HOST)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(EnrollError):
        enroll(tmp_path, auditor.url, TOKEN, tls.ca_cert, HOST, force=True)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize(
    ("url", "ca", "expected"),
    [
        ("http://auditor.example.org", False, "plain http is allowed only for a loopback"),
        ("https://auditor.example.org", False, "needs its CA certificate"),
        ("ftp://auditor.example.org", True, "expected https://"),
        ("https://user:pw@auditor.example.org", True, "must not contain credentials"),
    ],
)
def test_bad_input_exits_2(
    tls: TlsFiles, tmp_path: Path, url: str, ca: bool, expected: str
) -> None:
    with pytest.raises(EnrollError, match=expected) as raised:
        enroll(tmp_path, url, TOKEN, tls.ca_cert if ca else None, HOST)
    assert raised.value.bad_input


def test_short_token_and_bad_ca_file_are_bad_input(tls: TlsFiles, tmp_path: Path) -> None:
    with pytest.raises(EnrollError, match="16–256 characters") as raised:
        enroll(tmp_path, "https://127.0.0.1:1", "short", tls.ca_cert, HOST)
    assert raised.value.bad_input and "short" not in str(raised.value)
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("hello")
    with pytest.raises(EnrollError, match="not a PEM CA certificate") as raised:
        enroll(tmp_path, "https://127.0.0.1:1", TOKEN, not_pem, HOST)
    assert raised.value.bad_input


def test_plain_http_on_loopback_is_allowed(tmp_path: Path) -> None:
    with serve(StubAuditor()) as plain:
        plain.script(ENROLL, (200, WELCOME))
        enrollment, _ = enroll(tmp_path, plain.url, TOKEN, None, HOST)
    assert enrollment.ca_cert is None
    assert not (tmp_path / CA_COPY_FILE).exists()


def test_connection_refused(tls: TlsFiles, tmp_path: Path) -> None:
    with serve(StubAuditor(), tls) as gone:
        url = gone.url
    with pytest.raises(EnrollError, match="connection refused") as raised:
        enroll(tmp_path, url, TOKEN, tls.ca_cert, HOST)
    assert not raised.value.bad_input


def test_not_enrolled_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(EnrollError, match=r"^not enrolled: run rra agent enroll$"):
        load_identity(tmp_path)
