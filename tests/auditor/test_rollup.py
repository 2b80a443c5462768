"""Org rollup math (DESIGN §4) in-process, on a SQLite database holding rows we insert ourselves.

The API tests cover the same numbers end to end; these pin the edge cases that need hosts in
states the API cannot produce quickly (never reported, retired, hundreds of sources).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from rra.auditor.db import make_engine, session_scope
from rra.auditor.models import HostRow, HostState
from rra.auditor.rollup import org_scores, org_summaries, org_summary
from rra.auditor.settings import AuditorSettings
from rra.checks.report import Report
from tests.auditor.reports import account, backup, make_report

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SETTINGS = AuditorSettings()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'rollup.db'}")
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


def add_host(
    session: Session,
    org: str,
    report: Report | None,
    *,
    criticality: str = "medium",
    seen: timedelta = timedelta(minutes=5),
    retired: bool = False,
    clone_of: str | None = None,
) -> str:
    host_id = str(uuid.uuid4())
    session.add(
        HostRow(
            id=host_id,
            org=org,
            hostname=f"h-{host_id[:8]}",
            criticality=criticality,
            public_key=host_id,
            enrolled_at=NOW - (seen if report is None else timedelta(days=30)),
            last_seen_at=None if report is None else NOW - seen,
            retired_at=NOW - timedelta(days=1) if retired else None,
            clone_of=clone_of,
        )
    )
    if report is not None:
        document = report.model_dump(mode="json", by_alias=True)
        session.add(
            HostState(
                host_id=host_id,
                report_id=report.report_id,
                seq=report.seq,
                collected_at=NOW - seen,
                received_at=NOW - seen,
                score_total=report.score.total,
                score=document["score"],
                metrics=document["metrics"],
                findings=document["findings"],
                facts=document["facts"],
                host_info=document["host"],
                delivery=document["delivery"],
                policy_id="test",
                evaluated_at=NOW - seen,
            )
        )
    session.flush()
    return host_id


def test_org_score_weights_criticality_and_counts_stale_and_silent_hosts_as_zero(
    engine: Engine,
) -> None:
    high = make_report(collected_at=NOW)
    low = make_report(collected_at=NOW, backups=[backup(age_hours=100)])
    stale = make_report(collected_at=NOW)
    with session_scope(engine) as session:
        add_host(session, "mic/ais", high, criticality="high")
        add_host(session, "mic/hr", low, criticality="low")
        add_host(session, "mic/hr", stale, seen=timedelta(days=10))
        add_host(session, "mic/hr", None)  # enrolled 5 minutes ago: active, but no score yet
        add_host(session, "mic/hr", high, retired=True)
        add_host(session, "mica", high, criticality="high")  # not under mic
        summary = org_summary(session, "mic", NOW, SETTINGS)

    expected = (3 * high.score.total + 1 * low.score.total + 2 * 0 + 2 * 0) / (3 + 1 + 2 + 2)
    assert summary.org_score == pytest.approx(expected)
    assert summary.hosts == 4
    assert summary.stale_hosts == 2
    assert summary.hosts_without_report == 1
    assert summary.hosts_by_status.model_dump() == {
        "active": 3,
        "late": 0,
        "stale": 1,
        "retired": 1,
    }


def test_stale_host_counts_against_coverage_and_backups_never_for_them(engine: Engine) -> None:
    good = make_report(collected_at=NOW, accounts=[account("a"), account("b", privileged=True)])
    with session_scope(engine) as session:
        add_host(session, "moe", good)
        add_host(session, "moe", good, seen=timedelta(days=3))
        summary = org_summary(session, "moe", NOW, SETTINGS)

    assert summary.second_factor_accounts == 4
    assert summary.second_factor_enforced == 2
    assert summary.second_factor_coverage == pytest.approx(0.5)
    assert summary.privileged_second_factor_coverage == pytest.approx(0.5)
    assert summary.hosts_with_backup_verdict == 2
    assert summary.backup_compliance == pytest.approx(0.5)


def test_no_ssh_and_non_interactive_accounts_are_outside_the_denominator(engine: Engine) -> None:
    report = make_report(
        collected_at=NOW,
        accounts=[
            account("a"),
            account("root", "no_ssh", privileged=True),
            account("b", "unknown"),
        ],
    )
    with session_scope(engine) as session:
        add_host(session, "mof", report)
        summary = org_summary(session, "mof", NOW, SETTINGS)
    assert (summary.second_factor_enforced, summary.second_factor_accounts) == (1, 2)
    assert summary.privileged_second_factor_coverage is None
    assert summary.accounts_without_second_factor == 0


def test_summaries_cover_every_org_prefix_in_tree_order_within_scope(engine: Engine) -> None:
    report = make_report(collected_at=NOW)
    with session_scope(engine) as session:
        for org in ("mic/ais/x", "mic/hr", "mic-x", "mica"):
            add_host(session, org, report)
        everything = [s.org for s in org_summaries(session, "", NOW, SETTINGS, None)]
        under_mic = [s.org for s in org_summaries(session, "mic", NOW, SETTINGS, None)]
        shallow = [s.org for s in org_summaries(session, "", NOW, SETTINGS, 1)]
        scores = org_scores(session, NOW, SETTINGS)

    assert everything == ["mic", "mic/ais", "mic/ais/x", "mic/hr", "mic-x", "mica"]
    assert under_mic == ["mic", "mic/ais", "mic/ais/x", "mic/hr"]
    assert shallow == ["mic", "mic-x", "mica"]
    assert scores["mic"] == pytest.approx(report.score.total)
    assert set(scores) == set(everything)


def test_direct_access_sources_are_distinct_across_hosts_and_capped(engine: Engine) -> None:
    many = [f"10.0.{i // 250}.{i % 250}" for i in range(150)]
    with session_scope(engine) as session:
        add_host(session, "mod", make_report(collected_at=NOW, sources=many[:100]))
        add_host(session, "mod", make_report(collected_at=NOW, sources=many[50:]))
        add_host(session, "mod", make_report(collected_at=NOW, sources=[], services=[]))
        summary = org_summary(session, "mod", NOW, SETTINGS)

    assert summary.direct_access_machine_count == 150
    assert summary.direct_access_sources.total == 150
    assert summary.direct_access_sources.truncated
    assert summary.direct_access_sources.addresses == sorted(many)[:100]
    assert summary.hosts_with_direct_access == 2


def test_org_without_hosts_has_no_score(engine: Engine) -> None:
    with session_scope(engine) as session:
        summary = org_summary(session, "nobody", NOW, SETTINGS)
    assert summary.org_score is None
    assert summary.hosts == 0
    assert summary.second_factor_coverage is None
    assert summary.backup_compliance is None
