"""Facts: what collectors observed on a host (DESIGN §2 ``facts``).

Pure data. A fact that could not be read is represented explicitly (``status: error``,
``unknown``, ``None``) with the reason — never rounded up to a passing value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

OsFamily = Literal["linux", "windows"]
Criticality = Literal["high", "medium", "low"]


class _Model(BaseModel):
    # Every key is always present in a serialized report, so the published schema requires them.
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class OsInfo(_Model):
    family: OsFamily
    name: str | None = None
    version: str | None = None


class HostInfo(_Model):
    hostname: str
    fqdn: str | None = None
    os: OsInfo
    boot_time: datetime | None = None
    machine_id: str | None = None
    org: str = Field(description="Org path, e.g. mic/ais")
    criticality: Criticality = "medium"
    labels: dict[str, str] = Field(default_factory=dict)


class BackupFact(_Model):
    """One configured backup, as seen in its restic repository."""

    name: str
    tool: Literal["restic"] = "restic"
    repository: str = Field(description="Repository location with any credentials redacted")
    status: Literal["ok", "error"]
    error: str | None = None
    rpo_hours: float = Field(24.0, description="Configured recovery point objective")
    snapshot_count: int | None = None
    latest_snapshot_at: datetime | None = None
    latest_snapshot_id: str | None = None
    age_hours: float | None = None
    paths_covered: list[str] = Field(default_factory=list)
    paths_missing: list[str] = Field(default_factory=list)
    last_check_at: datetime | None = None
    last_check_ok: bool | None = None
    last_check_message: str | None = None
    last_check_read_data: str | None = Field(
        None, description="How much pack data the last check read: none, all, or a subset"
    )
    offsite: bool | None = None
    append_only: bool | None = None
    change_ratio: float | None = Field(
        None,
        description="(changed + removed files) / files of the older of the two newest snapshots",
    )
    change_detail: dict[str, Any] | None = None
    restic_version: str | None = None


class AccountFact(_Model):
    name: str
    uid: int | None = None
    shell: str | None = None
    interactive: bool
    privileged: bool
    ssh: Literal["enforced", "missing", "unknown", "no_ssh"]
    reason: str
    second_factor_modules: list[str] = Field(default_factory=list)
    enrolled: bool | None = None


class SshFact(_Model):
    source: Literal["sshd -T", "parsed"]
    settings: dict[str, Any] = Field(default_factory=dict)


class ServiceFact(_Model):
    proto: str
    address: str
    port: int
    process: str | None = None
    service: str
    admin: bool
    exposure: Literal["confirmed", "inferred", "restricted", "unknown"]


class AccessSourceFact(_Model):
    address: str
    last_seen: datetime | None = None
    logins: int = 0
    service: str | None = None
    via: Literal["wtmp", "auth.log", "established", "eventlog"]


class DrillFact(_Model):
    playbook: str
    verdict: Literal["pass", "fail", "error"]
    started_at: datetime
    ended_at: datetime | None = None
    rto_seconds: float | None = None
    rto_target_seconds: float | None = None
    rpo_seconds: float | None = None
    snapshot_id: str | None = None


class Facts(_Model):
    """Everything collected. ``None`` means that part was not collected at all on this run."""

    backups: list[BackupFact] = Field(default_factory=list)
    accounts: list[AccountFact] | None = None
    ssh: SshFact | None = None
    services: list[ServiceFact] | None = None
    access_sources: list[AccessSourceFact] | None = None
    drills: list[DrillFact] = Field(default_factory=list)
    unknown: dict[str, str] = Field(
        default_factory=dict,
        description="Fact areas that could not be read, with the reason (e.g. not root, --root audit)",
    )
