"""The host screen: why one host scores what it does and what to fix first.

The header gives the host and its three pillars, a sparkline (with its min/max/last in words) the
score trend; the tabs hold the findings (most points lost first; the highlighted one's evidence and
remediation below the table), the backups, the accounts that can log in without a second factor
(with the reason), the machines that logged in directly, and the drill history.

Everything is loaded at once in an exclusive worker. When the auditor fails, the error is shown
above whatever was already on screen; ``r`` loads again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import (
    DataTable,
    Footer,
    Header,
    Sparkline,
    Static,
    TabbedContent,
    TabPane,
)

from rra.checks.report import Finding, Report
from rra.tui import format as fmt
from rra.tui.client import AuditorError, AuditorUnreachable
from rra.tui.models import DrillResult, HostDetail, ScorePoint
from rra.tui.screens import host_tables as tables
from rra.tui.screens import job
from rra.tui.source import DataSource

NO_REPORT = "This host has not sent a report yet: nothing was collected to show here."
TABS: tuple[tuple[str, str], ...] = (
    ("findings", "Findings"),
    ("backups", "Backups"),
    ("accounts", "Accounts"),
    ("sources", "Direct access"),
    ("drills", "Drills"),
)
TABLES: dict[str, tuple[str, ...]] = {
    "findings": tables.FINDING_COLUMNS,
    "backups": tables.BACKUP_COLUMNS,
    "accounts": tables.ACCOUNT_COLUMNS,
    "sources": tables.SOURCE_COLUMNS,
    "drills": tables.DRILL_COLUMNS,
}


class RunDrillRequested(Message):
    """``d`` on a host: the app asks for a playbook and a confirmation, then runs it."""

    def __init__(self, host_id: str, hostname: str) -> None:
        super().__init__()
        self.host_id = host_id
        self.hostname = hostname


class HostScreen(Screen[None]):
    CSS_PATH = "../css/host.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "reload", "Refresh"),
        Binding("d", "run_drill", "Run drill"),
        *(
            Binding(str(number), f"show_tab('{key}')", title, show=False)
            for number, (key, title) in enumerate(TABS, start=1)
        ),
    ]

    def __init__(
        self, source: DataSource, host_id: str, *, now: Callable[[], datetime] = fmt.utcnow
    ) -> None:
        super().__init__()
        self.source = source
        self.host_id = host_id
        self.now = now
        self.detail: HostDetail | None = None
        self.report: Report | None = None
        self.findings: list[Finding] = []
        self.loaded_at: datetime | None = None
        self.load_error: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="host-banner", classes="hidden")
        yield Static(f"loading host {self.host_id}…", id="host-loading")
        yield Static("", id="host-header")
        yield Static("", id="host-pillars")
        with Horizontal(id="host-trend"):
            yield Sparkline([], id="host-sparkline")
            yield Static("", id="host-trend-text")
        with TabbedContent(id="host-tabs"):
            with TabPane("1 Findings", id="tab-findings"):
                yield Static("", id="findings-note", classes="note")
                yield DataTable(id="findings", cursor_type="row", zebra_stripes=True)
                with VerticalScroll(id="finding-detail-scroll"):
                    yield Static("", id="finding-detail")
            for number, (key, title) in enumerate(TABS[1:], start=2):
                with TabPane(f"{number} {title}", id=f"tab-{key}"):
                    yield Static("", id=f"{key}-note", classes="note")
                    yield DataTable(id=key, cursor_type="row", zebra_stripes=True)
        yield Footer()

    def table(self, key: str) -> DataTable[tables.Cell]:
        return self.query_one(f"#{key}", DataTable)

    def note(self, key: str, text: str | Text) -> None:
        self.query_one(f"#{key}-note", Static).update(Text(text) if isinstance(text, str) else text)

    def on_mount(self) -> None:
        self.sub_title = self.source.label
        for key, columns in TABLES.items():
            self.table(key).add_columns(*columns)
        self.table("findings").focus()
        self.action_reload()

    # ── loading ──
    def action_reload(self) -> None:
        self.run_worker(job(self._load), exclusive=True, group="host")

    async def _load(self) -> None:
        loading = self.query_one("#host-loading", Static)
        loading.display = True
        results = await asyncio.gather(
            self.source.host(self.host_id),
            self.source.host_report(self.host_id),
            self.source.host_history(self.host_id),
            self.source.host_drills(self.host_id),
            return_exceptions=True,
        )
        loading.display = False
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, AuditorError):
                raise result  # a bug, not the auditor saying no
        host, report, history, drills = results
        # Without the host, a missing report means "not yours" or "not there", not "never sent";
        # a report that failed to load keeps the one already shown.
        if not isinstance(host, BaseException):
            if not isinstance(report, BaseException):
                self.show_report(report)
            self.show_host(host)
        if not isinstance(history, BaseException):
            self.show_trend(history)
        if not isinstance(drills, BaseException):
            self.show_drills(drills)
        errors = [r for r in results if isinstance(r, AuditorError)]
        if errors:
            self.show_error(errors[0])
        else:
            self.load_error = None
            self.query_one("#host-banner", Static).add_class("hidden")

    def show_error(self, error: AuditorError) -> None:
        self.load_error = str(error)
        headline = "AUDITOR UNREACHABLE" if isinstance(error, AuditorUnreachable) else "ERROR"
        kept = (
            f" — showing data from {fmt.timestamp(self.loaded_at)}"
            if self.loaded_at is not None
            else ""
        )
        banner = self.query_one("#host-banner", Static)
        # Text, not markup: "[…]" and the error's own text must show as they are.
        banner.update(Text(f"[{headline}] {error}{kept} · r: try again"))
        banner.remove_class("hidden")
        if self.detail is None:
            self.query_one("#host-header", Static).update(Text(f"host {self.host_id}: not loaded"))
        self.notify(str(error), title=headline.capitalize(), severity="error")

    # ── rendering ──
    def show_host(self, host: HostDetail) -> None:
        self.detail = host
        self.loaded_at = self.now()
        self.sub_title = f"{host.hostname} · {self.source.label}"
        self.query_one("#host-header", Static).update(tables.header_text(host, self.now()))
        self.query_one("#host-pillars", Static).update(tables.pillar_text(host, self.report))
        self.show_findings(host.findings)

    def show_report(self, report: Report | None) -> None:
        self.report = report
        if report is None:
            for key in ("backups", "accounts", "sources"):
                self.fill(key, [])
                self.note(key, NO_REPORT)
            return
        facts = report.facts
        self.fill("backups", tables.backup_rows(facts.backups))
        self.note(
            "backups",
            f"{len(facts.backups)} backup(s), as of {fmt.timestamp(report.collected_at)}"
            if facts.backups
            else "No backup is configured on this host.",
        )
        self.fill("accounts", tables.account_rows(facts.accounts or []))
        self.note("accounts", tables.accounts_note(facts))
        self.fill("sources", tables.source_rows(facts.access_sources or [], self.now()))
        self.note("sources", tables.sources_note(facts))

    def show_findings(self, findings: Sequence[Finding]) -> None:
        self.findings = tables.sorted_findings(findings)
        table = self.table("findings")
        cursor = table.cursor_row
        self.fill("findings", [tables.finding_row(f) for f in self.findings])
        failing = [f for f in self.findings if f.status != "pass"]
        if not self.findings:
            self.note("findings", NO_REPORT if self.report is None else "No findings.")
        else:
            lost = sum(f.points_lost for f in self.findings)
            self.note(
                "findings",
                f"{len(failing)} of {len(self.findings)} check(s) not passing, "
                f"{lost:.1f} points lost — most points first; enter or arrows show the detail",
            )
        if self.findings:
            table.move_cursor(row=min(max(cursor, 0), len(self.findings) - 1))
        self.show_finding(table.cursor_row)

    def show_trend(self, history: Sequence[ScorePoint]) -> None:
        self.query_one("#host-sparkline", Sparkline).data = tables.trend_scores(history)
        self.query_one("#host-trend-text", Static).update(Text(tables.trend_summary(history)))

    def show_drills(self, drills: Sequence[DrillResult]) -> None:
        self.fill("drills", tables.drill_rows(drills))
        self.note(
            "drills",
            f"{len(drills)} drill(s), newest first"
            if drills
            else "No drill has run on this host yet (d: run one).",
        )

    def fill(self, key: str, rows: Sequence[tables.Row]) -> None:
        table = self.table(key)
        table.clear()
        for index, row in enumerate(rows):
            table.add_row(*row, key=str(index))

    def show_finding(self, index: int) -> None:
        detail = self.query_one("#finding-detail", Static)
        if 0 <= index < len(self.findings):
            detail.update(tables.finding_detail(self.findings[index]))
        else:
            detail.update("")

    @on(DataTable.RowHighlighted, "#findings")
    def _finding_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_finding(event.cursor_row)

    @on(DataTable.RowSelected, "#findings")
    def _finding_selected(self, event: DataTable.RowSelected) -> None:
        self.show_finding(event.cursor_row)

    # ── actions ──
    def action_show_tab(self, key: str) -> None:
        # Focus moves with the tab: a focused widget left in a hidden pane would switch it back.
        self.query_one("#host-tabs", TabbedContent).active = f"tab-{key}"
        self.table(key).focus()

    def action_run_drill(self) -> None:
        hostname = self.detail.hostname if self.detail is not None else self.host_id
        self.post_message(RunDrillRequested(self.host_id, hostname))
