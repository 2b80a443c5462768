"""The fleet screen against a real auditor: first paint, sort, filter, paging, in-place refresh,
and the unreachable-auditor banner that keeps the last data and recovers by itself."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from textual.coordinate import Coordinate
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from rra.tui.fleet_view import COLUMN_KEYS
from rra.tui.screens.fleet import FleetScreen, HostChosen
from tests.tui.fleet_data import FIXED_NOW, FixedSource, fixed_fleet
from tests.tui.harness import ScreenHarness, api_source, settle
from tests.tui.proxy import Relay
from tests.tui.seed import SEED_HOSTS, SeededFleet

Scenario = Callable[[Pilot[None], FleetScreen], Awaitable[None]]


def run(screen: FleetScreen, scenario: Scenario) -> None:
    async def main() -> None:
        async with ScreenHarness(screen).run_test(size=(160, 40)) as pilot:
            await settle(pilot)
            await scenario(pilot, screen)
        await screen.source.close()

    asyncio.run(main())


def column(table: DataTable[Any], key: str) -> list[str]:
    index = COLUMN_KEYS.index(key)
    return [str(table.get_row_at(row)[index]) for row in range(table.row_count)]


def host_id(screen: FleetScreen, hostname: str) -> str:
    return next(h.id for h in screen.view.hosts.values() if h.hostname == hostname)


def key_at(table: DataTable[Any], row: int) -> str:
    return str(table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value)


def status_line(screen: FleetScreen) -> str:
    return str(screen.query_one("#fleet-status", Static).content)


def test_fleet_lists_the_scope_worst_first(seeded_fleet: SeededFleet) -> None:
    async def scenario(pilot: Pilot[None], screen: FleetScreen) -> None:
        names = column(screen.table, "host")
        assert sorted(names) == sorted(seed.name for seed in SEED_HOSTS)
        scores = [float(score) for score in column(screen.table, "score")]
        assert scores == sorted(scores)
        row = screen.table.get_row(host_id(screen, "ais-db-01"))
        cells = dict(zip(COLUMN_KEYS, (str(cell) for cell in row), strict=True))
        assert cells["backup_age"] == "3.0d"
        assert cells["second_factor"] == "33%"
        assert cells["direct_sources"] == "2"
        assert cells["last_drill"].startswith("[PASS]")
        assert cells["status"] == "[ACTIVE]"
        assert "5 hosts" in status_line(screen)

    run(FleetScreen(api_source(seeded_fleet)), scenario)


def test_inspector_sees_only_its_org(seeded_fleet: SeededFleet) -> None:
    async def scenario(pilot: Pilot[None], screen: FleetScreen) -> None:
        orgs = set(column(screen.table, "org"))
        assert orgs == {"mic/ais", "mic/hcm"}

    run(FleetScreen(api_source(seeded_fleet, "inspector")), scenario)


def test_sort_by_header_click_and_keys(seeded_fleet: SeededFleet) -> None:
    async def scenario(pilot: Pilot[None], screen: FleetScreen) -> None:
        screen.view.sort_by("host")
        screen._resorted()
        await pilot.pause()
        names = column(screen.table, "host")
        assert names == sorted(names)
        await pilot.press("S")  # reverse
        await pilot.pause()
        assert column(screen.table, "host") == sorted(names, reverse=True)
        await pilot.press("s")  # next column: org
        await pilot.pause()
        assert screen.view.sort_key == "org"
        orgs = column(screen.table, "org")
        assert orgs == sorted(orgs)
        assert "Org ▲" in str(screen.table.columns["org"].label)  # type: ignore[index]

    run(FleetScreen(api_source(seeded_fleet)), scenario)


def test_filter_as_you_type_and_clear(seeded_fleet: SeededFleet) -> None:
    async def scenario(pilot: Pilot[None], screen: FleetScreen) -> None:
        await pilot.press("slash")
        box = screen.query_one("#filter", Input)
        assert box.has_focus
        await pilot.press(*"hcm")
        await pilot.pause()
        assert sorted(column(screen.table, "host")) == ["hcm-app-01", "hcm-app-02"]
        await pilot.press("space", *"02")
        await pilot.pause()
        assert column(screen.table, "host") == ["hcm-app-02"]
        assert "of 5" in status_line(screen)
        await pilot.press("escape")
        await pilot.pause()
        assert screen.table.row_count == 5
        assert screen.table.has_focus

    run(FleetScreen(api_source(seeded_fleet)), scenario)


class Recorder(ScreenHarness):
    """Records the hosts the fleet screen asks to open."""

    def __init__(self, screen: FleetScreen) -> None:
        super().__init__(screen)
        self.chosen: list[str] = []

    def on_host_chosen(self, message: HostChosen) -> None:
        self.chosen.append(message.host_id)


def test_enter_on_a_row_asks_for_that_host(seeded_fleet: SeededFleet) -> None:
    async def main() -> None:
        screen = FleetScreen(api_source(seeded_fleet))
        app = Recorder(screen)
        async with app.run_test(size=(160, 40)) as pilot:
            await settle(pilot)
            await pilot.press("down", "enter")
            await pilot.pause()
            assert app.chosen == [key_at(screen.table, 1)]
        await screen.source.close()

    asyncio.run(main())


def test_refresh_updates_rows_in_place_and_keeps_the_cursor() -> None:
    hosts = fixed_fleet(50)
    source = FixedSource(hosts)

    async def scenario(pilot: Pilot[None], screen: FleetScreen) -> None:
        screen.view.sort_by("host")
        screen._resorted()
        await pilot.press("down", "down", "down")
        cursor_key = key_at(screen.table, 3)
        cleared: list[bool] = []
        original_clear = screen.table.clear

        def counting_clear(columns: bool = False) -> Any:
            cleared.append(True)
            return original_clear(columns)

        screen.table.clear = counting_clear  # type: ignore[method-assign]
        source.hosts = [
            h.model_copy(update={"score": 1.0}) if i == 5 else h for i, h in enumerate(hosts)
        ]
        await pilot.press("r")
        await settle(pilot)
        assert cleared == []  # same hosts in the same order: cells updated, rows kept
        assert screen.table.cursor_row == 3
        assert str(screen.table.get_row(key_at(screen.table, 5))[COLUMN_KEYS.index("score")]) == "1"
        screen.view.sort_by("score")  # re-sorting moves the rows; the cursor follows its host
        screen._resorted()
        await pilot.pause()
        assert key_at(screen.table, screen.table.cursor_row) == cursor_key

    run(FleetScreen(source, now=lambda: FIXED_NOW), scenario)


def test_large_fleet_pages() -> None:
    source = FixedSource(fixed_fleet(1200))

    async def scenario(pilot: Pilot[None], screen: FleetScreen) -> None:
        assert screen.table.row_count == 200
        assert "1–200 of 1,200 hosts" in status_line(screen)
        first = key_at(screen.table, 0)
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert "201–400 of 1,200" in status_line(screen)
        assert key_at(screen.table, 0) != first
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert key_at(screen.table, 0) == first

    run(FleetScreen(source, now=lambda: FIXED_NOW), scenario)


def test_unreachable_auditor_keeps_the_data_and_recovers(seeded_fleet: SeededFleet) -> None:
    relay = Relay(urlsplit(seeded_fleet.server.base_url).port or 0)
    relay.start()
    source = api_source(seeded_fleet, base_url=f"https://127.0.0.1:{relay.port}")

    async def scenario(pilot: Pilot[None], screen: FleetScreen) -> None:
        banner = screen.query_one("#banner", Static)
        assert screen.table.row_count == 5
        assert not banner.display or banner.has_class("hidden")
        relay.stop()
        await pilot.press("r")
        await settle(pilot)
        text = str(banner.content)
        assert "AUDITOR UNREACHABLE" in text
        assert "showing data from" in text
        assert screen.table.row_count == 5  # the last data stays on screen
        assert "stale" in status_line(screen)
        relay.start()  # same port: the scheduled retry (2 s) finds it again
        for _ in range(100):
            await asyncio.sleep(0.1)
            if banner.has_class("hidden"):
                break
        await settle(pilot)
        assert banner.has_class("hidden")
        assert screen.load_error is None
        assert screen.table.row_count == 5

    try:
        run(FleetScreen(source), scenario)
    finally:
        relay.stop()
