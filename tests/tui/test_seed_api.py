"""The API the TUI reads: hosts carry their metrics and newest drill, orgs have a daily trend."""

from __future__ import annotations

from tests.tui.seed import PLAYBOOK, SeededFleet


def test_host_list_carries_metrics_and_last_drill(seeded_fleet: SeededFleet) -> None:
    client = seeded_fleet.server.client(seeded_fleet.server.admin_token)
    page = client.get("/api/v1/hosts", params={"limit": 500}).json()
    by_name = {item["hostname"]: item for item in page["items"]}
    db = by_name["ais-db-01"]
    assert db["metrics"]["backup_age_hours"] == 72.0
    assert db["metrics"]["accounts_without_second_factor"] == ["bob", "root"]
    assert db["metrics"]["direct_access_machine_count"] == 2
    assert db["last_drill"]["verdict"] == "pass"
    assert db["last_drill"]["playbook"] == PLAYBOOK
    assert by_name["hcm-app-01"]["last_drill"]["verdict"] == "fail"
    assert by_name["ais-web-01"]["last_drill"] is None
    detail = client.get(f"/api/v1/hosts/{db['id']}").json()
    assert detail["last_drill"]["drill_id"] == db["last_drill"]["drill_id"]
    assert detail["metrics"] == db["metrics"]


def test_trend_is_daily_and_scoped(seeded_fleet: SeededFleet) -> None:
    server = seeded_fleet.server
    admin = server.client(server.admin_token)
    points = admin.get("/api/v1/trend", params={"org": "mic/ais", "days": 7}).json()
    assert len(points) == 2  # two days ago and today: one point each
    assert all(point["hosts"] == 2 and point["reports"] == 2 for point in points)
    assert points[0]["day"] < points[1]["day"]
    inspector = server.client(seeded_fleet.inspector_token_file.read_text().strip())
    assert inspector.get("/api/v1/trend", params={"org": "prov/hanoi"}).status_code == 404
    assert inspector.get("/api/v1/trend", params={"org": "mica"}).status_code == 404
    whole = inspector.get("/api/v1/trend").json()  # the caller's scope: mic, 4 hosts
    assert max(point["hosts"] for point in whole) == 4
