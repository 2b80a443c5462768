"""Helpers for API tests that need a small fleet: named hosts of a given criticality, sent
reports, and hosts made stale by moving their last contact into the past."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from rra.agent.identity import HostKey
from rra.auditor import admin
from rra.auditor.db import session_scope
from rra.auditor.models import HostRow
from rra.checks.report import Report
from tests.auditor.conftest import AuditorServer, EnrolledHost, enroll_request


def enroll_host(
    server: AuditorServer,
    org: str,
    *,
    hostname: str = "host-1",
    criticality: str = "medium",
    machine_id: str | None = None,
) -> EnrolledHost:
    """Enroll through the real API with a token carrying this criticality."""
    with session_scope(server.engine) as session:
        _row, token = admin.create_enroll_token(
            session, org=org, expires_in=timedelta(hours=1), criticality=criticality
        )
    key = HostKey.generate()
    machine = machine_id or uuid.uuid4().hex
    body = enroll_request(token, key, machine_id=machine, hostname=hostname)
    response = server.client().post("/api/v1/enroll", json=body)
    assert response.status_code in (200, 201), response.text
    return EnrolledHost(host_id=response.json()["host_id"], key=key, org=org, machine_id=machine)


def send(server: AuditorServer, host: EnrolledHost, report: Report) -> dict[str, Any]:
    """POST one signed report; returns the IngestResult (with the auditor's score)."""
    body, headers = host.headers(report)
    response = server.client().post("/api/v1/reports", content=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def make_stale(server: AuditorServer, host_id: str, days: float = 30) -> None:
    """The host's last report arrived ``days`` ago: lifecycle says stale."""
    with session_scope(server.engine) as session:
        session.execute(
            update(HostRow)
            .where(col(HostRow.id) == host_id)
            .values(last_seen_at=datetime.now(UTC) - timedelta(days=days))
        )


def host_ids(page: dict[str, Any]) -> list[str]:
    """The ids of a page of hosts, in order."""
    return [item["id"] for item in page["items"]]
