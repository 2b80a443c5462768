"""Probe mode: the auditor connects to each admin port of a collected host (real TCP)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

from rra.auditor.agentless.collect import probe_services
from rra.checks.base import CheckContext
from rra.checks.evaluate import evaluate
from rra.checks.facts import Facts, HostInfo, OsInfo, ServiceFact
from rra.checks.report import Report
from tests.sshd_lab import free_port

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def _report(services: list[ServiceFact]) -> Report:
    facts = Facts(services=services, access_sources=[])
    metrics, findings, score = evaluate(facts, CheckContext(now=NOW))
    return Report(
        seq=1,
        collected_at=NOW,
        agent_version="test",
        host=HostInfo(hostname="h", os=OsInfo(family="linux"), org="mof"),
        facts=facts,
        metrics=metrics,
        findings=findings,
        score=score,
    )


def _ssh(port: int, exposure: str = "inferred") -> ServiceFact:
    return ServiceFact(
        proto="tcp",
        address="0.0.0.0",
        port=port,
        process="sshd",
        service="ssh",
        admin=True,
        exposure=exposure,
        reason="no firewall rule restricts it",
    )


def test_open_port_is_confirmed_closed_port_restricted_and_rescored() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    open_port, closed_port = listener.getsockname()[1], free_port()
    try:
        before = _report([_ssh(open_port), _ssh(closed_port)])
        after = probe_services(before, "127.0.0.1", NOW)
    finally:
        listener.close()
    opened, closed = after.facts.services or []
    assert (opened.probe, opened.exposure) == ("open", "confirmed")
    assert "the auditor" in opened.reason
    assert (closed.probe, closed.exposure) == ("refused", "restricted")
    assert after.metrics.admin_services_exposed == 1
    assert before.metrics.admin_services_exposed == 2
    assert after.findings != before.findings  # the report was re-evaluated, not just annotated


def test_non_admin_services_are_not_probed() -> None:
    web = _ssh(free_port()).model_copy(update={"service": "http", "admin": False})
    after = probe_services(_report([web]), "127.0.0.1", NOW)
    assert (after.facts.services or [])[0].probe is None
