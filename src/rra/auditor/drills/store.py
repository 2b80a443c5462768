"""Playbooks stored on the auditor and manual drill runs: admin operations shared by CLI and API.

Every change is audit-logged through ``admin.record`` in the caller's transaction. A playbook
outside the caller's scope reads exactly like one that does not exist; naming an org outside it
when adding is a 403 (the caller named it, so nothing is revealed).
"""

from __future__ import annotations

import functools
import re
import uuid
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from rra.agent.drill.load import PlaybookError, parse_playbook, playbook_sha256
from rra.auditor.admin import CLI_ACTOR, AdminError, record
from rra.auditor.models import DrillRun, HostRow, PlaybookRow, utcnow
from rra.auditor.tokens import display_scope, in_scope
from rra.checks.playbook import Playbook

# A hostname or address an agentless run may aim at (the SSH transport will resolve it).
AGENTLESS_TARGET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:_-]{0,252}$")


class DrillAdminError(AdminError):
    """A refused playbook or run operation, with the HTTP status the API answers."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


def not_found(name: str) -> DrillAdminError:
    return DrillAdminError(404, f"no playbook {name!r}")


@functools.lru_cache(maxsize=512)
def _parse_cached(sha256: str, text: str) -> Playbook:
    return parse_playbook(text, f"playbook {sha256[:12]}")


def parsed(row: PlaybookRow) -> Playbook:
    """The stored YAML as a model; parsed once per process per playbook version (claims, the
    scheduler and the worker all need it, and YAML with line tracking is not free)."""
    return _parse_cached(row.sha256, row.yaml)


def visible_playbook(session: Session, name: str, scope: str) -> PlaybookRow:
    row = session.exec(select(PlaybookRow).where(PlaybookRow.name == name)).first()
    if row is None or not in_scope(row.org, scope):
        raise not_found(name)
    return row


def list_playbooks(session: Session, scope: str = "") -> list[PlaybookRow]:
    rows = session.exec(select(PlaybookRow).order_by(col(PlaybookRow.name))).all()
    return [row for row in rows if in_scope(row.org, scope)]


def add_playbook(
    session: Session,
    text: str,
    *,
    source: str = "<playbook>",
    org: str | None = None,
    scope: str = "",
    replace: bool = False,
    actor: str = CLI_ACTOR,
) -> tuple[PlaybookRow, bool]:
    """Validate and store a playbook; returns the row and whether it replaced an existing one.

    ``org`` (already normalised) defaults to the caller's scope and must lie inside it.
    """
    try:
        playbook = parse_playbook(text, source)
    except PlaybookError as error:
        raise DrillAdminError(422, str(error)) from None
    org = scope if org is None else org
    if not in_scope(org, scope):
        raise DrillAdminError(
            403, f"org {display_scope(org)} is outside your scope {display_scope(scope)}"
        )
    now = utcnow()
    sha = playbook_sha256(text)
    existing = session.exec(select(PlaybookRow).where(PlaybookRow.name == playbook.name)).first()
    if existing is not None:
        # Names are global (results and runs carry them), so a taken name is a conflict even in
        # another scope; the message says no more than that.
        if not replace or not in_scope(existing.org, scope):
            raise DrillAdminError(409, f"a playbook named {playbook.name!r} already exists")
        existing.yaml, existing.sha256, existing.schedule = text, sha, playbook.schedule
        existing.org, existing.updated_at = org, now
        session.add(existing)
        record(session, actor=actor, org=org, action="playbook.replace", target=playbook.name,
               detail={"sha256": sha, "schedule": playbook.schedule})  # fmt: skip
        return existing, True
    row = PlaybookRow(
        id=str(uuid.uuid4()),
        name=playbook.name,
        org=org,
        yaml=text,
        sha256=sha,
        schedule=playbook.schedule,
        enabled=True,
        created_at=now,
        updated_at=now,
        created_by=actor,
    )
    session.add(row)
    record(session, actor=actor, org=org, action="playbook.add", target=playbook.name,
           detail={"sha256": sha, "schedule": playbook.schedule})  # fmt: skip
    return row, False


def remove_playbook(
    session: Session, name: str, *, scope: str = "", actor: str = CLI_ACTOR
) -> PlaybookRow:
    """Delete a playbook. Its pending runs go with it; claimed and done runs stay as history,
    detached (an executor holding a claim can still deliver its result)."""
    row = visible_playbook(session, name, scope)
    runs = col(DrillRun.playbook_id) == row.id
    session.execute(delete(DrillRun).where(runs, col(DrillRun.state) == "pending"))
    session.execute(update(DrillRun).where(runs).values(playbook_id=None))
    session.delete(row)
    record(session, actor=actor, org=row.org, action="playbook.remove", target=name)
    return row


def _resolve_host(session: Session, host: str, playbook_org: str) -> HostRow | None:
    """The enrolled host ``host`` names (id or hostname) within the playbook's org, or None when
    no enrolled host anywhere has that name (an agentless target). A host outside the org is
    refused like an unknown one."""
    found = session.exec(
        select(HostRow).where(
            (col(HostRow.id) == host) | (func.lower(HostRow.hostname) == host.lower())
        )
    ).all()
    if any(row.id == host and row.retired_at is not None for row in found):
        raise DrillAdminError(404, f"no host {host!r} in org {display_scope(playbook_org)}")
    candidates = [row for row in found if row.retired_at is None]
    if not candidates:
        return None
    inside = [row for row in candidates if in_scope(row.org, playbook_org)]
    if not inside:
        raise DrillAdminError(404, f"no host {host!r} in org {display_scope(playbook_org)}")
    by_id = [row for row in inside if row.id == host]
    if by_id:
        return by_id[0]
    if len(inside) > 1:
        raise DrillAdminError(
            409, f"{len(inside)} hosts are named {host!r}: name one by its host id"
        )
    return inside[0]


def trigger_run(
    session: Session,
    name: str,
    host: str,
    *,
    scope: str = "",
    actor: str = CLI_ACTOR,
    now: datetime | None = None,
) -> DrillRun:
    """A manual run, due now: an enrolled host's agent claims it, else the worker does."""
    playbook = visible_playbook(session, name, scope)
    now = now or utcnow()
    enrolled = _resolve_host(session, host.strip(), playbook.org)
    if enrolled is None and not AGENTLESS_TARGET.match(host.strip()):
        raise DrillAdminError(422, f"{host!r} is neither an enrolled host nor a hostname")
    run = DrillRun(
        id=str(uuid.uuid4()),
        playbook_id=playbook.id,
        playbook_name=playbook.name,
        org=playbook.org if enrolled is None else enrolled.org,
        host_id=None if enrolled is None else enrolled.id,
        target=host.strip() if enrolled is None else enrolled.id,
        executor_kind="worker" if enrolled is None else "agent",
        trigger="manual",
        due_at=now,
        state="pending",
        created_at=now,
    )
    session.add(run)
    record(session, actor=actor, org=run.org, action="drill.run", target=run.id,
           detail={"playbook": name, "host": host, "executor": run.executor_kind})  # fmt: skip
    return run
