"""Stored drill results as evaluation facts: wherever the auditor evaluates a host's facts (ingest,
rescore, and right after a drill result arrives), ``facts.drills`` is the report's own drills plus
the host's stored results that started within ``policy.drill_max_age`` of the evaluation moment,
so ``recovery.restore_drill`` and the drill metrics see scheduled, agentless and ad hoc drills.

The stored facts (``host_state.facts``) stay the report's own: every evaluation merges afresh.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from rra.auditor.models import DrillResultRow, as_utc
from rra.checks.facts import DrillFact, Facts

_COLUMNS = (
    col(DrillResultRow.host_id),
    col(DrillResultRow.playbook),
    col(DrillResultRow.verdict),
    col(DrillResultRow.started_at),
    col(DrillResultRow.ended_at),
    col(DrillResultRow.rto_seconds),
    col(DrillResultRow.rto_target_seconds),
    col(DrillResultRow.rpo_seconds),
    col(DrillResultRow.snapshot_id),
)


def _fact(row: Any) -> DrillFact:
    return DrillFact(
        playbook=row.playbook,
        verdict=row.verdict,
        started_at=as_utc(row.started_at) or row.started_at,
        ended_at=as_utc(row.ended_at),
        rto_seconds=row.rto_seconds,
        rto_target_seconds=row.rto_target_seconds,
        rpo_seconds=row.rpo_seconds,
        snapshot_id=row.snapshot_id,
    )


def drill_facts_by_host(
    connection: Connection, host_ids: Sequence[str], since: datetime
) -> dict[str, list[DrillFact]]:
    """Stored results of these hosts that started at or after ``since``, oldest first."""
    found: dict[str, list[DrillFact]] = defaultdict(list)
    if not host_ids:
        return found
    rows = connection.execute(
        select(*_COLUMNS)
        .where(col(DrillResultRow.host_id).in_(host_ids), col(DrillResultRow.started_at) >= since)
        .order_by(col(DrillResultRow.started_at))
    )
    for row in rows:
        found[row.host_id].append(_fact(row))
    return found


def merge_drills(facts: Facts, stored: Iterable[DrillFact], since: datetime) -> Facts:
    """``facts`` with the stored drills started at or after ``since`` added, one per
    (playbook, started_at): an agent may report a drill in its facts and send it as a result."""
    seen = {(d.playbook, as_utc(d.started_at)) for d in facts.drills}
    extra = [
        d
        for d in stored
        if d.started_at >= since and (d.playbook, as_utc(d.started_at)) not in seen
    ]
    if not extra:
        return facts
    return facts.model_copy(update={"drills": [*facts.drills, *extra]})


class StoredDrills:
    """One host's stored drill facts for ingest, loaded on first use and again only when an
    older report (a spooled one) needs a longer stretch of history."""

    def __init__(self, load: Callable[[datetime], list[DrillFact]]) -> None:
        self._load = load
        self._since: datetime | None = None
        self._facts: list[DrillFact] = []

    @classmethod
    def for_host(cls, engine: Engine, host_id: str) -> StoredDrills:
        def load(since: datetime) -> list[DrillFact]:
            with engine.connect() as connection:
                return drill_facts_by_host(connection, [host_id], since).get(host_id, [])

        return cls(load)

    def merged(self, facts: Facts, moment: datetime, window: timedelta) -> Facts:
        since = moment - window
        if self._since is None or since < self._since:
            self._facts, self._since = self._load(since), since
        return merge_drills(facts, self._facts, since)
