"""Collect one inventory host without an agent: the agent's own collectors, run through a remote
``Host``, then (probe mode) active connects to its admin ports from the auditor.

A host that cannot be reached or whose collection breaks still yields a report: every fact area
``unknown`` with the reason, so its findings are ``unknown`` (never rounded up to pass) and the
inspector sees why. Nothing about one host can stop the run of the others.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import structlog

from rra import __version__
from rra.agent.collect import collect_report
from rra.agent.exposure.probe import apply_probe, probe_tcp
from rra.agent.host import Host, HostError
from rra.agent.state import StateStore
from rra.auditor.agentless.connect import (
    AgentlessSetupError,
    collection_config,
    open_host,
)
from rra.auditor.agentless.inventory import InventoryHost
from rra.checks.base import CheckContext
from rra.checks.evaluate import evaluate
from rra.checks.facts import Facts, HostInfo, OsInfo
from rra.checks.report import Report

log = structlog.get_logger(__name__)

HostStatus = Literal["ok", "unreachable", "failed"]
UNKNOWN_AREAS = ("backups", "accounts", "services", "access_sources", "firewall")
PROBE_TIMEOUT_SECONDS = 2.0


@dataclass
class HostOutcome:
    name: str
    status: HostStatus
    reason: str | None
    report: Report
    seconds: float


def _host_info(host: InventoryHost, org: str, hostname: str | None = None) -> HostInfo:
    return HostInfo(
        hostname=hostname or host.name,
        os=OsInfo(family="windows" if host.vars.transport == "winrm" else "linux"),
        org=org,
        criticality=host.vars.criticality,
        labels=dict(host.vars.labels),
        **_agentless_marks(host),
    )


def unknown_report(host: InventoryHost, org: str, reason: str, now: datetime, seq: int) -> Report:
    """The report of a host whose facts could not be collected: all unknown, with the reason."""
    facts = Facts(unknown=dict.fromkeys(UNKNOWN_AREAS, reason))
    metrics, findings, score = evaluate(facts, CheckContext(now=now))
    return Report(
        seq=seq,
        collected_at=now,
        agent_version=__version__,
        host=_host_info(host, org),
        facts=facts,
        metrics=metrics,
        findings=findings,
        score=score,
    )


def probe_services(report: Report, address: str, now: datetime) -> Report:
    """Probe mode: connect from the auditor (outside the bastions) to every admin port."""
    services = report.facts.services
    if not services:
        return report
    probed = [
        apply_probe(fact, probe_tcp(address, fact.port, PROBE_TIMEOUT_SECONDS), "the auditor")
        if fact.admin and fact.proto == "tcp"
        else fact
        for fact in services
    ]
    vantage = f"the auditor ({socket.gethostname()})"
    exposure = report.facts.exposure
    update: dict[str, object] = {"services": probed}
    if exposure is not None:
        update["exposure"] = exposure.model_copy(update={"probe_vantage": vantage})
    facts = report.facts.model_copy(update=update)
    metrics, findings, score = evaluate(facts, CheckContext(now=now))
    return report.model_copy(
        update={"facts": facts, "metrics": metrics, "findings": findings, "score": score}
    )


def collect_one(
    host: InventoryHost,
    *,
    state_root: Path,
    known_hosts: Path,
    timeout: float,
    probe: bool = False,
    now: datetime | None = None,
) -> HostOutcome:
    """Connect, collect, probe; never raises for anything the host does."""
    started = time.monotonic()
    now = now or datetime.now(UTC).replace(microsecond=0)
    limit = host.vars.timeout or timeout
    state = StateStore(state_root / host.name)
    org = host.vars.org or "unassigned"

    def finish(status: HostStatus, reason: str | None, report: Report) -> HostOutcome:
        seconds = time.monotonic() - started
        log.info("agentless host collected", host=host.name, status=status, reason=reason)
        return HostOutcome(host.name, status, reason, report, seconds)

    try:
        config = collection_config(host)
        org = config.agent.org
    except AgentlessSetupError as exc:
        return finish(
            "failed", str(exc), unknown_report(host, org, str(exc), now, state.next_seq())
        )
    remote: Host | None = None
    try:
        remote = open_host(host, known_hosts=known_hosts, deadline=started + limit)
    except (HostError, AgentlessSetupError) as exc:
        reason = f"unreachable: {exc}"
        return finish(
            "unreachable", reason, unknown_report(host, org, reason, now, state.next_seq())
        )
    try:
        report = collect_report(config, remote, state=state, now=now)
        report = report.model_copy(
            update={"host": report.host.model_copy(update=_agentless_marks(host))}
        )
        if probe or host.vars.probe:
            report = probe_services(report, host.vars.address, now)
        return finish("ok", None, report)
    except Exception as exc:
        reason = f"collection failed: {type(exc).__name__}: {exc}"
        log.warning("agentless collection failed", host=host.name, error=reason)
        return finish("failed", reason, unknown_report(host, org, reason, now, state.next_seq()))
    finally:
        if remote is not None:
            remote.close()


def _agentless_marks(host: InventoryHost) -> dict[str, object]:
    return {"collection": "agentless", "transport": host.vars.transport}
