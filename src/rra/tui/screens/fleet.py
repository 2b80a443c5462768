"""The fleet screen: every host in scope, worst first, with the three pillars and the numbers an
inspector asks about. Sort by any column (click its header, or ``s``/``S``), filter as you type
(``/``), page with ``[``/``]``; ``enter`` opens the host.

Data is reloaded every ``refresh_seconds`` in an exclusive worker; rows are keyed by host id and
updated in place, so the cursor stays on its host. When the auditor stops answering, the last data
stays on screen under a banner saying how old it is, and the load is retried with backoff.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar, Final

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import Worker

from rra.tui import format as fmt
from rra.tui.client import AuditorError, AuditorUnreachable
from rra.tui.fleet_view import COLUMNS, Cell, FleetView, row_cells
from rra.tui.models import HostSummary
from rra.tui.screens import job
from rra.tui.source import DataSource

REFRESH_SECONDS: Final = 30.0
RETRY_SECONDS: Final = (2.0, 5.0, 10.0, 30.0)
_WIDE_CELLS: Final = frozenset({"host", "org", "last_drill", "last_seen", "status"})


class HostChosen(Message):
    """Enter on a fleet row: the app opens that host's screen."""

    def __init__(self, host_id: str) -> None:
        super().__init__()
        self.host_id = host_id


class FleetScreen(Screen[None]):
    CSS_PATH = "../css/fleet.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("s", "next_sort", "Sort"),
        Binding("S", "reverse_sort", "Reverse", show=False),
        Binding("left_square_bracket", "page(-1)", "Prev page"),
        Binding("right_square_bracket", "page(1)", "Next page"),
        Binding("x", "clear_org", "All orgs", show=False),
        Binding("r", "reload", "Refresh"),
    ]

    def __init__(
        self,
        source: DataSource,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        page_size: int | None = None,
        now: Callable[[], datetime] = fmt.utcnow,
    ) -> None:
        super().__init__()
        self.source = source
        self.refresh_seconds = refresh_seconds
        self.now = now
        self.view = FleetView() if page_size is None else FleetView(page_size)
        self.loaded_at: datetime | None = None
        self.load_error: str | None = None
        self.loading_count: int | None = None
        self._failures = 0
        self._shown: dict[str, tuple[Cell, ...]] = {}
        self._load_worker: Worker[None] | None = None
        self.first_painted_at: float | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="banner", classes="hidden")
        yield Input(placeholder="filter: words match host, org, status, OS…", id="filter")
        yield DataTable(id="fleet", cursor_type="row", zebra_stripes=True)
        yield Static("", id="fleet-status")
        yield Footer()

    @property
    def table(self) -> DataTable[Cell]:
        return self.query_one("#fleet", DataTable)

    def on_mount(self) -> None:
        self.sub_title = self.source.label
        for column in COLUMNS:
            # Room for the sort arrow where cells can be narrower than the label (a column is as
            # wide as its widest label or cell); names, orgs and badges are wider anyway.
            room = "" if column.key in _WIDE_CELLS else "  "
            self.table.add_column(column.label + room, key=column.key)
        self._label_columns()
        self.query_one("#filter", Input).display = False
        self.table.focus()
        self.action_reload()
        if not self.source.offline:
            self.set_interval(self.refresh_seconds, self._scheduled_reload)

    # ── loading ──
    def action_reload(self) -> None:
        self._load_worker = self.run_worker(job(self._load), exclusive=True, group="fleet-load")

    def _scheduled_reload(self) -> None:
        # A slow load is not cut short by the next tick; "r" restarts it on purpose.
        if self._load_worker is None or self._load_worker.is_finished:
            self.action_reload()

    async def _load(self) -> None:
        first_load = self.loaded_at is None and not self.view.hosts
        collected: list[HostSummary] = []
        self.loading_count = 0
        self._update_status()
        try:
            async for page in self.source.host_pages():
                collected.extend(page)
                self.loading_count = len(collected)
                if first_load and len(collected) == len(page):
                    # Paint the first page at once and let it reach the screen; the rest of the
                    # fleet loads behind it and is drawn once, when complete.
                    self.view.extend(page)
                    self.render_window()
                    await self._painted()
                    self.first_painted_at = time.perf_counter()  # for bench/tui.py
                else:
                    self._update_status()
        except AuditorError as error:
            self._failed(error)
            return
        finally:
            self.loading_count = None
        self.view.replace(collected)
        self.loaded_at = self.now()
        self.load_error = None
        self._failures = 0
        self.query_one("#banner", Static).add_class("hidden")
        self.render_window()
        # The fleet is long-lived and acyclic: keep the cyclic GC from re-scanning 10,000 hosts'
        # objects on every later keystroke (the old fleet is still freed by reference counting).
        gc.freeze()

    async def _painted(self) -> None:
        """Return once the screen has been refreshed with what was just rendered."""
        painted = asyncio.Event()
        self.call_after_refresh(painted.set)
        await painted.wait()

    def _failed(self, error: AuditorError) -> None:
        self.load_error = str(error)
        delay = RETRY_SECONDS[min(self._failures, len(RETRY_SECONDS) - 1)]
        self._failures += 1
        kept = (
            f"showing data from {fmt.timestamp(self.loaded_at)}"
            if self.loaded_at is not None
            else "no data yet"
        )
        unreachable = isinstance(error, AuditorUnreachable)
        headline = "AUDITOR UNREACHABLE" if unreachable else "AUDITOR ERROR"
        banner = self.query_one("#banner", Static)
        # Text, not markup: "[…]" and the error's own text must show as they are.
        banner.update(Text(f"[{headline}] {error} — {kept}; retrying in {delay:.0f}s"))
        banner.remove_class("hidden")
        self.set_timer(delay, self._scheduled_reload)
        self.render_window()

    # ── rendering ──
    def render_window(self) -> None:
        """Show the view's current page, updating rows in place when the same hosts are shown."""
        table = self.table
        now = self.now()
        window = self.view.window()
        keys = [host.id for host in window]
        shown = [str(row.key.value) for row in table.ordered_rows]
        cells = {host.id: row_cells(host, now) for host in window}
        if keys == shown:
            for host_id, new in cells.items():
                old = self._shown.get(host_id)
                for column, value, before in zip(COLUMNS, new, old or (), strict=False):
                    if value != before:
                        table.update_cell(host_id, column.key, value)
        else:
            cursor_key = shown[table.cursor_row] if 0 <= table.cursor_row < len(shown) else None
            table.clear()
            for host_id, row in cells.items():
                table.add_row(*row, key=host_id)
            if cursor_key in cells:
                table.move_cursor(row=keys.index(cursor_key), scroll=True)
        self._shown = cells
        self._update_status()

    def _update_status(self) -> None:
        view = self.view
        visible = len(view.visible())
        start = view.page * view.page_size
        parts = [
            f"{start + 1 if visible else 0}–{min(start + view.page_size, visible)} of {visible:,}"
            + (f" (of {len(view.hosts):,})" if visible != len(view.hosts) else "")
            + " hosts",
            f"page {view.page + 1}/{view.pages}",
        ]
        sorted_by = next(c.label for c in COLUMNS if c.key == view.sort_key)
        parts.append(f"sorted by {sorted_by} {'▼' if view.descending else '▲'}")
        if view.org_filter:
            parts.append(f"org {view.org_filter} (x: all)")
        if view.filter_text:
            parts.append(f"filter “{view.filter_text}”")
        if self.loading_count is not None:
            parts.append(f"loading… {self.loading_count:,}")
        elif self.loaded_at is not None:
            parts.append(f"updated {fmt.ago(self.loaded_at, self.now())} ago")
        if self.load_error:
            parts.append("[stale: auditor not answering]")
        self.query_one("#fleet-status", Static).update(Text(" · ".join(parts)))

    def _label_columns(self) -> None:
        arrow = " ▼" if self.view.descending else " ▲"
        for column in COLUMNS:
            room = "" if column.key in _WIDE_CELLS else "  "
            label = column.label + (arrow if column.key == self.view.sort_key else room)
            self.table.columns[column.key].label = Text(label)  # type: ignore[index]
        self.table.refresh()

    # ── interaction ──
    def highlighted_host(self) -> HostSummary | None:
        table = self.table
        if table.row_count == 0:
            return None
        row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return self.view.hosts.get(str(row_key.value))

    def _resorted(self) -> None:
        self._label_columns()
        self.render_window()

    @on(DataTable.RowSelected, "#fleet")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.post_message(HostChosen(str(event.row_key.value)))

    @on(DataTable.HeaderSelected, "#fleet")
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        self.view.sort_by(str(event.column_key.value))
        self._resorted()

    def action_next_sort(self) -> None:
        keys = [column.key for column in COLUMNS]
        self.view.sort_by(keys[(keys.index(self.view.sort_key) + 1) % len(keys)])
        self._resorted()

    def action_reverse_sort(self) -> None:
        self.view.sort_by(self.view.sort_key)
        self._resorted()

    def action_page(self, delta: int) -> None:
        if self.view.turn_page(delta):
            self.render_window()
            self.table.move_cursor(row=0)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.view.set_filter(event.value)
        self.render_window()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.table.focus()

    def key_escape(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_focus:
            box.value = ""
            box.display = False
            self.table.focus()

    def show_org(self, org: str | None) -> None:
        self.view.set_org(org)
        self.render_window()

    def action_clear_org(self) -> None:
        self.show_org(None)
