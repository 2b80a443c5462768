"""Store signed drill results (``rra.drill/1``) idempotently and close the runs they answer.

A result is kept exactly as signed, with its signature and signer (``host`` for an agent,
``auditor`` for the worker). Replaying it is a no-op; the same ``drill_id`` with other content is
a conflict. A result naming a ``run_id`` must answer a run claimed by the same executor — that
host's agent, or the worker for an agentless target — and closes it with one conditional
``UPDATE`` (claimed → done), so two results can never both close one run.
"""

from __future__ import annotations

import functools
import math
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

import pydantic_core
from pydantic import ValidationError
from sqlalchemy import Table, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, col

from rra.auditor.ingest import IngestRejected, validation_summary
from rra.auditor.models import DrillResultRow, DrillRun, HostRow, as_utc
from rra.checks.drill import DrillResult

DRILL_RESULTS: Table = SQLModel.metadata.tables["drill_results"]

Signer = Literal["host", "auditor"]
StoreStatus = Literal["stored", "duplicate"]
# One answer for an unknown run and another executor's run: ids are not worth probing for.
NOT_YOUR_RUN = "run_id is not a drill run claimed by this executor"


def _finite(document: object) -> bool:
    pending = [document]
    while pending:
        node = pending.pop()
        if isinstance(node, float) and not math.isfinite(node):
            return False
        if isinstance(node, dict):
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return True


def parse_result(payload: bytes, now: datetime, clock_skew: timedelta) -> DrillResult:
    """The verified body as a ``DrillResult``. Raises ``IngestRejected`` 400/422."""
    try:
        document = pydantic_core.from_json(payload.decode("utf-8"), allow_inf_nan=False)
    except ValueError as exc:
        raise IngestRejected(400, "malformed", f"body is not UTF-8 JSON: {exc}") from None
    if not _finite(document):
        raise IngestRejected(422, "invalid", "a number is out of range (not a finite float)")
    try:
        result = DrillResult.model_validate(document)
    except ValidationError as exc:
        raise IngestRejected(422, "invalid", validation_summary(exc, "rra.drill/1")) from None
    try:
        canonical_id = str(uuid.UUID(result.drill_id))
    except ValueError:
        canonical_id = ""
    if canonical_id != result.drill_id.lower() or (
        result.run_id is not None and len(result.run_id) > 36
    ):
        raise IngestRejected(422, "invalid", "drill_id and run_id must be UUIDs")
    if len(result.hostname) > 255 or len(result.playbook) > 64:
        raise IngestRejected(422, "invalid", "hostname or playbook name too long")
    for name, moment in (("started_at", result.started_at), ("ended_at", result.ended_at)):
        utc = as_utc(moment) or moment
        if utc > now + clock_skew:
            raise IngestRejected(
                422, "future", f"{name} {utc.isoformat()} is in the future beyond the allowed "
                f"clock skew ({clock_skew}); check the executor's clock",
            )  # fmt: skip
    return result


@functools.cache
def _insert(dialect: str) -> Any:
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(DRILL_RESULTS)
        .on_conflict_do_nothing(index_elements=["drill_id"])
        .returning(DRILL_RESULTS.c.drill_id)
    )


def _run_for(session: Session, result: DrillResult, host_id: str | None) -> DrillRun | None:
    if result.run_id is None:
        if host_id is None:
            raise IngestRejected(422, "invalid", "a worker's result must name its run_id")
        return None
    run = session.get(DrillRun, result.run_id)
    kind = "agent" if host_id is not None else "worker"
    if run is None or run.executor_kind != kind or run.host_id != host_id:
        raise IngestRejected(403, "not_your_run", NOT_YOUR_RUN)
    if run.state == "pending":
        raise IngestRejected(403, "not_your_run", NOT_YOUR_RUN)
    if run.state == "done":
        raise IngestRejected(409, "conflict", "the run already has a result")
    if run.playbook_name != result.playbook:
        raise IngestRejected(
            422,
            "invalid",
            f"run {run.id} is playbook {run.playbook_name!r}, not {result.playbook!r}",
        )
    return run


def store_result(
    session: Session,
    result: DrillResult,
    payload: bytes,
    signature: str,
    signer: Signer,
    host_id: str | None,
    now: datetime,
    *,
    signer_key: str,
) -> StoreStatus:
    """Store one verified result for ``host_id`` (None: the worker, agentless). Does not commit.

    Raises ``IngestRejected``: 409 same id with other content or the run already answered, 403
    not this executor's run, 422 invalid.
    """
    text = payload.decode("utf-8")
    existing = session.get(DrillResultRow, result.drill_id)
    if existing is not None:
        return _replay(existing, text, host_id)
    run = _run_for(session, result, host_id)
    if host_id is not None:
        host = session.get(HostRow, host_id)
        if host is None:
            raise IngestRejected(401, "unauthorized", "unknown host")
        org = host.org
    else:
        assert run is not None  # noqa: S101 - _run_for refuses a worker result without a run
        org = run.org
    values = {
        "drill_id": result.drill_id,
        "run_id": result.run_id,
        "host_id": host_id,
        "target": result.hostname,
        "org": org,
        "playbook": result.playbook,
        "verdict": result.verdict,
        "started_at": as_utc(result.started_at),
        "ended_at": as_utc(result.ended_at),
        "rto_seconds": result.rto_seconds,
        "rto_target_seconds": result.rto_target_seconds,
        "rpo_seconds": result.rpo_seconds,
        "snapshot_id": (result.snapshot_id or "")[:64] or None,
        "payload": text,
        "signature": signature,
        "signer": signer,
        "signer_key": signer_key,
        "received_at": now,
    }
    connection = session.connection()
    if not connection.execute(_insert(connection.dialect.name), values).all():
        # A concurrent request stored this drill_id between our read and our insert.
        raced = session.get(DrillResultRow, result.drill_id, populate_existing=True)
        if raced is None:
            raise IngestRejected(503, "race", "result is being stored concurrently; retry")
        return _replay(raced, text, host_id)
    if run is not None:
        closed = connection.execute(
            update(DrillRun)
            .where(col(DrillRun.id) == run.id, col(DrillRun.state) == "claimed")
            .values(state="done", result_id=result.drill_id)
        )
        if closed.rowcount != 1:
            raise IngestRejected(409, "conflict", "the run already has a result")
    return "stored"


def _replay(existing: DrillResultRow, text: str, host_id: str | None) -> StoreStatus:
    if existing.payload == text and existing.host_id == host_id:
        return "duplicate"
    raise IngestRejected(409, "conflict", "drill_id already stored with other content")
