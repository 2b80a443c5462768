"""Host lifecycle: the Python rule and its SQL twin agree, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from rra.auditor.db import session_scope
from rra.auditor.lifecycle import HOST_STATUSES, HostStatus, host_status, status_filter
from rra.auditor.models import HostRow
from rra.auditor.settings import AuditorSettings
from tests.auditor.conftest import AuditorServer, enroll, unique_org
from tests.auditor.reports import make_report
from tests.auditor.wire import host_row, post_report, retire

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SETTINGS = AuditorSettings()  # late after 2 h, stale after 48 h


def _host(
    *, seen: timedelta | None, enrolled: timedelta = timedelta(days=10), retired: bool = False
) -> HostRow:
    return HostRow(
        id="h",
        org="o",
        hostname="h",
        public_key="k",
        enrolled_at=NOW - enrolled,
        last_seen_at=None if seen is None else NOW - seen,
        retired_at=NOW if retired else None,
    )


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        (timedelta(0), "active"),
        (timedelta(hours=2) - timedelta(seconds=1), "active"),
        (timedelta(hours=2), "late"),
        (timedelta(hours=48) - timedelta(seconds=1), "late"),
        (timedelta(hours=48), "stale"),
        (timedelta(days=400), "stale"),
    ],
)
def test_status_follows_the_age_of_the_last_report(seen: timedelta, expected: str) -> None:
    assert host_status(_host(seen=seen), NOW, SETTINGS) == expected


def test_a_host_that_never_reported_ages_from_its_enrollment() -> None:
    assert host_status(_host(seen=None, enrolled=timedelta(minutes=5)), NOW, SETTINGS) == "active"
    assert host_status(_host(seen=None, enrolled=timedelta(hours=3)), NOW, SETTINGS) == "late"
    assert host_status(_host(seen=None, enrolled=timedelta(days=3)), NOW, SETTINGS) == "stale"


def test_retired_wins_over_any_age() -> None:
    assert host_status(_host(seen=timedelta(0), retired=True), NOW, SETTINGS) == "retired"


def test_naive_now_is_read_as_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    assert host_status(_host(seen=timedelta(hours=3)), naive, SETTINGS) == "late"


def _set_last_seen(server: AuditorServer, host_id: str, ago: timedelta) -> None:
    with session_scope(server.engine) as session:
        session.exec(
            update(HostRow)
            .where(col(HostRow.id) == host_id)
            .values(last_seen_at=datetime.now(UTC) - ago)
        )


def test_statuses_in_the_database_match_host_status(auditor_server: AuditorServer) -> None:
    org = unique_org()
    expected: dict[str, HostStatus] = {}
    reporting = enroll(auditor_server, org)
    assert post_report(auditor_server, reporting, make_report(org=org)).status_code == 201
    assert host_row(auditor_server, reporting.host_id).last_seen_at is not None
    expected[reporting.host_id] = "active"
    expected[enroll(auditor_server, org).host_id] = "active"  # enrolled, no report yet
    aged: list[tuple[timedelta, HostStatus]] = [
        (timedelta(hours=3), "late"),
        (timedelta(days=3), "stale"),
    ]
    for ago, status in aged:
        host = enroll(auditor_server, org)
        _set_last_seen(auditor_server, host.host_id, ago)
        expected[host.host_id] = status
    retired = enroll(auditor_server, org)
    retire(auditor_server, retired.host_id)
    expected[retired.host_id] = "retired"

    settings = AuditorSettings()
    now = datetime.now(UTC)
    with Session(auditor_server.engine) as session:
        for status in HOST_STATUSES:
            selected = session.exec(
                select(HostRow.id).where(HostRow.org == org, status_filter(status, now, settings))
            ).all()
            assert sorted(selected) == sorted(h for h, s in expected.items() if s == status)
        rows = session.exec(select(HostRow).where(HostRow.org == org)).all()
    assert {row.id: host_status(row, now, settings) for row in rows} == expected
