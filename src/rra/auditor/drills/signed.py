"""The service behind the two host-signed drill endpoints (docs/protocol.md): claim due runs,
deliver results. Same order of checks as report ingest — size (in the HTTP layer), then the
signature over the raw bytes **before any parsing**, retirement, JSON, schema, time — so an
unauthenticated sender never reaches a parser. Synchronous: the HTTP layer runs it in a thread.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pydantic_core
import structlog
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from rra.auditor.drills.claims import claim_runs
from rra.auditor.drills.results import parse_result, store_result
from rra.auditor.hostkeys import HostKeyCache
from rra.auditor.ingest import RETIRED, IngestRejected, authenticate, validation_summary
from rra.auditor.models import HostRow, as_utc
from rra.auditor.rescore import reevaluate_host
from rra.auditor.settings import AuditorSettings
from rra.checks.protocol import (
    CLAIM_MAX_SKEW_SECONDS,
    ClaimedDrill,
    DrillClaimRequest,
    DrillClaimResponse,
    DrillResultAck,
)

log = structlog.get_logger(__name__)

#: A claim is a few dozen bytes; anything near this is not one.
MAX_CLAIM_BYTES = 16 * 1024


def _verified(
    engine: Engine, keys: HostKeyCache, host_id: str, body: bytes, signature: str
) -> None:
    authenticate(keys.lookup(engine, host_id), host_id, body, signature)


def _live_host(session: Session, keys: HostKeyCache, host_id: str) -> HostRow:
    """Re-check retirement in the database: the key cache may be a minute behind another replica."""
    host = session.get(HostRow, host_id)
    if host is None or host.retired_at is not None:
        keys.mark_retired(host_id)
        raise IngestRejected(403, "retired", RETIRED)
    return host


def parse_claim(body: bytes, now: datetime) -> DrillClaimRequest:
    try:
        document = pydantic_core.from_json(body.decode("utf-8"), allow_inf_nan=False)
    except ValueError as exc:
        raise IngestRejected(400, "malformed", f"body is not UTF-8 JSON: {exc}") from None
    try:
        request = DrillClaimRequest.model_validate(document)
    except ValidationError as exc:
        raise IngestRejected(422, "invalid", validation_summary(exc, "DrillClaimRequest")) from None
    requested = as_utc(request.requested_at) or request.requested_at  # naive reads as UTC
    # Both directions: an old captured claim must not be replayable later, and a claim dated
    # ahead must not stay replayable until then.
    if abs(requested - now) > timedelta(seconds=CLAIM_MAX_SKEW_SECONDS):
        raise IngestRejected(
            422, "stale", f"requested_at {requested.isoformat()} is more than "
            f"{CLAIM_MAX_SKEW_SECONDS} s from the auditor's clock; check the host's clock",
        )  # fmt: skip
    return request


def claim_for_host(
    engine: Engine, keys: HostKeyCache, host_id: str, body: bytes, signature: str, now: datetime
) -> DrillClaimResponse:
    """``POST /api/v1/drills/claim``. Raises ``IngestRejected``."""
    _verified(engine, keys, host_id, body, signature)
    request = parse_claim(body, now)
    with Session(engine, expire_on_commit=False) as session:
        _live_host(session, keys, host_id)
        session.rollback()  # end the read before the claim's own transactions
        claimed = claim_runs(session, "agent", host_id, host_id, now, request.max_runs)
    return DrillClaimResponse(
        runs=[
            ClaimedDrill(
                run_id=run.run_id,
                playbook=run.playbook,
                playbook_yaml=run.playbook_yaml,
                playbook_sha256=run.playbook_sha256,
                due_at=run.due_at,
                lease_until=run.lease_until,
            )
            for run in claimed
        ]
    )


def result_from_host(
    engine: Engine,
    keys: HostKeyCache,
    host_id: str,
    body: bytes,
    signature: str,
    settings: AuditorSettings,
    now: datetime,
) -> tuple[DrillResultAck, int]:
    """``POST /api/v1/drills/results``: the ack and its HTTP status (201 stored, 200 duplicate).
    Raises ``IngestRejected``. The result's ``hostname`` is informational: the host is the signer."""
    _verified(engine, keys, host_id, body, signature)
    result = parse_result(body, now, settings.server.clock_skew)
    with Session(engine, expire_on_commit=False) as session:
        host = _live_host(session, keys, host_id)
        try:
            status = store_result(
                session,
                result,
                body,
                signature,
                "host",
                host_id,
                now,
                # _verified refused key-less (agentless) hosts, so the key is there
                signer_key=host.public_key or "",
            )
        except IngestRejected:
            session.rollback()
            raise
        session.commit()
        if status == "stored":
            reevaluate_host(session, host_id, settings)
            log.info("drill result stored", host_id=host_id, org=host.org,
                     playbook=result.playbook, verdict=result.verdict)  # fmt: skip
    ack = DrillResultAck(drill_id=result.drill_id, status=status)
    return ack, 201 if status == "stored" else 200
