"""``/api/v1/findings`` across the hosts in scope, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.auditor.conftest import AuditorServer, EnrolledHost, unique_org
from tests.auditor.fleet import enroll_host, send
from tests.auditor.reports import backup, make_report


@pytest.fixture(scope="module")
def fleet(auditor_server: AuditorServer) -> tuple[str, list[EnrolledHost]]:
    org = unique_org()
    hosts = [enroll_host(auditor_server, f"{org}/{unit}", hostname=unit) for unit in "abc"]
    send(auditor_server, hosts[0], make_report())
    send(auditor_server, hosts[1], make_report(backups=[backup(status="error")]))
    send(auditor_server, hosts[2], make_report())
    retired = auditor_server.client(auditor_server.admin_token).post(
        f"/api/v1/hosts/{hosts[2].host_id}/retire"
    )
    assert retired.status_code == 200
    return org, hosts


def findings(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/findings", params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def test_default_is_fail_and_warn_of_live_hosts_in_scope(
    auditor_server: AuditorServer, fleet: tuple[str, list[EnrolledHost]]
) -> None:
    org, hosts = fleet
    client = auditor_server.client(auditor_server.token("inspector", org))
    page = findings(client, limit=500)
    assert page["total"] == len(page["items"]) > 0
    assert {row["status"] for row in page["items"]} <= {"fail", "warn"}
    # the retired host's findings are gone with it
    assert {row["host_id"] for row in page["items"]} == {hosts[0].host_id, hosts[1].host_id}
    first = page["items"][0]
    assert set(first) == {
        "host_id",
        "hostname",
        "org",
        "check",
        "pillar",
        "status",
        "severity",
        "title",
        "points_lost",
    }
    assert first["hostname"] == "a"
    assert first["org"] == f"{org}/a"


def test_filters_by_check_pillar_severity_status_and_org(
    auditor_server: AuditorServer, fleet: tuple[str, list[EnrolledHost]]
) -> None:
    org, hosts = fleet
    client = auditor_server.client(auditor_server.token("inspector", org))

    fresh = findings(client, check="recovery.backup_fresh", status="pass,fail")["items"]
    assert [(r["hostname"], r["status"]) for r in fresh] == [("a", "pass"), ("b", "fail")]
    repeated = findings(client, check="recovery.backup_fresh", status=["pass", "fail"])["items"]
    assert repeated == fresh

    recovery = findings(client, pillar="recovery", org=f"{org}/b")["items"]
    assert recovery and all(r["pillar"] == "recovery" for r in recovery)
    assert {r["host_id"] for r in recovery} == {hosts[1].host_id}

    severe = findings(client, severity="critical,high", status="fail")["items"]
    assert severe and all(r["severity"] in ("critical", "high") for r in severe)
    assert all(r["status"] == "fail" for r in severe)


def test_paging_is_stable_and_totals_agree(
    auditor_server: AuditorServer, fleet: tuple[str, list[EnrolledHost]]
) -> None:
    org, _hosts = fleet
    client = auditor_server.client(auditor_server.token("inspector", org))
    everything = findings(client, limit=500)
    pages = [
        findings(client, limit=3, offset=offset) for offset in range(0, everything["total"], 3)
    ]
    assert [row for page in pages for row in page["items"]] == everything["items"]
    assert {page["total"] for page in pages} == {everything["total"]}


def test_unknown_filter_values_are_rejected(auditor_server: AuditorServer) -> None:
    client = auditor_server.client(auditor_server.admin_token)
    for params in ({"status": "fail,bogus"}, {"pillar": "money"}, {"severity": "dire"}):
        assert client.get("/api/v1/findings", params=params).status_code == 422
