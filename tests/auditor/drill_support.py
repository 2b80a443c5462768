"""Helpers for drill tests: playbook YAML, hand-built ``rra.drill/1`` results, host rows written
straight to the database, and signed claim/result requests. The private per-backend database
(``drill_db``/``drill_engine``) is in conftest.py."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from rra.auditor.db import session_scope
from rra.auditor.models import HostRow, utcnow
from rra.checks.canonical import canonical_json
from rra.checks.drill import DrillResult
from rra.checks.protocol import DrillClaimRequest
from tests.auditor.conftest import AuditorServer, EnrolledHost


def playbook_yaml(
    name: str,
    *,
    schedule_: str | None = None,
    hosts: list[str] | None = None,
    labels: dict[str, str] | None = None,
    timeout: str = "1h",
) -> str:
    document: dict[str, Any] = {
        "name": name,
        "rto": "4h",
        "timeout": timeout,
        "source": {"restic": {"repository": "/srv/restic/x", "password_file": "/etc/pw",
                              "path": ["/var/lib/x"]}},
        "sandbox": "/var/tmp/rra-drills",
    }  # fmt: skip
    if schedule_ is not None:
        document["schedule"] = schedule_
    if hosts or labels:
        document["targets"] = {"hosts": hosts or [], "labels": labels or {}}
    return json.dumps(document, indent=2)  # JSON is YAML


def unique_name(prefix: str = "pb") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def drill_result(
    *,
    playbook: str,
    hostname: str = "host-1",
    run_id: str | None = None,
    verdict: str = "pass",
    started_at: datetime | None = None,
    executor: str = "agent",
    rto_seconds: float = 120.0,
) -> DrillResult:
    started = started_at or datetime.now(UTC) - timedelta(minutes=10)
    return DrillResult.model_validate(
        {
            "run_id": run_id,
            "playbook": playbook,
            "playbook_sha256": "0" * 64,
            "hostname": hostname,
            "executor": executor,
            "agent_version": "test",
            "started_at": started,
            "restore_done_at": started + timedelta(seconds=rto_seconds / 2),
            "verified_at": started + timedelta(seconds=rto_seconds),
            "ended_at": started + timedelta(seconds=rto_seconds + 5),
            "rto_seconds": rto_seconds,
            "rto_target_seconds": 4 * 3600.0,
            "rpo_seconds": 3600.0,
            "rpo_target_seconds": 24 * 3600.0,
            "snapshot_id": "abcdef0123456789",
            "verdict": verdict,
            "reasons": [] if verdict == "pass" else ["something was unmet"],
            "error_kind": "operational" if verdict == "error" else None,
        }
    )


def add_host(
    engine: Engine,
    org: str,
    hostname: str,
    *,
    criticality: str = "medium",
    labels: dict[str, str] | None = None,
    retired: bool = False,
) -> str:
    host_id = str(uuid.uuid4())
    with session_scope(engine) as session:
        session.add(
            HostRow(
                id=host_id, org=org, hostname=hostname, criticality=criticality,
                labels=labels or {}, public_key=uuid.uuid4().hex, enrolled_at=utcnow(),
                retired_at=utcnow() if retired else None,
            )
        )  # fmt: skip
    return host_id


def claim_body(requested_at: datetime | None = None, max_runs: int = 5) -> bytes:
    request = DrillClaimRequest(
        requested_at=requested_at or datetime.now(UTC), nonce=uuid.uuid4().hex, max_runs=max_runs
    )
    return canonical_json(request)


def signed_post(
    server: AuditorServer, path: str, host: EnrolledHost, body: bytes, signature: str | None = None
) -> httpx.Response:
    return server.client().post(
        path,
        content=body,
        headers={
            "X-RRA-Host": host.host_id,
            "X-RRA-Signature": signature or host.key.sign(body),
            "Content-Type": "application/json",
        },
    )


def claim(server: AuditorServer, host: EnrolledHost, max_runs: int = 5) -> httpx.Response:
    return signed_post(server, "/api/v1/drills/claim", host, claim_body(max_runs=max_runs))


def post_result(server: AuditorServer, host: EnrolledHost, result: DrillResult) -> httpx.Response:
    return signed_post(server, "/api/v1/drills/results", host, canonical_json(result))
