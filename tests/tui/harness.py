"""What every TUI pilot test shares: one screen run on its own, a source on the seeded auditor,
and waiting for workers or for a condition."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen

from rra.tui.client import AuditorClient
from rra.tui.source import ApiSource
from tests.tui.seed import SeededFleet


class ScreenHarness(App[None]):
    """An app whose only job is to show ``screen`` (pushed on mount, over an empty default)."""

    def __init__(self, screen: Screen[Any]) -> None:
        super().__init__()
        self._screen_under_test = screen

    def on_mount(self) -> None:
        self.push_screen(self._screen_under_test)


def api_source(fleet: SeededFleet, who: str = "admin", base_url: str | None = None) -> ApiSource:
    """The seeded auditor's API with the admin's or the inspector's (scope "mic") token."""
    path = fleet.admin_token_file if who == "admin" else fleet.inspector_token_file
    client = AuditorClient(
        base_url or fleet.server.base_url, path.read_text().strip(), ca_cert=fleet.server.ca_path
    )
    return ApiSource(client)


async def settle(pilot: Pilot[Any]) -> None:
    """Every worker done and the screen refreshed."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def wait_until(pilot: Pilot[Any], done: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if done():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out waiting for the screen")
