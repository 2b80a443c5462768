"""Policy: the thresholds checks and scoring use. The auditor re-evaluates stored facts when it changes."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from rra.checks.units import Duration


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    integrity_max_age: Duration = Field(
        timedelta(days=7),
        description="recovery.backup_integrity: a passing restic check within this",
    )
    stale_backup_cap_age: Duration = Field(
        timedelta(days=7), description="A backup older than this (or in error) caps recovery at 30"
    )
    drill_max_age: Duration = Field(
        timedelta(days=90), description="A restore drill must have passed within this (else cap 50)"
    )
    mass_change_warn: float = Field(0.2, ge=0, le=1, description="change_ratio above this warns")
    mass_change_fail: float = Field(0.5, ge=0, le=1, description="change_ratio above this fails")
    stale_after: Duration = Field(timedelta(hours=48), description="A host report older is stale")


DEFAULT_POLICY = Policy()
