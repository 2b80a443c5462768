"""Report ingest against the real server: the auditor's score, history, current state, batches."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from rra.auditor.hostkeys import HostKeyCache, KnownHost
from rra.auditor.ingest import accept
from rra.auditor.report_store import store_reports
from rra.auditor.settings import AuditorSettings
from rra.checks.base import CheckContext
from rra.checks.evaluate import evaluate
from rra.checks.report import PillarScores, Score
from tests.auditor.conftest import AuditorServer, EnrolledHost, enroll, unique_org
from tests.auditor.reports import account, hours_ago, make_report, ssh_service
from tests.auditor.wire import (
    batch_item,
    history,
    host_row,
    post_batch,
    post_report,
    state,
)

SETTINGS = AuditorSettings()


def now() -> datetime:
    return datetime.now(UTC)


def host_key(server: AuditorServer, host: EnrolledHost) -> KnownHost:
    known = HostKeyCache().lookup(server.engine, host.host_id)
    assert known is not None
    return known


def test_stored_state_carries_the_auditors_score_not_the_agents(
    auditor_server: AuditorServer,
) -> None:
    org = unique_org()
    host = enroll(auditor_server, org)
    poor = make_report(
        org=org,
        backups=[],
        accounts=[account("root", "missing", privileged=True)],
        services=[ssh_service("confirmed")],
        sources=["198.51.100.7", "203.0.113.9"],
    )
    tampered = poor.model_copy(
        update={
            "score": Score(
                total=100, pillars=PillarScores(recovery=100, authentication=100, exposure=100)
            ),
            "findings": [],
        }
    )
    _metrics, _findings, honest = evaluate(poor.facts, CheckContext(now=poor.collected_at))
    assert honest.total < 50

    response = post_report(auditor_server, host, tampered)

    assert response.status_code == 201, response.text
    assert response.json() == {
        "report_id": tampered.report_id,
        "status": "stored",
        "error": None,
        "score": honest.total,
    }
    current = state(auditor_server, host.host_id)
    assert current is not None
    assert current.score_total == honest.total
    assert current.score["total"] == honest.total
    assert {f["check"] for f in current.findings} == {f.check for f in _findings}
    [stored] = history(auditor_server, host.host_id)
    assert stored.score_total == honest.total
    # History keeps the payload exactly as signed, the agent's claimed score included.
    assert stored.payload.encode() == host.signed(tampered)[0]
    assert '"total":100' in stored.payload


def test_history_keeps_every_report_and_state_follows_the_newest(
    auditor_server: AuditorServer,
) -> None:
    host = enroll(auditor_server, unique_org())
    reports = [
        make_report(seq=seq, collected_at=hours_ago(3 - seq), backups=[]) for seq in (1, 2, 3)
    ]
    for report in reports:
        assert post_report(auditor_server, host, report).status_code == 201
    assert [row.report_id for row in history(auditor_server, host.host_id)] == [
        report.report_id for report in reports
    ]
    current = state(auditor_server, host.host_id)
    assert current is not None and current.report_id == reports[-1].report_id
    assert host_row(auditor_server, host.host_id).last_seq == 3


def test_an_older_report_arriving_later_does_not_replace_the_current_state(
    auditor_server: AuditorServer,
) -> None:
    host = enroll(auditor_server, unique_org())
    newer = make_report(seq=7, collected_at=hours_ago(1))
    older = make_report(seq=6, collected_at=hours_ago(5), backups=[])  # waited in a spool
    assert post_report(auditor_server, host, newer).status_code == 201
    before = host_row(auditor_server, host.host_id).last_seen_at
    assert post_report(auditor_server, host, older).status_code == 201

    current = state(auditor_server, host.host_id)
    assert current is not None and current.report_id == newer.report_id
    assert len(history(auditor_server, host.host_id)) == 2
    row = host_row(auditor_server, host.host_id)
    assert row.last_seq == 7
    assert row.last_seen_at is not None and before is not None and row.last_seen_at >= before


def test_same_collection_time_is_decided_by_seq(auditor_server: AuditorServer) -> None:
    host = enroll(auditor_server, unique_org())
    moment = hours_ago(1)
    second = make_report(seq=2, collected_at=moment)
    first = make_report(seq=1, collected_at=moment)
    for report in (second, first):
        assert post_report(auditor_server, host, report).status_code == 201
    current = state(auditor_server, host.host_id)
    assert current is not None and current.report_id == second.report_id


def test_dropped_reports_keeps_the_largest_total_reported(auditor_server: AuditorServer) -> None:
    host = enroll(auditor_server, unique_org())
    high = make_report(seq=2, collected_at=hours_ago(1))
    high.delivery.dropped_total = 5
    low = make_report(seq=3)
    low.delivery.dropped_total = 3  # cannot shrink what the host already admitted to losing
    for report in (high, low):
        assert post_report(auditor_server, host, report).status_code == 201
    assert host_row(auditor_server, host.host_id).dropped_reports == 5


def test_batch_of_mixed_reports_answers_in_order(auditor_server: AuditorServer) -> None:
    host = enroll(auditor_server, unique_org())
    other = enroll(auditor_server, unique_org())
    replayed = make_report(seq=1, collected_at=hours_ago(4))
    assert post_report(auditor_server, host, replayed).status_code == 201
    fresh = make_report(seq=2, collected_at=hours_ago(3))
    forged = batch_item(other, make_report(seq=3, collected_at=hours_ago(2)))
    future = make_report(seq=4, collected_at=datetime.now(UTC) + timedelta(hours=1))
    last = make_report(seq=5, collected_at=hours_ago(1))
    items = [
        batch_item(host, fresh),
        batch_item(host, replayed),
        forged,
        batch_item(host, future),
        batch_item(host, last),
        batch_item(host, last),  # the same report twice in one batch: the second is a replay
    ]

    response = post_batch(auditor_server, host, items)

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [
        "stored",
        "duplicate",
        "rejected",
        "rejected",
        "stored",
        "duplicate",
    ]
    assert results[0]["report_id"] == fresh.report_id and results[0]["score"] is not None
    assert results[1]["report_id"] == replayed.report_id
    assert results[2]["error"] == "unknown host or invalid signature"
    assert "future" in results[3]["error"]
    assert [row.seq for row in history(auditor_server, host.host_id)] == [1, 2, 5]
    current = state(auditor_server, host.host_id)
    assert current is not None and current.report_id == last.report_id


def test_batch_from_an_unknown_host_is_refused_as_a_whole(auditor_server: AuditorServer) -> None:
    host = enroll(auditor_server, unique_org())
    response = auditor_server.client().post(
        "/api/v1/reports/batch",
        json={"reports": [batch_item(host, make_report())]},
        headers={"X-RRA-Host": "00000000-0000-4000-8000-000000000000"},
    )
    assert response.status_code == 401
    assert history(auditor_server, host.host_id) == []


def test_batch_envelope_errors(auditor_server: AuditorServer) -> None:
    host = enroll(auditor_server, unique_org())
    client = auditor_server.client()
    headers = {"X-RRA-Host": host.host_id, "Content-Type": "application/json"}
    assert client.post("/api/v1/reports/batch", content=b"[", headers=headers).status_code == 400
    empty = client.post("/api/v1/reports/batch", json={"reports": []}, headers=headers)
    assert empty.status_code == 422


def test_a_report_the_database_refuses_never_sinks_the_rest_of_a_batch(
    auditor_server: AuditorServer,
) -> None:
    """Validation bounds every value, so this takes a report past it on purpose: a seq beyond
    PostgreSQL's integer column. There the batch falls back to one transaction per report."""
    host = enroll(auditor_server, unique_org())
    reports = [make_report(seq=seq, collected_at=hours_ago(3 - seq)) for seq in (1, 2, 3)]
    accepted = [
        accept(host_key(auditor_server, host), host.host_id, *host.signed(report), now(), SETTINGS)
        for report in reports
    ]
    huge_seq = accepted[1].report.model_copy(update={"seq": 2**40})
    accepted[1] = dataclasses.replace(accepted[1], report=huge_seq)
    statuses = store_reports(
        auditor_server.engine,
        host.host_id,
        accepted,
        policy_id=SETTINGS.policy_id,
        received_at=now(),
    )
    # SQLite integers are 64-bit, so there the odd report is simply stored.
    expected_middle = "refused" if auditor_server.backend == "postgresql" else "stored"
    assert statuses == ["stored", expected_middle, "stored"]
    stored_ids = {row.report_id for row in history(auditor_server, host.host_id)}
    assert {reports[0].report_id, reports[2].report_id} <= stored_ids
