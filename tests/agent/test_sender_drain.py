"""Draining the spool to a real HTTP server: acknowledgements, rejections, retries, refusals."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rra.agent.identity import HostKey
from rra.agent.sender import (
    AuthRejected,
    DeliveryError,
    DrainTally,
    RetryPolicy,
    Sender,
    open_client,
)
from rra.agent.spool import Spool
from rra.checks.canonical import canonical_json
from rra.checks.protocol import HOST_HEADER, SIGNATURE_HEADER
from tests.agent.stub_auditor import Request, StubAuditor, serve

BATCH = "/api/v1/reports/batch"
FAST = RetryPolicy(attempts=4, max_wait=0.01, initial_wait=0.001)
KEY = HostKey.generate()


@pytest.fixture
def auditor() -> Iterator[StubAuditor]:
    with serve(StubAuditor(public_key=KEY.public_key_b64)) as stub:
        yield stub


def sender_for(url: str, retry: RetryPolicy = FAST) -> Sender:
    return Sender(open_client(url, None, timeout=5), "host-1", retry)


def fill(spool: Spool, *seqs: int, key: HostKey = KEY) -> None:
    for seq in seqs:
        payload = canonical_json({"report_id": f"r{seq}", "seq": seq})
        spool.add(seq, f"r{seq}", payload, key.sign(payload))


def sent_seqs(request: Request) -> list[int]:
    return [json.loads(item["payload"])["seq"] for item in request.json()["reports"]]


def spooled(spool: Spool) -> list[int]:
    return [entry.seq for entry in spool.entries()]


def test_retries_503_then_removes_exactly_the_acknowledged(
    auditor: StubAuditor, tmp_path: Path
) -> None:
    spool = Spool(tmp_path)
    fill(spool, 1, 2, 3)
    auditor.script(BATCH, (503, {"detail": "starting"}), (503, {"detail": "starting"}))
    started = time.monotonic()
    tally = sender_for(auditor.url).drain(spool)
    assert time.monotonic() - started < 2  # the tiny waits were used
    assert auditor.paths() == [BATCH] * 3
    assert [sent_seqs(r) for r in auditor.requests] == [[1, 2, 3]] * 3  # oldest first
    assert all(r.headers[HOST_HEADER] == "host-1" for r in auditor.requests)
    assert (tally.acknowledged, tally.rejected) == (3, 0)
    assert spooled(spool) == []


def test_only_stored_and_duplicate_are_removed(auditor: StubAuditor, tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    fill(spool, 1, 2, 3, 4)
    answer = {
        "results": [
            {"report_id": "r1", "status": "stored"},
            {"report_id": "r2", "status": "rejected", "error": "422 invalid"},
            {"report_id": "r3", "status": "duplicate"},
            {"report_id": "r4", "status": "stored"},
        ]
    }
    auditor.script(BATCH, (200, answer))
    tally = sender_for(auditor.url).drain(spool)
    assert (tally.acknowledged, tally.rejected) == (3, 1)
    assert spooled(spool) == []
    assert [p.name for p in (tmp_path / "spool" / "rejected").iterdir()] == ["000000000002-r2.json"]
    snapshot = spool.delivery_snapshot()
    assert (snapshot.dropped_total, snapshot.dropped_seqs) == (1, [2])


def test_a_forged_entry_is_rejected_by_the_verifying_server(
    auditor: StubAuditor, tmp_path: Path
) -> None:
    spool = Spool(tmp_path)
    fill(spool, 1)
    fill(spool, 2, key=HostKey.generate())
    fill(spool, 3)
    tally = sender_for(auditor.url).drain(spool)
    assert (tally.acknowledged, tally.rejected) == (2, 1)
    assert spool.delivery_snapshot().dropped_seqs == [2]


def test_batches_respect_batch_size_oldest_first(auditor: StubAuditor, tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    fill(spool, 5, 1, 4, 2, 3)
    sender_for(auditor.url).drain(spool, batch_size=2)
    assert [sent_seqs(r) for r in auditor.requests] == [[1, 2], [3, 4], [5]]


def test_401_stops_the_drain_and_leaves_the_spool_intact(
    auditor: StubAuditor, tmp_path: Path
) -> None:
    spool = Spool(tmp_path)
    fill(spool, 1, 2, 3)
    auditor.script(BATCH, (401, {"detail": "unknown host"}))
    tally = DrainTally()
    with pytest.raises(AuthRejected, match="unknown host"):
        sender_for(auditor.url).drain(spool, batch_size=1, tally=tally)
    assert len(auditor.requests) == 1  # never retried
    assert spooled(spool) == [1, 2, 3]
    assert tally == DrainTally()
    assert spool.delivery_snapshot().dropped_total == 0


def test_403_is_an_auth_rejection_too(auditor: StubAuditor, tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    fill(spool, 1)
    auditor.script(BATCH, (403, {"detail": "host retired"}))
    with pytest.raises(AuthRejected, match="host retired"):
        sender_for(auditor.url).drain(spool)
    assert spooled(spool) == [1]


def test_gives_up_after_the_configured_attempts(auditor: StubAuditor, tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    fill(spool, 1, 2)
    auditor.script(BATCH, *[(429, {"detail": "slow down"})] * 10)
    with pytest.raises(DeliveryError, match="gave up after 4 attempts"):
        sender_for(auditor.url).drain(spool)
    assert len(auditor.requests) == 4
    assert spooled(spool) == [1, 2]


def test_progress_before_a_failure_is_kept(auditor: StubAuditor, tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    fill(spool, 1, 2, 3)
    auditor.script(BATCH, auditor.verify_batch, *[(500, {"detail": "db down"})] * 4)
    tally = DrainTally()
    with pytest.raises(DeliveryError, match="db down"):
        sender_for(auditor.url).drain(spool, batch_size=1, tally=tally)
    assert tally.acknowledged == 1
    assert spooled(spool) == [2, 3]


def test_413_halves_the_batch(auditor: StubAuditor, tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    fill(spool, 1, 2, 3, 4)
    auditor.script(BATCH, (413, {"detail": "too large"}))
    sender_for(auditor.url).drain(spool, batch_size=4)
    assert [sent_seqs(r) for r in auditor.requests] == [[1, 2, 3, 4], [1, 2], [3, 4]]
    assert spooled(spool) == []


def test_an_answer_that_does_not_match_removes_nothing(
    auditor: StubAuditor, tmp_path: Path
) -> None:
    spool = Spool(tmp_path)
    fill(spool, 1, 2)
    auditor.script(BATCH, (200, {"results": [{"report_id": "r1", "status": "stored"}]}))
    with pytest.raises(DeliveryError, match="does not match"):
        sender_for(auditor.url).drain(spool)
    assert spooled(spool) == [1, 2]


def test_connection_refused_is_retried_then_reported(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    spool = Spool(tmp_path)
    fill(spool, 1)
    with pytest.raises(DeliveryError, match="connection refused"):
        sender_for(f"http://127.0.0.1:{port}").drain(spool)
    assert spooled(spool) == [1]


def test_single_report_carries_the_signature_header(auditor: StubAuditor) -> None:
    payload = canonical_json({"report_id": "r9", "seq": 9})
    signature = KEY.sign(payload)
    auditor.script(
        "/api/v1/reports",
        (201, {"report_id": "r9", "status": "stored", "score": 88.0}),
        (409, {"detail": "same id, other content"}),
    )
    sender = sender_for(auditor.url)
    stored = sender.send_report(payload, signature)
    assert (stored.status, stored.score) == ("stored", 88.0)
    request = auditor.requests[0]
    assert request.body == payload
    assert request.headers[SIGNATURE_HEADER] == signature
    assert request.headers[HOST_HEADER] == "host-1"
    refused = sender.send_report(payload, signature)
    assert refused.status == "rejected"
    assert refused.error is not None and "409" in refused.error
