"""``/api/v1/hosts``: the fleet in the caller's scope — list, detail, history, raw report, retire.

A host outside the caller's scope answers exactly like a host that does not exist (404, same
detail), and listings simply never contain it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy import ColumnElement, func
from sqlalchemy.orm import QueryableAttribute, defer
from sqlmodel import Session, col, select

from rra.auditor import admin
from rra.auditor.api.deps import AdminDep, Principal, ReaderDep, SessionDep, SettingsDep
from rra.auditor.drills.queries import last_drills
from rra.auditor.lifecycle import HostStatus, host_status, status_filter
from rra.auditor.models import HostRow, HostState, ReportRow, as_utc, utcnow
from rra.auditor.schemas import HostDetail, HostPublic, LastDrill, LatestReport, Page, ScorePoint
from rra.auditor.scoping import narrow_scope, within_org
from rra.auditor.settings import AuditorSettings
from rra.auditor.tokens import normalise_scope
from rra.checks.facts import HostInfo
from rra.checks.protocol import API_PREFIX, SIGNATURE_HEADER
from rra.checks.report import Delivery, Finding, Metrics, PillarScores

router = APIRouter(prefix=f"{API_PREFIX}/hosts", tags=["hosts"])


def not_found(host_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no host {host_id!r}")


def visible_host(session: Session, principal: Principal, host_id: str) -> HostRow:
    host = session.get(HostRow, host_id)
    if host is None or not principal.sees(host.org):
        raise not_found(host_id)
    return host


def host_public(
    host: HostRow,
    state: _StateColumns,
    now: datetime,
    settings: AuditorSettings,
    last_drill: LastDrill | None = None,
) -> HostPublic:
    score, collected_at, metrics = state
    return HostPublic(
        id=host.id,
        hostname=host.hostname,
        org=host.org,
        os_family=host.os_family,
        criticality=host.criticality,
        labels=host.labels,
        machine_id=host.machine_id,
        collection="agentless" if host.collection == "agentless" else "agent",
        status=host_status(host, now, settings),
        score=None if score is None else score.get("total"),
        score_model=None if score is None else score.get("model"),
        pillars=None if score is None else PillarScores.model_validate(score.get("pillars", {})),
        collected_at=as_utc(collected_at),
        last_seen_at=as_utc(host.last_seen_at),
        enrolled_at=as_utc(host.enrolled_at) or host.enrolled_at,
        retired_at=as_utc(host.retired_at),
        clone_of=host.clone_of,
        dropped_reports=host.dropped_reports,
        metrics=None if metrics is None else Metrics.model_validate(metrics),
        last_drill=last_drill,
    )


# What a host's answer needs from its HostState row: score, collected_at, metrics.
_StateColumns = tuple[Mapping[str, Any] | None, datetime | None, Mapping[str, Any] | None]
_NO_STATE: _StateColumns = (None, None, None)


def state_columns(state: HostState | None) -> _StateColumns:
    return _NO_STATE if state is None else (state.score, state.collected_at, state.metrics)


def _org_filter(org: str | None) -> str | None:
    if org is None:
        return None
    try:
        return normalise_scope(org)
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from None


@router.get("", response_model=Page[HostPublic], summary="Hosts in the caller's scope")
def list_hosts(
    principal: ReaderDep,
    session: SessionDep,
    settings: SettingsDep,
    org: Annotated[str | None, Query(description="This org and everything below it")] = None,
    host_status_: Annotated[
        HostStatus | None,
        Query(
            alias="status", description="Lifecycle status; without it, retired hosts are left out"
        ),
    ] = None,
    score_min: Annotated[float | None, Query(ge=0, le=100)] = None,
    score_max: Annotated[float | None, Query(ge=0, le=100)] = None,
    clone: Annotated[bool | None, Query(description="true: only clones; false: no clones")] = None,
    q: Annotated[str | None, Query(max_length=255, description="Hostname substring")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[HostPublic]:
    now = utcnow()
    readable = narrow_scope(principal.scope, _org_filter(org))
    if readable is None:
        return Page(items=[], total=0, limit=limit, offset=offset)
    conditions: list[ColumnElement[bool]] = [within_org(HostRow.org, readable)]
    if host_status_ is None:
        conditions.append(col(HostRow.retired_at).is_(None))
    else:
        conditions.append(status_filter(host_status_, now, settings))
    if score_min is not None:
        conditions.append(col(HostState.score_total) >= score_min)
    if score_max is not None:
        conditions.append(col(HostState.score_total) <= score_max)
    if clone is not None:
        clone_of = col(HostRow.clone_of)
        conditions.append(clone_of.is_not(None) if clone else clone_of.is_(None))
    if q:
        conditions.append(func.lower(HostRow.hostname).contains(q.lower(), autoescape=True))
    joined = col(HostState.host_id) == col(HostRow.id)
    total = session.exec(
        select(func.count()).select_from(HostRow).outerjoin(HostState, joined).where(*conditions)
    ).one()
    rows = session.exec(
        select(HostRow, HostState.score, HostState.collected_at, HostState.metrics)
        .outerjoin(HostState, joined)
        .where(*conditions)
        .order_by(col(HostRow.org), col(HostRow.hostname), col(HostRow.id))
        .limit(limit)
        .offset(offset)
    ).all()
    drills = last_drills(session, [row[0].id for row in rows])
    items = [
        host_public(host, (score, at, metrics), now, settings, drills.get(host.id))
        for host, score, at, metrics in rows
    ]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.get("/{host_id}", response_model=HostDetail, summary="One host: latest evaluation")
def get_host(
    host_id: str, principal: ReaderDep, session: SessionDep, settings: SettingsDep
) -> HostDetail:
    host = visible_host(session, principal, host_id)
    state = session.get(HostState, host_id)
    drill = last_drills(session, [host_id]).get(host_id)
    public = host_public(host, state_columns(state), utcnow(), settings, drill)
    if state is None:
        return HostDetail(**public.model_dump(), latest_report=None, findings=[])
    latest = LatestReport(
        report_id=state.report_id,
        seq=state.seq,
        collected_at=as_utc(state.collected_at) or state.collected_at,
        received_at=as_utc(state.received_at) or state.received_at,
        policy_id=state.policy_id,
        evaluated_at=as_utc(state.evaluated_at) or state.evaluated_at,
        caps_applied=state.score.get("caps_applied", []),
        host=HostInfo.model_validate(state.host_info),
        delivery=Delivery.model_validate(state.delivery),
    )
    return HostDetail(
        **public.model_dump(),
        latest_report=latest,
        findings=[Finding.model_validate(finding) for finding in state.findings],
    )


@router.get(
    "/{host_id}/history",
    response_model=list[ScorePoint],
    summary="Score and metrics of each stored report, oldest first",
)
def host_history(
    host_id: str,
    principal: ReaderDep,
    session: SessionDep,
    since: Annotated[datetime | None, Query(description="Reports collected at or after")] = None,
    limit: Annotated[
        int, Query(ge=1, le=1000, description="The newest this many reports are returned")
    ] = 100,
) -> list[ScorePoint]:
    visible_host(session, principal, host_id)
    # The payload column is the bulk of a report row: select around it.
    statement = (
        select(ReportRow)
        .options(defer(cast(QueryableAttribute[str], ReportRow.payload)))
        .where(ReportRow.host_id == host_id)
    )
    if since is not None:
        statement = statement.where(col(ReportRow.collected_at) >= as_utc(since))
    newest = session.exec(
        statement.order_by(col(ReportRow.collected_at).desc(), col(ReportRow.seq).desc()).limit(
            limit
        )
    ).all()
    return [
        ScorePoint(
            report_id=row.report_id,
            seq=row.seq,
            collected_at=as_utc(row.collected_at) or row.collected_at,
            received_at=as_utc(row.received_at) or row.received_at,
            score=row.score_total,
            metrics=Metrics.model_validate(row.metrics),
        )
        for row in reversed(newest)
    ]


@router.get(
    "/{host_id}/report",
    response_class=Response,
    summary="The latest report exactly as the agent signed it",
    responses={200: {"content": {"application/json": {}}, "description": "rra.report/1"}},
)
def latest_report(host_id: str, principal: ReaderDep, session: SessionDep) -> Response:
    visible_host(session, principal, host_id)
    state = session.get(HostState, host_id)
    report = None if state is None else session.get(ReportRow, state.report_id)
    if report is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"host {host_id!r} has no report")
    # The signature travels along so a reader can verify the payload against the host key.
    return Response(
        content=report.payload,
        media_type="application/json",
        headers={SIGNATURE_HEADER: report.signature, "X-RRA-Report-Id": report.report_id},
    )


@router.post("/{host_id}/retire", response_model=HostPublic, summary="Retire a host (admin)")
def retire(
    host_id: str, principal: AdminDep, session: SessionDep, settings: SettingsDep
) -> HostPublic:
    try:
        host = admin.retire_host(session, host_id, scope=principal.scope, actor=principal.token_id)
    except admin.AdminError:
        raise not_found(host_id) from None
    session.commit()
    state = session.get(HostState, host_id)
    return host_public(host, state_columns(state), utcnow(), settings)
