"""Build real, evaluated ``rra.report/1`` envelopes for auditor tests (real checks, real scoring)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from rra.checks.base import CheckContext
from rra.checks.evaluate import evaluate
from rra.checks.facts import (
    AccessSourceFact,
    AccountFact,
    BackupFact,
    Facts,
    HostInfo,
    OsInfo,
    ServiceFact,
)
from rra.checks.report import Report


def backup(name: str = "finance", age_hours: float = 2.0, **changes: Any) -> BackupFact:
    values: dict[str, Any] = {
        "name": name,
        "repository": f"/srv/backup/{name}",
        "status": "ok",
        "age_hours": age_hours,
        "rpo_hours": 24.0,
        "snapshot_count": 10,
        "paths_covered": ["/var/lib/x"],
        "last_check_ok": True,
    }
    values.update(changes)
    return BackupFact(**values)


def account(name: str, ssh: str = "enforced", *, privileged: bool = False) -> AccountFact:
    return AccountFact.model_validate(
        {"name": name, "interactive": True, "privileged": privileged, "ssh": ssh, "reason": "test"}
    )


def source(address: str) -> AccessSourceFact:
    return AccessSourceFact.model_validate(
        {"address": address, "logins": 1, "service": "ssh", "via": "wtmp"}
    )


def ssh_service(exposure: str = "inferred") -> ServiceFact:
    return ServiceFact.model_validate(
        {
            "proto": "tcp",
            "address": "0.0.0.0",
            "port": 22,
            "service": "ssh",
            "admin": True,
            "exposure": exposure,
        }
    )


def make_report(
    *,
    org: str = "mic/ais",
    hostname: str = "host-1",
    machine_id: str | None = None,
    seq: int = 1,
    collected_at: datetime | None = None,
    backups: list[BackupFact] | None = None,
    accounts: list[AccountFact] | None = None,
    sources: list[str] | None = None,
    services: list[ServiceFact] | None = None,
    criticality: str = "medium",
) -> Report:
    """A report whose findings, metrics and score come from the real checks over these facts."""
    now = collected_at or datetime.now(UTC)
    facts = Facts(
        backups=[backup()] if backups is None else backups,
        accounts=[account("alice"), account("bob", "missing")] if accounts is None else accounts,
        services=[ssh_service()] if services is None else services,
        access_sources=[source(a) for a in (sources if sources is not None else ["198.51.100.7"])],
    )
    metrics, findings, score = evaluate(facts, CheckContext(now=now))
    return Report(
        report_id=str(uuid.uuid4()),
        seq=seq,
        collected_at=now,
        agent_version="test",
        host=HostInfo.model_validate(
            {
                "hostname": hostname,
                "os": OsInfo(family="linux", name="Debian", version="12"),
                "machine_id": machine_id or uuid.uuid4().hex,
                "org": org,
                "criticality": criticality,
            }
        ),
        facts=facts,
        metrics=metrics,
        findings=findings,
        score=score,
    )


def hours_ago(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)
