"""Restore-drill evidence ``rra.drill/1`` (DESIGN §8): what a drill did, when, and its verdict.

The executor (an agent, or the auditor's worker for agentless hosts) signs the canonical JSON of
a ``DrillResult`` like a report; the auditor stores it and ``recovery.restore_drill`` judges it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from rra.checks.facts import DrillFact

DRILL_SCHEMA: Final = "rra.drill/1"

Verdict = Literal["pass", "fail", "error"]
StepStatus = Literal["pass", "fail", "error", "skipped"]
#: Why a drill could not run: ``invalid`` playbook, ``unsafe`` sandbox (both exit 2) or an
#: ``operational`` failure (repository unreachable, wrong password, timeout: exit >= 10).
ErrorKind = Literal["invalid", "unsafe", "operational"]
Executor = Literal["cli", "agent", "worker"]

#: ``rra drill run`` exit codes (DESIGN §9).
EXIT_PASS: Final = 0
EXIT_FAIL: Final = 1
EXIT_INVALID: Final = 2
EXIT_OPERATIONAL: Final = 10


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class DrillStep(_Model):
    """One step of a drill (``resolve_snapshot``, ``safety``, ``restore``, ``manifest``...)."""

    name: str
    status: StepStatus
    message: str = ""
    duration_seconds: float | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class DrillResult(_Model):
    schema_: Literal["rra.drill/1"] = Field(DRILL_SCHEMA, alias="schema")
    drill_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    run_id: str | None = Field(
        None, description="The auditor's scheduled run this result answers (None: ad hoc)"
    )
    playbook: str
    playbook_sha256: str = Field(description="sha256 of the playbook as it was run")
    hostname: str
    executor: Executor = "cli"
    agent_version: str
    started_at: datetime
    restore_done_at: datetime | None = None
    verified_at: datetime | None = None
    ended_at: datetime
    rto_seconds: float | None = Field(None, description="started_at → verified_at")
    rto_target_seconds: float
    rpo_seconds: float | None = Field(None, description="started_at − snapshot time")
    rpo_target_seconds: float
    snapshot_id: str | None = None
    snapshot_time: datetime | None = None
    restic_version: str | None = None
    files_restored: int | None = None
    bytes_restored: int | None = None
    tree_digest: str | None = Field(
        None, description="sha256 over the sorted lines 'path\\0sha256\\n' of the restored tree"
    )
    restore_dir: str | None = None
    cleaned_up: bool = False
    steps: list[DrillStep] = Field(default_factory=list)
    verdict: Verdict
    reasons: list[str] = Field(
        default_factory=list, description="Every unmet condition, in words (empty on pass)"
    )
    error_kind: ErrorKind | None = None

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, json_schema_serialization_defaults_required=True
    )

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)

    def to_fact(self) -> DrillFact:
        return DrillFact(
            playbook=self.playbook,
            verdict=self.verdict,
            started_at=self.started_at,
            ended_at=self.ended_at,
            rto_seconds=self.rto_seconds,
            rto_target_seconds=self.rto_target_seconds,
            rpo_seconds=self.rpo_seconds,
            snapshot_id=self.snapshot_id,
        )

    @property
    def exit_code(self) -> int:
        if self.verdict == "pass":
            return EXIT_PASS
        if self.verdict == "fail":
            return EXIT_FAIL
        return EXIT_INVALID if self.error_kind in ("invalid", "unsafe") else EXIT_OPERATIONAL


def drill_json_schema() -> dict[str, Any]:
    schema = DrillResult.model_json_schema(by_alias=True, mode="serialization")
    schema["$id"] = "https://rra.invalid/schema/rra.drill/1"
    schema["title"] = DRILL_SCHEMA
    return schema
