"""The report envelope ``rra.report/1`` (DESIGN §2): findings, metrics, score and the envelope."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from rra.checks.facts import Facts, HostInfo

REPORT_SCHEMA: Final = "rra.report/1"
SCORE_MODEL = "rra-score/1"

Pillar = Literal["recovery", "authentication", "exposure"]
Status = Literal["pass", "warn", "fail", "unknown", "not_applicable"]
Severity = Literal["critical", "high", "medium", "low"]

PILLARS: tuple[Pillar, ...] = ("recovery", "authentication", "exposure")


class _Model(BaseModel):
    # Every key is always present in a serialized report, so the published schema requires them.
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class Finding(_Model):
    check: str
    pillar: Pillar
    status: Status
    severity: Severity
    title: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    remediation: str = ""
    points_lost: float = 0.0


class Metrics(_Model):
    backup_age_hours: float | None = None
    backups_fresh: bool | None = None
    second_factor_coverage: float | None = Field(None, ge=0, le=1)
    interactive_accounts: int | None = None
    accounts_without_second_factor: list[str] = Field(default_factory=list)
    privileged_second_factor_coverage: float | None = Field(None, ge=0, le=1)
    admin_services_exposed: int | None = None
    direct_access: bool | None = None
    direct_access_sources: list[str] = Field(default_factory=list)
    direct_access_machine_count: int | None = None
    last_drill_passed_at: datetime | None = None
    last_drill_rto_seconds: float | None = None


class PillarScores(_Model):
    recovery: float | None = None
    authentication: float | None = None
    exposure: float | None = None


class Score(_Model):
    model: str = SCORE_MODEL
    total: float = Field(ge=0, le=100)
    pillars: PillarScores
    caps_applied: list[str] = Field(default_factory=list)


class Delivery(_Model):
    """How the agent's spool fared: loss is never silent (DESIGN §6).

    ``dropped_total`` is a monotonic counter per host identity; the auditor alerts when it grows.
    """

    dropped_total: int = Field(0, ge=0, description="Reports ever dropped by this agent's spool")
    dropped_seqs: list[int] = Field(
        default_factory=list, description="seq of the most recent dropped reports (up to 100)"
    )
    spooled: int = Field(0, ge=0, description="Reports waiting in the spool when this was made")


class Report(_Model):
    schema_: Literal["rra.report/1"] = Field(REPORT_SCHEMA, alias="schema")
    report_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    seq: int = Field(ge=0)
    collected_at: datetime
    agent_version: str
    host: HostInfo
    facts: Facts
    metrics: Metrics
    findings: list[Finding]
    score: Score
    delivery: Delivery = Field(default_factory=Delivery)

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, json_schema_serialization_defaults_required=True
    )

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)


def report_json_schema() -> dict[str, Any]:
    """The published JSON Schema of the envelope (``rra schema report``)."""
    schema = Report.model_json_schema(by_alias=True, mode="serialization")
    schema["$id"] = "https://rra.invalid/schema/rra.report/1"
    schema["title"] = REPORT_SCHEMA
    return schema
