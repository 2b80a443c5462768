"""Admin endpoints: API tokens, enrollment tokens and the audit log, all within the admin's scope.

Every change goes through ``rra.auditor.admin`` (the same code the CLI runs), which writes the
audit log in the same transaction. Creating something for an org outside one's scope is a 403
(the caller named the org, so nothing is revealed); revoking or reading something outside it is
a 404, exactly like something that does not exist.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import func
from sqlmodel import col, select

from rra.auditor import admin
from rra.auditor.api.deps import AdminDep, Principal, SessionDep
from rra.auditor.models import ApiToken, AuditEvent, EnrollToken, as_utc
from rra.auditor.schemas import (
    AuditEventPublic,
    EnrollTokenCreate,
    EnrollTokenCreated,
    EnrollTokenPublic,
    Page,
    TokenCreate,
    TokenCreated,
    TokenPublic,
)
from rra.auditor.scoping import within_org
from rra.auditor.tokens import display_scope, normalise_scope
from rra.checks.protocol import API_PREFIX
from rra.checks.units import parse_duration

router = APIRouter(prefix=API_PREFIX, tags=["admin"])

MAX_ENROLL_TOKEN_LIFETIME = timedelta(days=30)


def org_in_scope(principal: Principal, org: str) -> str:
    try:
        path = normalise_scope(org)
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from None
    if not principal.sees(path):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"org {display_scope(path)} is outside your scope {display_scope(principal.scope)}",
        )
    return path


def _token_public(row: ApiToken) -> TokenPublic:
    return TokenPublic(
        id=row.id,
        name=row.name,
        role=row.role,
        org=row.org_scope,
        created_at=as_utc(row.created_at) or row.created_at,
        created_by=row.created_by,
        revoked_at=as_utc(row.revoked_at),
        last_used_at=as_utc(row.last_used_at),
    )


def _enroll_token_public(row: EnrollToken) -> EnrollTokenPublic:
    return EnrollTokenPublic(
        id=row.id,
        org=row.org,
        criticality=row.criticality,
        labels=row.labels,
        created_at=as_utc(row.created_at) or row.created_at,
        expires_at=as_utc(row.expires_at) or row.expires_at,
        created_by=row.created_by,
        used_at=as_utc(row.used_at),
        used_by_host=row.used_by_host,
    )


@router.post(
    "/tokens",
    response_model=TokenCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API token in your scope (the secret is shown once)",
)
def create_token(body: TokenCreate, principal: AdminDep, session: SessionDep) -> TokenCreated:
    org = org_in_scope(principal, body.org)
    row, plaintext = admin.create_api_token(
        session, role=body.role, org_scope=org, name=body.name, actor=principal.token_id
    )
    session.commit()
    return TokenCreated(**_token_public(row).model_dump(), token=plaintext)


@router.get("/tokens", response_model=list[TokenPublic], summary="API tokens in your scope")
def list_tokens(principal: AdminDep, session: SessionDep) -> list[TokenPublic]:
    return [_token_public(row) for row in admin.list_api_tokens(session, principal.scope)]


@router.delete("/tokens/{token_id}", response_model=TokenPublic, summary="Revoke an API token")
def revoke_token(token_id: str, principal: AdminDep, session: SessionDep) -> TokenPublic:
    try:
        row = admin.revoke_api_token(
            session, token_id, scope=principal.scope, actor=principal.token_id
        )
    except admin.AdminError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from None
    session.commit()
    return _token_public(row)


@router.post(
    "/enroll-tokens",
    response_model=EnrollTokenCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create a single-use enrollment token for an org in your scope",
)
def create_enroll_token(
    body: EnrollTokenCreate, principal: AdminDep, session: SessionDep
) -> EnrollTokenCreated:
    org = org_in_scope(principal, body.org)
    if org == "":
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, detail="a host belongs to an org, not to '/'"
        )
    try:
        lifetime = parse_duration(body.expires)
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from None
    if not timedelta(0) < lifetime <= MAX_ENROLL_TOKEN_LIFETIME:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="expires must be more than 0 and at most 30d",
        )
    row, plaintext = admin.create_enroll_token(
        session,
        org=org,
        expires_in=lifetime,
        criticality=body.criticality,
        labels=body.labels,
        actor=principal.token_id,
    )
    session.commit()
    return EnrollTokenCreated(**_enroll_token_public(row).model_dump(), token=plaintext)


@router.get(
    "/enroll-tokens",
    response_model=list[EnrollTokenPublic],
    summary="Enrollment tokens in your scope",
)
def list_enroll_tokens(principal: AdminDep, session: SessionDep) -> list[EnrollTokenPublic]:
    return [_enroll_token_public(row) for row in admin.list_enroll_tokens(session, principal.scope)]


@router.get(
    "/audit-log",
    response_model=Page[AuditEventPublic],
    summary="Admin actions on orgs in your scope, newest first",
)
def audit_log(
    principal: AdminDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[AuditEventPublic]:
    in_scope = within_org(AuditEvent.org, principal.scope)
    total = session.exec(select(func.count()).select_from(AuditEvent).where(in_scope)).one()
    rows = session.exec(
        select(AuditEvent)
        .where(in_scope)
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    items = [
        AuditEventPublic(
            id=row.id or 0,
            at=as_utc(row.at) or row.at,
            actor=row.actor,
            org=row.org,
            action=row.action,
            target=row.target,
            detail=row.detail,
        )
        for row in rows
    ]
    return Page(items=items, total=total, limit=limit, offset=offset)
