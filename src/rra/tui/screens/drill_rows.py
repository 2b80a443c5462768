"""The drills screen's rows, pure: live runs and the drill history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from rich.text import Text

from rra.tui import format as fmt
from rra.tui.models import DrillResult, DrillRun

Cell = str | Text

RUN_COLUMNS: Final = (
    ("due", "Due"),
    ("playbook", "Playbook"),
    ("target", "Target"),
    ("executor", "Executor"),
    ("trigger", "Trigger"),
    ("state", "State"),
    ("verdict", "Verdict"),
)
HISTORY_COLUMNS: Final = (
    ("started", "Started"),
    ("host", "Host"),
    ("org", "Org"),
    ("playbook", "Playbook"),
    ("verdict", "Verdict"),
    ("rto", "RTO / target"),
    ("rpo", "RPO"),
    ("signer", "Signer"),
)
RUN_KEYS: Final = tuple(key for key, _label in RUN_COLUMNS)
HISTORY_KEYS: Final = tuple(key for key, _label in HISTORY_COLUMNS)


def run_target(run: DrillRun, hostnames: Mapping[str, str]) -> str:
    """An enrolled host's name when known (the API names it by id), else the target as sent."""
    if run.host_id is not None and run.host_id in hostnames:
        return hostnames[run.host_id]
    return run.target


def run_cells(run: DrillRun, hostnames: Mapping[str, str]) -> tuple[Cell, ...]:
    return (
        fmt.timestamp(run.due_at),
        run.playbook,
        run_target(run, hostnames),
        run.executor,
        run.trigger,
        fmt.badge(run.state, fmt.RUN_STATE_STYLE),
        fmt.verdict_badge(run.verdict),
    )


def rto_text(drill: DrillResult) -> Text:
    """``95s / 4.0h``, with ``[OVER]`` when the restore took longer than its target."""
    text = Text(f"{fmt.seconds(drill.rto_seconds)} / {fmt.seconds(drill.rto_target_seconds)}")
    if (
        drill.rto_seconds is not None
        and drill.rto_target_seconds is not None
        and drill.rto_seconds > drill.rto_target_seconds
    ):
        text.append(" [OVER]", style="bold red")
    return text


def history_cells(drill: DrillResult) -> tuple[Cell, ...]:
    return (
        fmt.timestamp(drill.started_at),
        drill.hostname,
        drill.org,
        drill.playbook,
        fmt.verdict_badge(drill.verdict),
        rto_text(drill),
        fmt.seconds(drill.rpo_seconds),
        drill.signer,
    )


def known_hostnames(drills: Sequence[DrillResult]) -> dict[str, str]:
    """Host id → hostname, from what the history already says."""
    return {drill.host_id: drill.hostname for drill in drills if drill.host_id is not None}


def runs_status(runs: Sequence[DrillRun]) -> str:
    states = [run.state for run in runs]
    return (
        f"{len(runs)} runs: {states.count('pending')} pending, "
        f"{states.count('claimed')} running, {states.count('done')} done"
    )
