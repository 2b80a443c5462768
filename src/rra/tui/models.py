"""What the TUI reads from the auditor's API, as pydantic models of its own.

The TUI may import only ``rra.checks`` (DESIGN §1), so the API's answers are mirrored here with
``extra="ignore"``: a newer auditor that adds a field does not break an older TUI.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rra.checks.report import Finding, Metrics, PillarScores

HostStatus = Literal["active", "late", "stale", "retired"]
Verdict = Literal["pass", "fail", "error"]


class _ApiModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LastDrill(_ApiModel):
    drill_id: str
    playbook: str
    verdict: Verdict
    started_at: datetime
    ended_at: datetime


class HostSummary(_ApiModel):
    """One row of ``GET /api/v1/hosts``."""

    id: str
    hostname: str
    org: str
    os_family: str = "linux"
    criticality: str = "medium"
    collection: Literal["agent", "agentless"] = "agent"
    status: HostStatus
    score: float | None = None
    pillars: PillarScores | None = None
    metrics: Metrics | None = None
    last_drill: LastDrill | None = None
    collected_at: datetime | None = None
    last_seen_at: datetime | None = None
    clone_of: str | None = None
    dropped_reports: int = 0


class HostDetail(HostSummary):
    """``GET /api/v1/hosts/{id}``: the summary plus the latest evaluation's findings."""

    findings: list[Finding] = Field(default_factory=list)


class ScorePoint(_ApiModel):
    collected_at: datetime
    score: float


class DirectAccessSources(_ApiModel):
    total: int = 0
    addresses: list[str] = Field(default_factory=list)
    truncated: bool = False


class OrgRollup(_ApiModel):
    """One org of ``GET /api/v1/orgs`` (DESIGN §4)."""

    org: str
    org_score: float | None = None
    hosts: int = 0
    stale_hosts: int = 0
    hosts_without_report: int = 0
    second_factor_coverage: float | None = None
    privileged_second_factor_coverage: float | None = None
    accounts_without_second_factor: int = 0
    direct_access_machine_count: int = 0
    direct_access_sources: DirectAccessSources = Field(default_factory=DirectAccessSources)
    hosts_with_direct_access: int = 0
    backup_compliance: float | None = None


class TrendPoint(_ApiModel):
    day: date
    score: float
    hosts: int = 0
    reports: int = 0


class DrillResult(_ApiModel):
    """One row of ``GET /api/v1/drills``."""

    drill_id: str
    run_id: str | None = None
    host_id: str | None = None
    hostname: str
    org: str
    playbook: str
    verdict: Verdict
    started_at: datetime
    ended_at: datetime
    rto_seconds: float | None = None
    rto_target_seconds: float | None = None
    rpo_seconds: float | None = None
    signer: str = "host"


class DrillRun(_ApiModel):
    """One row of ``GET /api/v1/drills/runs``: live status of a scheduled or manual run."""

    id: str
    playbook: str
    org: str
    host_id: str | None = None
    target: str
    executor: Literal["agent", "worker"]
    trigger: Literal["schedule", "manual"]
    due_at: datetime
    state: Literal["pending", "claimed", "done"]
    claimed_by: str | None = None
    verdict: Verdict | None = None
    result_id: str | None = None


class Playbook(_ApiModel):
    name: str
    org: str = ""
    description: str | None = None
    schedule: str | None = None
    enabled: bool = True


class Page(_ApiModel):
    total: int
    limit: int
    offset: int
