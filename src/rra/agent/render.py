"""The human-readable summary of a report (rich), for ``rra agent collect`` without ``--json``."""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from rra.checks.report import Finding, Report

# Badges read without colour too: the text carries the status, the colour only repeats it.
_STATUS_STYLE = {
    "pass": ("PASS", "green"),
    "warn": ("WARN", "yellow"),
    "fail": ("FAIL", "bold red"),
    "unknown": ("UNKNOWN", "magenta"),
    "not_applicable": ("N/A", "dim"),
}


def status_badge(status: str) -> Text:
    label, style = _STATUS_STYLE.get(status, (status.upper(), ""))
    return Text(f"[{label}]", style=style)


def _score_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _hours(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 24:.1f} d" if value >= 48 else f"{value:.1f} h"


def _findings_table(findings: list[Finding]) -> Table:
    table = Table(title="Findings (most points lost first)", title_justify="left", expand=True)
    table.add_column("status", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("title")
    table.add_column("pts lost", justify="right", no_wrap=True)
    for finding in findings:
        table.add_row(
            status_badge(finding.status),
            finding.severity,
            finding.check,
            finding.title,
            f"{finding.points_lost:.1f}",
        )
    return table


def _remediations(findings: list[Finding]) -> list[Text]:
    """Full-width fix-it text for every finding that does not pass, most valuable first."""
    blocks: list[Text] = []
    for finding in findings:
        if finding.status in ("pass", "not_applicable") or not finding.remediation:
            continue
        block = Text.assemble(status_badge(finding.status), " ", (finding.check, "bold"))
        block.append(f"  (+{finding.points_lost:.1f} points when fixed)\n", style="dim")
        block.append(finding.remediation)
        blocks.append(block)
    return blocks


def _backups_table(report: Report) -> Table:
    table = Table(title="Backups", title_justify="left", expand=True)
    for column in ("name", "status", "age", "rpo", "snapshots", "latest", "check", "change"):
        table.add_column(column)
    for backup in report.facts.backups:
        check = (
            "never"
            if backup.last_check_ok is None
            else ("ok" if backup.last_check_ok else "FAILED")
        )
        table.add_row(
            backup.name,
            backup.status if backup.status == "ok" else f"error: {backup.error}",
            _hours(backup.age_hours)
            + (f" (missing {', '.join(backup.paths_missing)})" if backup.paths_missing else ""),
            _hours(backup.rpo_hours),
            "—" if backup.snapshot_count is None else str(backup.snapshot_count),
            (backup.latest_snapshot_id or "—")[:8],
            check,
            "—" if backup.change_ratio is None else f"{backup.change_ratio:.0%}",
        )
    return table


_VERDICT_ORDER = {"missing": 0, "unknown": 1, "enforced": 2, "no_ssh": 3}
_VERDICT_STYLE = {"missing": "bold red", "unknown": "magenta", "enforced": "green", "no_ssh": "dim"}
ACCOUNT_ROWS = 20


def _accounts_table(report: Report) -> Table:
    metrics = report.metrics
    coverage = metrics.second_factor_coverage
    title = (
        f"Accounts: {metrics.interactive_accounts} interactive, second-factor coverage "
        f"{'—' if coverage is None else f'{coverage:.0%}'}"
    )
    table = Table(title=title, title_justify="left", expand=True)
    for column in ("account", "priv", "ssh", "reason"):
        table.add_column(column)
    accounts = sorted(
        (a for a in report.facts.accounts or [] if a.interactive),
        key=lambda a: (_VERDICT_ORDER[a.ssh], not a.privileged, a.name),
    )
    for account in accounts[:ACCOUNT_ROWS]:
        table.add_row(
            account.name,
            "yes" if account.privileged else "",
            Text(f"[{account.ssh}]", style=_VERDICT_STYLE[account.ssh]),
            account.reason,
        )
    if len(accounts) > ACCOUNT_ROWS:
        table.caption = f"{len(accounts) - ACCOUNT_ROWS} more in --json"
    return table


def render_summary(report: Report, console: Console) -> None:
    score = report.score
    pillars = score.pillars
    header = Text.assemble(
        (f"{report.host.hostname}", "bold"),
        f"  org {report.host.org}  criticality {report.host.criticality}  report {report.report_id}\n",
        ("readiness ", "bold"),
        (f"{score.total:.1f}/100", "bold"),
        f"   recovery {_score_text(pillars.recovery)}"
        f"  authentication {_score_text(pillars.authentication)}"
        f"  exposure {_score_text(pillars.exposure)}   ({score.model})",
    )
    if score.caps_applied:
        header.append(f"\ncaps applied: {', '.join(score.caps_applied)}", style="yellow")
    console.print(Panel(header, expand=True))
    if report.facts.backups:
        console.print(_backups_table(report))
    if any(a.interactive for a in report.facts.accounts or []):
        console.print(_accounts_table(report))
    elif report.facts.accounts is not None:
        console.print(Text("Accounts: none can log in interactively", style="dim"))
    console.print(_findings_table(report.findings))
    remediations = _remediations(report.findings)
    if remediations:
        console.rule("What to fix first")
        for block in remediations:
            console.print(block)
            console.print()
