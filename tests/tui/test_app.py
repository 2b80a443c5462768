"""The whole TUI (``RraApp``) against a real auditor, driven by keys as an admin would: open a host
from the fleet and come back, jump to an org's hosts from the org screen, open the drills screen,
use the command palette, and run a drill from the fleet (confirmed, then visible in the API)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from textual.pilot import Pilot

from rra.tui.app import RraApp
from rra.tui.client import AuditorClient
from rra.tui.screens.drills import DrillsScreen
from rra.tui.screens.host import HostScreen
from rra.tui.screens.org import OrgScreen, OrgSelected
from rra.tui.source import ApiSource
from tests.tui.harness import settle, wait_until
from tests.tui.seed import PLAYBOOK, SEED_HOSTS, SeededFleet

Scenario = Callable[[Pilot[None], RraApp], Awaitable[None]]


def run_app(fleet: SeededFleet, scenario: Scenario, who: str = "admin") -> None:
    token_file = fleet.admin_token_file if who == "admin" else fleet.inspector_token_file
    client = AuditorClient(
        fleet.server.base_url, token_file.read_text().strip(), ca_cert=fleet.server.ca_path
    )

    async def main() -> None:
        app = RraApp(ApiSource(client))
        async with app.run_test(size=(160, 45)) as pilot:
            await settle(pilot)
            await scenario(pilot, app)

    asyncio.run(main())


def test_fleet_to_host_and_back(seeded_fleet: SeededFleet) -> None:
    async def scenario(pilot: Pilot[None], app: RraApp) -> None:
        assert app.fleet.table.row_count == len(SEED_HOSTS)
        app.fleet.view.set_filter("ais-db-01")
        app.fleet.render_window()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, HostScreen))
        await settle(pilot)
        host_screen = app.screen
        assert isinstance(host_screen, HostScreen)
        assert host_screen.host_id == seeded_fleet.hosts["ais-db-01"].host_id
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.fleet)

    run_app(seeded_fleet, scenario)


def test_org_screen_filters_the_fleet(seeded_fleet: SeededFleet) -> None:
    async def scenario(pilot: Pilot[None], app: RraApp) -> None:
        await pilot.press("o")
        await wait_until(pilot, lambda: isinstance(app.screen, OrgScreen))
        await settle(pilot)
        org_screen = app.screen
        assert isinstance(org_screen, OrgScreen)
        org_screen.post_message(OrgSelected("mic/hcm"))
        await wait_until(pilot, lambda: app.screen is app.fleet)
        await pilot.pause()
        shown = {str(app.fleet.table.get_row_at(i)[0]) for i in range(app.fleet.table.row_count)}
        assert shown == {"hcm-app-01", "hcm-app-02"}
        await pilot.press("x")  # all orgs again
        await pilot.pause()
        assert app.fleet.table.row_count == len(SEED_HOSTS)

    run_app(seeded_fleet, scenario)


def test_palette_jumps_to_a_host(seeded_fleet: SeededFleet) -> None:
    async def scenario(pilot: Pilot[None], app: RraApp) -> None:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"host hn-fin")
        await asyncio.sleep(0.5)  # the palette searches in the background
        await pilot.pause()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, HostScreen))
        host_screen = app.screen
        assert isinstance(host_screen, HostScreen)
        assert host_screen.host_id == seeded_fleet.hosts["hn-fin-01"].host_id

    run_app(seeded_fleet, scenario)


def test_run_a_drill_from_the_fleet(seeded_fleet: SeededFleet) -> None:
    api = seeded_fleet.server.client(seeded_fleet.server.admin_token)
    target = seeded_fleet.hosts["hcm-app-02"].host_id

    def runs_for_target() -> int:
        items = api.get("/api/v1/drills/runs", params={"limit": 500}).json()["items"]
        return sum(1 for run in items if run["target"] == target and run["playbook"] == PLAYBOOK)

    before = runs_for_target()

    async def scenario(pilot: Pilot[None], app: RraApp) -> None:
        app.fleet.view.set_filter("hcm-app-02")
        app.fleet.render_window()
        await pilot.press("d")  # run a drill on the highlighted host
        await wait_until(pilot, lambda: type(app.screen).__name__ == "RunDrillForm")
        await pilot.pause()
        form = app.screen
        host_input = form.query_one("#run-host")
        assert getattr(host_input, "value", None) == "hcm-app-02"
        await pilot.press("enter")  # the host field submits the form
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        await pilot.press("y")
        await wait_until(pilot, lambda: runs_for_target() == before + 1)
        await pilot.press("D")
        await wait_until(pilot, lambda: isinstance(app.screen, DrillsScreen))

    run_app(seeded_fleet, scenario)
    assert runs_for_target() == before + 1
