"""Ingest refusals, each its own test, against the real server (docs/protocol.md, order of checks)."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
from collections.abc import Iterator, MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rra.agent.identity import HostKey
from rra.auditor.app import create_app
from rra.auditor.settings import AuditorSettings
from rra.checks.canonical import canonical_json
from tests.auditor.conftest import AuditorServer, enroll, unique_org
from tests.auditor.reports import make_report
from tests.auditor.wire import history, post_report, post_signed, retire

UNAUTHORIZED = "unknown host or invalid signature"
MAX_BODY = 1024 * 1024  # server.max_body_bytes default


def test_report_signed_by_another_key_is_401(auditor_server: AuditorServer) -> None:
    host = enroll(auditor_server, unique_org())
    body = canonical_json(make_report())
    response = post_signed(auditor_server, host.host_id, body, HostKey.generate().sign(body))
    assert response.status_code == 401
    assert response.json()["detail"] == UNAUTHORIZED
    assert history(auditor_server, host.host_id) == []


def test_unknown_host_is_401_with_the_same_answer(auditor_server: AuditorServer) -> None:
    key = HostKey.generate()
    body = canonical_json(make_report())
    response = post_signed(
        auditor_server, "4b0c3f6e-0000-4000-8000-000000000000", body, key.sign(body)
    )
    assert response.status_code == 401
    assert response.json()["detail"] == UNAUTHORIZED


def test_missing_signature_is_401(auditor_server: AuditorServer) -> None:
    host = enroll(auditor_server, unique_org())
    response = auditor_server.client().post(
        "/api/v1/reports",
        content=canonical_json(make_report()),
        headers={"X-RRA-Host": host.host_id},
    )
    assert response.status_code == 401


def test_replayed_report_is_a_duplicate_and_stored_once(auditor_server: AuditorServer) -> None:
    host = enroll(auditor_server, unique_org())
    report = make_report()
    assert post_report(auditor_server, host, report).status_code == 201
    replay = post_report(auditor_server, host, report)
    assert replay.status_code == 200
    assert replay.json()["status"] == "duplicate"
    assert len(history(auditor_server, host.host_id)) == 1


def test_same_report_id_with_other_content_is_409(auditor_server: AuditorServer) -> None:
    host = enroll(auditor_server, unique_org())
    report = make_report()
    assert post_report(auditor_server, host, report).status_code == 201
    altered = report.model_copy(update={"agent_version": "tampered"})
    response = post_report(auditor_server, host, altered)
    assert response.status_code == 409
    [stored] = history(auditor_server, host.host_id)
    assert '"agent_version":"test"' in stored.payload


def test_concurrent_posts_of_one_report_store_it_once(auditor_server: AuditorServer) -> None:
    host = enroll(auditor_server, unique_org())
    body, headers = host.headers(make_report())
    senders = 6
    barrier = threading.Barrier(senders)
    statuses: list[int] = []

    def send() -> None:
        client = auditor_server.client()
        barrier.wait()
        statuses.append(client.post("/api/v1/reports", content=body, headers=headers).status_code)

    threads = [threading.Thread(target=send) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * (senders - 1) + [201]
    assert len(history(auditor_server, host.host_id)) == 1


def test_collected_at_beyond_the_clock_skew_is_422(auditor_server: AuditorServer) -> None:
    host = enroll(auditor_server, unique_org())
    future = make_report(collected_at=datetime.now(UTC) + timedelta(minutes=6))
    response = post_report(auditor_server, host, future)
    assert response.status_code == 422
    assert "future" in response.json()["detail"]


def test_collected_at_within_the_clock_skew_is_accepted(auditor_server: AuditorServer) -> None:
    host = enroll(auditor_server, unique_org())
    ahead = make_report(collected_at=datetime.now(UTC) + timedelta(minutes=4))
    assert post_report(auditor_server, host, ahead).status_code == 201


def test_oversized_body_is_413(auditor_server: AuditorServer) -> None:
    host = enroll(auditor_server, unique_org())
    body = b" " * (MAX_BODY + 1)
    response = post_signed(auditor_server, host.host_id, body, host.key.sign(body))
    assert response.status_code == 413


def test_oversized_chunked_body_without_length_is_413(auditor_server: AuditorServer) -> None:
    host = enroll(auditor_server, unique_org())
    chunk = b" " * 65536

    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY // len(chunk) + 2):
            yield chunk

    response = auditor_server.client().post(
        "/api/v1/reports",
        content=chunks(),
        headers={"X-RRA-Host": host.host_id, "X-RRA-Signature": host.key.sign(b"")},
    )
    assert response.status_code == 413


def test_body_longer_than_a_small_content_length_is_cut_at_the_declared_length(
    auditor_server: AuditorServer,
) -> None:
    """Over the wire, HTTP framing ends the body at Content-Length: the excess is never part of
    the signed body (so the report fails verification) and is never stored."""
    host = enroll(auditor_server, unique_org())
    body, headers = host.headers(make_report())
    head = (
        f"POST /api/v1/reports HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n"
        f"X-RRA-Host: {host.host_id}\r\nX-RRA-Signature: {headers['X-RRA-Signature']}\r\n"
        "Content-Type: application/json\r\n\r\n"
    ).encode()
    port = int(auditor_server.base_url.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=str(auditor_server.ca_path))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(head + body + b" " * (2 * MAX_BODY))
        status_line = tls.recv(4096).split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 401 Unauthorized"
    assert history(auditor_server, host.host_id) == []


def test_body_is_counted_while_streaming_whatever_content_length_claims(
    auditor_server: AuditorServer, tmp_path: Path
) -> None:
    """The app itself never trusts the header: driven over ASGI with a lying Content-Length,
    it stops reading as soon as the limit is passed."""
    settings = AuditorSettings(data_dir=tmp_path, database_url=auditor_server.database_url)
    app = create_app(settings, engine=auditor_server.engine)
    host = enroll(auditor_server, unique_org())
    chunk = b" " * 65536
    delivered: list[int] = []
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        delivered.append(len(chunk))
        return {"type": "http.request", "body": chunk, "more_body": len(delivered) < 1000}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/api/v1/reports",
        "raw_path": b"/api/v1/reports",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-length", b"100"),
            (b"x-rra-host", host.host_id.encode()),
            (b"x-rra-signature", host.key.sign(b"").encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 443),
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert sum(delivered) <= MAX_BODY + len(chunk)


def test_malformed_json_with_a_valid_signature_is_400(auditor_server: AuditorServer) -> None:
    host = enroll(auditor_server, unique_org())
    body = b'{"schema": "rra.report/1", '
    response = post_signed(auditor_server, host.host_id, body, host.key.sign(body))
    assert response.status_code == 400


def test_non_finite_numbers_are_not_json(auditor_server: AuditorServer) -> None:
    host = enroll(auditor_server, unique_org())
    document = json.loads(canonical_json(make_report()))
    document["facts"]["backups"][0]["age_hours"] = float("nan")
    body = json.dumps(document).encode()
    response = post_signed(auditor_server, host.host_id, body, host.key.sign(body))
    assert response.status_code == 400


def test_a_number_overflowing_to_infinity_is_422(auditor_server: AuditorServer) -> None:
    host = enroll(auditor_server, unique_org())
    body = canonical_json(make_report()).replace(b'"age_hours":2.0', b'"age_hours":1e400')
    response = post_signed(auditor_server, host.host_id, body, host.key.sign(body))
    assert response.status_code == 422
    assert history(auditor_server, host.host_id) == []


def test_schema_invalid_report_with_a_valid_signature_is_422(auditor_server: AuditorServer) -> None:
    host = enroll(auditor_server, unique_org())
    document = json.loads(canonical_json(make_report()))
    document["seq"] = "first"
    body = canonical_json(document)
    response = post_signed(auditor_server, host.host_id, body, host.key.sign(body))
    assert response.status_code == 422
    assert "seq" in response.json()["detail"]


def test_report_id_must_be_a_uuid(auditor_server: AuditorServer) -> None:
    host = enroll(auditor_server, unique_org())
    report = make_report().model_copy(update={"report_id": "x" * 80})
    assert post_report(auditor_server, host, report).status_code == 422


def test_retired_host_is_403(auditor_server: AuditorServer) -> None:
    host = enroll(auditor_server, unique_org())
    assert post_report(auditor_server, host, make_report(seq=1)).status_code == 201  # key cached
    retire(auditor_server, host.host_id)
    response = post_report(auditor_server, host, make_report(seq=2))
    assert response.status_code == 403
    assert len(history(auditor_server, host.host_id)) == 1
    # Once known retired, the refusal comes before the body is even parsed.
    body = b"not json"
    assert post_signed(auditor_server, host.host_id, body, host.key.sign(body)).status_code == 403


def test_nothing_can_post_as_an_agentless_host(auditor_server: AuditorServer) -> None:
    """An agentless host has no key: a report claiming to be it is refused whoever signed it,
    including a signature by the auditor's own key (only the auditor's collector stores those)."""
    from rra.auditor.agentless.store import store_agentless
    from rra.auditor.signing import load_or_create_auditor_key

    auditor_key = load_or_create_auditor_key(auditor_server.data_dir)
    report = make_report()
    marks = {"org": unique_org(), "collection": "agentless", "transport": "ssh"}
    report = report.model_copy(update={"host": report.host.model_copy(update=marks)})
    host_id, status = store_agentless(
        auditor_server.engine, auditor_key, AuditorSettings(), "branch-fs1", report
    )
    assert status == "stored"
    for key in (HostKey.generate(), auditor_key):
        forged = make_report()
        body = canonical_json(forged)
        response = post_signed(auditor_server, host_id, body, key.sign(body))
        assert response.status_code == 401
        assert response.json()["detail"] == UNAUTHORIZED
    assert [row.report_id for row in history(auditor_server, host_id)] == [report.report_id]
