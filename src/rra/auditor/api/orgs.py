"""``/api/v1/orgs``: org rollups (DESIGN §4) for the caller's scope and every org below it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from rra.auditor.api.deps import ReaderDep, SessionDep, SettingsDep
from rra.auditor.models import utcnow
from rra.auditor.rollup import org_summaries, org_summary
from rra.auditor.schemas import OrgSummary, TrendPoint
from rra.auditor.tokens import normalise_scope
from rra.auditor.trend import MAX_TREND_DAYS, org_trend
from rra.checks.protocol import API_PREFIX

router = APIRouter(prefix=f"{API_PREFIX}/orgs", tags=["orgs"])
# Beside /orgs rather than under it: /orgs/{org:path} takes every path below it.
trend_router = APIRouter(prefix=API_PREFIX, tags=["orgs"])


@trend_router.get(
    "/trend", response_model=list[TrendPoint], summary="Daily score trend of an org in scope"
)
def get_trend(
    principal: ReaderDep,
    session: SessionDep,
    org: Annotated[str | None, Query(description="Default: the caller's whole scope")] = None,
    days: Annotated[int, Query(ge=1, le=MAX_TREND_DAYS)] = 30,
) -> list[TrendPoint]:
    if org is None:
        return org_trend(session, principal.scope, days, utcnow())
    try:
        path = normalise_scope(org)
    except ValueError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no org {org!r}") from None
    if not principal.sees(path):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no org {org!r}")
    return org_trend(session, path, days, utcnow())


@router.get("", response_model=list[OrgSummary], summary="Rollups of every org in scope")
def list_orgs(
    principal: ReaderDep,
    session: SessionDep,
    settings: SettingsDep,
    depth: Annotated[
        int | None,
        Query(ge=1, description="Only orgs with at most this many path segments (mic/ais is 2)"),
    ] = None,
) -> list[OrgSummary]:
    return org_summaries(session, principal.scope, utcnow(), settings, depth)


@router.get("/{org:path}", response_model=OrgSummary, summary="One org's rollup")
def get_org(
    org: str, principal: ReaderDep, session: SessionDep, settings: SettingsDep
) -> OrgSummary:
    # Malformed, out of scope and unknown all read the same: nothing here by that name.
    missing = HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no org {org!r}")
    try:
        path = normalise_scope(org)
    except ValueError:
        raise missing from None
    if path == "" or not principal.sees(path):
        raise missing
    summary = org_summary(session, path, utcnow(), settings)
    if summary.hosts == 0 and summary.hosts_by_status.retired == 0:
        raise missing
    return summary
