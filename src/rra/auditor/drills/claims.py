"""Claim due drill runs: one conditional ``UPDATE`` per run, so however many replicas, workers
and agent requests race for the same rows, each run is claimed exactly once.

The candidate ``SELECT`` may be stale by the time it is used; the ``UPDATE`` re-checks the row's
state under the database's row (PostgreSQL) or write (SQLite) lock and only a row count of 1 is a
claim — the same pattern as enrollment-token consumption. A claim holds a lease (the playbook's
timeout plus a margin); a run whose lease ran out without a result is claimable again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import structlog
from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlmodel import Session, col

from rra.agent.drill.load import PlaybookError
from rra.auditor.drills.schedule import materialize_recent
from rra.auditor.drills.store import parsed
from rra.auditor.models import DrillRun, PlaybookRow, as_utc

log = structlog.get_logger(__name__)

ExecutorKind = Literal["agent", "worker"]
LEASE_MARGIN = timedelta(minutes=10)
# More candidates than wanted: runs lost to a concurrent claimer are replaced by the next ones.
OVERSELECT = 4


@dataclass(frozen=True)
class ClaimedRun:
    run_id: str
    playbook: str
    playbook_yaml: str
    playbook_sha256: str
    target: str
    host_id: str | None
    due_at: datetime
    lease_until: datetime


def _claimable(now: datetime) -> ColumnElement[bool]:
    state, lease = col(DrillRun.state), col(DrillRun.lease_until)
    return or_(state == "pending", and_(state == "claimed", lease < now))


def claim_runs(
    session: Session,
    executor_kind: ExecutorKind,
    host_id: str | None,
    claimer: str,
    now: datetime,
    limit: int,
    lease: timedelta | None = None,
) -> list[ClaimedRun]:
    """Materialise due runs, then claim up to ``limit`` of this executor's due runs (an agent:
    its host's; the worker: the agentless ones), oldest first. Commits.

    ``lease`` overrides the default lease (the playbook's timeout + ``LEASE_MARGIN``).
    """
    materialize_recent(session, now)
    owner = (
        col(DrillRun.host_id) == host_id if host_id is not None else col(DrillRun.host_id).is_(None)
    )
    candidates = session.execute(
        select(
            col(DrillRun.id),
            col(DrillRun.target),
            col(DrillRun.host_id),
            col(DrillRun.due_at),
            PlaybookRow,
        )
        .join(PlaybookRow, col(PlaybookRow.id) == col(DrillRun.playbook_id))
        .where(
            col(DrillRun.executor_kind) == executor_kind,
            owner,
            col(DrillRun.due_at) <= now,
            _claimable(now),
        )
        # One total order for every claimer: concurrent transactions lock rows in the same order.
        .order_by(col(DrillRun.due_at), col(DrillRun.id))
        .limit(limit * OVERSELECT)
    ).all()
    claimed: list[ClaimedRun] = []
    for run_id, target, run_host, due_at, playbook in candidates:
        if len(claimed) >= limit:
            break
        try:
            timeout = parsed(playbook).timeout
        except PlaybookError as error:
            log.warning("claimable run's playbook no longer loads", run_id=run_id, error=str(error))
            continue
        lease_until = now + (lease if lease is not None else timeout + LEASE_MARGIN)
        result = session.connection().execute(
            update(DrillRun)
            .where(col(DrillRun.id) == run_id, _claimable(now))
            .values(state="claimed", claimed_by=claimer, claimed_at=now, lease_until=lease_until)
        )
        if result.rowcount != 1:
            continue  # another claimer won this one
        claimed.append(
            ClaimedRun(
                run_id=run_id,
                playbook=playbook.name,
                playbook_yaml=playbook.yaml,
                playbook_sha256=playbook.sha256,
                target=target,
                host_id=run_host,
                due_at=as_utc(due_at) or due_at,
                lease_until=lease_until,
            )
        )
    session.commit()
    return claimed
