"""``/healthz`` and ``/metrics``: counters per process and app, fleet gauges from the database."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from rra.auditor import admin
from rra.auditor.app import create_app
from rra.auditor.db import make_engine, session_scope
from rra.auditor.migrate import upgrade_to_head
from rra.auditor.settings import AuditorSettings
from tests.auditor.conftest import AuditorServer, enroll, unique_org
from tests.auditor.reports import make_report
from tests.auditor.wire import post_report, post_signed, scrape


def _sample(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_healthz_is_ok_with_the_database(auditor_server: AuditorServer) -> None:
    response = auditor_server.client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_is_down(tmp_path: Path) -> None:
    # Nothing listens on port 1: the real driver fails to connect, as with a downed server.
    url = "postgresql+psycopg://rra@127.0.0.1:1/rra?connect_timeout=2"
    app = create_app(AuditorSettings(data_dir=tmp_path, database_url=url), make_engine(url))
    with TestClient(app) as client:
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["database"] == "unreachable"


def test_metrics_count_ingest_and_expose_fleet_gauges(auditor_server: AuditorServer) -> None:
    org = unique_org()
    host = enroll(auditor_server, org)
    enroll(auditor_server, org)  # a second host that never reports: it weighs 0 in the org
    report = make_report(org=org)
    report.delivery.dropped_total = 4
    before = scrape(auditor_server)

    stored = post_report(auditor_server, host, report)
    assert stored.status_code == 201
    assert post_report(auditor_server, host, report).status_code == 200
    assert post_signed(auditor_server, host.host_id, b"{}", "forged").status_code == 401

    after = scrape(auditor_server)

    def grew(name: str, **labels: str) -> float:
        return _sample(after, name, **labels) - _sample(before, name, **labels)

    total = "rra_ingest_reports_total"
    assert grew(total, result="stored", reason="accepted") == 1
    assert grew(total, result="duplicate", reason="replay") == 1
    assert grew(total, result="rejected", reason="unauthorized") == 1
    assert grew("rra_ingest_latency_seconds_count", endpoint="single") == 3
    assert _sample(after, "rra_org_score", org=org) == stored.json()["score"] * 2 / 4
    assert _sample(after, "rra_hosts", status="active") >= 2
    assert {labels[0][1] for name, labels in after if name == "rra_hosts"} == {
        "active",
        "late",
        "stale",
        "retired",
    }
    assert grew("rra_agent_dropped_reports_total") == 4


def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    settings = AuditorSettings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'a.db'}")
    upgrade_to_head(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    with session_scope(engine) as session:
        _row, token = admin.create_api_token(session, role="inspector", org_scope="", name="p")
    first = create_app(settings, engine)
    second = create_app(settings, make_engine(settings.resolved_database_url))
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(first, headers=auth) as one, TestClient(second, headers=auth) as two:
        response = one.post("/api/v1/reports", content=b"{}")
        assert response.status_code == 401
        assert 'rra_ingest_reports_total{reason="unauthorized",result="rejected"} 1.0' in (
            one.get("/metrics").text
        )
        assert "rra_ingest_reports_total{" not in two.get("/metrics").text


def test_metrics_need_a_token(auditor_server: AuditorServer) -> None:
    assert auditor_server.client().get("/metrics").status_code == 401
    assert auditor_server.client("rra_api_garbage").get("/metrics").status_code == 401


def test_metrics_refuse_an_org_scoped_token(auditor_server: AuditorServer) -> None:
    # The fleet gauges name every org and its score: a province's token must not read them.
    token = auditor_server.token("inspector", unique_org())
    response = auditor_server.client(token).get("/metrics")
    assert response.status_code == 403
    assert "rra_org_score" not in response.text
