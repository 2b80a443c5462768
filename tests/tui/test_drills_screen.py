"""The drills screen against a real auditor: history with verdict badges, live run status that
refreshes by itself, and running a drill from the keyboard (form, confirmation, API) — checked
through the API as well: a cancelled or refused drill creates no run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.notifications import SeverityLevel
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable, Input, Select, Static

from rra.tui.screens.confirm import ConfirmScreen
from rra.tui.screens.drill_rows import HISTORY_KEYS, RUN_KEYS
from rra.tui.screens.drills import DrillsScreen, RunDrillForm
from rra.tui.source import ReportSource
from tests.auditor.drill_support import claim
from tests.auditor.reports import make_report
from tests.tui.harness import ScreenHarness, api_source, settle, wait_until
from tests.tui.seed import PLAYBOOK, SeededFleet

Scenario = Callable[[Pilot[None], DrillsScreen], Awaitable[None]]


class RecordingHarness(ScreenHarness):
    """The harness, remembering every notification (message, severity)."""

    def __init__(self, screen: DrillsScreen) -> None:
        super().__init__(screen)
        self.notes: list[tuple[str, SeverityLevel]] = []

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        self.notes.append((message, severity))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)


def run(screen: DrillsScreen, scenario: Scenario) -> None:
    async def main() -> None:
        async with RecordingHarness(screen).run_test(size=(140, 40)) as pilot:
            await settle(pilot)
            await scenario(pilot, screen)
        await screen.source.close()

    asyncio.run(main())


async def wait_for_screen(pilot: Pilot[None], kind: type[Screen[Any]]) -> None:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, kind))


def cells(table: DataTable[Any], keys: tuple[str, ...]) -> list[dict[str, str]]:
    return [
        dict(zip(keys, (str(cell) for cell in table.get_row_at(row)), strict=True))
        for row in range(table.row_count)
    ]


def notes(pilot: Pilot[None]) -> list[tuple[str, SeverityLevel]]:
    app = pilot.app
    assert isinstance(app, RecordingHarness)
    return app.notes


def api_runs(fleet: SeededFleet, hostname: str) -> list[dict[str, Any]]:
    """The auditor's own list of this playbook's runs on this host."""
    api = fleet.server.client(fleet.server.admin_token)
    answer = api.get(
        "/api/v1/drills/runs",
        params={"playbook": PLAYBOOK, "host_id": fleet.hosts[hostname].host_id, "limit": 200},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] == len(body["items"])
    items: list[dict[str, Any]] = body["items"]
    return items


async def fill_the_form(pilot: Pilot[None], host: str) -> None:
    """``n``, then choose the playbook and type the host with keys, as a person would."""
    await pilot.press("n")
    await wait_for_screen(pilot, RunDrillForm)
    form = pilot.app.screen
    select = form.query_one("#run-playbook", Select)
    select.focus()
    await pilot.press("enter")  # open the list
    await pilot.pause()
    assert select.expanded
    await pilot.press(*PLAYBOOK, "enter")  # type to search, then choose
    await pilot.pause()
    assert not select.expanded
    assert select.value == PLAYBOOK
    box = form.query_one("#run-host", Input)
    if not box.has_focus:
        await pilot.press("tab")
    assert box.has_focus
    await pilot.press(*host)
    assert box.value == host
    await pilot.press("enter")  # next: the confirmation
    await wait_for_screen(pilot, ConfirmScreen)
    question = str(pilot.app.screen.query_one("#confirm-question", Static).content)
    assert PLAYBOOK in question and host in question


def test_history_shows_the_seeded_drills_with_badges(seeded_fleet: SeededFleet) -> None:
    async def scenario(pilot: Pilot[None], screen: DrillsScreen) -> None:
        history = {row["host"]: row for row in cells(screen.table("history"), HISTORY_KEYS)}
        assert history["ais-db-01"]["verdict"] == "[PASS]"
        assert history["hcm-app-01"]["verdict"] == "[FAIL]"
        for row in (history["ais-db-01"], history["hcm-app-01"]):
            assert row["playbook"] == PLAYBOOK
            assert row["rto"] == "2.0m / 4.0h"  # inside its target: no [OVER]
            assert row["rpo"] == "60.0m"
            assert row["signer"] == "host"
        assert history["ais-db-01"]["org"] == "mic/ais"
        status = str(screen.query_one("#drills-status", Static).content)
        assert "results" in status and "runs:" in status

    run(DrillsScreen(api_source(seeded_fleet)), scenario)


def test_admin_runs_a_drill_from_the_keyboard(seeded_fleet: SeededFleet) -> None:
    before = {run["id"] for run in api_runs(seeded_fleet, "ais-web-01")}

    async def scenario(pilot: Pilot[None], screen: DrillsScreen) -> None:
        await fill_the_form(pilot, "ais-web-01")
        await pilot.press("y")
        await wait_until(pilot, lambda: any("queued" in text for text, _ in notes(pilot)))
        await settle(pilot)
        queued = [text for text, _ in notes(pilot) if text.startswith("drill run queued: ")]
        assert len(queued) == 1
        run_id = queued[0].removeprefix("drill run queued: ")
        # The auditor has exactly one new run: this one, manual and pending.
        after = {run["id"]: run for run in api_runs(seeded_fleet, "ais-web-01")}
        assert set(after) - before == {run_id}
        assert after[run_id]["trigger"] == "manual"
        assert after[run_id]["state"] == "pending"
        # …and the screen shows it at the top, named by hostname, without pressing "r".
        table = screen.table("runs")
        assert str(table.ordered_rows[0].key.value) == run_id
        top = cells(table, RUN_KEYS)[0]
        assert top["playbook"] == PLAYBOOK
        assert top["target"] == "ais-web-01"
        assert (top["trigger"], top["state"], top["verdict"]) == ("manual", "[PENDING]", "—")
        assert top["executor"] == "agent"

    run(DrillsScreen(api_source(seeded_fleet)), scenario)


def test_cancelling_creates_no_run(seeded_fleet: SeededFleet) -> None:
    before = len(api_runs(seeded_fleet, "ais-web-01"))

    async def scenario(pilot: Pilot[None], screen: DrillsScreen) -> None:
        await fill_the_form(pilot, "ais-web-01")
        await pilot.press("n")  # no, at the confirmation
        await wait_for_screen(pilot, DrillsScreen)
        await settle(pilot)
        assert ("no drill run: cancelled", "information") in notes(pilot)
        # Escape on the form itself also runs nothing, and asks nothing more.
        await pilot.press("n")
        await wait_for_screen(pilot, RunDrillForm)
        await pilot.press("escape")
        await wait_for_screen(pilot, DrillsScreen)
        await settle(pilot)
        assert not any("queued" in text for text, _ in notes(pilot))

    run(DrillsScreen(api_source(seeded_fleet)), scenario)
    assert len(api_runs(seeded_fleet, "ais-web-01")) == before


def test_inspector_is_refused_and_no_run_is_created(seeded_fleet: SeededFleet) -> None:
    before = len(api_runs(seeded_fleet, "hcm-app-01"))

    async def scenario(pilot: Pilot[None], screen: DrillsScreen) -> None:
        await pilot.press("n")
        await wait_for_screen(pilot, RunDrillForm)
        box = pilot.app.screen.query_one("#run-host", Input)
        assert box.value == "hcm-app-01"  # prefilled from the screen's host
        await pilot.press("enter")
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.press("y")
        await wait_until(pilot, lambda: any(sev == "error" for _, sev in notes(pilot)))
        errors = [text for text, severity in notes(pilot) if severity == "error"]
        assert len(errors) == 1
        assert errors[0].startswith("your token may not run drills (403 ")
        assert not any("queued" in text for text, _ in notes(pilot))

    screen = DrillsScreen(api_source(seeded_fleet, "inspector"), host="hcm-app-01")
    run(screen, scenario)
    assert len(api_runs(seeded_fleet, "hcm-app-01")) == before


def test_runs_refresh_by_themselves_while_shown(seeded_fleet: SeededFleet) -> None:
    """A run made elsewhere appears, then turns [CLAIMED] when the host's agent claims it —
    with no key pressed: the screen polls while it is shown."""
    server = seeded_fleet.server
    host = seeded_fleet.hosts["hcm-app-02"]

    async def scenario(pilot: Pilot[None], screen: DrillsScreen) -> None:
        def state_of(run_id: str) -> str | None:
            for row in screen.table("runs").ordered_rows:
                if row.key.value == run_id:
                    return str(screen.table("runs").get_row(row.key)[RUN_KEYS.index("state")])
            return None

        api = server.client(server.admin_token)
        made = api.post("/api/v1/drills/runs", json={"playbook": PLAYBOOK, "host": "hcm-app-02"})
        assert made.status_code == 201, made.text
        run_id = made.json()["id"]
        await wait_until(pilot, lambda: state_of(run_id) == "[PENDING]")
        claimed = claim(server, host)
        assert claimed.status_code == 200, claimed.text
        await wait_until(pilot, lambda: state_of(run_id) == "[CLAIMED]")
        assert cells(screen.table("runs"), RUN_KEYS)[0]["target"] == "hcm-app-02"

    run(DrillsScreen(api_source(seeded_fleet), refresh_seconds=0.2), scenario)


def test_offline_report_says_drills_need_an_auditor(tmp_path: Path) -> None:
    report = make_report(org="mic/ais", hostname="laptop-01")
    path = tmp_path / "report.json"
    path.write_text(report.model_dump_json(), encoding="utf-8")

    async def scenario(pilot: Pilot[None], screen: DrillsScreen) -> None:
        assert screen.table("runs").row_count == 0
        await pilot.press("n")
        await pilot.pause()
        assert pilot.app.screen is screen  # no form: nothing to run a drill through
        [(text, severity)] = notes(pilot)
        assert text.startswith("drills need an auditor")
        assert severity == "warning"
        status = str(screen.query_one("#drills-status", Static).content)
        assert "offline" in status

    run(DrillsScreen(ReportSource.from_file(path)), scenario)
