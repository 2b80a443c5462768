"""``rra auditor token|enroll-token|host ...``: local admin commands. They act as actor ``cli``
with agency-wide scope (whoever can read the data dir owns the auditor anyway) and go through
``rra.auditor.admin``, which writes the audit log. Token hashes are never printed; plaintext
tokens only once, at creation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer
from sqlmodel import Session, col, select

from rra.auditor import admin
from rra.auditor.cli_support import (
    database_errors,
    fail,
    options_from,
    org_argument,
    out_console,
    parse_labels,
    print_json,
    print_table,
    ready_engine,
    timestamp,
    warn,
)
from rra.auditor.db import session_scope
from rra.auditor.models import ApiToken, EnrollToken, HostRow, as_utc, utcnow
from rra.auditor.tokens import display_scope
from rra.checks.units import format_duration, parse_duration

token_app = typer.Typer(help="API tokens for inspectors and admins.", no_args_is_help=True)
enroll_token_app = typer.Typer(help="Single-use tokens that enroll agents.", no_args_is_help=True)
host_app = typer.Typer(help="Enrolled hosts.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
Result = TypeVar("Result")


class RoleChoice(StrEnum):
    inspector = "inspector"
    admin = "admin"


class Criticality(StrEnum):
    high = "high"
    medium = "medium"
    low = "low"


@contextmanager
def admin_session(ctx: typer.Context) -> Iterator[Session]:
    """One committed transaction on a reachable database at the head revision."""
    settings = options_from(ctx).settings()
    engine = ready_engine(settings)
    try:
        with database_errors(settings), session_scope(engine) as session:
            yield session
    finally:
        engine.dispose()


def run_admin(ctx: typer.Context, action: Callable[[Session], Result]) -> Result:
    with admin_session(ctx) as session:
        try:
            return action(session)
        except admin.AdminError as exc:
            fail(str(exc))


def token_json(row: ApiToken) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "org": display_scope(row.org_scope),
        "created_at": timestamp(row.created_at),
        "created_by": row.created_by,
        "revoked_at": timestamp(row.revoked_at),
        "last_used_at": timestamp(row.last_used_at),
    }


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    role: Annotated[RoleChoice, typer.Option(help="inspector: read; admin: manage the org.")],
    org: Annotated[str, typer.Option(help="Org path the token is limited to; '/' = agency.")],
    name: Annotated[str, typer.Option(help="Who or what holds the token.")],
    json_output: JsonFlag = False,
) -> None:
    """Create an API token; its value is printed once and never stored."""
    scope = org_argument(org)
    if not name.strip():
        fail("--name must not be empty")
    row, plaintext = run_admin(
        ctx,
        lambda session: admin.create_api_token(
            session, role=role.value, org_scope=scope, name=name.strip()
        ),
    )
    warn("the token is shown once and never again: store it now")
    if json_output:
        print_json(token_json(row) | {"token": plaintext})
        return
    out_console.print(f"token {row.id} ({row.role}, org {display_scope(scope)}):", markup=False)
    out_console.print(plaintext, markup=False)


@token_app.command("list")
def token_list(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """List API tokens (never their values)."""
    rows = run_admin(ctx, admin.list_api_tokens)
    documents = [token_json(row) for row in rows]
    if json_output:
        print_json(documents)
        return
    columns = ("id", "name", "role", "org", "created_at", "last_used_at", "revoked_at")
    print_table("API tokens", columns, [[d[c] for c in columns] for d in documents])


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context, token_id: Annotated[str, typer.Argument(metavar="ID")]
) -> None:
    """Revoke an API token at once (revoking twice is harmless)."""
    row = run_admin(ctx, lambda session: admin.revoke_api_token(session, token_id))
    out_console.print(f"token {row.id} revoked at {timestamp(row.revoked_at)}", markup=False)


def enroll_status(row: EnrollToken, now: datetime) -> str:
    if row.used_at is not None:
        return "used"
    expires = as_utc(row.expires_at)
    return "expired" if expires is not None and expires <= now else "unused"


def enroll_json(row: EnrollToken, now: datetime) -> dict[str, Any]:
    return {
        "id": row.id,
        "org": display_scope(row.org),
        "criticality": row.criticality,
        "labels": row.labels,
        "created_at": timestamp(row.created_at),
        "expires_at": timestamp(row.expires_at),
        "status": enroll_status(row, now),
        "used_at": timestamp(row.used_at),
        "used_by_host": row.used_by_host,
    }


@enroll_token_app.command("create")
def enroll_token_create(
    ctx: typer.Context,
    org: Annotated[str, typer.Option(help="Org path the enrolled host will belong to.")],
    expires: Annotated[str, typer.Option(help="Validity, e.g. 30m, 24h, 7d.")] = "24h",
    criticality: Annotated[
        Criticality, typer.Option(help="Criticality given to the host.")
    ] = Criticality.medium,
    label: Annotated[
        list[str] | None, typer.Option("--label", help="KEY=VALUE label for the host (repeatable).")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Create a single-use enrollment token for `rra agent enroll --token`."""
    scope = org_argument(org)
    if scope == "":
        fail("--org: a host belongs to an org, not to the whole agency ('/')")
    try:
        expires_in = parse_duration(expires)
    except ValueError as exc:
        fail(f"--expires {expires!r}: {exc}")
    if expires_in.total_seconds() <= 0:
        fail("--expires must be positive")
    labels = parse_labels(label or [])
    row, plaintext = run_admin(
        ctx,
        lambda session: admin.create_enroll_token(
            session,
            org=scope,
            expires_in=expires_in,
            criticality=criticality.value,
            labels=labels,
        ),
    )
    warn("the enrollment token is shown once and never again")
    if json_output:
        print_json(enroll_json(row, utcnow()) | {"token": plaintext})
        return
    out_console.print(
        f"enrollment token {row.id} for org {scope}, valid {format_duration(expires_in)} "
        f"(until {timestamp(row.expires_at)}), single use:",
        markup=False,
    )
    out_console.print(plaintext, markup=False)


@enroll_token_app.command("list")
def enroll_token_list(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """List enrollment tokens with their status: unused, used or expired."""
    rows = run_admin(ctx, admin.list_enroll_tokens)
    now = utcnow()
    documents = [enroll_json(row, now) for row in rows]
    if json_output:
        print_json(documents)
        return
    columns = ("id", "org", "criticality", "status", "expires_at", "used_by_host")
    print_table("Enrollment tokens", columns, [[d[c] for c in columns] for d in documents])


def host_json(row: HostRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "org": row.org,
        "hostname": row.hostname,
        "os_family": row.os_family,
        "criticality": row.criticality,
        "labels": row.labels,
        "collection": row.collection,
        "enrolled_at": timestamp(row.enrolled_at),
        "last_seen_at": timestamp(row.last_seen_at),
        "retired": row.retired_at is not None,
        "retired_at": timestamp(row.retired_at),
        "clone_of": row.clone_of,
    }


def _all_hosts(session: Session) -> list[HostRow]:
    return list(session.exec(select(HostRow).order_by(col(HostRow.org), col(HostRow.hostname))))


@host_app.command("list")
def host_list(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """List hosts: enrolled agents and agentless hosts collected by the auditor."""
    documents = [host_json(row) for row in run_admin(ctx, _all_hosts)]
    if json_output:
        print_json(documents)
        return
    rows = [
        [
            d["id"],
            d["org"],
            d["hostname"],
            d["collection"],
            d["last_seen_at"],
            "yes" if d["retired"] else "no",
        ]
        for d in documents
    ]
    columns = ("id", "org", "hostname", "collection", "last_seen_at", "retired")
    print_table("Hosts", columns, rows)


@host_app.command("retire")
def host_retire(ctx: typer.Context, host_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Retire a host: its key is refused from now on; re-enrolling needs a new token."""
    row = run_admin(ctx, lambda session: admin.retire_host(session, host_id))
    out_console.print(f"host {row.id} ({row.hostname}) retired at {timestamp(row.retired_at)}",
                      markup=False)  # fmt: skip
