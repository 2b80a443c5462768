"""What the host screen shows, as pure functions of the models: header lines, table rows and the
finding detail. No widgets here, so every cell can be tested without running an app."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from rich.text import Text

from rra.checks.facts import AccessSourceFact, AccountFact, BackupFact, Facts
from rra.checks.report import Finding, Report
from rra.tui import format as fmt
from rra.tui.models import DrillResult, HostDetail, ScorePoint

Cell = str | Text
Row = tuple[Cell, ...]

FINDING_COLUMNS: Final = ("Lost", "Severity", "Status", "Pillar", "Check", "Title")
BACKUP_COLUMNS: Final = (
    "Backup", "Status", "Age", "RPO", "Snapshots", "Last check", "Offsite", "Append-only", "Error",
)  # fmt: skip
ACCOUNT_COLUMNS: Final = ("Account", "Privileged", "Second factor", "Reason")
SOURCE_COLUMNS: Final = ("Address", "Service", "Via", "Logins", "Last seen", "Users")
DRILL_COLUMNS: Final = ("Started", "Playbook", "Verdict", "RTO / target", "RPO")

FINDING_STATUS_STYLE: Final = {
    "fail": "bold red",
    "warn": "yellow",
    "unknown": "magenta",
    "pass": "green",
    "n/a": "dim",
}
SECOND_FACTOR_STYLE: Final = {"missing": "bold red", "unknown": "yellow"}
BACKUP_STATUS_STYLE: Final = {"ok": "green", "error": "bold red"}
SEVERITY_RANK: Final = {"critical": 0, "high": 1, "medium": 2, "low": 3}
COVERED_VERDICTS: Final = frozenset({"enforced", "no_ssh"})


# ── header ──
def header_text(host: HostDetail, now: datetime) -> Text:
    """``ais-db-01  mic/ais  [ACTIVE]  criticality high  agent  last seen 5m ago``."""
    seen = fmt.ago(host.last_seen_at, now)
    text = Text.assemble(
        (host.hostname, "bold"),
        "  ",
        host.org,
        "  ",
        fmt.status_badge(host.status),
        f"  criticality {host.criticality}  {host.collection}  {host.os_family}",
        f"  last seen {seen}{'' if host.last_seen_at is None else ' ago'}",
    )
    if host.dropped_reports:
        text.append(f"  {host.dropped_reports} report(s) dropped", style="bold yellow")
    if host.clone_of:
        text.append(f"  clone of {host.clone_of}", style="bold yellow")
    return text


def pillar_text(host: HostDetail, report: Report | None) -> Text:
    """``Score 22  recovery 26  authentication 0  exposure 43`` and any cap that held it down."""
    pillars = host.pillars
    text = Text.assemble("Score ", fmt.score_text(host.score))
    for name in ("recovery", "authentication", "exposure"):
        value = None if pillars is None else getattr(pillars, name)
        text.append(f"   {name} ")
        text.append_text(fmt.score_text(value))
    if report is not None and report.score.caps_applied:
        text.append("   capped: " + ", ".join(report.score.caps_applied), style="yellow")
    return text


def trend_scores(points: Sequence[ScorePoint]) -> list[float]:
    """The history's scores, oldest first (what the sparkline draws)."""
    return [point.score for point in sorted(points, key=lambda p: p.collected_at)]


def trend_summary(points: Sequence[ScorePoint]) -> str:
    """The sparkline in words: ``trend (2 reports): min 22 · max 40 · last 22``."""
    scores = trend_scores(points)
    if not scores:
        return "trend: no reports yet"
    return (
        f"trend ({len(scores)} report{'s' if len(scores) != 1 else ''}): "
        f"min {min(scores):.0f} · max {max(scores):.0f} · last {scores[-1]:.0f}"
    )


# ── findings ──
def sorted_findings(findings: Sequence[Finding]) -> list[Finding]:
    """Most points lost first; at equal points, what is not passing, then severity, then name."""
    return sorted(
        findings,
        key=lambda f: (
            -f.points_lost,
            f.status == "pass",
            SEVERITY_RANK.get(f.severity, 9),
            f.check,
        ),
    )


def finding_status_badge(status: str) -> Text:
    word = "n/a" if status == "not_applicable" else status
    return fmt.badge(word, FINDING_STATUS_STYLE)


def finding_row(finding: Finding) -> Row:
    return (
        f"{finding.points_lost:.1f}",
        fmt.badge(finding.severity, fmt.SEVERITY_STYLE),
        finding_status_badge(finding.status),
        finding.pillar,
        finding.check,
        finding.title,
    )


def _compact(value: Any) -> str:
    if value is None:
        return fmt.MISSING
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


def evidence_lines(evidence: dict[str, Any]) -> list[str]:
    """``key: value`` per item; a non-empty list or mapping one item per indented line below."""
    lines: list[str] = []
    for key, value in evidence.items():
        if isinstance(value, list) and value:
            lines.append(f"{key}:")
            lines.extend(f"  - {_compact(item)}" for item in value)
        elif isinstance(value, dict) and value:
            lines.append(f"{key}:")
            lines.extend(f"  {name}: {_compact(item)}" for name, item in value.items())
        else:
            lines.append(f"{key}: {_compact(value)}")
    return lines


def finding_detail(finding: Finding) -> Text:
    """The detail pane: what failed, the evidence, and what to do about it."""
    text = Text.assemble(
        finding_status_badge(finding.status),
        " ",
        fmt.badge(finding.severity, fmt.SEVERITY_STYLE),
        " ",
        (finding.title, "bold"),
        f"\n{finding.check} · {finding.pillar} · {finding.points_lost:.1f} points lost\n",
    )
    text.append("\nRemediation\n", style="bold underline")
    text.append(finding.remediation or "nothing to do: this check passes or does not apply.")
    text.append("\n\nEvidence\n", style="bold underline")
    lines = evidence_lines(finding.evidence)
    text.append("\n".join(lines) if lines else "(none)")
    return text


# ── facts ──
def _yes_no(value: bool | None) -> str:
    return fmt.MISSING if value is None else ("yes" if value else "no")


def backup_row(backup: BackupFact) -> Row:
    over = backup.age_hours is not None and backup.age_hours > backup.rpo_hours
    age = Text(fmt.hours(backup.age_hours) + (" (over RPO)" if over else ""))
    if over:
        age.stylize("bold red")
    check = {None: fmt.MISSING, True: "ok", False: "FAILED"}[backup.last_check_ok]
    if backup.last_check_at is not None:
        check += f" {fmt.timestamp(backup.last_check_at)}"
    problems = [p for p in (backup.error, backup.last_check_message) if p]
    if backup.paths_missing:
        problems.append("not covered: " + ", ".join(backup.paths_missing))
    return (
        backup.name,
        fmt.badge(backup.status, BACKUP_STATUS_STYLE),
        age,
        fmt.hours(backup.rpo_hours),
        fmt.count(backup.snapshot_count),
        check,
        _yes_no(backup.offsite),
        _yes_no(backup.append_only),
        "; ".join(problems) or fmt.MISSING,
    )


def backup_rows(backups: Sequence[BackupFact]) -> list[Row]:
    return [backup_row(backup) for backup in backups]


def accounts_without_second_factor(accounts: Sequence[AccountFact]) -> list[AccountFact]:
    """Interactive accounts whose remote logins are not covered: missing first, privileged first."""
    uncovered = [a for a in accounts if a.interactive and a.ssh not in COVERED_VERDICTS]
    return sorted(uncovered, key=lambda a: (a.ssh != "missing", not a.privileged, a.name))


def account_row(account: AccountFact) -> Row:
    return (
        account.name,
        Text("yes", style="bold red") if account.privileged else "no",
        fmt.badge(account.ssh, SECOND_FACTOR_STYLE),
        account.reason,
    )


def account_rows(accounts: Sequence[AccountFact]) -> list[Row]:
    return [account_row(account) for account in accounts_without_second_factor(accounts)]


def accounts_note(facts: Facts) -> str:
    if facts.accounts is None:
        reason = facts.unknown.get("accounts", "no reason given")
        return f"Accounts were not collected on this run: {reason}"
    interactive = [a for a in facts.accounts if a.interactive]
    uncovered = accounts_without_second_factor(facts.accounts)
    if not uncovered:
        return f"Every one of {len(interactive)} interactive account(s) has a second factor."
    privileged = sum(1 for a in uncovered if a.privileged)
    return (
        f"{len(uncovered)} of {len(interactive)} interactive account(s) can log in remotely "
        f"without a second factor ({privileged} privileged)."
    )


def source_row(source: AccessSourceFact, now: datetime) -> Row:
    seen = fmt.ago(source.last_seen, now)
    return (
        source.address,
        source.service or fmt.MISSING,
        source.via,
        str(source.logins),
        seen if source.last_seen is None else f"{seen} ago",
        ", ".join(source.users) or fmt.MISSING,
    )


def source_rows(sources: Sequence[AccessSourceFact], now: datetime) -> list[Row]:
    ordered = sorted(sources, key=lambda s: (-s.logins, s.address))
    return [source_row(source, now) for source in ordered]


def sources_note(facts: Facts) -> str:
    if facts.access_sources is None:
        reason = facts.unknown.get("access_sources", "no reason given")
        return f"Direct-access sources were not collected on this run: {reason}"
    if not facts.access_sources:
        return "No machine logged in directly (only the bastions, or nobody)."
    window = facts.exposure.window_days if facts.exposure is not None else None
    return f"{len(facts.access_sources)} machine(s) logged in directly, not through a bastion" + (
        f" (in the last {window:.0f} days)." if window is not None else "."
    )


def drill_row(drill: DrillResult) -> Row:
    rto = fmt.seconds(drill.rto_seconds)
    target = fmt.seconds(drill.rto_target_seconds)
    late = (
        drill.rto_seconds is not None
        and drill.rto_target_seconds is not None
        and drill.rto_seconds > drill.rto_target_seconds
    )
    return (
        fmt.timestamp(drill.started_at),
        drill.playbook,
        fmt.verdict_badge(drill.verdict),
        Text(f"{rto} / {target}", style="bold red" if late else ""),
        fmt.seconds(drill.rpo_seconds),
    )


def drill_rows(drills: Sequence[DrillResult]) -> list[Row]:
    ordered = sorted(drills, key=lambda d: d.started_at, reverse=True)
    return [drill_row(drill) for drill in ordered]
