"""Agent ↔ auditor wire models (DESIGN §6; the full contract is docs/protocol.md).

Pure data shared by both sides: the agent builds these, the auditor validates them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rra.checks.facts import OsFamily

API_PREFIX = "/api/v1"
HOST_HEADER = "X-RRA-Host"
SIGNATURE_HEADER = "X-RRA-Signature"
MAX_BATCH_REPORTS = 100


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnrollRequest(_Wire):
    """``POST /api/v1/enroll``. ``proof`` signs the canonical JSON of every other field with the
    new key, so a token cannot be used to enroll a public key whose private half the caller lacks."""

    token: str = Field(min_length=16, max_length=256)
    public_key: str = Field(description="Ed25519 public key, raw 32 bytes, base64")
    machine_id: str | None = Field(None, max_length=256)
    hostname: str = Field(min_length=1, max_length=255)
    os_family: OsFamily = "linux"
    proof: str = Field(description="base64 Ed25519 signature over the other fields")


class EnrollResponse(_Wire):
    host_id: str
    org: str
    criticality: Literal["high", "medium", "low"]
    clone_of: str | None = Field(
        None, description="Another live host already presented this machine_id with another key"
    )


IngestStatus = Literal["stored", "duplicate", "rejected"]


class IngestResult(_Wire):
    """The auditor's answer for one report. ``stored`` and ``duplicate`` are acknowledgements (the
    agent removes the report from its spool); ``rejected`` is permanent (the agent moves the report
    aside and counts it as dropped)."""

    report_id: str | None = None
    status: IngestStatus
    error: str | None = None
    score: float | None = Field(None, description="The auditor's authoritative score")


class BatchItem(_Wire):
    payload: str = Field(description="The canonical JSON of one report, as signed")
    signature: str = Field(description="base64 Ed25519 signature over payload's UTF-8 bytes")


class BatchRequest(_Wire):
    """``POST /api/v1/reports/batch``: reports of one host (``X-RRA-Host``), oldest first."""

    reports: list[BatchItem] = Field(min_length=1, max_length=MAX_BATCH_REPORTS)


class BatchResponse(_Wire):
    results: list[IngestResult]


# ── restore drills (DESIGN §8): agents claim their due drills and send signed results ──

#: A claim request older or newer than this (by ``requested_at``) is refused: a replayed claim
#: must not take runs away from the host that owns them.
CLAIM_MAX_SKEW_SECONDS = 300


class DrillClaimRequest(_Wire):
    """``POST /api/v1/drills/claim``, body signed by the host key (``X-RRA-Host`` and
    ``X-RRA-Signature`` as for a report). Claims this host's due drill runs atomically."""

    requested_at: datetime
    nonce: str = Field(min_length=8, max_length=64)
    max_runs: int = Field(5, ge=1, le=20)


class ClaimedDrill(_Wire):
    run_id: str
    playbook: str
    playbook_yaml: str = Field(description="The playbook as stored on the auditor")
    playbook_sha256: str
    due_at: datetime
    lease_until: datetime = Field(description="Send the result before this, or the run is freed")


class DrillClaimResponse(_Wire):
    runs: list[ClaimedDrill]


class DrillResultAck(_Wire):
    """The auditor's answer to ``POST /api/v1/drills/results`` (body: a signed ``rra.drill/1``).
    ``stored`` and ``duplicate`` are acknowledgements; ``rejected`` is permanent."""

    drill_id: str | None = None
    status: IngestStatus
    error: str | None = None
