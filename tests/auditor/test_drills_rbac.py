"""Playbooks, runs and drill results are scoped exactly like hosts: a province admin adds only in
its scope, sees nothing of another province (404 like absent), and inspectors only read."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tests.auditor.conftest import AuditorServer, EnrolledHost, enroll, unique_org
from tests.auditor.drill_support import drill_result, playbook_yaml, post_result, unique_name


@dataclass(frozen=True)
class Provinces:
    ministry: str
    p1_admin: httpx.Client
    p2_admin: httpx.Client
    inspector: httpx.Client
    p1_host: EnrolledHost
    p2_host: EnrolledHost
    p1_playbook: str
    p2_playbook: str
    p2_drill: str
    p2_run: str


@pytest.fixture(scope="module")
def provinces(auditor_server: AuditorServer) -> Provinces:
    ministry = unique_org()
    p1_admin = auditor_server.client(auditor_server.token("admin", f"{ministry}/p1"))
    p2_admin = auditor_server.client(auditor_server.token("admin", f"{ministry}/p2"))
    p1_host = enroll(auditor_server, f"{ministry}/p1")
    p2_host = enroll(auditor_server, f"{ministry}/p2")
    names = []
    for admin in (p1_admin, p2_admin):
        names.append(unique_name())
        assert (
            admin.post("/api/v1/playbooks", json={"yaml": playbook_yaml(names[-1])}).status_code
            == 201
        )
    result = drill_result(playbook=names[1])
    assert post_result(auditor_server, p2_host, result).status_code == 201
    run = p2_admin.post("/api/v1/drills/runs", json={"playbook": names[1], "host": p2_host.host_id})
    assert run.status_code == 201, run.text
    return Provinces(
        ministry=ministry, p1_admin=p1_admin, p2_admin=p2_admin,
        inspector=auditor_server.client(auditor_server.token("inspector", ministry)),
        p1_host=p1_host, p2_host=p2_host, p1_playbook=names[0], p2_playbook=names[1],
        p2_drill=result.drill_id, p2_run=run.json()["id"],
    )  # fmt: skip


def test_province_admin_cannot_add_a_playbook_outside_its_scope(provinces: Provinces) -> None:
    for org in (f"{provinces.ministry}/p2", provinces.ministry, "/"):
        body = {"yaml": playbook_yaml(unique_name()), "org": org}
        response = provinces.p1_admin.post("/api/v1/playbooks", json=body)
        assert response.status_code == 403, (org, response.text)
    below = {"yaml": playbook_yaml(unique_name()), "org": f"{provinces.ministry}/p1/x"}
    created = provinces.p1_admin.post("/api/v1/playbooks", json=below)
    assert created.status_code == 201 and created.json()["org"] == f"{provinces.ministry}/p1/x"


def test_province_admin_sees_no_playbook_of_another_province(provinces: Provinces) -> None:
    names = [p["name"] for p in provinces.p1_admin.get("/api/v1/playbooks").json()]
    assert provinces.p1_playbook in names and provinces.p2_playbook not in names
    missing = provinces.p1_admin.get(f"/api/v1/playbooks/{provinces.p2_playbook}")
    absent = provinces.p1_admin.get("/api/v1/playbooks/no-such-playbook")
    assert missing.status_code == absent.status_code == 404
    assert (
        provinces.p1_admin.delete(f"/api/v1/playbooks/{provinces.p2_playbook}").status_code == 404
    )
    # Running another province's playbook, or one's own on another province's host: as absent.
    foreign = {"playbook": provinces.p2_playbook, "host": provinces.p1_host.host_id}
    assert provinces.p1_admin.post("/api/v1/drills/runs", json=foreign).status_code == 404
    cross = {"playbook": provinces.p1_playbook, "host": provinces.p2_host.host_id}
    assert provinces.p1_admin.post("/api/v1/drills/runs", json=cross).status_code == 404


def test_province_admin_sees_no_drill_or_run_of_another_province(provinces: Provinces) -> None:
    admin = provinces.p1_admin
    assert admin.get(f"/api/v1/drills/{provinces.p2_drill}").status_code == 404
    assert admin.get(f"/api/v1/drills/runs/{provinces.p2_run}").status_code == 404
    assert admin.get(f"/api/v1/hosts/{provinces.p2_host.host_id}/drills").status_code == 404
    listed = admin.get("/api/v1/drills", params={"host_id": provinces.p2_host.host_id}).json()
    assert listed["total"] == 0
    runs = admin.get("/api/v1/drills/runs").json()["items"]
    assert provinces.p2_run not in [run["id"] for run in runs]
    # The ministry's inspector sees both provinces.
    seen = provinces.inspector.get("/api/v1/drills", params={"playbook": provinces.p2_playbook})
    assert [d["drill_id"] for d in seen.json()["items"]] == [provinces.p2_drill]


def test_inspector_reads_but_cannot_change_anything(provinces: Provinces) -> None:
    inspector = provinces.inspector
    assert inspector.get(f"/api/v1/playbooks/{provinces.p1_playbook}").status_code == 200
    assert (
        inspector.post("/api/v1/playbooks", json={"yaml": playbook_yaml(unique_name())}).status_code
        == 403
    )
    assert inspector.delete(f"/api/v1/playbooks/{provinces.p1_playbook}").status_code == 403
    run = {"playbook": provinces.p1_playbook, "host": provinces.p1_host.host_id}
    assert inspector.post("/api/v1/drills/runs", json=run).status_code == 403


def test_an_invalid_playbook_is_422_with_line_numbered_errors(provinces: Provinces) -> None:
    text = "name: broken\nrto: soon\nsandbox: relative/path\n"
    response = provinces.p1_admin.post("/api/v1/playbooks", json={"yaml": text})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "playbook:2:" in detail and "rto" in detail and "playbook:3:" in detail


def test_names_are_unique_and_replace_is_explicit(provinces: Provinces) -> None:
    text = playbook_yaml(provinces.p1_playbook, schedule_="0 3 * * *")
    again = provinces.p1_admin.post("/api/v1/playbooks", json={"yaml": text})
    assert again.status_code == 409
    taken = provinces.p2_admin.post("/api/v1/playbooks", json={"yaml": text, "replace": True})
    assert taken.status_code == 409  # another province's name cannot be replaced
    replaced = provinces.p1_admin.post("/api/v1/playbooks", json={"yaml": text, "replace": True})
    assert replaced.status_code == 200 and replaced.json()["schedule"] == "0 3 * * *"


def test_admin_actions_are_audit_logged(provinces: Provinces) -> None:
    admin = provinces.p1_admin
    name = unique_name()
    assert admin.post("/api/v1/playbooks", json={"yaml": playbook_yaml(name)}).status_code == 201
    run = admin.post("/api/v1/drills/runs", json={"playbook": name, "host": "nas.example"})
    assert run.status_code == 201 and run.json()["executor"] == "worker"
    assert admin.delete(f"/api/v1/playbooks/{name}").status_code == 200
    events = admin.get("/api/v1/audit-log", params={"limit": 20}).json()["items"]
    actions = [(e["action"], e["target"]) for e in events]
    assert ("playbook.add", name) in actions and ("playbook.remove", name) in actions
    assert ("drill.run", run.json()["id"]) in actions
    # Its pending run went with it; nothing is left to claim.
    assert admin.get(f"/api/v1/drills/runs/{run.json()['id']}").status_code == 404
