"""Fixed fleets for tests and benchmarks: deterministic hosts with every column filled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from rra.checks.report import Metrics, PillarScores, Report
from rra.tui.client import AuditorError
from rra.tui.models import (
    DrillResult,
    DrillRun,
    HostDetail,
    HostSummary,
    LastDrill,
    OrgRollup,
    Playbook,
    ScorePoint,
    TrendPoint,
)
from rra.tui.source import DataSource

FIXED_NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
ORGS = ("mic/ais", "mic/hcm", "prov/hanoi", "prov/hue", "prov/danang")
STATUSES = ("active", "active", "active", "late", "stale")


def fixed_host(index: int, **changes: Any) -> HostSummary:
    """Host ``index`` of a deterministic fleet: scores and ages vary with the index."""
    score = float((index * 37) % 101)
    values: dict[str, Any] = {
        "id": f"00000000-0000-4000-8000-{index:012d}",
        "hostname": f"host-{index:05d}",
        "org": ORGS[index % len(ORGS)],
        "status": STATUSES[index % len(STATUSES)],
        "criticality": ("high", "medium", "low")[index % 3],
        "score": score,
        "pillars": PillarScores(
            recovery=float((index * 13) % 101),
            authentication=float((index * 7) % 101),
            exposure=float((index * 3) % 101),
        ),
        "metrics": Metrics(
            backup_age_hours=float(index % 96),
            backups_fresh=index % 96 <= 24,
            second_factor_coverage=(index % 5) / 4,
            admin_services_exposed=index % 3,
            direct_access_machine_count=index % 4,
        ),
        "last_drill": None
        if index % 3 == 0
        else LastDrill(
            drill_id=f"d-{index}",
            playbook="finance-restore",
            verdict=("pass", "fail", "error")[index % 3],
            started_at=FIXED_NOW - timedelta(hours=index % 48),
            ended_at=FIXED_NOW - timedelta(hours=index % 48) + timedelta(minutes=5),
        ),
        "collected_at": FIXED_NOW - timedelta(minutes=5 + index % 600),
        "last_seen_at": FIXED_NOW - timedelta(minutes=5 + index % 600),
    }
    values.update(changes)
    return HostSummary(**values)


def fixed_fleet(size: int) -> list[HostSummary]:
    return [fixed_host(index) for index in range(size)]


def fixed_report(host: HostSummary) -> Report:
    """A real evaluated report for ``host``, fixed in time (snapshots must not move)."""
    from tests.auditor.reports import account, backup, make_report

    report = make_report(
        org=host.org,
        hostname=host.hostname,
        machine_id="0" * 32,
        collected_at=FIXED_NOW,
        backups=[backup("finance", 3.0), backup("hr", 72.0)],
        accounts=[
            account("alice"),
            account("bob", "missing"),
            account("root", "missing", privileged=True),
        ],
        sources=["198.51.100.7", "203.0.113.9"],
    )
    return report.model_copy(update={"report_id": "00000000-0000-4000-8000-000000000000"})


class FixedSource(DataSource):
    """An in-memory source of fixed data (snapshots, refresh behaviour, the benchmark). The hosts
    list may be swapped between loads; ``loads`` counts them."""

    label = "fixed test data"

    def __init__(self, hosts: list[HostSummary], page_size: int = 500) -> None:
        self.hosts = hosts
        self.page_size = page_size
        self.loads = 0
        self.triggered: list[tuple[str, str]] = []

    async def host_pages(self) -> AsyncIterator[list[HostSummary]]:
        self.loads += 1
        for start in range(0, len(self.hosts), self.page_size):
            yield self.hosts[start : start + self.page_size]

    def _summary(self, host_id: str) -> HostSummary:
        for host in self.hosts:
            if host.id == host_id:
                return host
        raise AuditorError(f"404 no host {host_id!r}", 404)

    async def host(self, host_id: str) -> HostDetail:
        summary = self._summary(host_id)
        report = fixed_report(summary)
        values = summary.model_dump()
        values.update(
            score=report.score.total, pillars=report.score.pillars, metrics=report.metrics
        )
        return HostDetail(**values, findings=report.findings)

    async def host_report(self, host_id: str) -> Report | None:
        return fixed_report(self._summary(host_id))

    async def host_history(self, host_id: str) -> list[ScorePoint]:
        summary = self._summary(host_id)
        return [
            ScorePoint(
                collected_at=FIXED_NOW - timedelta(days=day), score=(summary.score or 0) - day
            )
            for day in range(7, -1, -1)
        ]

    async def host_drills(self, host_id: str) -> list[DrillResult]:
        return [d for d in await self.drills() if d.host_id == host_id]

    async def orgs(self) -> list[OrgRollup]:
        return [
            OrgRollup(org=org, org_score=60.0 + index, hosts=len(self.hosts) // len(ORGS))
            for index, org in enumerate(ORGS)
        ]

    async def trend(self, org: str | None) -> list[TrendPoint]:
        return [
            TrendPoint(day=(FIXED_NOW - timedelta(days=day)).date(), score=50.0 + day, hosts=2)
            for day in range(5, -1, -1)
        ]

    async def drills(self) -> list[DrillResult]:
        drills = []
        for host in self.hosts[:20]:
            if host.last_drill is None:
                continue
            drill = host.last_drill
            drills.append(
                DrillResult(
                    drill_id=drill.drill_id, host_id=host.id, hostname=host.hostname,
                    org=host.org, playbook=drill.playbook, verdict=drill.verdict,
                    started_at=drill.started_at, ended_at=drill.ended_at, rto_seconds=300.0,
                    rto_target_seconds=14400.0, rpo_seconds=3600.0,
                )
            )  # fmt: skip
        return drills

    async def runs(self) -> list[DrillRun]:
        return [
            DrillRun(
                id="run-1", playbook="finance-restore", org="mic/ais", target="host-00001",
                executor="agent", trigger="manual", due_at=FIXED_NOW, state="pending",
            )
        ]  # fmt: skip

    async def playbooks(self) -> list[Playbook]:
        return [Playbook(name="finance-restore", org="mic")]

    async def trigger_run(self, playbook: str, host: str) -> DrillRun:
        self.triggered.append((playbook, host))
        return (await self.runs())[0]
