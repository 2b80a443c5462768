"""Enrollment against the real server: token rules, proof of key possession, clones, audit log."""

from __future__ import annotations

import ssl
import threading
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlmodel import Session, col, select

from rra.agent.identity import HostKey
from rra.auditor.models import AuditEvent, EnrollToken, HostRow
from rra.checks.canonical import canonical_json
from tests.auditor.conftest import AuditorServer, enroll, enroll_request, unique_org
from tests.auditor.wire import enroll_token, host_row, retire

TOKEN_REFUSED = "enrollment token is not valid (unknown, expired or already used)"


def _enroll(server: AuditorServer, token: str, key: HostKey, machine_id: str) -> httpx.Response:
    body = enroll_request(token, key, machine_id=machine_id)
    return server.client().post("/api/v1/enroll", json=body)


def test_host_takes_org_criticality_and_labels_from_the_token_and_is_audited(
    auditor_server: AuditorServer,
) -> None:
    org = unique_org()
    token_id, token = enroll_token(auditor_server, org, criticality="high", labels={"role": "db"})
    response = _enroll(auditor_server, token, HostKey.generate(), uuid.uuid4().hex)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["org"] == org and answer["criticality"] == "high"
    assert answer["clone_of"] is None
    host = host_row(auditor_server, answer["host_id"])
    assert (host.org, host.criticality, host.labels) == (org, "high", {"role": "db"})
    assert host.enroll_token_id == token_id
    with Session(auditor_server.engine) as session:
        used = session.get(EnrollToken, token_id)
        events = session.exec(select(AuditEvent).where(AuditEvent.target == host.id)).all()
    assert used is not None and used.used_at is not None and used.used_by_host == host.id
    assert [(e.action, e.actor, e.org) for e in events] == [
        ("host.enroll", f"enroll:{token_id}", org)
    ]
    assert token not in str(events[0].detail)  # the secret never lands in the audit log


def test_expired_token_is_401(auditor_server: AuditorServer) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=2)
    _id, token = enroll_token(auditor_server, unique_org(), now=long_ago)
    response = _enroll(auditor_server, token, HostKey.generate(), uuid.uuid4().hex)
    assert response.status_code == 401
    assert response.json()["detail"] == TOKEN_REFUSED


def test_already_used_token_is_401(auditor_server: AuditorServer) -> None:
    _id, token = enroll_token(auditor_server, unique_org())
    assert _enroll(auditor_server, token, HostKey.generate(), uuid.uuid4().hex).status_code == 201
    again = _enroll(auditor_server, token, HostKey.generate(), uuid.uuid4().hex)
    assert again.status_code == 401
    assert again.json()["detail"] == TOKEN_REFUSED


def test_unknown_token_is_401_with_the_same_answer(auditor_server: AuditorServer) -> None:
    response = _enroll(auditor_server, "rra_enr_" + "x" * 43, HostKey.generate(), "m")
    assert response.status_code == 401
    assert response.json()["detail"] == TOKEN_REFUSED


def test_token_used_concurrently_enrolls_exactly_one_host(auditor_server: AuditorServer) -> None:
    token_id, token = enroll_token(auditor_server, unique_org())
    contenders = 6
    barrier = threading.Barrier(contenders)
    statuses: list[int] = []

    def contend() -> None:
        body = enroll_request(token, HostKey.generate(), machine_id=uuid.uuid4().hex)
        with httpx.Client(
            base_url=auditor_server.base_url,
            verify=ssl.create_default_context(cafile=str(auditor_server.ca_path)),
        ) as c:
            barrier.wait()
            statuses.append(c.post("/api/v1/enroll", json=body).status_code)

    threads = [threading.Thread(target=contend) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [401] * (contenders - 1)
    with Session(auditor_server.engine) as session:
        hosts = session.exec(select(HostRow).where(HostRow.enroll_token_id == token_id)).all()
    assert len(hosts) == 1


def test_proof_signed_by_another_key_is_401_and_leaves_the_token_unused(
    auditor_server: AuditorServer,
) -> None:
    _id, token = enroll_token(auditor_server, unique_org())
    key, impostor = HostKey.generate(), HostKey.generate()
    fields: dict[str, object] = {
        "token": token,
        "public_key": key.public_key_b64,
        "machine_id": uuid.uuid4().hex,
        "hostname": "host-1",
        "os_family": "linux",
    }
    forged = dict(fields, proof=impostor.sign(canonical_json(fields)))
    response = auditor_server.client().post("/api/v1/enroll", json=forged)
    assert response.status_code == 401
    assert response.json()["detail"] != TOKEN_REFUSED
    # The refused attempt did not spend the token.
    assert _enroll(auditor_server, token, key, uuid.uuid4().hex).status_code == 201


def test_proof_covers_exactly_the_fields_sent(auditor_server: AuditorServer) -> None:
    """An agent that leaves out optional fields signs (and is checked on) what it sent."""
    _id, token = enroll_token(auditor_server, unique_org())
    key = HostKey.generate()
    fields: dict[str, object] = {"token": token, "public_key": key.public_key_b64, "hostname": "h"}
    body = dict(fields, proof=key.sign(canonical_json(fields)))
    response = auditor_server.client().post("/api/v1/enroll", json=body)
    assert response.status_code == 201, response.text
    assert host_row(auditor_server, response.json()["host_id"]).machine_id is None


def test_malformed_and_invalid_requests(auditor_server: AuditorServer) -> None:
    client = auditor_server.client()
    not_json = client.post(
        "/api/v1/enroll", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    too_big = client.post("/api/v1/enroll", json={"token": "x" * 20_000})
    assert too_big.status_code == 413
    assert client.post("/api/v1/enroll", json={"token": "short"}).status_code == 422
    _id, token = enroll_token(auditor_server, unique_org())
    key = HostKey.generate()
    bad_key = dict(enroll_request(token, key, machine_id="m"), public_key="AAAA")
    assert client.post("/api/v1/enroll", json=bad_key).status_code == 422


def test_an_enrolled_public_key_is_409_and_leaves_the_token_unused(
    auditor_server: AuditorServer,
) -> None:
    org = unique_org()
    key = HostKey.generate()
    _first_id, first = enroll_token(auditor_server, org)
    assert _enroll(auditor_server, first, key, "m1").status_code == 201
    second_id, second = enroll_token(auditor_server, org)
    assert _enroll(auditor_server, second, key, "m1").status_code == 409
    with Session(auditor_server.engine) as session:
        unused = session.get(EnrollToken, second_id)
    assert unused is not None and unused.used_at is None


def test_same_machine_id_with_another_key_is_flagged_as_a_clone(
    auditor_server: AuditorServer,
) -> None:
    org = unique_org()
    original = enroll(auditor_server, org)
    _id, token = enroll_token(auditor_server, org)
    response = _enroll(auditor_server, token, HostKey.generate(), original.machine_id)
    assert response.status_code == 201
    clone_id = response.json()["host_id"]
    assert clone_id != original.host_id
    assert response.json()["clone_of"] == original.host_id
    assert host_row(auditor_server, clone_id).clone_of == original.host_id
    with Session(auditor_server.engine) as session:
        actions = session.exec(
            select(AuditEvent.action)
            .where(AuditEvent.target == clone_id)
            .order_by(col(AuditEvent.id))
        ).all()
    assert actions == ["host.enroll", "host.clone_detected"]


def test_reenrolling_a_retired_host_needs_a_new_token_and_gives_a_new_id(
    auditor_server: AuditorServer,
) -> None:
    org = unique_org()
    _token_id, token = enroll_token(auditor_server, org)
    machine = uuid.uuid4().hex
    first = _enroll(auditor_server, token, HostKey.generate(), machine)
    retire(auditor_server, first.json()["host_id"])
    assert _enroll(auditor_server, token, HostKey.generate(), machine).status_code == 401
    _new_id, new_token = enroll_token(auditor_server, org)
    again = _enroll(auditor_server, new_token, HostKey.generate(), machine)
    assert again.status_code == 201
    assert again.json()["host_id"] != first.json()["host_id"]
    assert again.json()["clone_of"] is None  # the retired original is not a live twin
