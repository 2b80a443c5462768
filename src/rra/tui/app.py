"""``RraApp``: the screens, the bindings every screen shares and the palette. Screens do the work;
this file only routes between them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from rra.tui import format as fmt
from rra.tui.commands import RraCommands
from rra.tui.models import HostSummary
from rra.tui.screens.drills import DrillsScreen
from rra.tui.screens.fleet import REFRESH_SECONDS, FleetScreen, HostChosen
from rra.tui.screens.host import HostScreen, RunDrillRequested
from rra.tui.screens.org import OrgScreen, OrgSelected
from rra.tui.screens.run_form import confirm_and_trigger
from rra.tui.source import DataSource


class RraApp(App[None]):
    TITLE = "rra · recovery readiness"
    CSS_PATH = "css/app.tcss"
    COMMANDS = App.COMMANDS | {RraCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "show_fleet", "Fleet"),
        Binding("o", "show_orgs", "Orgs"),
        Binding("D", "show_drills", "Drills"),
        Binding("d", "drill_here", "Run drill"),
        Binding("q", "quit", "Quit"),
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
        self.now = now
        self.fleet = FleetScreen(
            source, refresh_seconds=refresh_seconds, page_size=page_size, now=now
        )

    def on_mount(self) -> None:
        self.push_screen(self.fleet)

    async def on_unmount(self) -> None:
        await self.source.close()

    # ── what the palette and screens call ──
    def known_hosts(self) -> list[HostSummary]:
        return list(self.fleet.view.hosts.values())

    def known_orgs(self) -> list[str]:
        orgs: set[str] = set()
        for host in self.fleet.view.hosts.values():
            parts = host.org.split("/")
            orgs.update("/".join(parts[: depth + 1]) for depth in range(len(parts)))
        return sorted(orgs)

    def open_host(self, host_id: str) -> None:
        self.push_screen(HostScreen(self.source, host_id, now=self.now))

    def show_org(self, org: str | None) -> None:
        self.action_show_fleet()
        self.fleet.show_org(org)

    def request_drill(self, host: str | None) -> None:
        self.run_worker(confirm_and_trigger(self.screen, self.source, host), group="trigger")

    # ── actions ──
    def action_show_fleet(self) -> None:
        while len(self.screen_stack) > 2 and self.screen is not self.fleet:
            self.pop_screen()

    def action_show_orgs(self) -> None:
        if not isinstance(self.screen, OrgScreen):
            self.push_screen(OrgScreen(self.source, now=self.now))

    def action_show_drills(self) -> None:
        if not isinstance(self.screen, DrillsScreen):
            self.push_screen(DrillsScreen(self.source, now=self.now))

    def action_refresh(self) -> None:
        self.fleet.action_reload()

    def action_drill_here(self) -> None:
        if self.screen is self.fleet:
            host = self.fleet.highlighted_host()
            self.request_drill(None if host is None else self.drill_target(host.id, host.hostname))

    def on_run_drill_requested(self, message: RunDrillRequested) -> None:
        self.request_drill(self.drill_target(message.host_id, message.hostname))

    def drill_target(self, host_id: str, hostname: str) -> str:
        """The hostname when it names one host in scope (readable in the form), else the id."""
        same_name = [h for h in self.fleet.view.hosts.values() if h.hostname == hostname]
        return hostname if len(same_name) <= 1 else host_id

    def on_host_chosen(self, message: HostChosen) -> None:
        self.open_host(message.host_id)

    def on_org_selected(self, message: OrgSelected) -> None:
        self.show_org(message.org)
