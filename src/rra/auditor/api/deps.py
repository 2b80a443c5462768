"""Request dependencies (``Annotated``): settings, a DB session per request, and the caller.

Callers authenticate with ``Authorization: Bearer <api token>``. A principal carries its role and
its org scope; every read and write below filters by that scope, and anything out of scope answers
exactly like something that does not exist (404), so scopes leak nothing by listing, id or search.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from rra.auditor.models import ApiToken, as_utc, utcnow
from rra.auditor.settings import AuditorSettings
from rra.auditor.tokens import Role, in_scope, token_hash

_bearer = HTTPBearer(auto_error=False, description="An rra API token (rra_api_...)")


def get_settings(request: Request) -> AuditorSettings:
    settings: AuditorSettings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


SettingsDep = Annotated[AuditorSettings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class Principal:
    token_id: str
    role: Role
    scope: str  # '' = agency-wide

    def sees(self, org: str) -> bool:
        return in_scope(org, self.scope)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def get_principal(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("missing bearer token")
    row = session.exec(
        select(ApiToken).where(ApiToken.token_hash == token_hash(credentials.credentials))
    ).first()
    if row is None:
        raise _unauthorized("unknown token")
    if row.revoked_at is not None:
        raise _unauthorized("token revoked")
    _note_use(session, row)
    role: Role = "admin" if row.role == "admin" else "inspector"
    return Principal(token_id=row.id, role=role, scope=row.org_scope)


# Recording every request would turn each read into a write; minute precision is enough to tell
# an admin which tokens are still in use before revoking them.
LAST_USED_PRECISION = timedelta(minutes=1)


def _note_use(session: Session, row: ApiToken) -> None:
    now = utcnow()
    last = as_utc(row.last_used_at)
    if last is not None and now - last < LAST_USED_PRECISION:
        return
    session.execute(update(ApiToken).where(col(ApiToken.id) == row.id).values(last_used_at=now))
    session.commit()


def require_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="admin role required")
    return principal


ReaderDep = Annotated[Principal, Depends(get_principal)]
AdminDep = Annotated[Principal, Depends(require_admin)]
