"""Host enrollment (docs/protocol.md): proof of key possession, one atomic token use, a new host.

The proof is checked first: a token must never be spent on a public key whose private half the
caller does not hold. The token is then consumed by a single conditional UPDATE, so of two
enrollments racing on one token exactly one wins on SQLite and on PostgreSQL alike. The host gets
its org, criticality and labels from the token, never from what the agent claims.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal, cast

import structlog
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from rra.agent.identity import (
    PUBLIC_KEY_BYTES,
    b64decode_exact,
    public_key_fingerprint,
    verify_signature,
)
from rra.auditor.admin import record
from rra.auditor.models import EnrollToken, HostRow
from rra.auditor.tokens import token_hash
from rra.checks.canonical import canonical_json
from rra.checks.protocol import EnrollRequest, EnrollResponse

log = structlog.get_logger(__name__)

# One answer for unknown, expired and used tokens: the caller learns nothing about which tokens
# exist. The server log says which (by token id, never the token).
TOKEN_REFUSED = "enrollment token is not valid (unknown, expired or already used)"  # noqa: S105
Criticality = Literal["high", "medium", "low"]


class EnrollmentRefused(Exception):
    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


def proof_payload(request: EnrollRequest) -> bytes:
    """The bytes the proof signs: the request as sent, without ``proof``.

    ``exclude_unset`` keeps exactly the fields the agent sent, so an agent that leaves out an
    optional field (machine_id, os_family) signed the same document the auditor checks.
    """
    return canonical_json(request.model_dump(mode="json", exclude={"proof"}, exclude_unset=True))


def verify_proof(request: EnrollRequest) -> None:
    if b64decode_exact(request.public_key, PUBLIC_KEY_BYTES) is None:
        raise EnrollmentRefused(422, "public_key must be a raw 32-byte Ed25519 key in base64")
    if not verify_signature(request.public_key, proof_payload(request), request.proof):
        raise EnrollmentRefused(401, "proof does not verify with the presented public key")


def enroll_host(session: Session, request: EnrollRequest, now: datetime) -> EnrollResponse:
    """Create the host. The caller commits (``session_scope``); any refusal rolls back, so a
    refused enrollment (for instance a key already enrolled) leaves the token unused."""
    verify_proof(request)
    host_id = str(uuid.uuid4())
    hashed = token_hash(request.token)
    consumed = session.exec(
        update(EnrollToken)
        .where(
            col(EnrollToken.token_hash) == hashed,
            col(EnrollToken.used_at).is_(None),
            col(EnrollToken.expires_at) > now,
        )
        .values(used_at=now, used_by_host=host_id)
        .returning(
            col(EnrollToken.id),
            col(EnrollToken.org),
            col(EnrollToken.criticality),
            col(EnrollToken.labels),
        )
    ).first()
    if consumed is None:
        _log_refused_token(session, hashed, now)
        raise EnrollmentRefused(401, TOKEN_REFUSED)
    token_id, org, criticality, labels = consumed
    if session.exec(select(HostRow.id).where(HostRow.public_key == request.public_key)).first():
        raise EnrollmentRefused(409, "this public key is already enrolled")
    clone_of = _live_host_with_machine_id(session, request)
    host = HostRow(
        id=host_id,
        org=org,
        hostname=request.hostname,
        machine_id=request.machine_id,
        os_family=request.os_family,
        criticality=criticality,
        labels=dict(labels or {}),
        public_key=request.public_key,
        enrolled_at=now,
        enroll_token_id=token_id,
        clone_of=clone_of,
    )
    session.add(host)
    try:
        session.flush()
    except IntegrityError:  # the same key enrolled concurrently through another token
        raise EnrollmentRefused(409, "this public key is already enrolled") from None
    actor = f"enroll:{token_id}"
    fingerprint = public_key_fingerprint(request.public_key)
    record(
        session,
        actor=actor,
        org=org,
        action="host.enroll",
        target=host_id,
        detail={
            "hostname": request.hostname,
            "machine_id": request.machine_id,
            "key_fingerprint": fingerprint,
            "clone_of": clone_of,
        },
    )
    if clone_of is not None:
        record(
            session,
            actor=actor,
            org=org,
            action="host.clone_detected",
            target=host_id,
            detail={"clone_of": clone_of, "machine_id": request.machine_id},
        )
        log.warning("clone enrolled", host_id=host_id, clone_of=clone_of, org=org)
    log.info("host enrolled", host_id=host_id, org=org, token_id=token_id, key=fingerprint)
    return EnrollResponse(
        host_id=host_id,
        org=org,
        criticality=cast(Criticality, criticality),
        clone_of=clone_of,
    )


def _live_host_with_machine_id(session: Session, request: EnrollRequest) -> str | None:
    """The first live host that already presented this machine_id with another key: a copied
    disk image or VM template is flagged as a clone, never merged into the original."""
    if not request.machine_id:
        return None
    return session.exec(
        select(HostRow.id)
        .where(
            HostRow.machine_id == request.machine_id,
            col(HostRow.retired_at).is_(None),
            HostRow.public_key != request.public_key,
        )
        .order_by(col(HostRow.enrolled_at), col(HostRow.id))
        .limit(1)
    ).first()


def _log_refused_token(session: Session, hashed: str, now: datetime) -> None:
    token = session.exec(select(EnrollToken).where(EnrollToken.token_hash == hashed)).first()
    if token is None:
        reason, token_id = "unknown", None
    elif token.used_at is not None:
        reason, token_id = "already used", token.id
    else:
        reason, token_id = "expired", token.id
    log.info("enrollment refused", reason=reason, token_id=token_id, now=now.isoformat())
