"""Org scoping and roles (DESIGN §7): a province admin never sees another province, by any road.

Two provinces of one ministry, each with a host that reported; every negative is its own test so
a failure names the road that leaked.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tests.auditor.conftest import AuditorServer, unique_org
from tests.auditor.fleet import enroll_host, host_ids, send
from tests.auditor.reports import make_report


@dataclass(frozen=True)
class Provinces:
    ministry: str
    p1_host: str
    p2_host: str
    p2_hostname: str
    p1_admin: httpx.Client
    p2_token_id: str
    inspector: httpx.Client


@pytest.fixture(scope="module")
def provinces(auditor_server: AuditorServer) -> Provinces:
    ministry = unique_org()
    p2_hostname = f"secret-{ministry}"
    p1 = enroll_host(auditor_server, f"{ministry}/p1", hostname=f"plain-{ministry}")
    p2 = enroll_host(auditor_server, f"{ministry}/p2", hostname=p2_hostname)
    send(auditor_server, p1, make_report())
    send(auditor_server, p2, make_report())
    top = auditor_server.client(auditor_server.admin_token)
    p2_token = top.post(
        "/api/v1/tokens", json={"role": "admin", "org": f"{ministry}/p2", "name": "p2 admin"}
    )
    return Provinces(
        ministry=ministry,
        p1_host=p1.host_id,
        p2_host=p2.host_id,
        p2_hostname=p2_hostname,
        p1_admin=auditor_server.client(auditor_server.token("admin", f"{ministry}/p1")),
        p2_token_id=p2_token.json()["id"],
        inspector=auditor_server.client(auditor_server.token("inspector", ministry)),
    )


def test_province_admin_lists_only_its_province(provinces: Provinces) -> None:
    assert host_ids(provinces.p1_admin.get("/api/v1/hosts").json()) == [provinces.p1_host]
    other = provinces.p1_admin.get("/api/v1/hosts", params={"org": f"{provinces.ministry}/p2"})
    assert other.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}


def test_province_admin_gets_404_for_another_provinces_host_like_a_missing_one(
    provinces: Provinces,
) -> None:
    hidden = provinces.p1_admin.get(f"/api/v1/hosts/{provinces.p2_host}")
    missing = provinces.p1_admin.get("/api/v1/hosts/00000000-0000-4000-8000-000000000000")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace(provinces.p2_host, "ID") == missing.json()[
        "detail"
    ].replace("00000000-0000-4000-8000-000000000000", "ID")


def test_province_admin_cannot_find_another_provinces_host_by_search(
    provinces: Provinces,
) -> None:
    found = provinces.p1_admin.get("/api/v1/hosts", params={"q": provinces.p2_hostname})
    assert found.json()["total"] == 0
    assert provinces.inspector.get("/api/v1/hosts", params={"q": "secret-"}).json()["total"] == 1


def test_province_admin_cannot_read_another_provinces_history(provinces: Provinces) -> None:
    assert provinces.p1_admin.get(f"/api/v1/hosts/{provinces.p2_host}/history").status_code == 404


def test_province_admin_cannot_read_another_provinces_raw_report(provinces: Provinces) -> None:
    assert provinces.p1_admin.get(f"/api/v1/hosts/{provinces.p2_host}/report").status_code == 404


def test_province_admin_cannot_retire_another_provinces_host(provinces: Provinces) -> None:
    response = provinces.p1_admin.post(f"/api/v1/hosts/{provinces.p2_host}/retire")
    assert response.status_code == 404
    detail = provinces.inspector.get(f"/api/v1/hosts/{provinces.p2_host}").json()
    assert detail["status"] != "retired"


def test_province_admin_sees_no_findings_of_another_province(provinces: Provinces) -> None:
    rows = provinces.p1_admin.get("/api/v1/findings", params={"limit": 500}).json()["items"]
    assert rows and {row["host_id"] for row in rows} == {provinces.p1_host}
    other = provinces.p1_admin.get("/api/v1/findings", params={"org": f"{provinces.ministry}/p2"})
    assert other.json()["total"] == 0


def test_province_admin_cannot_read_another_provinces_org_summary(provinces: Provinces) -> None:
    assert provinces.p1_admin.get(f"/api/v1/orgs/{provinces.ministry}/p2").status_code == 404
    assert provinces.p1_admin.get(f"/api/v1/orgs/{provinces.ministry}").status_code == 404
    listed = [s["org"] for s in provinces.p1_admin.get("/api/v1/orgs").json()]
    assert listed == [f"{provinces.ministry}/p1"]


def test_province_admin_cannot_revoke_another_provinces_token(provinces: Provinces) -> None:
    response = provinces.p1_admin.delete(f"/api/v1/tokens/{provinces.p2_token_id}")
    assert response.status_code == 404
    listed = provinces.p1_admin.get("/api/v1/tokens").json()
    assert provinces.p2_token_id not in {row["id"] for row in listed}


def test_province_admin_cannot_create_a_token_for_another_province(provinces: Provinces) -> None:
    for org in (f"{provinces.ministry}/p2", provinces.ministry, "/"):
        response = provinces.p1_admin.post(
            "/api/v1/tokens", json={"role": "inspector", "org": org, "name": "sneaky"}
        )
        assert response.status_code == 403, org


def test_province_admin_cannot_create_an_enroll_token_for_another_province(
    provinces: Provinces,
) -> None:
    response = provinces.p1_admin.post(
        "/api/v1/enroll-tokens", json={"org": f"{provinces.ministry}/p2"}
    )
    assert response.status_code == 403
    listed = provinces.p1_admin.get("/api/v1/enroll-tokens").json()
    assert {row["org"] for row in listed} == {f"{provinces.ministry}/p1"}


def test_province_admin_audit_log_holds_only_its_province(provinces: Provinces) -> None:
    events = provinces.p1_admin.get("/api/v1/audit-log", params={"limit": 500}).json()["items"]
    assert events and {e["org"] for e in events} == {f"{provinces.ministry}/p1"}


ADMIN_ENDPOINTS = [
    ("POST", "/api/v1/tokens", {"role": "inspector", "org": "x", "name": "n"}),
    ("GET", "/api/v1/tokens", None),
    ("DELETE", "/api/v1/tokens/some-id", None),
    ("POST", "/api/v1/enroll-tokens", {"org": "x"}),
    ("GET", "/api/v1/enroll-tokens", None),
    ("GET", "/api/v1/audit-log", None),
    ("POST", "/api/v1/hosts/some-id/retire", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ENDPOINTS)
def test_inspector_cannot_call_admin_endpoints(
    auditor_server: AuditorServer, method: str, path: str, body: dict[str, str] | None
) -> None:
    inspector = auditor_server.client(auditor_server.token("inspector", ""))
    response = inspector.request(method, path, json=body)
    assert response.status_code == 403, response.text


def test_revoked_token_is_401(auditor_server: AuditorServer) -> None:
    admin = auditor_server.client(auditor_server.admin_token)
    created = admin.post("/api/v1/tokens", json={"role": "inspector", "org": "", "name": "r"})
    reader = auditor_server.client(created.json()["token"])
    assert reader.get("/api/v1/orgs").status_code == 200
    admin.delete(f"/api/v1/tokens/{created.json()['id']}")
    assert reader.get("/api/v1/orgs").status_code == 401


@pytest.mark.parametrize("token", [None, "garbage", "rra_api_" + "A" * 43])
def test_missing_or_unknown_token_is_401(auditor_server: AuditorServer, token: str | None) -> None:
    response = auditor_server.client(token).get("/api/v1/hosts")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_scope_is_a_whole_segment_prefix(auditor_server: AuditorServer) -> None:
    """Scope ``mic`` covers ``mic/...`` but never ``mica``."""
    mic = unique_org("mic")
    mica_host = enroll_host(auditor_server, f"{mic}a")
    send(auditor_server, mica_host, make_report())
    send(auditor_server, enroll_host(auditor_server, f"{mic}/ais"), make_report())
    client = auditor_server.client(auditor_server.token("admin", mic))

    assert mica_host.host_id not in host_ids(client.get("/api/v1/hosts").json())
    assert client.get(f"/api/v1/hosts/{mica_host.host_id}").status_code == 404
    assert [s["org"] for s in client.get("/api/v1/orgs").json()] == [mic, f"{mic}/ais"]
    assert client.get(f"/api/v1/orgs/{mic}a").status_code == 404
    rows = client.get("/api/v1/findings", params={"limit": 500}).json()["items"]
    assert mica_host.host_id not in {row["host_id"] for row in rows}
    token = client.post("/api/v1/tokens", json={"role": "admin", "org": f"{mic}a", "name": "n"})
    assert token.status_code == 403
