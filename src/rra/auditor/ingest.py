"""Report ingest (docs/protocol.md): authenticate, validate, re-evaluate, store.

The checks run in the protocol's order, each with its own outcome: the signature is verified over
the raw bytes before anything parses them, so an unauthenticated sender can never reach the JSON
parser or the checks. The auditor's own evaluation of the facts is the score it stores; the
agent's findings and score survive only inside the stored payload.

Everything here is synchronous (CPU and database); the HTTP layer runs it in a worker thread.
"""

from __future__ import annotations

import functools
import hashlib
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pydantic_core
import structlog
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from rra.agent.identity import verify_signature
from rra.auditor.drills.merge import StoredDrills
from rra.auditor.hostkeys import HostKeyCache, KnownHost
from rra.auditor.report_store import (
    AcceptedReport,
    HostRetired,
    StoreRace,
    StoreStatus,
    store_reports,
)
from rra.auditor.settings import AuditorSettings
from rra.checks.base import Check, CheckContext
from rra.checks.evaluate import evaluate
from rra.checks.protocol import BatchItem, IngestResult
from rra.checks.registry import load_checks
from rra.checks.report import Report

log = structlog.get_logger(__name__)

# One message for an unknown host and a bad signature: which one it was is nobody's business but
# the server log's (it would tell a prober which host ids exist).
UNAUTHORIZED = "unknown host or invalid signature"
RETIRED = "host is retired; enroll it again with a new enrollment token"
# Columns are 32-bit integers on PostgreSQL; a larger value is not a plausible sequence number.
MAX_INT32 = 2**31 - 1


class IngestRejected(Exception):
    """A report refused for good: HTTP status, a metric reason label and a message for the agent."""

    def __init__(self, status_code: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Outcome:
    result: IngestResult
    http_status: int
    reason: str  # label of rra_ingest_reports_total


def rejected(error: IngestRejected, report_id: str | None = None) -> Outcome:
    result = IngestResult(report_id=report_id, status="rejected", error=error.detail)
    return Outcome(result, error.status_code, error.reason)


@functools.cache
def auditor_checks() -> list[Check]:
    # Discovering entry points costs about a millisecond: once per process, not once per report.
    return load_checks()


def authenticate(host: KnownHost | None, host_id: str, payload: bytes, signature: str) -> KnownHost:
    if host is None:
        log.info("report refused", host_id=host_id[:64], reason="unknown host")
        raise IngestRejected(401, "unauthorized", UNAUTHORIZED)
    if host.public_key is None:
        log.info("report refused", host_id=host_id, reason="agentless host: no key may sign for it")
        raise IngestRejected(401, "unauthorized", UNAUTHORIZED)
    if not verify_signature(host.public_key, payload, signature):
        log.info("report refused", host_id=host_id, reason="signature does not verify")
        raise IngestRejected(401, "unauthorized", UNAUTHORIZED)
    if host.retired:
        raise IngestRejected(403, "retired", RETIRED)
    return host


def parse_report(payload: bytes, now: datetime, settings: AuditorSettings) -> Report:
    try:
        # NaN and Infinity are not JSON (and canonical JSON never contains them).
        document = pydantic_core.from_json(payload.decode("utf-8"), allow_inf_nan=False)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise IngestRejected(400, "malformed", f"body is not UTF-8 JSON: {exc}") from None
    if not _all_finite(document):
        raise IngestRejected(422, "invalid", "a number is out of range (not a finite float)")
    try:
        report = Report.model_validate(document)
    except ValidationError as exc:
        raise IngestRejected(422, "invalid", validation_summary(exc, "rra.report/1")) from None
    _check_bounds(report)
    collected_at = _utc(report.collected_at)
    if collected_at > now + settings.server.clock_skew:
        raise IngestRejected(
            422,
            "future",
            f"collected_at {collected_at.isoformat()} is in the future beyond the allowed "
            f"clock skew ({settings.server.clock_skew}); check the host's clock",
        )
    return report


def _all_finite(document: object) -> bool:
    """False if any number overflowed to infinity (``1e400``): no database column can hold it."""
    pending = [document]
    while pending:
        node = pending.pop()
        if isinstance(node, float):
            if not math.isfinite(node):
                return False
        elif isinstance(node, dict):
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return True


def _check_bounds(report: Report) -> None:
    try:
        canonical_id = str(uuid.UUID(report.report_id))
    except ValueError:
        canonical_id = ""
    if canonical_id != report.report_id.lower():
        raise IngestRejected(422, "invalid", "report_id must be a UUID")
    if report.seq > MAX_INT32 or report.delivery.dropped_total > MAX_INT32:
        raise IngestRejected(422, "invalid", f"seq and dropped_total must be ≤ {MAX_INT32}")


def validation_summary(error: ValidationError, what: str) -> str:
    problems = [
        f"{'.'.join(str(part) for part in item['loc']) or '(body)'}: {item['msg']}"
        for item in error.errors(include_url=False, include_input=False)[:5]
    ]
    more = error.error_count() - len(problems)
    suffix = f" (and {more} more)" if more > 0 else ""
    return f"not a valid {what}: {'; '.join(problems)}{suffix}"


def _utc(moment: datetime) -> datetime:
    # RFC 3339 requires an offset; a naive timestamp is read as UTC rather than refused.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def accept(
    host: KnownHost | None,
    host_id: str,
    payload: bytes,
    signature: str,
    now: datetime,
    settings: AuditorSettings,
    stored_drills: StoredDrills | None = None,
) -> AcceptedReport:
    """Every check up to storage, then the auditor's own evaluation — of the report's facts plus
    the host's stored drill results (``rra.auditor.drills.merge``). Raises ``IngestRejected``."""
    authenticate(host, host_id, payload, signature)
    report = parse_report(payload, now, settings)
    collected_at = _utc(report.collected_at)
    facts = report.facts
    if stored_drills is not None:
        facts = stored_drills.merged(facts, collected_at, settings.policy.drill_max_age)
    metrics, findings, score = evaluate(
        facts, CheckContext(now=collected_at, policy=settings.policy), auditor_checks()
    )
    return AcceptedReport(
        report=report,
        payload=payload.decode("utf-8"),  # parse_report already refused invalid UTF-8
        signature=signature,
        sha256=hashlib.sha256(payload).hexdigest(),
        collected_at=collected_at,
        metrics=metrics,
        findings=findings,
        score=score,
    )


def _outcome(status: StoreStatus, accepted: AcceptedReport) -> Outcome:
    report_id = accepted.report.report_id
    if status == "stored":
        result = IngestResult(report_id=report_id, status="stored", score=accepted.score.total)
        return Outcome(result, 201, "accepted")
    if status == "duplicate":
        return Outcome(IngestResult(report_id=report_id, status="duplicate"), 200, "replay")
    if status == "conflict":
        error = IngestRejected(409, "conflict", "report_id already stored with other content")
    else:
        error = IngestRejected(422, "db_refused", "the database refused a value in this report")
    return rejected(error, report_id)


def store(
    engine: Engine,
    keys: HostKeyCache,
    host_id: str,
    accepted: Sequence[AcceptedReport],
    settings: AuditorSettings,
    received_at: datetime,
) -> list[Outcome]:
    """Store reports of one host in one transaction. Raises ``IngestRejected`` (403, 503)."""
    try:
        statuses = store_reports(
            engine, host_id, accepted, policy_id=settings.policy_id, received_at=received_at
        )
    except HostRetired:
        keys.mark_retired(host_id)
        raise IngestRejected(403, "retired", RETIRED) from None
    except StoreRace:
        raise IngestRejected(503, "race", "report is being stored concurrently; retry") from None
    return [_outcome(status, item) for status, item in zip(statuses, accepted, strict=True)]


def ingest_single(
    engine: Engine,
    keys: HostKeyCache,
    host_id: str,
    payload: bytes,
    signature: str,
    settings: AuditorSettings,
    now: datetime,
) -> Outcome:
    try:
        host = keys.lookup(engine, host_id)
        drills = StoredDrills.for_host(engine, host_id)
        accepted = accept(host, host_id, payload, signature, now, settings, drills)
        return store(engine, keys, host_id, [accepted], settings, now)[0]
    except IngestRejected as error:
        return rejected(error)


def ingest_batch(
    engine: Engine,
    keys: HostKeyCache,
    host_id: str,
    items: Sequence[BatchItem],
    settings: AuditorSettings,
    now: datetime,
) -> list[Outcome]:
    """One outcome per item, in order. An unknown or retired host refuses the whole batch
    (raises ``IngestRejected``); anything else is decided per item."""
    host = keys.lookup(engine, host_id)
    if host is None:
        log.info("batch refused", host_id=host_id[:64], reason="unknown host")
        raise IngestRejected(401, "unauthorized", UNAUTHORIZED)
    if host.retired:
        raise IngestRejected(403, "retired", RETIRED)
    outcomes: list[Outcome | None] = []
    accepted: list[AcceptedReport] = []
    drills = StoredDrills.for_host(engine, host_id)  # loaded once for the batch (oldest first)
    for item in items:
        payload = item.payload.encode("utf-8")
        try:
            if len(payload) > settings.server.max_body_bytes:
                raise IngestRejected(413, "too_large", "report exceeds server.max_body_bytes")
            accepted.append(accept(host, host_id, payload, item.signature, now, settings, drills))
            outcomes.append(None)  # decided by the store below
        except IngestRejected as error:
            outcomes.append(rejected(error))
    stored_outcomes = iter(
        store(engine, keys, host_id, accepted, settings, now) if accepted else []
    )
    return [outcome if outcome is not None else next(stored_outcomes) for outcome in outcomes]
