"""The drills screen: live run status (refreshed every few seconds while shown, so a pending run
visibly becomes claimed, then done) above the drill history; ``n`` runs a drill now, after a form
and a confirmation, through the API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar, Final

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Static

from rra.tui import format as fmt
from rra.tui.client import AuditorError
from rra.tui.models import DrillResult, DrillRun
from rra.tui.screens import job
from rra.tui.screens.drill_rows import (
    HISTORY_COLUMNS,
    RUN_COLUMNS,
    Cell,
    history_cells,
    known_hostnames,
    run_cells,
    runs_status,
)
from rra.tui.screens.run_form import OFFLINE_MESSAGE, RunDrillForm, confirm_and_trigger
from rra.tui.source import DataSource

__all__ = ["DrillsScreen", "RunDrillForm", "confirm_and_trigger"]

RUNS_REFRESH_SECONDS: Final = 5.0
MAX_NAME_LOOKUPS: Final = 20  # host ids resolved to names per refresh


class DrillsScreen(Screen[None]):
    CSS_PATH = "../css/drills.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("n", "run_drill", "Run drill…"),
        Binding("r", "reload", "Refresh"),
    ]

    def __init__(
        self,
        source: DataSource,
        *,
        host: str | None = None,
        refresh_seconds: float = RUNS_REFRESH_SECONDS,
        now: Callable[[], datetime] = fmt.utcnow,
    ) -> None:
        super().__init__()
        self.source = source
        self.host = host
        self.refresh_seconds = refresh_seconds
        self.now = now
        self.runs: list[DrillRun] = []
        self.history: list[DrillResult] = []
        self.hostnames: dict[str, str] = {}
        self._unresolved: set[str] = set()
        self.runs_loaded_at: datetime | None = None
        self.runs_error: str | None = None
        self.history_error: str | None = None
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text("Runs (live)"), classes="section", id="runs-title")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Static(Text("History"), classes="section", id="history-title")
        yield DataTable(id="history", cursor_type="row", zebra_stripes=True)
        yield Static("", id="drills-status")
        yield Footer()

    def table(self, name: str) -> DataTable[Cell]:
        return self.query_one(f"#{name}", DataTable)

    def on_mount(self) -> None:
        self.sub_title = f"drills · {self.source.label}"
        for key, label in RUN_COLUMNS:
            self.table("runs").add_column(label, key=key)
        for key, label in HISTORY_COLUMNS:
            self.table("history").add_column(label, key=key)
        self.table("runs").focus()
        self.action_reload()
        if not self.source.offline:
            self._timer = self.set_interval(self.refresh_seconds, self.refresh_runs)

    def on_unmount(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def on_screen_suspend(self) -> None:
        if self._timer is not None:  # covered by another screen: not shown, not polled
            self._timer.pause()

    def on_screen_resume(self) -> None:
        if self._timer is not None:
            self._timer.resume()

    # ── loading ──
    def action_reload(self) -> None:
        self.run_worker(job(self._load_history), exclusive=True, group="drills-history")
        self.refresh_runs()

    def refresh_runs(self) -> None:
        self.run_worker(job(self._load_runs), exclusive=True, group="drills-runs")

    async def _load_history(self) -> None:
        try:
            history = await self.source.drills()
        except AuditorError as error:
            self.history_error = str(error)
            self._status()
            return
        self.history_error = None
        self.history = history
        self.hostnames.update(known_hostnames(history))
        table = self.table("history")
        table.clear()
        for drill in history:
            table.add_row(*history_cells(drill), key=drill.drill_id)
        self._status()

    async def _load_runs(self) -> None:
        try:
            runs = await self.source.runs()
        except AuditorError as error:
            self.runs_error = str(error)  # the last runs stay on screen
            self._status()
            return
        await self._resolve_names(runs)
        self.runs_error = None
        self.runs = runs
        self.runs_loaded_at = self.now()
        self._render_runs()

    async def _resolve_names(self, runs: list[DrillRun]) -> None:
        """Name the enrolled hosts the runs point at by id (a few look-ups, cached)."""
        unknown = sorted(
            {run.host_id for run in runs if run.host_id is not None}
            - self.hostnames.keys()
            - self._unresolved
        )[:MAX_NAME_LOOKUPS]
        answers = await asyncio.gather(
            *(self.source.host(host_id) for host_id in unknown), return_exceptions=True
        )
        for host_id, answer in zip(unknown, answers, strict=True):
            if isinstance(answer, AuditorError):
                self._unresolved.add(host_id)
            elif isinstance(answer, BaseException):
                raise answer
            else:
                self.hostnames[host_id] = answer.hostname

    def _render_runs(self) -> None:
        table = self.table("runs")
        cursor_key = self.highlighted_run()
        table.clear()
        keys: list[str] = []
        for run in self.runs:
            table.add_row(*run_cells(run, self.hostnames), key=run.id)
            keys.append(run.id)
        if cursor_key in keys:
            table.move_cursor(row=keys.index(cursor_key))
        self._status()

    def highlighted_run(self) -> str | None:
        table = self.table("runs")
        if table.row_count == 0 or not 0 <= table.cursor_row < table.row_count:
            return None
        return str(table.ordered_rows[table.cursor_row].key.value)

    def _status(self) -> None:
        parts = [runs_status(self.runs), f"{len(self.history)} results"]
        if self.source.offline:
            parts.append("offline: drills from the report only")
        elif self.runs_loaded_at is not None:
            parts.append(
                f"runs updated {fmt.timestamp(self.runs_loaded_at)}, "
                f"every {self.refresh_seconds:.0f}s"
            )
        for what, error in (("runs", self.runs_error), ("history", self.history_error)):
            if error:
                parts.append(f"[ERROR] {what}: {error}")
        parts.append("n: run a drill")
        self.query_one("#drills-status", Static).update(Text(" · ".join(parts)))

    # ── run a drill ──
    def action_run_drill(self) -> None:
        if self.source.offline:
            self.notify(OFFLINE_MESSAGE, title="Run drill", severity="warning", markup=False)
            return
        self.run_worker(job(self._run_drill), group="drills-trigger", exclusive=True)

    async def _run_drill(self) -> None:
        run = await confirm_and_trigger(self, self.source, self.host)
        if run is not None:
            self.refresh_runs()  # the new pending run shows at the top: newest due first

    def action_back(self) -> None:
        self.app.pop_screen()
