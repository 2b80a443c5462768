"""API models of playbooks, drill runs and drill results (their public faces: the tables live in
``rra.auditor.models``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from rra.agent.drill.load import MAX_PLAYBOOK_BYTES
from rra.checks.drill import Verdict

RunState = Literal["pending", "claimed", "done"]


class PlaybookCreate(BaseModel):
    yaml: str = Field(max_length=MAX_PLAYBOOK_BYTES, description="The playbook YAML (DESIGN §8)")
    org: str | None = Field(
        None, description="Org the playbook belongs to and schedules within; default your scope"
    )
    replace: bool = Field(False, description="Replace a playbook of the same name in your scope")


class PlaybookPublic(BaseModel):
    name: str
    org: str = Field(description="'' = agency-wide")
    description: str | None
    schedule: str | None = Field(description="Cron (5 fields), evaluated in UTC")
    targets: dict[str, Any]
    sha256: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
    created_by: str | None


class PlaybookDetail(PlaybookPublic):
    yaml: str


class DrillRunCreate(BaseModel):
    playbook: str = Field(max_length=64)
    host: str = Field(
        min_length=1,
        max_length=255,
        description="An enrolled host (id or hostname: its agent runs it) or an agentless hostname "
        "(the auditor's worker runs it)",
    )


class DrillRunPublic(BaseModel):
    id: str
    playbook: str
    org: str
    host_id: str | None = Field(description="None: an agentless target, run by the worker")
    target: str = Field(description="The host id for an enrolled host, else the hostname")
    executor: Literal["agent", "worker"]
    trigger: Literal["schedule", "manual"]
    due_at: datetime
    state: RunState
    claimed_by: str | None
    claimed_at: datetime | None
    lease_until: datetime | None
    result_id: str | None = Field(
        description="The drill that answered it (done without: superseded)"
    )
    verdict: Verdict | None
    created_at: datetime


class DrillSummary(BaseModel):
    drill_id: str
    run_id: str | None
    host_id: str | None
    hostname: str = Field(description="As the evidence names it (informational)")
    org: str
    playbook: str
    verdict: Verdict
    started_at: datetime
    ended_at: datetime
    rto_seconds: float | None
    rto_target_seconds: float | None
    rpo_seconds: float | None
    signer: Literal["host", "auditor"]
    received_at: datetime


class DrillDetail(DrillSummary):
    evidence: dict[str, Any] = Field(description="The rra.drill/1 document")
    payload: str = Field(description="The canonical JSON exactly as signed")
    signature: str = Field(description="base64 Ed25519 signature over payload's UTF-8 bytes")
    signer_key: str = Field(description="base64 Ed25519 public key that signed it")
