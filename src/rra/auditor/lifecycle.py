"""Host lifecycle (DESIGN §7): active → late → stale → retired.

Derived, never stored: a host's status follows from ``retired_at`` and from how long ago the
auditor last *received* a report from it (``last_seen_at``; ``enrolled_at`` until the first
report), so it can never drift from the data. ``host_status`` decides one row in Python;
``status_filter`` is the same rule as a SQL clause, for listings and counts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, get_args

from sqlalchemy import ColumnElement, and_, func
from sqlmodel import col

from rra.auditor.models import HostRow, as_utc
from rra.auditor.settings import AuditorSettings

HostStatus = Literal["active", "late", "stale", "retired"]
HOST_STATUSES: tuple[HostStatus, ...] = get_args(HostStatus)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def last_contact(host: HostRow) -> datetime:
    """When the host last showed it is alive: its last report, else its enrollment."""
    moment = as_utc(host.last_seen_at) or as_utc(host.enrolled_at)
    if moment is None:  # enrolled_at is NOT NULL; only an unsaved row can lack it
        raise ValueError(f"host {host.id} has neither last_seen_at nor enrolled_at")
    return moment


def host_status(host: HostRow, now: datetime, settings: AuditorSettings) -> HostStatus:
    if host.retired_at is not None:
        return "retired"
    age = _utc(now) - last_contact(host)
    if age < settings.lifecycle.late_after:
        return "active"
    if age < settings.policy.stale_after:
        return "late"
    return "stale"


def status_filter(
    status: HostStatus, now: datetime, settings: AuditorSettings
) -> ColumnElement[bool]:
    """A WHERE clause on ``hosts`` selecting exactly the hosts ``host_status`` would give ``status``.

    Comparisons are against bound cut-off times (not SQL date arithmetic), so the clause is the
    same on SQLite and PostgreSQL and can use the ``last_seen_at`` index.
    """
    if status == "retired":
        return col(HostRow.retired_at).is_not(None)
    # SQLite stores timestamps as naive UTC text: cut-offs must be UTC for the comparison to hold.
    utc_now = _utc(now)
    late_cutoff = utc_now - settings.lifecycle.late_after
    stale_cutoff = utc_now - settings.policy.stale_after
    contact = func.coalesce(col(HostRow.last_seen_at), col(HostRow.enrolled_at))
    live = col(HostRow.retired_at).is_(None)
    if status == "active":
        return and_(live, contact > late_cutoff)
    if status == "late":
        return and_(live, contact <= late_cutoff, contact > stale_cutoff)
    if status == "stale":
        return and_(live, contact <= stale_cutoff)
    raise ValueError(f"unknown host status {status!r}; expected one of {', '.join(HOST_STATUSES)}")
