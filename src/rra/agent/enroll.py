"""``rra agent enroll``: a new Ed25519 host key, registered with the auditor through a one-time token.

The auditor answers with this host's id and the org and criticality bound to the token. The agent
keeps ``host.key`` (0600), a copy of the auditor's CA and ``enrollment.json`` in its state dir.
Nothing is written unless the auditor accepted the key: a failed attempt leaves a previous
enrollment intact. The token is a secret: it goes only into the request body, never into a message.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, ValidationError

from rra.agent.identity import HostKey, IdentityError, key_path
from rra.agent.sender import (
    AuditorSettingsError,
    describe_transport_error,
    open_client,
    response_detail,
    validate_auditor_url,
)
from rra.agent.state import atomic_write_bytes
from rra.checks.canonical import canonical_json
from rra.checks.facts import HostInfo
from rra.checks.protocol import API_PREFIX, EnrollRequest, EnrollResponse

log = structlog.get_logger(__name__)

ENROLLMENT_FILE = "enrollment.json"
CA_COPY_FILE = "auditor-ca.pem"
NOT_ENROLLED = "not enrolled: run rra agent enroll"


class EnrollError(Exception):
    """Enrollment failed or is missing. ``bad_input``: the caller's arguments are wrong (exit 2);
    otherwise it is operational (exit 10)."""

    def __init__(self, message: str, *, bad_input: bool = False) -> None:
        super().__init__(message)
        self.bad_input = bad_input


class Enrollment(BaseModel):
    """``<state_dir>/enrollment.json``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    host_id: str
    auditor_url: str
    ca_cert: Path | None  # None only for a plain-http loopback auditor
    org: str
    criticality: Literal["high", "medium", "low"]
    enrolled_at: datetime


def build_enroll_request(key: HostKey, token: str, host: HostInfo) -> EnrollRequest:
    """The request with ``proof`` = the new key's signature over the canonical JSON of every other
    field, exactly as the model dumps them (``machine_id`` null included)."""
    try:
        unsigned = EnrollRequest(
            token=token,
            public_key=key.public_key_b64,
            machine_id=host.machine_id,
            hostname=host.hostname,
            os_family=host.os.family,
            proof="",
        )
    except ValidationError as exc:
        fields = sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]})
        hint = " (an enrollment token is 16–256 characters)" if "token" in fields else ""
        # Never echo the input: it may be the token.
        raise EnrollError(
            f"invalid enrollment request: {', '.join(fields)}{hint}", bad_input=True
        ) from None
    proof = key.sign(canonical_json(unsigned.model_dump(mode="json", exclude={"proof"})))
    return unsigned.model_copy(update={"proof": proof})


def _read_ca(ca_cert: Path | None, auditor_url: str) -> bytes | None:
    if ca_cert is None:
        if auditor_url.startswith("https://"):
            raise EnrollError(
                "an https auditor needs its CA certificate: --ca-cert FILE", bad_input=True
            )
        return None
    try:
        return ca_cert.read_bytes()
    except OSError as exc:
        raise EnrollError(
            f"{ca_cert}: cannot read the CA certificate ({exc.strerror})", bad_input=True
        ) from None


def _refusal(response: httpx.Response) -> EnrollError:
    detail = response_detail(response)
    if response.status_code == 401:
        return EnrollError(
            f"the auditor refused the enrollment token ({detail}); a token is single-use and "
            "expires: ask an admin for a new one (rra auditor enroll-token create)"
        )
    if response.status_code == 409:
        return EnrollError(f"the auditor already has this host key enrolled ({detail})")
    return EnrollError(f"enrollment failed: the auditor answered {detail}")


def enroll(
    state_dir: Path,
    auditor_url: str,
    token: str,
    ca_cert: Path | None,
    host: HostInfo,
    *,
    force: bool = False,
    timeout: float = 30.0,
) -> tuple[Enrollment, EnrollResponse]:
    enrollment_path = state_dir / ENROLLMENT_FILE
    if enrollment_path.exists() and not force:
        raise EnrollError(
            f"{enrollment_path}: this host is already enrolled; use --force to enroll it again "
            "(a new key and a new host id)",
            bad_input=True,
        )
    try:
        base_url = validate_auditor_url(auditor_url)
        ca_pem = _read_ca(ca_cert, base_url)
        client = open_client(base_url, ca_cert, timeout)
    except AuditorSettingsError as exc:
        raise EnrollError(str(exc), bad_input=True) from None
    key = HostKey.generate()
    request = build_enroll_request(key, token, host)
    log.info("enrolling", auditor=base_url, hostname=host.hostname)
    with client:
        try:
            response = client.post(
                f"{API_PREFIX}/enroll",
                content=canonical_json(request),
                headers={"Content-Type": "application/json"},
            )
        except httpx.TransportError as exc:
            raise EnrollError(describe_transport_error(exc, base_url)) from None
    if response.status_code not in (200, 201):
        raise _refusal(response)
    try:
        answer = EnrollResponse.model_validate_json(response.content)
    except ValidationError as exc:
        raise EnrollError(
            f"the auditor answered an invalid EnrollResponse ({exc.error_count()} errors)"
        ) from None
    enrollment = Enrollment(
        host_id=answer.host_id,
        auditor_url=base_url,
        ca_cert=state_dir / CA_COPY_FILE if ca_pem is not None else None,
        org=answer.org,
        criticality=answer.criticality,
        enrolled_at=datetime.now(UTC),
    )
    try:
        _save(state_dir, key, ca_pem, enrollment)
    except OSError as exc:
        raise EnrollError(
            f"the auditor enrolled host {answer.host_id} but saving it in {state_dir} failed "
            f"({exc}); the token is used up: get a new one and enroll again with --force"
        ) from None
    log.info("enrolled", host_id=answer.host_id, org=answer.org, clone_of=answer.clone_of)
    return enrollment, answer


def _save(state_dir: Path, key: HostKey, ca_pem: bytes | None, enrollment: Enrollment) -> None:
    # enrollment.json last: it is what marks the state dir as enrolled.
    key.save(key_path(state_dir))
    if ca_pem is not None:
        atomic_write_bytes(state_dir / CA_COPY_FILE, ca_pem)
    document = json.dumps(enrollment.model_dump(mode="json"), indent=2, sort_keys=True)
    atomic_write_bytes(state_dir / ENROLLMENT_FILE, document.encode("utf-8") + b"\n")


def load_enrollment(state_dir: Path) -> Enrollment:
    path = state_dir / ENROLLMENT_FILE
    try:
        return Enrollment.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise EnrollError(NOT_ENROLLED) from None
    except OSError as exc:
        raise EnrollError(f"{path}: cannot read the enrollment ({exc.strerror})") from None
    except ValidationError:
        raise EnrollError(f"{path}: not a valid enrollment; enroll again with --force") from None


def load_identity(state_dir: Path) -> tuple[Enrollment, HostKey]:
    """The enrollment and its key, or EnrollError saying how to get them."""
    enrollment = load_enrollment(state_dir)
    try:
        return enrollment, HostKey.load(key_path(state_dir))
    except IdentityError as exc:
        raise EnrollError(str(exc)) from None
