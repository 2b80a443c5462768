"""API response and request models. Tables live in models.py; their public faces live here, so a
hash, a key or a whole facts document never leaks into an answer by accident."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from rra.auditor.lifecycle import HostStatus
from rra.auditor.tokens import Role
from rra.checks.drill import Verdict
from rra.checks.facts import Criticality, HostInfo
from rra.checks.report import (
    SCORE_MODEL,
    Delivery,
    Finding,
    Metrics,
    Pillar,
    PillarScores,
    Severity,
    Status,
)

ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    total: int = Field(description="Matching items across all pages")
    limit: int
    offset: int


class LastDrill(BaseModel):
    drill_id: str
    playbook: str
    verdict: Verdict
    started_at: datetime
    ended_at: datetime


class HostPublic(BaseModel):
    id: str
    hostname: str
    org: str
    os_family: str
    criticality: Criticality
    labels: dict[str, str]
    machine_id: str | None
    collection: Literal["agent", "agentless"] = Field(
        "agent",
        description="agent: reports from its enrolled agent; agentless: collected by the auditor",
    )
    status: HostStatus
    score: float | None = Field(
        description="The auditor's score of the latest report (null before the first report)"
    )
    score_model: str | None
    pillars: PillarScores | None
    collected_at: datetime | None = Field(description="When the latest report was collected")
    last_seen_at: datetime | None = Field(description="When the auditor last received a report")
    enrolled_at: datetime
    retired_at: datetime | None
    clone_of: str | None = Field(
        description="Another host that presented the same machine_id with another key"
    )
    dropped_reports: int = Field(description="Reports the agent's spool dropped (never silent)")
    metrics: Metrics | None = Field(
        None, description="DESIGN §3 metrics of the latest report (null before the first report)"
    )
    last_drill: LastDrill | None = Field(
        None, description="The host's newest restore drill result, whatever its verdict"
    )


class LatestReport(BaseModel):
    report_id: str
    seq: int
    collected_at: datetime
    received_at: datetime
    policy_id: str = Field(description="The policy the auditor scored it with")
    evaluated_at: datetime
    caps_applied: list[str]
    host: HostInfo = Field(description="What the agent reported about itself")
    delivery: Delivery


class HostDetail(HostPublic):
    latest_report: LatestReport | None
    findings: list[Finding]


class ScorePoint(BaseModel):
    report_id: str
    seq: int
    collected_at: datetime
    received_at: datetime
    score: float = Field(description="The auditor's score when the report was ingested")
    metrics: Metrics


class FindingRow(BaseModel):
    host_id: str
    hostname: str
    org: str
    check: str
    pillar: Pillar
    status: Status
    severity: Severity
    title: str
    points_lost: float


class TrendPoint(BaseModel):
    day: date = Field(description="UTC day the reports were collected")
    score: float = Field(description="Mean auditor score of the reports collected that day")
    hosts: int = Field(description="Hosts that reported that day")
    reports: int


class HostStatusCounts(BaseModel):
    active: int = 0
    late: int = 0
    stale: int = 0
    retired: int = 0


class DirectAccessSources(BaseModel):
    total: int = Field(description="Distinct addresses across the org's hosts")
    addresses: list[str] = Field(description="The first addresses, sorted (see truncated)")
    truncated: bool


class OrgSummary(BaseModel):
    """One org's rollup (DESIGN §4) over its non-retired hosts and every org below it.

    A host that never reported or whose last report is older than ``stale_after`` counts 0 in the
    score and can only count against the org elsewhere: its accounts stay in the coverage
    denominators without counting as enforced, its backups count as not fresh.
    """

    org: str
    score_model: str = SCORE_MODEL
    org_score: float | None = Field(
        description="Criticality-weighted mean (high 3, medium 2, low 1); stale hosts count 0"
    )
    hosts: int = Field(description="Non-retired hosts")
    hosts_by_status: HostStatusCounts
    stale_hosts: int = Field(description="Non-retired hosts counted 0: stale or never reported")
    hosts_without_report: int
    clones: int = Field(description="Non-retired hosts flagged as clones")
    second_factor_coverage: float | None = Field(
        description="Σ enforced ÷ Σ interactive accounts sshd accepts, over accounts of all hosts"
    )
    privileged_second_factor_coverage: float | None
    second_factor_accounts: int = Field(description="Denominator of second_factor_coverage")
    second_factor_enforced: int
    privileged_second_factor_accounts: int
    privileged_second_factor_enforced: int
    accounts_without_second_factor: int = Field(
        description="Interactive accounts one authenticator lets in, counted per host"
    )
    direct_access_machine_count: int = Field(
        description="Distinct computers that logged in directly to an admin service"
    )
    direct_access_sources: DirectAccessSources
    hosts_with_direct_access: int = Field(description="Hosts exposing an admin service directly")
    backup_compliance: float | None = Field(
        description="Hosts with fresh backups ÷ hosts with a backup verdict"
    )
    hosts_with_fresh_backups: int
    hosts_with_backup_verdict: int


class TokenCreate(BaseModel):
    role: Role
    org: str = Field(description="Org scope; '' or '/' is the whole agency")
    name: str = Field(min_length=1, max_length=255)


class TokenPublic(BaseModel):
    id: str
    name: str
    role: str
    org: str = Field(description="Org scope; '' is the whole agency")
    created_at: datetime
    created_by: str | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="The secret; shown this once, stored only as a hash")


class EnrollTokenCreate(BaseModel):
    org: str = Field(min_length=1)
    expires: str = Field("24h", description="Lifetime such as 30m, 24h, 7d (at most 30d)")
    criticality: Criticality = "medium"
    labels: dict[str, str] = Field(default_factory=dict)


class EnrollTokenPublic(BaseModel):
    id: str
    org: str
    criticality: str
    labels: dict[str, str]
    created_at: datetime
    expires_at: datetime
    created_by: str | None
    used_at: datetime | None
    used_by_host: str | None


class EnrollTokenCreated(EnrollTokenPublic):
    token: str = Field(description="The secret; shown this once, stored only as a hash")


class AuditEventPublic(BaseModel):
    id: int
    at: datetime
    actor: str
    org: str
    action: str
    target: str | None
    detail: dict[str, Any]
