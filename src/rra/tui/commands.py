"""The command palette (ctrl+p): jump to a host or an org, run a drill, open a screen."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Final

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from rra.tui.app import RraApp

MAX_HOST_HITS: Final = 50


class RraCommands(Provider):
    @property
    def rra(self) -> RraApp:
        from rra.tui.app import RraApp  # the app imports this module: resolve at call time

        app = self.app
        if not isinstance(app, RraApp):
            raise TypeError("RraCommands serves RraApp only")
        return app

    def _screens(self) -> list[tuple[str, Callable[[], object], str]]:
        app = self.rra
        return [
            ("Fleet", app.action_show_fleet, "every host in scope"),
            ("Orgs", app.action_show_orgs, "rollups per org, trends"),
            ("Drills", app.action_show_drills, "drill history, live runs, run a drill"),
            ("Refresh", app.action_refresh, "reload from the auditor now"),
        ]

    async def discover(self) -> Hits:
        for name, callback, help_text in self._screens():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        app = self.rra
        for name, callback, help_text in self._screens():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
        for org in app.known_orgs():
            text = f"org {org}"
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), partial(app.show_org, org), help="fleet")
        first = query.strip().lower()[:1]
        hits = 0
        for host in app.known_hosts():
            # A cheap pre-filter keeps a keystroke fast on a 10,000-host fleet.
            if first and first not in host.hostname.lower():
                continue
            for text, callback, help_text in (
                (f"host {host.hostname}", partial(app.open_host, host.id), host.org),
                (f"drill on {host.hostname}", partial(app.request_drill, host.hostname), "run"),
            ):
                score = matcher.match(text)
                if score > 0:
                    hits += 1
                    yield Hit(score, matcher.highlight(text), callback, help=help_text)
            if hits >= MAX_HOST_HITS:
                return
