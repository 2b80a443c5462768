"""``/api/v1/hosts`` against the real server on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from rra.agent.identity import verify_signature
from tests.auditor.conftest import AuditorServer, unique_org
from tests.auditor.fleet import enroll_host, host_ids, make_stale, send
from tests.auditor.reports import backup, hours_ago, make_report


def test_list_is_scoped_filtered_ordered_and_paged(auditor_server: AuditorServer) -> None:
    org = unique_org()
    web = enroll_host(auditor_server, f"{org}/b", hostname="Web-01")
    db = enroll_host(auditor_server, f"{org}/a", hostname="db-01")
    web2 = enroll_host(auditor_server, f"{org}/b", hostname="web-02")
    for host in (web, db, web2):
        send(auditor_server, host, make_report(org=host.org))
    client = auditor_server.client(auditor_server.token("inspector", org))

    everything = client.get("/api/v1/hosts").json()
    assert host_ids(everything) == [db.host_id, web.host_id, web2.host_id]  # org, hostname, id
    assert everything["total"] == 3

    first = client.get("/api/v1/hosts", params={"limit": 2}).json()
    second = client.get("/api/v1/hosts", params={"limit": 2, "offset": 2}).json()
    assert host_ids(first) + host_ids(second) == host_ids(everything)
    assert (first["total"], second["total"]) == (3, 3)

    by_org = client.get("/api/v1/hosts", params={"org": f"{org}/b"}).json()
    assert host_ids(by_org) == [web.host_id, web2.host_id]
    search = client.get("/api/v1/hosts", params={"q": "WEB-0"}).json()
    assert host_ids(search) == [web.host_id, web2.host_id]
    assert client.get("/api/v1/hosts", params={"q": "%"}).json()["total"] == 0


def test_score_status_and_clone_filters(auditor_server: AuditorServer) -> None:
    org = unique_org()
    good = enroll_host(auditor_server, org, hostname="good")
    poor = enroll_host(auditor_server, org, hostname="poor")
    clone = enroll_host(auditor_server, org, hostname="clone", machine_id=good.machine_id)
    good_score = send(auditor_server, good, make_report())["score"]
    poor_score = send(auditor_server, poor, make_report(backups=[backup(status="error")]))["score"]
    assert poor_score < good_score
    make_stale(auditor_server, poor.host_id)
    client = auditor_server.client(auditor_server.token("inspector", org))

    def ids(**params: str | float) -> list[str]:
        response = client.get("/api/v1/hosts", params=params)
        assert response.status_code == 200, response.text
        return host_ids(response.json())

    assert ids(score_min=good_score) == [good.host_id]
    assert ids(score_max=poor_score) == [poor.host_id]
    assert ids(status="stale") == [poor.host_id]
    assert ids(status="active") == [clone.host_id, good.host_id]
    assert ids(clone="true") == [clone.host_id]
    assert ids(clone="false") == [good.host_id, poor.host_id]
    assert client.get("/api/v1/hosts", params={"status": "gone"}).status_code == 422
    assert client.get("/api/v1/hosts", params={"limit": 501}).status_code == 422


def test_detail_has_latest_evaluation_and_status(auditor_server: AuditorServer) -> None:
    org = unique_org()
    host = enroll_host(auditor_server, org, criticality="high")
    report = make_report(sources=["198.51.100.7", "203.0.113.9"])
    result = send(auditor_server, host, report)
    client = auditor_server.client(auditor_server.token("inspector", org))

    detail = client.get(f"/api/v1/hosts/{host.host_id}").json()
    assert detail["status"] == "active"
    assert detail["criticality"] == "high"
    assert detail["score"] == result["score"]
    assert detail["latest_report"]["report_id"] == report.report_id
    assert detail["metrics"]["direct_access_sources"] == ["198.51.100.7", "203.0.113.9"]
    assert {f["check"] for f in detail["findings"]} >= {"auth.ssh_second_factor"}
    assert detail["clone_of"] is None
    assert detail["dropped_reports"] == 0


def test_detail_of_a_host_without_report(auditor_server: AuditorServer) -> None:
    org = unique_org()
    host = enroll_host(auditor_server, org)
    detail = auditor_server.client(auditor_server.admin_token).get(f"/api/v1/hosts/{host.host_id}")
    assert detail.status_code == 200
    assert detail.json()["score"] is None
    assert detail.json()["latest_report"] is None
    assert detail.json()["findings"] == []


def test_unknown_host_is_404(auditor_server: AuditorServer) -> None:
    client = auditor_server.client(auditor_server.admin_token)
    for suffix in ("", "/history", "/report"):
        assert client.get(f"/api/v1/hosts/{uuid.uuid4()}{suffix}").status_code == 404


def test_history_is_ordered_by_collection_and_limited_to_the_newest(
    auditor_server: AuditorServer,
) -> None:
    org = unique_org()
    host = enroll_host(auditor_server, org)
    # Sent out of order: history follows collected_at, not arrival.
    times = [hours_ago(3), hours_ago(1), hours_ago(2)]
    reports = [make_report(seq=i, collected_at=at) for i, at in enumerate(times)]
    for report in reports:
        send(auditor_server, host, report)
    client = auditor_server.client(auditor_server.token("inspector", org))

    history = client.get(f"/api/v1/hosts/{host.host_id}/history").json()
    assert [point["seq"] for point in history] == [0, 2, 1]
    assert all("backup_age_hours" in point["metrics"] for point in history)
    newest = client.get(f"/api/v1/hosts/{host.host_id}/history", params={"limit": 2}).json()
    assert [point["seq"] for point in newest] == [2, 1]
    since = (times[2] - timedelta(minutes=1)).isoformat()
    recent = client.get(f"/api/v1/hosts/{host.host_id}/history", params={"since": since}).json()
    assert [point["seq"] for point in recent] == [2, 1]


def test_raw_report_is_the_signed_payload(auditor_server: AuditorServer) -> None:
    org = unique_org()
    host = enroll_host(auditor_server, org)
    report = make_report()
    send(auditor_server, host, report)
    client = auditor_server.client(auditor_server.token("inspector", org))

    response = client.get(f"/api/v1/hosts/{host.host_id}/report")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert json.loads(response.content)["report_id"] == report.report_id
    assert response.content == host.signed(report)[0]
    assert verify_signature(
        host.key.public_key_b64, response.content, response.headers["X-RRA-Signature"]
    )
    silent = enroll_host(auditor_server, org)
    assert client.get(f"/api/v1/hosts/{silent.host_id}/report").status_code == 404


def test_retire_hides_the_host_from_the_default_listing_and_is_audited(
    auditor_server: AuditorServer,
) -> None:
    org = unique_org()
    host = enroll_host(auditor_server, org)
    send(auditor_server, host, make_report())
    client = auditor_server.client(auditor_server.token("admin", org))

    retired = client.post(f"/api/v1/hosts/{host.host_id}/retire")
    assert retired.status_code == 200, retired.text
    assert retired.json()["status"] == "retired"
    assert client.get("/api/v1/hosts").json()["total"] == 0
    assert host_ids(client.get("/api/v1/hosts", params={"status": "retired"}).json()) == [
        host.host_id
    ]
    events = client.get("/api/v1/audit-log").json()["items"]
    assert ("host.retire", host.host_id, org) in [
        (e["action"], e["target"], e["org"]) for e in events
    ]
