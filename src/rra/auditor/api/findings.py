"""``/api/v1/findings``: findings of the latest evaluation of every live host in the caller's scope.

Findings live as a JSON array per host (``host_state.findings``). The array is unnested in SQL
(``rra.auditor.jsonsql``), so filtering, counting and paging happen in the database and only the
listed fields travel — never the evidence or the facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, get_args

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import ColumnElement, func, true
from sqlmodel import col, select

from rra.auditor.api.deps import ReaderDep, SessionDep
from rra.auditor.jsonsql import json_array_rows
from rra.auditor.models import HostRow, HostState
from rra.auditor.schemas import FindingRow, Page
from rra.auditor.scoping import narrow_scope, within_org
from rra.auditor.tokens import normalise_scope
from rra.checks.protocol import API_PREFIX
from rra.checks.report import Pillar, Severity, Status

router = APIRouter(prefix=f"{API_PREFIX}/findings", tags=["findings"])

DEFAULT_STATUSES = ("fail", "warn")
ListQuery = Annotated[
    list[str] | None, Query(description="Repeat the parameter or separate values with commas")
]


def _choices(values: list[str] | None, allowed: Sequence[str], name: str) -> list[str] | None:
    """``?status=fail,warn`` and ``?status=fail&status=warn`` alike; unknown values are a 422."""
    if not values:
        return None
    chosen = [part.strip() for value in values for part in value.split(",") if part.strip()]
    unknown = sorted(set(chosen) - set(allowed)) if allowed else []
    if unknown:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"unknown {name} {', '.join(unknown)}; expected one of {', '.join(allowed)}",
        )
    return chosen or None


@router.get("", response_model=Page[FindingRow], summary="Findings across hosts in scope")
def list_findings(
    principal: ReaderDep,
    session: SessionDep,
    check: ListQuery = None,
    pillar: ListQuery = None,
    finding_status: Annotated[
        list[str] | None,
        Query(alias="status", description="Default fail,warn; repeat or separate with commas"),
    ] = None,
    severity: ListQuery = None,
    org: Annotated[str | None, Query(description="This org and everything below it")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[FindingRow]:
    statuses = _choices(finding_status, get_args(Status), "status") or list(DEFAULT_STATUSES)
    pillars = _choices(pillar, get_args(Pillar), "pillar")
    severities = _choices(severity, get_args(Severity), "severity")
    checks = _choices(check, (), "check")
    try:
        requested = None if org is None else normalise_scope(org)
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from None
    readable = narrow_scope(principal.scope, requested)
    if readable is None:
        return Page(items=[], total=0, limit=limit, offset=offset)

    elements, position = json_array_rows(session, HostState.findings)
    value = elements.c.value
    fields = {
        name: value[name].as_string() for name in ("check", "pillar", "status", "severity", "title")
    }
    conditions: list[ColumnElement[bool]] = [
        within_org(HostRow.org, readable),
        col(HostRow.retired_at).is_(None),
        fields["status"].in_(statuses),
    ]
    for name, chosen in (("check", checks), ("pillar", pillars), ("severity", severities)):
        if chosen is not None:
            conditions.append(fields[name].in_(chosen))

    def unnested_findings(*columns: Any) -> Any:
        return (
            select(*columns)
            .select_from(HostState)
            .join(HostRow, col(HostRow.id) == col(HostState.host_id))
            .join(elements, true())
            .where(*conditions)
        )

    total = session.exec(unnested_findings(func.count())).one()
    rows = session.exec(
        unnested_findings(
            col(HostRow.id).label("host_id"),
            HostRow.hostname,
            HostRow.org,
            *(field.label(name) for name, field in fields.items()),
            value["points_lost"].as_float().label("points_lost"),
        )
        .order_by(col(HostRow.org), col(HostRow.hostname), col(HostRow.id), position)
        .limit(limit)
        .offset(offset)
    ).all()
    items = [FindingRow.model_validate(dict(row._mapping)) for row in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)
