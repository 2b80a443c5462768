"""Admin operations shared by the CLI and the API: API tokens, enrollment tokens, host retirement,
and the audit log every one of them writes to. Callers own the transaction (``session_scope``)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from rra.auditor.models import ApiToken, AuditEvent, EnrollToken, HostRow, utcnow
from rra.auditor.tokens import (
    API_TOKEN_PREFIX,
    ENROLL_TOKEN_PREFIX,
    Role,
    in_scope,
    new_token,
    token_hash,
)

CLI_ACTOR = "cli"


class AdminError(Exception):
    """The operation is not allowed or its target does not exist (message says which)."""


def record(
    session: Session,
    *,
    actor: str,
    org: str,
    action: str,
    target: str | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    session.add(
        AuditEvent(
            at=utcnow(), actor=actor, org=org, action=action, target=target, detail=detail or {}
        )
    )


def create_api_token(
    session: Session, *, role: Role, org_scope: str, name: str, actor: str = CLI_ACTOR
) -> tuple[ApiToken, str]:
    """A new token row and its plaintext, which is shown once and never stored."""
    plaintext = new_token(API_TOKEN_PREFIX)
    row = ApiToken(
        id=str(uuid.uuid4()),
        name=name,
        token_hash=token_hash(plaintext),
        role=role,
        org_scope=org_scope,
        created_at=utcnow(),
        created_by=actor,
    )
    session.add(row)
    record(
        session,
        actor=actor,
        org=org_scope,
        action="token.create",
        target=row.id,
        detail={"role": role, "name": name},
    )
    return row, plaintext


def list_api_tokens(session: Session, scope: str = "") -> list[ApiToken]:
    rows = session.exec(select(ApiToken).order_by(col(ApiToken.created_at))).all()
    return [row for row in rows if in_scope(row.org_scope, scope)]


def revoke_api_token(
    session: Session, token_id: str, *, scope: str = "", actor: str = CLI_ACTOR
) -> ApiToken:
    row = session.get(ApiToken, token_id)
    # Out of scope reads exactly like absent: a province admin learns nothing about other tokens.
    if row is None or not in_scope(row.org_scope, scope):
        raise AdminError(f"no token {token_id!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        record(session, actor=actor, org=row.org_scope, action="token.revoke", target=row.id)
    return row


def create_enroll_token(
    session: Session,
    *,
    org: str,
    expires_in: timedelta,
    criticality: str = "medium",
    labels: dict[str, str] | None = None,
    actor: str = CLI_ACTOR,
    now: datetime | None = None,
) -> tuple[EnrollToken, str]:
    now = now or utcnow()
    plaintext = new_token(ENROLL_TOKEN_PREFIX)
    row = EnrollToken(
        id=str(uuid.uuid4()),
        token_hash=token_hash(plaintext),
        org=org,
        criticality=criticality,
        labels=labels or {},
        created_at=now,
        expires_at=now + expires_in,
        created_by=actor,
    )
    session.add(row)
    record(
        session,
        actor=actor,
        org=org,
        action="enroll_token.create",
        target=row.id,
        detail={"expires_at": row.expires_at.isoformat(), "criticality": criticality},
    )
    return row, plaintext


def list_enroll_tokens(session: Session, scope: str = "") -> list[EnrollToken]:
    rows = session.exec(select(EnrollToken).order_by(col(EnrollToken.created_at))).all()
    return [row for row in rows if in_scope(row.org, scope)]


def retire_host(
    session: Session, host_id: str, *, scope: str = "", actor: str = CLI_ACTOR
) -> HostRow:
    host = session.get(HostRow, host_id)
    if host is None or not in_scope(host.org, scope):
        raise AdminError(f"no host {host_id!r}")
    if host.retired_at is None:
        host.retired_at = utcnow()
        session.add(host)
        record(session, actor=actor, org=host.org, action="host.retire", target=host.id)
    return host
