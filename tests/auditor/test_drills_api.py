"""The host-signed drill endpoints against the real server (TLS, both backends): claims, results,
their order of checks, and a drill result moving the host's score at once."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import Session, col

from rra.agent.identity import verify_signature
from rra.auditor.db import session_scope
from rra.auditor.models import PlaybookRow
from rra.auditor.rescore import rescore_all
from rra.auditor.settings import AuditorSettings
from rra.checks.canonical import canonical_json
from rra.checks.scoring import CAP_NO_RESTORE_DRILL
from tests.auditor.conftest import AuditorServer, EnrolledHost, enroll, unique_org
from tests.auditor.drill_support import (
    claim,
    claim_body,
    drill_result,
    playbook_yaml,
    post_result,
    signed_post,
    unique_name,
)
from tests.auditor.reports import make_report
from tests.auditor.wire import post_report, retire

RESTORE_DRILL = "recovery.restore_drill"


@dataclass
class Site:
    server: AuditorServer
    org: str
    admin: httpx.Client
    host: EnrolledHost
    playbook: str

    def trigger(self, host: str | None = None) -> str:
        response = self.admin.post(
            "/api/v1/drills/runs",
            json={"playbook": self.playbook, "host": host or self.host.host_id},
        )
        assert response.status_code == 201, response.text
        run_id: str = response.json()["id"]
        return run_id


@pytest.fixture
def site(auditor_server: AuditorServer) -> Site:
    org = unique_org("d")
    admin = auditor_server.client(auditor_server.token("admin", org))
    name = unique_name()
    added = admin.post("/api/v1/playbooks", json={"yaml": playbook_yaml(name)})
    assert added.status_code == 201, added.text
    assert added.json()["org"] == org  # defaults to the admin's scope
    return Site(auditor_server, org, admin, enroll(auditor_server, org), name)


def test_a_host_claims_its_due_run_once_with_the_playbook(site: Site) -> None:
    run_id = site.trigger()
    response = claim(site.server, site.host)
    assert response.status_code == 200, response.text
    (run,) = response.json()["runs"]
    stored = site.admin.get(f"/api/v1/playbooks/{site.playbook}").json()
    assert run["run_id"] == run_id and run["playbook"] == site.playbook
    assert run["playbook_yaml"] == stored["yaml"] and run["playbook_sha256"] == stored["sha256"]
    lease = datetime.fromisoformat(run["lease_until"])
    assert timedelta(minutes=65) < lease - datetime.now(UTC) <= timedelta(minutes=70)
    assert claim(site.server, site.host).json() == {"runs": []}
    status = site.admin.get("/api/v1/drills/runs", params={"host_id": site.host.host_id}).json()
    assert [(r["id"], r["state"], r["claimed_by"]) for r in status["items"]] == [
        (run_id, "claimed", site.host.host_id)
    ]


def test_two_concurrent_claims_by_one_host_take_each_run_once(site: Site) -> None:
    expected = [site.trigger() for _ in range(6)]
    barrier = threading.Barrier(2)
    claimed: list[str] = []

    def claimer() -> None:
        barrier.wait()
        response = claim(site.server, site.host, max_runs=20)
        assert response.status_code == 200, response.text
        claimed.extend(run["run_id"] for run in response.json()["runs"])

    threads = [threading.Thread(target=claimer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert Counter(claimed) == Counter(expected)


def test_a_scheduled_playbook_is_materialised_by_the_claim(site: Site) -> None:
    name = unique_name()
    text = playbook_yaml(name, schedule_="* * * * *", hosts=[site.host.host_id, "nas.example"])
    assert site.admin.post("/api/v1/playbooks", json={"yaml": text}).status_code == 201
    with session_scope(site.server.engine) as session:  # added an hour ago: it is due
        session.execute(
            update(PlaybookRow)
            .where(col(PlaybookRow.name) == name)
            .values(created_at=datetime.now(UTC) - timedelta(hours=1))
        )
    (run,) = claim(site.server, site.host).json()["runs"]
    assert run["playbook"] == name
    assert datetime.now(UTC) - datetime.fromisoformat(run["due_at"]) < timedelta(minutes=2)
    runs = site.admin.get("/api/v1/drills/runs", params={"playbook": name}).json()["items"]
    assert {(r["executor"], r["trigger"]) for r in runs} == {
        ("agent", "schedule"),
        ("worker", "schedule"),
    }


def test_forged_or_unknown_signatures_are_one_401(site: Site) -> None:
    server, host = site.server, site.host
    body = claim_body()
    forged = signed_post(server, "/api/v1/drills/claim", host, body, signature=host.key.sign(b"x"))
    other_key = EnrolledHost(str(uuid.uuid4()), host.key, host.org, host.machine_id)
    unknown = signed_post(server, "/api/v1/drills/claim", other_key, body)
    result = canonical_json(drill_result(playbook=site.playbook))
    forged_result = signed_post(server, "/api/v1/drills/results", host, result, host.key.sign(b"y"))
    for response in (forged, unknown, forged_result):
        assert response.status_code == 401
        assert response.json()["detail"] == "unknown host or invalid signature"
    # Garbage that is signed still gets past the signature: then it is a parse error, not a 401.
    junk = signed_post(server, "/api/v1/drills/claim", host, b"{not json")
    assert junk.status_code == 400


@pytest.mark.parametrize("offset", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_a_claim_dated_too_far_from_now_is_refused(site: Site, offset: timedelta) -> None:
    site.trigger()
    body = claim_body(requested_at=datetime.now(UTC) + offset)
    response = signed_post(site.server, "/api/v1/drills/claim", site.host, body)
    assert response.status_code == 422 and "requested_at" in response.json()["detail"]
    assert len(claim(site.server, site.host).json()["runs"]) == 1  # nothing was taken


def test_a_retired_host_can_neither_claim_nor_deliver(site: Site) -> None:
    retire(site.server, site.host.host_id)  # in the database: the server's key cache is stale
    assert claim(site.server, site.host).status_code == 403
    response = post_result(site.server, site.host, drill_result(playbook=site.playbook))
    assert response.status_code == 403


def test_oversized_bodies_are_413(site: Site) -> None:
    big_claim = b'{"pad":"' + b"x" * 20_000 + b'"}'
    assert signed_post(site.server, "/api/v1/drills/claim", site.host, big_claim).status_code == 413
    big_result = b'{"pad":"' + b"x" * (1024 * 1024 + 1) + b'"}'
    response = signed_post(site.server, "/api/v1/drills/results", site.host, big_result)
    assert response.status_code == 413


def test_results_are_idempotent_and_bound_to_the_claiming_host(site: Site) -> None:
    other = enroll(site.server, site.org)
    run_id = site.trigger()
    other_run = site.trigger(other.host_id)
    (claimed,) = claim(site.server, site.host).json()["runs"]
    claim(site.server, other)
    result = drill_result(playbook=site.playbook, hostname="whatever", run_id=claimed["run_id"])

    stored = post_result(site.server, site.host, result)
    assert stored.status_code == 201 and stored.json()["status"] == "stored"
    replay = post_result(site.server, site.host, result)
    assert replay.status_code == 200 and replay.json() == {
        "drill_id": result.drill_id, "status": "duplicate", "error": None
    }  # fmt: skip
    tampered = result.model_copy(update={"rto_seconds": 1.0})
    assert post_result(site.server, site.host, tampered).status_code == 409
    foreign = drill_result(playbook=site.playbook, run_id=other_run)
    refused = post_result(site.server, site.host, foreign)
    assert refused.status_code == 403 and "run_id" in refused.json()["detail"]
    invalid = canonical_json({"schema": "rra.drill/1", "playbook": site.playbook})
    assert signed_post(site.server, "/api/v1/drills/results", site.host, invalid).status_code == 422

    detail = site.admin.get(f"/api/v1/drills/{result.drill_id}").json()
    assert detail["signer"] == "host" and detail["host_id"] == site.host.host_id
    assert detail["run_id"] == run_id and detail["hostname"] == "whatever"
    assert detail["payload"] == canonical_json(result).decode()
    assert verify_signature(detail["signer_key"], detail["payload"].encode(), detail["signature"])
    assert detail["evidence"]["drill_id"] == result.drill_id
    run = site.admin.get(f"/api/v1/drills/runs/{run_id}").json()
    assert (run["state"], run["result_id"], run["verdict"]) == ("done", result.drill_id, "pass")
    listed = site.admin.get(f"/api/v1/hosts/{site.host.host_id}/drills").json()
    assert [item["drill_id"] for item in listed["items"]] == [result.drill_id]
    filtered = site.admin.get(
        "/api/v1/drills", params={"playbook": site.playbook, "verdict": "fail"}
    )
    assert filtered.json()["total"] == 0


def findings_of(admin: httpx.Client, host_id: str) -> tuple[dict[str, str], dict[str, object]]:
    detail = admin.get(f"/api/v1/hosts/{host_id}").json()
    return {f["check"]: f["status"] for f in detail["findings"]}, detail


def test_a_passing_drill_result_lifts_the_recovery_cap_at_once(site: Site, tmp_path: Path) -> None:
    host = site.host
    assert post_report(site.server, host, make_report(org=site.org)).status_code == 201
    statuses, before = findings_of(site.admin, host.host_id)
    assert statuses[RESTORE_DRILL] == "fail"
    assert CAP_NO_RESTORE_DRILL in before["latest_report"]["caps_applied"]  # type: ignore[index]

    result = drill_result(playbook=site.playbook)  # ad hoc: `rra drill run` on the host
    assert post_result(site.server, host, result).status_code == 201
    statuses, after = findings_of(site.admin, host.host_id)
    assert statuses[RESTORE_DRILL] == "pass"
    assert CAP_NO_RESTORE_DRILL not in after["latest_report"]["caps_applied"]  # type: ignore[index]
    assert after["score"] > before["score"]  # type: ignore[operator]
    assert after["metrics"]["last_drill_rto_seconds"] == result.rto_seconds  # type: ignore[index]

    # A later report (whose own facts hold no drill) and a rescore both keep it.
    assert post_report(site.server, host, make_report(org=site.org, seq=2)).status_code == 201
    assert findings_of(site.admin, host.host_id)[0][RESTORE_DRILL] == "pass"
    with Session(site.server.engine) as session:
        rescore_all(session, AuditorSettings(data_dir=tmp_path))
    assert findings_of(site.admin, host.host_id)[0][RESTORE_DRILL] == "pass"


def test_a_failed_drill_does_not_lift_the_cap(site: Site) -> None:
    assert post_report(site.server, site.host, make_report(org=site.org)).status_code == 201
    result = drill_result(playbook=site.playbook, verdict="fail")
    assert post_result(site.server, site.host, result).status_code == 201
    statuses, detail = findings_of(site.admin, site.host.host_id)
    assert statuses[RESTORE_DRILL] == "fail"
    assert CAP_NO_RESTORE_DRILL in detail["latest_report"]["caps_applied"]  # type: ignore[index]
