"""Read drill results, runs and playbooks within a caller's scope (API and CLI share these).

Scoping follows the rows' own org (a result's host org, an agentless run's playbook org), so a
province never sees another province's drills, and out-of-scope ids read like absent ones.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, func, or_
from sqlalchemy.orm import QueryableAttribute, defer
from sqlmodel import Session, col, select

from rra.auditor.drills.schemas import (
    DrillDetail,
    DrillRunPublic,
    DrillSummary,
    PlaybookDetail,
    PlaybookPublic,
)
from rra.auditor.drills.store import DrillAdminError, parsed
from rra.auditor.models import DrillResultRow, DrillRun, HostRow, PlaybookRow, as_utc
from rra.auditor.schemas import LastDrill
from rra.auditor.scoping import within_org
from rra.auditor.tokens import in_scope
from rra.checks.drill import Verdict


def _utc(moment: datetime) -> datetime:
    return as_utc(moment) or moment


def summary(row: DrillResultRow) -> DrillSummary:
    return DrillSummary(
        drill_id=row.drill_id,
        run_id=row.run_id,
        host_id=row.host_id,
        hostname=row.target,
        org=row.org,
        playbook=row.playbook,
        verdict=row.verdict,
        started_at=_utc(row.started_at),
        ended_at=_utc(row.ended_at),
        rto_seconds=row.rto_seconds,
        rto_target_seconds=row.rto_target_seconds,
        rpo_seconds=row.rpo_seconds,
        signer=row.signer,
        received_at=_utc(row.received_at),
    )


def drill_history(
    session: Session,
    scope: str,
    *,
    host_id: str | None = None,
    host: str | None = None,
    playbook: str | None = None,
    verdict: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[DrillSummary], int]:
    """Results in scope, newest first, and how many match across all pages. ``host`` is a
    host id or a hostname (enrolled hosts of that name, or an agentless target)."""
    conditions: list[ColumnElement[bool]] = [within_org(DrillResultRow.org, scope)]
    if host_id is not None:
        conditions.append(col(DrillResultRow.host_id) == host_id)
    if host is not None:
        named = select(HostRow.id).where(func.lower(HostRow.hostname) == host.lower())
        conditions.append(
            or_(
                col(DrillResultRow.host_id) == host,
                col(DrillResultRow.host_id).in_(named),
                func.lower(DrillResultRow.target) == host.lower(),
            )
        )
    if playbook is not None:
        conditions.append(col(DrillResultRow.playbook) == playbook)
    if verdict is not None:
        conditions.append(col(DrillResultRow.verdict) == verdict)
    if since is not None:
        conditions.append(col(DrillResultRow.started_at) >= as_utc(since))
    total = session.exec(select(func.count()).select_from(DrillResultRow).where(*conditions)).one()
    rows = session.exec(
        select(DrillResultRow)
        .options(defer(cast(QueryableAttribute[str], DrillResultRow.payload)))
        .where(*conditions)
        .order_by(col(DrillResultRow.started_at).desc(), col(DrillResultRow.drill_id))
        .limit(limit)
        .offset(offset)
    ).all()
    return [summary(row) for row in rows], total


def drill_detail(session: Session, drill_id: str, scope: str) -> DrillDetail:
    row = session.get(DrillResultRow, drill_id)
    if row is None or not in_scope(row.org, scope):
        raise DrillAdminError(404, f"no drill {drill_id!r}")
    return DrillDetail(
        **summary(row).model_dump(),
        evidence=json.loads(row.payload),
        payload=row.payload,
        signature=row.signature,
        signer_key=row.signer_key,
    )


def run_public(run: DrillRun, verdict: str | None) -> DrillRunPublic:
    return DrillRunPublic(
        id=run.id,
        playbook=run.playbook_name,
        org=run.org,
        host_id=run.host_id,
        target=run.target,
        executor=run.executor_kind,
        trigger=run.trigger,
        due_at=_utc(run.due_at),
        state=run.state,
        claimed_by=run.claimed_by,
        claimed_at=as_utc(run.claimed_at),
        lease_until=as_utc(run.lease_until),
        result_id=run.result_id,
        verdict=verdict,
        created_at=_utc(run.created_at),
    )


def list_runs(
    session: Session,
    scope: str,
    *,
    state: str | None = None,
    playbook: str | None = None,
    host_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[DrillRunPublic], int]:
    """Runs in scope, newest due first, each with the verdict of the result that closed it."""
    conditions: list[ColumnElement[bool]] = [within_org(DrillRun.org, scope)]
    if state is not None:
        conditions.append(col(DrillRun.state) == state)
    if playbook is not None:
        conditions.append(col(DrillRun.playbook_name) == playbook)
    if host_id is not None:
        conditions.append(col(DrillRun.host_id) == host_id)
    total = session.exec(select(func.count()).select_from(DrillRun).where(*conditions)).one()
    rows = session.exec(
        select(DrillRun, DrillResultRow.verdict)
        .outerjoin(DrillResultRow, col(DrillResultRow.drill_id) == col(DrillRun.result_id))
        .where(*conditions)
        .order_by(col(DrillRun.due_at).desc(), col(DrillRun.id))
        .limit(limit)
        .offset(offset)
    ).all()
    return [run_public(run, verdict) for run, verdict in rows], total


def visible_run(session: Session, run_id: str, scope: str) -> DrillRunPublic:
    run = session.get(DrillRun, run_id)
    if run is None or not in_scope(run.org, scope):
        raise DrillAdminError(404, f"no drill run {run_id!r}")
    result = session.get(DrillResultRow, run.result_id) if run.result_id else None
    return run_public(run, None if result is None else result.verdict)


def playbook_public(row: PlaybookRow) -> PlaybookPublic:
    playbook = parsed(row)
    return PlaybookPublic(
        name=row.name,
        org=row.org,
        description=playbook.description,
        schedule=row.schedule,
        targets=playbook.targets.model_dump(mode="json"),
        sha256=row.sha256,
        enabled=row.enabled,
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
        created_by=row.created_by,
    )


def playbook_detail(row: PlaybookRow) -> PlaybookDetail:
    return PlaybookDetail(**playbook_public(row).model_dump(), yaml=row.yaml)


def last_drills(session: Session, host_ids: list[str]) -> dict[str, LastDrill]:
    """Each host's newest drill result (any verdict), for a page of hosts in one query."""
    if not host_ids:
        return {}
    newest = (
        select(
            col(DrillResultRow.host_id).label("host_id"),
            func.max(DrillResultRow.started_at).label("started_at"),
        )
        .where(col(DrillResultRow.host_id).in_(host_ids))
        .group_by(col(DrillResultRow.host_id))
        .subquery()
    )
    rows = session.exec(
        select(DrillResultRow)
        .options(defer(cast(QueryableAttribute[str], DrillResultRow.payload)))
        .join(
            newest,
            (col(DrillResultRow.host_id) == newest.c.host_id)
            & (col(DrillResultRow.started_at) == newest.c.started_at),
        )
        .order_by(col(DrillResultRow.drill_id))
    ).all()
    found: dict[str, LastDrill] = {}
    for row in rows:
        if row.host_id is None or row.host_id in found:
            continue  # two drills started the same instant: the first by id, deterministically
        found[row.host_id] = LastDrill(
            drill_id=row.drill_id,
            playbook=row.playbook,
            verdict=cast(Verdict, row.verdict),
            started_at=as_utc(row.started_at) or row.started_at,
            ended_at=as_utc(row.ended_at) or row.ended_at,
        )
    return found
