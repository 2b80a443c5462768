"""Re-evaluate every host's current state under the current policy (DESIGN §4).

Stored facts are evaluated exactly as at ingest — as of the report's own ``collected_at`` — so a
rescore under an unchanged policy reproduces the stored scores, and under a changed one gives the
scores the hosts would have had. Lifecycle staleness is separate and applies at read time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import Table, bindparam, update
from sqlmodel import Session, SQLModel, col, select

from rra.auditor.ingest import auditor_checks
from rra.auditor.models import HostState, as_utc
from rra.auditor.settings import AuditorSettings
from rra.checks.base import CheckContext
from rra.checks.evaluate import evaluate
from rra.checks.facts import Facts

log = structlog.get_logger(__name__)

BATCH_SIZE = 200
HOST_STATE: Table = SQLModel.metadata.tables["host_state"]


def rescore_all(session: Session, settings: AuditorSettings) -> int:
    """Re-evaluate every host state; return how many were updated.

    Works through the table in host-id order, ``BATCH_SIZE`` states at a time, committing after
    each batch: memory stays flat and ingest never waits long on a row this holds. Each update is
    guarded by the report it evaluated, so a state that a newer report replaced meanwhile keeps
    that newer report's own (current-policy) evaluation.
    """
    policy_id = settings.policy_id
    checks = auditor_checks()
    rescored = 0
    after = ""
    while True:
        states = session.exec(
            select(HostState.host_id, HostState.report_id, HostState.collected_at, HostState.facts)
            .where(col(HostState.host_id) > after)
            .order_by(col(HostState.host_id))
            .limit(BATCH_SIZE)
        ).all()
        if not states:
            return rescored
        updates: list[dict[str, Any]] = []
        now = datetime.now(UTC)
        for host_id, report_id, collected_at, facts_document in states:
            try:
                facts = Facts.model_validate(facts_document)
            except ValidationError as exc:
                # Stored by an older rra whose facts no longer validate: keep the old score.
                log.warning(
                    "rescore skipped: stored facts invalid", host_id=host_id, error=str(exc)
                )
                continue
            moment = as_utc(collected_at) or now
            metrics, findings, score = evaluate(
                facts, CheckContext(now=moment, policy=settings.policy), checks
            )
            updates.append(
                {
                    "b_host_id": host_id,
                    "b_report_id": report_id,
                    "score_total": score.total,
                    "score": score.model_dump(mode="json"),
                    "metrics": metrics.model_dump(mode="json"),
                    "findings": [finding.model_dump(mode="json") for finding in findings],
                    "policy_id": policy_id,
                    "evaluated_at": now,
                }
            )
        if updates:
            columns = HOST_STATE.c
            statement = update(HOST_STATE).where(
                columns.host_id == bindparam("b_host_id"),
                columns.report_id == bindparam("b_report_id"),
            )
            # executemany: one round trip per batch, not one per host.
            result = session.connection().execute(statement, updates)
            # Some drivers cannot count an executemany; then every update is assumed to apply.
            rescored += result.rowcount if result.rowcount >= 0 else len(updates)
        session.commit()
        after = states[-1][0]
