"""Admin endpoints: API tokens, enrollment tokens and the audit log, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from rra.agent.identity import HostKey
from rra.auditor.app import create_app
from rra.auditor.settings import AuditorSettings
from tests.auditor.conftest import AuditorServer, enroll_request, unique_org


def test_created_token_is_shown_once_and_works(auditor_server: AuditorServer) -> None:
    org = unique_org()
    admin = auditor_server.client(auditor_server.token("admin", org))
    created = admin.post(
        "/api/v1/tokens", json={"role": "inspector", "org": f"{org}/p1/", "name": "insp"}
    )
    assert created.status_code == 201, created.text
    token = created.json()
    assert token["token"].startswith("rra_api_")
    assert (token["role"], token["org"], token["name"]) == ("inspector", f"{org}/p1", "insp")

    inspector = auditor_server.client(token["token"])
    assert inspector.get("/api/v1/hosts").status_code == 200
    listed = {row["id"]: row for row in admin.get("/api/v1/tokens").json()}
    assert set(listed[token["id"]]) == set(token) - {"token"}  # no secret, no hash
    assert all("hash" not in key for row in listed.values() for key in row)


def test_token_org_must_be_well_formed(auditor_server: AuditorServer) -> None:
    admin = auditor_server.client(auditor_server.admin_token)
    response = admin.post("/api/v1/tokens", json={"role": "admin", "org": "Bad Org", "name": "x"})
    assert response.status_code == 422
    response = admin.post("/api/v1/tokens", json={"role": "root", "org": "mic", "name": "x"})
    assert response.status_code == 422


def test_revoke_is_idempotent_and_listed(auditor_server: AuditorServer) -> None:
    org = unique_org()
    admin = auditor_server.client(auditor_server.token("admin", org))
    token = admin.post("/api/v1/tokens", json={"role": "admin", "org": org, "name": "n"}).json()

    first = admin.delete(f"/api/v1/tokens/{token['id']}")
    again = admin.delete(f"/api/v1/tokens/{token['id']}")
    assert first.status_code == again.status_code == 200
    assert first.json()["revoked_at"] == again.json()["revoked_at"] is not None
    assert auditor_server.client(token["token"]).get("/api/v1/hosts").status_code == 401
    assert admin.delete("/api/v1/tokens/no-such-token").status_code == 404


def test_enroll_token_enrolls_a_host_in_its_org(auditor_server: AuditorServer) -> None:
    org = unique_org()
    admin = auditor_server.client(auditor_server.token("admin", org))
    created = admin.post(
        "/api/v1/enroll-tokens",
        json={"org": f"{org}/ais", "expires": "2h", "criticality": "high", "labels": {"k": "v"}},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    lifetime = datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(
        body["created_at"]
    )
    assert lifetime == timedelta(hours=2)

    key = HostKey.generate()
    enrolled = auditor_server.client().post(
        "/api/v1/enroll", json=enroll_request(body["token"], key, machine_id="m-1")
    )
    assert enrolled.status_code in (200, 201), enrolled.text
    assert (enrolled.json()["org"], enrolled.json()["criticality"]) == (f"{org}/ais", "high")
    listed = {row["id"]: row for row in admin.get("/api/v1/enroll-tokens").json()}
    assert listed[body["id"]]["used_by_host"] == enrolled.json()["host_id"]
    assert "token" not in listed[body["id"]]


def test_enroll_token_lifetime_is_bounded(auditor_server: AuditorServer) -> None:
    admin = auditor_server.client(auditor_server.admin_token)
    org = unique_org()
    for expires in ("31d", "0h", "soon"):
        response = admin.post("/api/v1/enroll-tokens", json={"org": org, "expires": expires})
        assert response.status_code == 422, expires
    assert admin.post("/api/v1/enroll-tokens", json={"org": "/"}).status_code == 422
    ok = admin.post("/api/v1/enroll-tokens", json={"org": org, "expires": "30d"})
    assert ok.status_code == 201


def test_audit_log_records_each_action_by_its_actor(auditor_server: AuditorServer) -> None:
    org = unique_org()
    admin = auditor_server.client(auditor_server.token("admin", org))
    actor = admin.get("/api/v1/tokens").json()[0]["id"]
    token = admin.post("/api/v1/tokens", json={"role": "inspector", "org": org, "name": "i"})
    admin.delete(f"/api/v1/tokens/{token.json()['id']}")
    admin.post("/api/v1/enroll-tokens", json={"org": org})

    log = admin.get("/api/v1/audit-log").json()
    mine = [(e["action"], e["actor"]) for e in log["items"] if e["actor"] == actor]
    assert mine == [
        ("enroll_token.create", actor),
        ("token.revoke", actor),
        ("token.create", actor),
    ]  # newest first
    assert log["total"] == 4  # and the CLI's creation of the admin token itself
    page = admin.get("/api/v1/audit-log", params={"limit": 1, "offset": 1}).json()
    assert page["items"] == log["items"][1:2]


def test_openapi_lists_every_endpoint(auditor_server: AuditorServer) -> None:
    document = auditor_server.client().get("/api/v1/openapi.json").json()
    published = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    mine = {
        ("GET", "/api/v1/hosts"),
        ("GET", "/api/v1/hosts/{host_id}"),
        ("GET", "/api/v1/hosts/{host_id}/history"),
        ("GET", "/api/v1/hosts/{host_id}/report"),
        ("POST", "/api/v1/hosts/{host_id}/retire"),
        ("GET", "/api/v1/orgs"),
        ("GET", "/api/v1/orgs/{org}"),
        ("GET", "/api/v1/findings"),
        ("POST", "/api/v1/tokens"),
        ("GET", "/api/v1/tokens"),
        ("DELETE", "/api/v1/tokens/{token_id}"),
        ("POST", "/api/v1/enroll-tokens"),
        ("GET", "/api/v1/enroll-tokens"),
        ("GET", "/api/v1/audit-log"),
    }
    assert mine <= published
    # ...and every route the application serves under the API prefix, whoever wrote it.
    app = create_app(AuditorSettings(database_url="sqlite://"))
    served = {
        (method, getattr(route, "path", "").replace(":path}", "}"))
        for route in app.routes
        for method in getattr(route, "methods", None) or ()
        if getattr(route, "include_in_schema", False) and method != "HEAD"
    }
    assert {(m, p) for m, p in served if p.startswith("/api/v1/")} <= published


def test_a_token_in_use_records_when_it_was_last_used(auditor_server: AuditorServer) -> None:
    org = unique_org()
    token = auditor_server.token("inspector", org)
    listing = auditor_server.client(auditor_server.admin_token).get("/api/v1/tokens")
    mine = [t for t in listing.json() if t["org"] == org]
    assert len(mine) == 1 and mine[0]["last_used_at"] is None
    assert auditor_server.client(token).get("/api/v1/hosts").status_code == 200
    listing = auditor_server.client(auditor_server.admin_token).get("/api/v1/tokens")
    (used,) = [t for t in listing.json() if t["org"] == org]
    assert used["last_used_at"] is not None
    assert datetime.fromisoformat(used["last_used_at"]) > datetime.fromisoformat(
        used["created_at"]
    ) - timedelta(seconds=1)
