"""Re-evaluate every host's current state under the current policy (DESIGN §4).

Stored facts are evaluated exactly as at ingest — as of the report's own ``collected_at`` — so a
rescore under an unchanged policy reproduces the stored scores, and under a changed one gives the
scores the hosts would have had. Lifecycle staleness is separate and applies at read time.
The host's stored drill results are merged into its facts exactly as at ingest.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import Table, bindparam, update
from sqlmodel import Session, SQLModel, col, select

from rra.auditor.drills.merge import drill_facts_by_host, merge_drills
from rra.auditor.ingest import auditor_checks
from rra.auditor.models import HostState, as_utc
from rra.auditor.settings import AuditorSettings
from rra.checks.base import CheckContext
from rra.checks.evaluate import evaluate
from rra.checks.facts import DrillFact, Facts

log = structlog.get_logger(__name__)

BATCH_SIZE = 200
HOST_STATE: Table = SQLModel.metadata.tables["host_state"]
# Guarded by the report evaluated: a state a newer report replaced meanwhile is left alone.
_GUARDED_UPDATE = update(HOST_STATE).where(
    HOST_STATE.c.host_id == bindparam("b_host_id"),
    HOST_STATE.c.report_id == bindparam("b_report_id"),
)


def rescore_all(session: Session, settings: AuditorSettings) -> int:
    """Re-evaluate every host state; return how many were updated.

    Works through the table in host-id order, ``BATCH_SIZE`` states at a time, committing after
    each batch: memory stays flat and ingest never waits long on a row this holds. Each update is
    guarded by the report it evaluated, so a state that a newer report replaced meanwhile keeps
    that newer report's own (current-policy) evaluation.
    """
    policy_id = settings.policy_id
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
        now = datetime.now(UTC)
        window = settings.policy.drill_max_age
        earliest = min((as_utc(state[2]) or now) for state in states) - window
        drills = drill_facts_by_host(session.connection(), [s[0] for s in states], earliest)
        updates: list[dict[str, Any]] = []
        for host_id, report_id, collected_at, facts_document in states:
            values = _evaluated(
                host_id,
                facts_document,
                as_utc(collected_at) or now,
                drills.get(host_id, []),
                settings,
            )
            if values is not None:
                updates.append(
                    values
                    | {
                        "b_host_id": host_id,
                        "b_report_id": report_id,
                        "policy_id": policy_id,
                        "evaluated_at": now,
                    }
                )
        if updates:
            # executemany: one round trip per batch, not one per host.
            result = session.connection().execute(_GUARDED_UPDATE, updates)
            # Some drivers cannot count an executemany; then every update is assumed to apply.
            rescored += result.rowcount if result.rowcount >= 0 else len(updates)
        session.commit()
        after = states[-1][0]


def _evaluated(
    host_id: str,
    facts_document: Mapping[str, Any],
    moment: datetime,
    stored_drills: list[DrillFact],
    settings: AuditorSettings,
) -> dict[str, Any] | None:
    """The state columns of one evaluation, or None when the stored facts no longer validate."""
    try:
        facts = Facts.model_validate(facts_document)
    except ValidationError as exc:
        # Stored by an older rra whose facts no longer validate: keep the old score.
        log.warning("rescore skipped: stored facts invalid", host_id=host_id, error=str(exc))
        return None
    facts = merge_drills(facts, stored_drills, moment - settings.policy.drill_max_age)
    metrics, findings, score = evaluate(
        facts, CheckContext(now=moment, policy=settings.policy), auditor_checks()
    )
    return {
        "score_total": score.total,
        "score": score.model_dump(mode="json"),
        "metrics": metrics.model_dump(mode="json"),
        "findings": [finding.model_dump(mode="json") for finding in findings],
    }


def reevaluate_host(session: Session, host_id: str, settings: AuditorSettings) -> bool:
    """Re-evaluate one host's current state now (after a drill result arrived), so its score
    moves at once. Retried when a newer report replaces the state meanwhile: that report's
    ingest may have read the drill results before this one was committed. Commits."""
    for _attempt in range(3):
        state = session.exec(
            select(HostState.report_id, HostState.collected_at, HostState.facts).where(
                HostState.host_id == host_id
            )
        ).first()
        if state is None:
            return False  # no report yet: the first report's ingest merges the drill
        report_id, collected_at, facts_document = state
        moment = as_utc(collected_at) or datetime.now(UTC)
        since = moment - settings.policy.drill_max_age
        drills = drill_facts_by_host(session.connection(), [host_id], since).get(host_id, [])
        values = _evaluated(host_id, facts_document, moment, drills, settings)
        if values is None:
            return False
        values |= {
            "b_host_id": host_id,
            "b_report_id": report_id,
            "policy_id": settings.policy_id,
            "evaluated_at": datetime.now(UTC),
        }
        result = session.connection().execute(_GUARDED_UPDATE, values)
        session.commit()
        if result.rowcount == 1:
            return True
    return False
