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
    collection: Literal["agent", "agentless"] = Field(
        "agent", description="agent: the host's own agent; agentless: the auditor over a transport"
    )
    transport: Literal["local", "ssh", "winrm"] | None = Field(
        None, description="How an agentless collection reached the host"
    )


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


SecondFactorVerdict = Literal["enforced", "missing", "unknown", "no_ssh"]


class AccountFact(_Model):
    """One account that exists on the host, with its remote-login second-factor verdict.

    On Linux ``ssh`` is the SSH verdict of DESIGN §3. On Windows it is the verdict over the remote
    interactive channels (RDP, WinRM, OpenSSH) and ``channels`` holds each one.
    """

    name: str
    uid: int | None = None
    shell: str | None = None
    interactive: bool
    privileged: bool
    ssh: SecondFactorVerdict
    reason: str = Field(description="One line an admin can act on: why this verdict")
    second_factor_modules: list[str] = Field(default_factory=list)
    enrolled: bool | None = None
    groups: list[str] = Field(default_factory=list, description="Primary and supplementary groups")
    password_usable: bool | None = Field(
        None, description="A usable password hash (null: shadow unreadable)"
    )
    authorized_keys: int | None = Field(
        None, description="Keys in the account's authorized_keys files (null: unreadable)"
    )
    second_factor_skippable: list[str] = Field(
        default_factory=list,
        description="Second-factor modules this account skips (nullok/nouserok while not enrolled)",
    )
    sudo_nopasswd: list[str] | None = Field(
        None,
        description="sudoers rules that let this account run commands without authenticating "
        "(NOPASSWD or !authenticate); null when sudoers could not be read",
    )
    channels: dict[str, SecondFactorVerdict] = Field(
        default_factory=dict, description="Windows: verdict per remote channel (rdp, winrm, ssh)"
    )


class SshFact(_Model):
    source: Literal["sshd -T", "parsed"]
    settings: dict[str, Any] = Field(default_factory=dict)
    scenarios: int = Field(
        1,
        description="Distinct source scenarios evaluated (one per address-bearing Match block + 1)",
    )
    pam_service: str | None = Field(
        None, description="PAM service resolved for keyboard-interactive"
    )
    pam_stack: list[str] = Field(
        default_factory=list, description="The resolved sshd auth stack, one line per module"
    )
    notes: list[str] = Field(default_factory=list, description="Why a source or setting was used")


class WindowsAuthFact(_Model):
    """Windows remote-logon settings behind the account verdicts (DESIGN §3, FIELD-NOTES)."""

    rdp_enabled: bool | None = None
    nla_required: bool | None = None
    winrm_enabled: bool | None = None
    duo_installed: bool | None = None
    duo_rdp_only: bool | None = None
    duo_fail_open: bool | None = None
    hello_for_business: bool | None = None
    hello_requires_security_device: bool | None = None
    smartcard_forced: bool | None = None
    notes: list[str] = Field(default_factory=list)


Exposure = Literal["confirmed", "inferred", "restricted", "unknown"]


class ServiceFact(_Model):
    """One listening socket, classified; ``reason`` names the rule or setting that decided."""

    proto: str
    address: str
    port: int
    process: str | None = None
    pid: int | None = None
    service: str
    admin: bool
    exposure: Exposure
    reason: str = Field("", description="The rule or setting that decided the exposure")
    legacy: bool = Field(
        False, description="A protocol that sends credentials in clear or has no auth"
    )
    probe: str | None = Field(
        None, description="Result of an active probe from outside the bastions: open/refused/..."
    )


class AccessSourceFact(_Model):
    address: str
    last_seen: datetime | None = None
    logins: int = 0
    service: str | None = None
    via: Literal["wtmp", "auth.log", "established", "eventlog"]
    users: list[str] = Field(default_factory=list, description="Accounts that logged in from it")


class FirewallFact(_Model):
    """The host firewall as far as it decides inbound admin traffic."""

    tool: Literal["nftables", "iptables", "ufw", "windows", "none"] | None = None
    active: bool | None = None
    default_inbound: Literal["drop", "reject", "accept"] | None = None
    rules: int | None = None
    reason: str = ""


class LogReadFact(_Model):
    """One log source read for access sources, with what could not be used."""

    path: str
    via: Literal["wtmp", "auth.log", "eventlog"]
    records: int = 0
    used: int = 0
    skipped: int = Field(0, description="Malformed or truncated records, counted, never fatal")
    error: str | None = None


class ExposureFact(_Model):
    firewall: FirewallFact | None = None
    logs: list[LogReadFact] = Field(default_factory=list)
    window_days: float = 30.0
    bastions: list[str] = Field(default_factory=list)
    probe_vantage: str | None = Field(None, description="Where active probes came from, if any")


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
    windows_auth: WindowsAuthFact | None = None
    exposure: ExposureFact | None = None
    services: list[ServiceFact] | None = None
    access_sources: list[AccessSourceFact] | None = None
    drills: list[DrillFact] = Field(default_factory=list)
    unknown: dict[str, str] = Field(
        default_factory=dict,
        description="Fact areas that could not be read, with the reason (e.g. not root, --root audit)",
    )
