"""The human-readable evidence of a drill (rich), for ``rra drill run`` without ``--json``."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from rra.agent.drill.outcome import format_duration_seconds
from rra.checks.drill import DrillResult

# Badges read without colour too: the text carries the verdict, the colour only repeats it.
_STYLE = {
    "pass": ("PASS", "green"),
    "fail": ("FAIL", "bold red"),
    "error": ("ERROR", "bold magenta"),
    "skipped": ("SKIP", "dim"),
}


def badge(status: str) -> Text:
    label, style = _STYLE.get(status, (status.upper(), ""))
    return Text(f"[{label}]", style=style)


def _when(result: DrillResult) -> Table:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    rto = "—" if result.rto_seconds is None else format_duration_seconds(result.rto_seconds)
    rpo = "—" if result.rpo_seconds is None else format_duration_seconds(result.rpo_seconds)
    target_rto = format_duration_seconds(result.rto_target_seconds)
    target_rpo = format_duration_seconds(result.rpo_target_seconds)
    snapshot = "—"
    if result.snapshot_id and result.snapshot_time:
        snapshot = f"{result.snapshot_id[:8]} of {result.snapshot_time:%Y-%m-%d %H:%M:%S} UTC"
    rows = [
        ("host", result.hostname),
        ("snapshot", snapshot),
        ("RTO", f"{rto} (target {target_rto})"),
        ("RPO", f"{rpo} (target {target_rpo})"),
        ("restored", f"{result.files_restored or 0} files, {result.bytes_restored or 0:,} bytes"),
        ("tree digest", result.tree_digest or "—"),
        ("restic", result.restic_version or "—"),
        ("started", f"{result.started_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("restore dir", f"{result.restore_dir or '—'}{' (removed)' if result.cleaned_up else ''}"),
    ]
    for name, value in rows:
        facts.add_row(name, value)
    return facts


def _steps(result: DrillResult) -> Table:
    table = Table(title="Steps", title_justify="left", expand=True)
    table.add_column("status", no_wrap=True)
    table.add_column("step", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("message")
    for step in result.steps:
        took = "" if step.duration_seconds is None else f"{step.duration_seconds:.2f} s"
        table.add_row(badge(step.status), step.name, took, step.message)
    return table


def render_drill(result: DrillResult, console: Console) -> None:
    title = Text.assemble(badge(result.verdict), f" restore drill '{result.playbook}'")
    parts: list[Table | Text] = [_when(result), _steps(result)]
    if result.reasons:
        parts.append(Text("Why: " + "; ".join(result.reasons), style="bold"))
    console.print(Panel(Group(*parts), title=title, title_align="left"))
