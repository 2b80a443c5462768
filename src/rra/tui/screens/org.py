"""The org screen: one rollup per org in scope (score, 2FA coverage, direct-access machines,
backup compliance, drills), as an indented tree, and the highlighted org's daily score trend — the
inspector's view across provinces. ``enter`` filters the fleet to that org.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Sparkline, Static

from rra.tui import format as fmt
from rra.tui.client import AuditorError
from rra.tui.models import OrgRollup, TrendPoint
from rra.tui.screens import job
from rra.tui.screens.org_rows import COLUMNS, Cell, org_rows, trend_summary
from rra.tui.source import DataSource


class OrgSelected(Message):
    """Enter on an org row: the app filters the fleet to that org."""

    def __init__(self, org: str) -> None:
        super().__init__()
        self.org = org


class OrgScreen(Screen[None]):
    CSS_PATH = "../css/org.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("r", "reload", "Refresh"),
    ]

    def __init__(
        self,
        source: DataSource,
        *,
        org: str | None = None,
        now: Callable[[], datetime] = fmt.utcnow,
    ) -> None:
        super().__init__()
        self.source = source
        self.initial_org = org
        self.now = now
        self.rollups: dict[str, OrgRollup] = {}
        self.trend_org: str | None = None
        self.trend_points: list[TrendPoint] = []
        self.loaded_at: datetime | None = None
        self.load_error: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="orgs", cursor_type="row", zebra_stripes=True)
        with Vertical(id="trend-pane"):
            yield Static("trend: highlight an org", id="trend-title")
            yield Sparkline([], id="trend")
        yield Static("", id="org-status")
        yield Footer()

    @property
    def table(self) -> DataTable[Cell]:
        return self.query_one("#orgs", DataTable)

    def on_mount(self) -> None:
        self.sub_title = f"orgs · {self.source.label}"
        for column in COLUMNS:
            self.table.add_column(column.label, key=column.key)
        self.table.focus()
        self.action_reload()

    # ── loading ──
    def action_reload(self) -> None:
        self.run_worker(job(self._load), exclusive=True, group="org-load")

    async def _load(self) -> None:
        self._status("loading…")
        try:
            rollups = await self.source.orgs()
            drills = await self.source.drills()
        except AuditorError as error:
            self.load_error = str(error)
            self._status()
            return
        self.load_error = None
        self.loaded_at = self.now()
        self.rollups = {rollup.org: rollup for rollup in rollups}
        self._render_rows(org_rows(rollups, drills))
        self._status()
        org = self.highlighted_org()
        if org is not None:
            self.show_trend(org)

    def _render_rows(self, rows: dict[str, tuple[Cell, ...]]) -> None:
        table = self.table
        wanted = self.highlighted_org() or self.initial_org
        self.initial_org = None
        table.clear()
        for org, cells in rows.items():
            table.add_row(*cells, key=org)
        keys = list(rows)
        if wanted in rows:
            table.move_cursor(row=keys.index(wanted), scroll=True)

    def _status(self, doing: str | None = None) -> None:
        parts = [f"{len(self.rollups)} orgs"]
        if doing:
            parts.append(doing)
        elif self.loaded_at is not None:
            parts.append(f"updated {fmt.timestamp(self.loaded_at)}")
        if self.load_error:
            parts.append(f"[ERROR] {self.load_error}")
        parts.append("enter: show its hosts")
        self.query_one("#org-status", Static).update(Text(" · ".join(parts)))

    # ── the trend ──
    def show_trend(self, org: str) -> None:
        self.trend_org = org
        self.query_one("#trend-title", Static).update(Text(f"{org}: loading trend…"))
        self.run_worker(job(partial(self._load_trend, org)), exclusive=True, group="org-trend")

    async def _load_trend(self, org: str) -> None:
        try:
            points = await self.source.trend(org)
            summary = trend_summary(org, points)
        except AuditorError as error:
            points, summary = [], f"{org}: no trend ({error})"
        if org != self.trend_org:  # the cursor moved on while this loaded
            return
        self.trend_points = points
        self.query_one("#trend", Sparkline).data = [point.score for point in points]
        self.query_one("#trend-title", Static).update(Text(summary))

    @on(DataTable.RowHighlighted, "#orgs")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        org = str(event.row_key.value)
        if org != self.trend_org:
            self.show_trend(org)

    # ── interaction ──
    def highlighted_org(self) -> str | None:
        table = self.table
        if table.row_count == 0:
            return None
        row = min(max(table.cursor_row, 0), table.row_count - 1)
        return str(table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value)

    @on(DataTable.RowSelected, "#orgs")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(OrgSelected(str(event.row_key.value)))

    def action_back(self) -> None:
        self.app.pop_screen()
