"""``/api/v1/drills``: drill history and evidence, live run status, and manual runs (admin) — all
within the caller's scope; anything outside it answers exactly like something absent (404).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from rra.auditor.api.deps import AdminDep, ReaderDep, SessionDep
from rra.auditor.api.hosts import visible_host
from rra.auditor.drills import queries
from rra.auditor.drills.schemas import (
    DrillDetail,
    DrillRunCreate,
    DrillRunPublic,
    DrillSummary,
    RunState,
)
from rra.auditor.drills.store import DrillAdminError, trigger_run
from rra.auditor.schemas import Page
from rra.checks.drill import Verdict
from rra.checks.protocol import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["drills"])

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]


def http_error(error: DrillAdminError) -> HTTPException:
    return HTTPException(error.status_code, detail=str(error))


@router.get("/drills", response_model=Page[DrillSummary], summary="Drill results, newest first")
def list_drills(
    principal: ReaderDep,
    session: SessionDep,
    host_id: Annotated[str | None, Query(max_length=36)] = None,
    playbook: Annotated[str | None, Query(max_length=64)] = None,
    verdict: Verdict | None = None,
    since: Annotated[datetime | None, Query(description="Drills started at or after")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[DrillSummary]:
    items, total = queries.drill_history(
        session, principal.scope, host_id=host_id, playbook=playbook, verdict=verdict,
        since=since, limit=limit, offset=offset,
    )  # fmt: skip
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/drills/runs",
    response_model=Page[DrillRunPublic],
    summary="Drill runs: pending, claimed (running) and done — live status, newest due first",
)
def list_runs(
    principal: ReaderDep,
    session: SessionDep,
    state: RunState | None = None,
    playbook: Annotated[str | None, Query(max_length=64)] = None,
    host_id: Annotated[str | None, Query(max_length=36)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[DrillRunPublic]:
    items, total = queries.list_runs(
        session, principal.scope, state=state, playbook=playbook, host_id=host_id, limit=limit,
        offset=offset,
    )  # fmt: skip
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post(
    "/drills/runs",
    response_model=DrillRunPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Run a playbook now on one host (admin): its agent, or the worker if agentless",
)
def create_run(body: DrillRunCreate, principal: AdminDep, session: SessionDep) -> DrillRunPublic:
    try:
        run = trigger_run(
            session, body.playbook, body.host, scope=principal.scope, actor=principal.token_id
        )
    except DrillAdminError as error:
        raise http_error(error) from None
    session.commit()
    return queries.run_public(run, None)


@router.get("/drills/runs/{run_id}", response_model=DrillRunPublic, summary="One drill run")
def get_run(run_id: str, principal: ReaderDep, session: SessionDep) -> DrillRunPublic:
    try:
        return queries.visible_run(session, run_id, principal.scope)
    except DrillAdminError as error:
        raise http_error(error) from None


@router.get(
    "/drills/{drill_id}",
    response_model=DrillDetail,
    summary="One drill result: the evidence exactly as signed, its signature and signer",
)
def get_drill(drill_id: str, principal: ReaderDep, session: SessionDep) -> DrillDetail:
    try:
        return queries.drill_detail(session, drill_id, principal.scope)
    except DrillAdminError as error:
        raise http_error(error) from None


@router.get(
    "/hosts/{host_id}/drills",
    response_model=Page[DrillSummary],
    summary="One host's drill results, newest first",
)
def host_drills(
    host_id: str,
    principal: ReaderDep,
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[DrillSummary]:
    visible_host(session, principal, host_id)
    items, total = queries.drill_history(
        session, principal.scope, host_id=host_id, limit=limit, offset=offset
    )
    return Page(items=items, total=total, limit=limit, offset=offset)
