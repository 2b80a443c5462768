"""Helpers for write-path tests: post signed reports and batches, and read what the auditor stored."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session, col, select

from rra.auditor import admin
from rra.auditor.db import session_scope
from rra.auditor.models import HostRow, HostState, ReportRow
from rra.checks.canonical import canonical_json
from rra.checks.report import Report
from tests.auditor.conftest import AuditorServer, EnrolledHost


def post_report(server: AuditorServer, host: EnrolledHost, report: Report) -> httpx.Response:
    body, headers = host.headers(report)
    return server.client().post("/api/v1/reports", content=body, headers=headers)


def post_signed(
    server: AuditorServer, host_id: str, body: bytes, signature: str, **headers: str
) -> httpx.Response:
    return server.client().post(
        "/api/v1/reports",
        content=body,
        headers={
            "X-RRA-Host": host_id,
            "X-RRA-Signature": signature,
            "Content-Type": "application/json",
            **headers,
        },
    )


def batch_item(host: EnrolledHost, report: Report) -> dict[str, str]:
    payload = canonical_json(report)
    return {"payload": payload.decode("utf-8"), "signature": host.key.sign(payload)}


def post_batch(
    server: AuditorServer, host: EnrolledHost, items: list[dict[str, str]]
) -> httpx.Response:
    return server.client().post(
        "/api/v1/reports/batch", json={"reports": items}, headers={"X-RRA-Host": host.host_id}
    )


def history(server: AuditorServer, host_id: str) -> list[ReportRow]:
    with Session(server.engine) as session:
        return list(
            session.exec(
                select(ReportRow)
                .where(ReportRow.host_id == host_id)
                .order_by(col(ReportRow.collected_at), col(ReportRow.seq))
            )
        )


def state(server: AuditorServer, host_id: str) -> HostState | None:
    with Session(server.engine) as session:
        return session.get(HostState, host_id)


def host_row(server: AuditorServer, host_id: str) -> HostRow:
    with Session(server.engine) as session:
        row = session.get(HostRow, host_id)
    assert row is not None
    return row


def retire(server: AuditorServer, host_id: str) -> None:
    with session_scope(server.engine) as session:
        admin.retire_host(session, host_id)


def enroll_token(server: AuditorServer, org: str, **options: Any) -> tuple[str, str]:
    """(token id, plaintext) with any create_enroll_token option (criticality, labels, now)."""
    options.setdefault("expires_in", timedelta(hours=1))
    with session_scope(server.engine) as session:
        row, plaintext = admin.create_enroll_token(session, org=org, **options)
    return row.id, plaintext


def scrape(server: AuditorServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics keyed by (name, sorted labels)."""
    response = server.client(server.admin_token).get("/metrics")
    assert response.status_code == 200, response.text
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples
