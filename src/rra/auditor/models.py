"""Storage tables (SQLModel). Current state for fast reads beside append-only history.

Timestamps are stored in UTC; SQLite hands them back naive, so readers go through ``as_utc``.
JSON columns hold pydantic dumps (``mode="json"``). Org paths are the scope unit for RBAC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class HostRow(SQLModel, table=True):
    """One host identity: an enrolled agent (one key; re-enrollment or a clone is a new row), or
    an agentless host of an inventory (no key: only the auditor collects it and signs for it)."""

    __tablename__ = "hosts"

    id: str = Field(primary_key=True, max_length=36)
    org: str = Field(index=True, max_length=255)
    hostname: str = Field(max_length=255)
    machine_id: str | None = Field(default=None, index=True, max_length=256)
    os_family: str = Field(default="linux", max_length=16)
    criticality: str = Field(default="medium", max_length=8)
    labels: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # None for agentless hosts: nothing may ever sign a report as one of them but the auditor.
    public_key: str | None = Field(default=None, unique=True, max_length=64)
    collection: str = Field(default="agent", max_length=16)  # agent | agentless
    enrolled_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    enroll_token_id: str | None = Field(default=None, max_length=36)
    retired_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    clone_of: str | None = Field(default=None, max_length=36, index=True)
    # Last time a report was *received*; lifecycle (active/late/stale) is derived from it.
    last_seen_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True, index=True)
    )
    last_seq: int | None = None
    dropped_reports: int = 0


class HostState(SQLModel, table=True):
    """The current, authoritative evaluation of each host's latest report (re-scored on policy change)."""

    __tablename__ = "host_state"

    host_id: str = Field(primary_key=True, foreign_key="hosts.id", max_length=36)
    report_id: str = Field(max_length=36)
    seq: int
    collected_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    score_total: float = Field(index=True)
    score: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    metrics: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    findings: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    facts: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    host_info: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    delivery: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    policy_id: str = Field(max_length=64, description="Hash of the policy that scored this")
    evaluated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ReportRow(SQLModel, table=True):
    """Append-only history: every accepted report exactly as signed, with its score at ingest."""

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_host_collected", "host_id", "collected_at"),)

    report_id: str = Field(primary_key=True, max_length=36)
    host_id: str = Field(foreign_key="hosts.id", max_length=36)
    seq: int
    collected_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    content_sha256: str = Field(max_length=64)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    signature: str = Field(max_length=128)
    score_total: float
    metrics: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class ApiToken(SQLModel, table=True):
    """API tokens are shown once; only their SHA-256 is stored (they are 256-bit random)."""

    __tablename__ = "api_tokens"

    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=255)
    token_hash: str = Field(unique=True, max_length=64)
    role: str = Field(max_length=16)  # inspector | admin
    org_scope: str = Field(max_length=255, description="'' = the whole agency, else an org path")
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    created_by: str | None = Field(default=None, max_length=64)
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    last_used_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class EnrollToken(SQLModel, table=True):
    """Single-use, expiring, org-scoped. Used atomically (UPDATE ... WHERE used_at IS NULL)."""

    __tablename__ = "enroll_tokens"

    id: str = Field(primary_key=True, max_length=36)
    token_hash: str = Field(unique=True, max_length=64)
    org: str = Field(index=True, max_length=255)
    criticality: str = Field(default="medium", max_length=8)
    labels: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    created_by: str | None = Field(default=None, max_length=64)
    used_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    used_by_host: str | None = Field(default=None, max_length=36)


class AuditEvent(SQLModel, table=True):
    """Append-only log of admin actions (token, enroll-token and host changes)."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    actor: str = Field(max_length=64, description="token id, or 'cli' for local commands")
    org: str = Field(index=True, max_length=255, description="The org the action touched")
    action: str = Field(max_length=64)
    target: str | None = Field(default=None, max_length=255)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# ── restore drills (DESIGN §8): playbooks, scheduled runs and the signed evidence they produce ──


class PlaybookRow(SQLModel, table=True):
    """A playbook scheduled from the auditor, stored exactly as uploaded (validated at upload)."""

    __tablename__ = "playbooks"

    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(unique=True, max_length=64)
    org: str = Field(index=True, max_length=255, description="'' = agency-wide")
    yaml: str = Field(sa_column=Column(Text, nullable=False))
    sha256: str = Field(max_length=64)
    schedule: str | None = Field(default=None, max_length=128)
    enabled: bool = True
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    created_by: str | None = Field(default=None, max_length=64)


class DrillRun(SQLModel, table=True):
    """One due execution of a playbook on one target, claimed atomically by its executor.

    ``target`` is the host id for an enrolled host (hostnames are not unique in a fleet) and the
    hostname for an agentless one; the unique key makes materialising a fire time idempotent.
    """

    __tablename__ = "drill_runs"
    __table_args__ = (
        UniqueConstraint("playbook_id", "target", "due_at", name="uq_drill_runs_due"),
        Index("ix_drill_runs_claim", "executor_kind", "state", "due_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    # NULL once the playbook is removed: the run's history stays, nothing claims it again.
    playbook_id: str | None = Field(default=None, foreign_key="playbooks.id", max_length=36)
    playbook_name: str = Field(max_length=64)
    org: str = Field(index=True, max_length=255, description="The target's org (scope unit)")
    host_id: str | None = Field(default=None, foreign_key="hosts.id", max_length=36, index=True)
    target: str = Field(max_length=255)
    executor_kind: str = Field(max_length=8)  # agent | worker
    trigger: str = Field(max_length=16)  # schedule | manual
    due_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    state: str = Field(max_length=16)  # pending | claimed | done
    claimed_by: str | None = Field(default=None, max_length=255)
    claimed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    lease_until: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    result_id: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class DrillResultRow(SQLModel, table=True):
    """Append-only: every accepted ``rra.drill/1`` exactly as signed, with who signed it."""

    __tablename__ = "drill_results"
    __table_args__ = (Index("ix_drill_results_host_started", "host_id", "started_at"),)

    drill_id: str = Field(primary_key=True, max_length=36)
    run_id: str | None = Field(default=None, max_length=36, index=True)
    host_id: str | None = Field(default=None, foreign_key="hosts.id", max_length=36)
    target: str = Field(max_length=255, description="The hostname the evidence names")
    org: str = Field(index=True, max_length=255)
    playbook: str = Field(index=True, max_length=64)
    verdict: str = Field(max_length=8)
    started_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    ended_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    rto_seconds: float | None = None
    rto_target_seconds: float | None = None
    rpo_seconds: float | None = None
    snapshot_id: str | None = Field(default=None, max_length=64)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    signature: str = Field(max_length=128)
    signer: str = Field(max_length=8)  # host | auditor
    signer_key: str = Field(max_length=64, description="base64 Ed25519 public key that signed")
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
