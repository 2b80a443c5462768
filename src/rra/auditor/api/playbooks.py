"""``/api/v1/playbooks``: restore-drill playbooks scheduled from the auditor. Readers see those of
their scope; admins add (validated, line-numbered errors → 422), replace and remove them. Every
change goes through ``rra.auditor.drills.store`` (shared with the CLI) and is audit-logged.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status
from sqlalchemy.exc import IntegrityError

from rra.auditor.api.admin_routes import org_in_scope
from rra.auditor.api.deps import AdminDep, ReaderDep, SessionDep
from rra.auditor.api.drills import http_error
from rra.auditor.drills import queries, store
from rra.auditor.drills.schemas import PlaybookCreate, PlaybookDetail, PlaybookPublic
from rra.checks.protocol import API_PREFIX

router = APIRouter(prefix=f"{API_PREFIX}/playbooks", tags=["playbooks"])


@router.get("", response_model=list[PlaybookPublic], summary="Playbooks in your scope")
def list_playbooks(principal: ReaderDep, session: SessionDep) -> list[PlaybookPublic]:
    return [queries.playbook_public(row) for row in store.list_playbooks(session, principal.scope)]


@router.get("/{name}", response_model=PlaybookDetail, summary="One playbook, with its YAML")
def get_playbook(name: str, principal: ReaderDep, session: SessionDep) -> PlaybookDetail:
    try:
        return queries.playbook_detail(store.visible_playbook(session, name, principal.scope))
    except store.DrillAdminError as error:
        raise http_error(error) from None


@router.post(
    "",
    response_model=PlaybookDetail,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": PlaybookDetail, "description": "Replaced (replace: true)"},
        403: {"description": "org outside your scope"},
        409: {"description": "A playbook of that name exists"},
        422: {"description": "Invalid playbook: every problem with file:line:column: field"},
    },
    summary="Add (or replace) a playbook (admin)",
)
def add_playbook(
    body: PlaybookCreate, principal: AdminDep, session: SessionDep, response: Response
) -> PlaybookDetail:
    org = None if body.org is None else org_in_scope(principal, body.org)
    try:
        row, replaced = store.add_playbook(
            session, body.yaml, source="playbook", org=org, scope=principal.scope,
            replace=body.replace, actor=principal.token_id,
        )  # fmt: skip
    except store.DrillAdminError as error:
        raise http_error(error) from None
    try:
        session.commit()
    except IntegrityError:  # the same name added concurrently by another request
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail="a playbook of that name exists"
        ) from None
    if replaced:
        response.status_code = status.HTTP_200_OK
    return queries.playbook_detail(row)


@router.delete("/{name}", response_model=PlaybookPublic, summary="Remove a playbook (admin)")
def remove_playbook(name: str, principal: AdminDep, session: SessionDep) -> PlaybookPublic:
    try:
        row = store.remove_playbook(session, name, scope=principal.scope, actor=principal.token_id)
        public = queries.playbook_public(row)
    except store.DrillAdminError as error:
        raise http_error(error) from None
    session.commit()
    return public
