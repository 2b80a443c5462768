"""An org's score trend: one point per UTC day, from the report history (``reports.score_total``
is the auditor's score of each report when it was ingested).

A day's score is the mean over the reports collected that day by the org's non-retired hosts — a
host that reports hourly weighs as much per report as one that reports daily, which is why the
point also says how many hosts and reports it stands on.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, cast, func
from sqlmodel import Session, col, select

from rra.auditor.models import HostRow, ReportRow, as_utc
from rra.auditor.schemas import TrendPoint
from rra.auditor.scoping import within_org

MAX_TREND_DAYS = 366


def _as_date(value: object) -> date:
    # SQLite answers CAST(... AS DATE) with text, PostgreSQL with a date.
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def org_trend(session: Session, org: str, days: int, now: datetime) -> list[TrendPoint]:
    """Daily points for ``org`` (and everything below it) over the last ``days`` days."""
    since = (as_utc(now) or now) - timedelta(days=days)
    day: ColumnElement[Any] = cast(ReportRow.collected_at, Date)
    if session.get_bind().dialect.name == "sqlite":
        day = func.date(ReportRow.collected_at)
    rows = session.exec(
        select(
            day,
            func.avg(ReportRow.score_total),
            func.count(func.distinct(ReportRow.host_id)),
            func.count(),
        )
        .join(HostRow, col(HostRow.id) == col(ReportRow.host_id))
        .where(
            within_org(HostRow.org, org),
            col(HostRow.retired_at).is_(None),
            col(ReportRow.collected_at) >= since,
        )
        .group_by(day)
        .order_by(day)
    ).all()
    return [
        TrendPoint(day=_as_date(at), score=round(float(mean), 2), hosts=hosts, reports=reports)
        for at, mean, hosts, reports in rows
    ]
