"""Where the TUI's data comes from: one interface, two sources (pip-audit's source/service split).

:class:`ApiSource` reads the auditor's API; :class:`ReportSource` reads one ``rra.report/1`` file
(``rra agent collect --json``) for an admin on a host with no auditor. Screens only ever see a
:class:`DataSource`, so every screen works offline with what one report can tell.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from rra.checks.report import Report
from rra.tui.client import AuditorClient, AuditorError
from rra.tui.models import (
    DrillResult,
    DrillRun,
    HostDetail,
    HostSummary,
    OrgRollup,
    Playbook,
    ScorePoint,
    TrendPoint,
)

MAX_REPORT_BYTES: Final = 32 * 1024 * 1024


class OfflineError(AuditorError):
    """What needs an auditor (running a drill) was asked of a report file."""


class DataSource(ABC):
    label: str
    offline: bool = False

    @abstractmethod
    def host_pages(self) -> AsyncIterator[list[HostSummary]]: ...

    @abstractmethod
    async def host(self, host_id: str) -> HostDetail: ...

    @abstractmethod
    async def host_report(self, host_id: str) -> Report | None: ...

    @abstractmethod
    async def host_history(self, host_id: str) -> list[ScorePoint]: ...

    @abstractmethod
    async def host_drills(self, host_id: str) -> list[DrillResult]: ...

    @abstractmethod
    async def orgs(self) -> list[OrgRollup]: ...

    @abstractmethod
    async def trend(self, org: str | None) -> list[TrendPoint]: ...

    @abstractmethod
    async def drills(self) -> list[DrillResult]: ...

    @abstractmethod
    async def runs(self) -> list[DrillRun]: ...

    @abstractmethod
    async def playbooks(self) -> list[Playbook]: ...

    @abstractmethod
    async def trigger_run(self, playbook: str, host: str) -> DrillRun: ...

    async def close(self) -> None:
        return None


class ApiSource(DataSource):
    def __init__(self, client: AuditorClient) -> None:
        self.client = client
        self.label = client.base_url

    def host_pages(self) -> AsyncIterator[list[HostSummary]]:
        return self.client.host_pages()

    async def host(self, host_id: str) -> HostDetail:
        return await self.client.host(host_id)

    async def host_report(self, host_id: str) -> Report | None:
        return await self.client.host_report(host_id)

    async def host_history(self, host_id: str) -> list[ScorePoint]:
        return await self.client.host_history(host_id)

    async def host_drills(self, host_id: str) -> list[DrillResult]:
        return await self.client.host_drills(host_id)

    async def orgs(self) -> list[OrgRollup]:
        return await self.client.orgs()

    async def trend(self, org: str | None) -> list[TrendPoint]:
        return await self.client.trend(org)

    async def drills(self) -> list[DrillResult]:
        return await self.client.drills()

    async def runs(self) -> list[DrillRun]:
        return await self.client.runs()

    async def playbooks(self) -> list[Playbook]:
        return await self.client.playbooks()

    async def trigger_run(self, playbook: str, host: str) -> DrillRun:
        return await self.client.trigger_run(playbook, host)

    async def close(self) -> None:
        await self.client.close()


def load_report(path: Path) -> Report:
    """One ``rra.report/1`` document, with a clear error for anything else."""
    try:
        if path.stat().st_size > MAX_REPORT_BYTES:
            raise ValueError(f"{path} is larger than {MAX_REPORT_BYTES // 2**20} MiB")
        return Report.model_validate_json(path.read_bytes())
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "document"
        raise ValueError(
            f"{path} is not an rra.report/1 document ({error.error_count()} error(s); "
            f"first at {where}: {first['msg']})"
        ) from None


class ReportSource(DataSource):
    """One host's report, read from a file: no auditor, no history beyond this report."""

    offline = True

    def __init__(self, path: Path, report: Report) -> None:
        self.path = path
        self.report = report
        self.label = f"offline · {path.name}"
        info = report.host
        self.host_id = info.machine_id or info.hostname
        self.summary = HostSummary(
            id=self.host_id,
            hostname=info.hostname,
            org=info.org,
            os_family=info.os.family,
            criticality=info.criticality,
            collection=info.collection,
            status="active",
            score=report.score.total,
            pillars=report.score.pillars,
            metrics=report.metrics,
            last_drill=None,
            collected_at=report.collected_at,
            last_seen_at=report.collected_at,
        )

    @classmethod
    def from_file(cls, path: Path) -> ReportSource:
        return cls(path, load_report(path))

    async def host_pages(self) -> AsyncIterator[list[HostSummary]]:
        yield [self.summary]

    def _check(self, host_id: str) -> None:
        if host_id != self.host_id:
            raise AuditorError(f"404 no host {host_id!r} in {self.path}", 404)

    async def host(self, host_id: str) -> HostDetail:
        self._check(host_id)
        return HostDetail(**self.summary.model_dump(), findings=self.report.findings)

    async def host_report(self, host_id: str) -> Report | None:
        self._check(host_id)
        return self.report

    async def host_history(self, host_id: str) -> list[ScorePoint]:
        self._check(host_id)
        return [ScorePoint(collected_at=self.report.collected_at, score=self.report.score.total)]

    async def host_drills(self, host_id: str) -> list[DrillResult]:
        self._check(host_id)
        return self._drills()

    def _drills(self) -> list[DrillResult]:
        info = self.report.host
        drills = sorted(self.report.facts.drills, key=lambda d: d.started_at, reverse=True)
        return [
            DrillResult(
                drill_id=f"local-{index}",
                host_id=self.host_id,
                hostname=info.hostname,
                org=info.org,
                playbook=drill.playbook,
                verdict=drill.verdict,
                started_at=drill.started_at,
                ended_at=drill.ended_at or drill.started_at,
                rto_seconds=drill.rto_seconds,
                rto_target_seconds=drill.rto_target_seconds,
                rpo_seconds=drill.rpo_seconds,
            )
            for index, drill in enumerate(drills)
        ]

    async def orgs(self) -> list[OrgRollup]:
        metrics = self.report.metrics
        fresh = metrics.backups_fresh
        return [
            OrgRollup(
                org=self.report.host.org,
                org_score=self.report.score.total,
                hosts=1,
                second_factor_coverage=metrics.second_factor_coverage,
                privileged_second_factor_coverage=metrics.privileged_second_factor_coverage,
                accounts_without_second_factor=len(metrics.accounts_without_second_factor),
                direct_access_machine_count=metrics.direct_access_machine_count or 0,
                hosts_with_direct_access=1 if metrics.direct_access else 0,
                backup_compliance=None if fresh is None else float(fresh),
            )
        ]

    async def trend(self, org: str | None) -> list[TrendPoint]:
        day = self.report.collected_at.date()
        return [TrendPoint(day=day, score=self.report.score.total, hosts=1, reports=1)]

    async def drills(self) -> list[DrillResult]:
        return self._drills()

    async def runs(self) -> list[DrillRun]:
        return []

    async def playbooks(self) -> list[Playbook]:
        return []

    async def trigger_run(self, playbook: str, host: str) -> DrillRun:
        raise OfflineError("offline (a report file): drills run through an auditor")
