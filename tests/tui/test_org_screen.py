"""The org screen against a real auditor: the rollup tree in scope, drill counts per org, the
highlighted org's trend (sparkline and words), enter posting OrgSelected — plus its pure rows."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, Sparkline, Static

from rra.tui.models import DrillResult, TrendPoint
from rra.tui.screens.org import OrgScreen, OrgSelected
from rra.tui.screens.org_rows import (
    COLUMN_KEYS,
    drill_counts,
    in_org,
    tree_labels,
    trend_summary,
)
from tests.tui.harness import ScreenHarness, api_source, settle
from tests.tui.seed import SeededFleet

Scenario = Callable[[Pilot[None], OrgScreen], Awaitable[None]]


class RecordingHarness(ScreenHarness):
    """The harness, remembering every OrgSelected that bubbles up to the app."""

    def __init__(self, screen: OrgScreen) -> None:
        super().__init__(screen)
        self.selected: list[str] = []

    def on_org_selected(self, message: OrgSelected) -> None:
        self.selected.append(message.org)


def run(screen: OrgScreen, scenario: Scenario) -> None:
    async def main() -> None:
        async with RecordingHarness(screen).run_test(size=(160, 40)) as pilot:
            await settle(pilot)
            await scenario(pilot, screen)
        await screen.source.close()

    asyncio.run(main())


def rows(table: DataTable[Any]) -> dict[str, dict[str, str]]:
    """Every row's cells as text, keyed by org path, in screen order."""
    return {
        str(row.key.value): dict(
            zip(COLUMN_KEYS, (str(cell) for cell in table.get_row(row.key)), strict=True)
        )
        for row in table.ordered_rows
    }


def trend_title(screen: OrgScreen) -> str:
    return str(screen.query_one("#trend-title", Static).content)


def test_admin_sees_every_org_as_a_tree(seeded_fleet: SeededFleet) -> None:
    async def scenario(pilot: Pilot[None], screen: OrgScreen) -> None:
        table = rows(screen.table)
        assert list(table) == ["mic", "mic/ais", "mic/hcm", "prov", "prov/hanoi"]
        assert {org: cells["hosts"] for org, cells in table.items()} == {
            "mic": "4", "mic/ais": "2", "mic/hcm": "2", "prov": "1", "prov/hanoi": "1",
        }  # fmt: skip
        # Children are indented under their parent and named relative to it.
        assert [cells["org"] for cells in table.values()] == [
            "mic", "  ais", "  hcm", "prov", "  hanoi",
        ]  # fmt: skip
        ais = table["mic/ais"]
        assert ais["second_factor"] == "60%"  # alice, ops, alice enforced; bob, root not
        assert ais["privileged_second_factor"] == "0%"  # root has none
        assert ais["without_second_factor"] == "2"
        assert ais["direct_machines"] == "2"  # 198.51.100.7 and .8 reach ais-db-01
        assert ais["backups"] == "50%"  # ais-db-01's 72 h backup is not fresh
        assert table["mic"]["direct_machines"] == "3"
        assert table["mic/hcm"]["privileged_second_factor"] == "—"  # no privileged account
        assert table["prov/hanoi"]["second_factor"] == "0%"
        status = str(screen.query_one("#org-status", Static).content)
        assert status.startswith("5 orgs")

    run(OrgScreen(api_source(seeded_fleet)), scenario)


def test_drill_counts_per_org_by_path_prefix(seeded_fleet: SeededFleet) -> None:
    async def scenario(pilot: Pilot[None], screen: OrgScreen) -> None:
        drills = {org: cells["drills"] for org, cells in rows(screen.table).items()}
        assert drills["mic/ais"] == "1 pass, 0 fail"  # ais-db-01 passed
        assert drills["mic/hcm"] == "0 pass, 1 fail"  # hcm-app-01 failed
        assert drills["mic"] == "1 pass, 1 fail"  # the parent counts both
        assert drills["prov"] == drills["prov/hanoi"] == "—"  # no drill there

    run(OrgScreen(api_source(seeded_fleet)), scenario)


def test_highlighting_an_org_shows_its_trend(seeded_fleet: SeededFleet) -> None:
    api = seeded_fleet.server.client(seeded_fleet.server.admin_token)
    expected = api.get("/api/v1/trend", params={"org": "mic/ais"}).json()
    assert len(expected) == 2

    async def scenario(pilot: Pilot[None], screen: OrgScreen) -> None:
        assert screen.trend_org == "mic"  # the first row's trend loads with the table
        assert "mic:" in trend_title(screen)
        await pilot.press("down")  # mic → mic/ais
        await settle(pilot)
        assert screen.highlighted_org() == "mic/ais"
        sparkline = screen.query_one("#trend", Sparkline)
        assert list(sparkline.data or []) == [point["score"] for point in expected]
        title = trend_title(screen)
        assert title.startswith(f"mic/ais: 2 days, {expected[0]['day']} → {expected[1]['day']}")
        low, high = sorted(point["score"] for point in expected)
        assert f"min {low:.0f} · max {high:.0f} · last {expected[1]['score']:.0f}" in title
        assert "(2 hosts)" in title

    run(OrgScreen(api_source(seeded_fleet)), scenario)


def test_inspector_sees_only_its_provinces(seeded_fleet: SeededFleet) -> None:
    async def scenario(pilot: Pilot[None], screen: OrgScreen) -> None:
        table = rows(screen.table)
        assert list(table) == ["mic", "mic/ais", "mic/hcm"]
        assert "prov/hanoi" not in table and "prov" not in table
        assert table["mic"]["hosts"] == "4"
        assert table["mic"]["drills"] == "1 pass, 1 fail"

    run(OrgScreen(api_source(seeded_fleet, "inspector")), scenario)


def test_enter_selects_the_org_and_r_refreshes(seeded_fleet: SeededFleet) -> None:
    async def scenario(pilot: Pilot[None], screen: OrgScreen) -> None:
        app = pilot.app
        assert isinstance(app, RecordingHarness)
        assert screen.highlighted_org() == "mic/hcm"  # opened on the org it was given
        await pilot.press("down", "enter")
        assert app.selected == ["prov"]
        before = screen.loaded_at
        await pilot.press("r")
        await settle(pilot)
        assert screen.loaded_at is not None and before is not None and screen.loaded_at > before
        assert screen.highlighted_org() == "prov"  # the cursor stays on its org
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is not screen

    run(OrgScreen(api_source(seeded_fleet), org="mic/hcm"), scenario)


# ── the pure rows ──
def drill(org: str, verdict: str) -> DrillResult:
    moment = datetime(2026, 11, 24, tzinfo=UTC)
    return DrillResult.model_validate(
        {"drill_id": f"{org}-{verdict}", "hostname": "h", "org": org, "playbook": "p",
         "verdict": verdict, "started_at": moment, "ended_at": moment}
    )  # fmt: skip


def test_org_paths_are_segment_aware() -> None:
    assert in_org("mic/ais", "mic") and in_org("mic", "mic") and in_org("mica", "")
    assert not in_org("mica", "mic") and not in_org("mic", "mic/ais")
    drills = [drill("mic/ais", "pass"), drill("mica", "fail"), drill("mic", "error")]
    counts = drill_counts(drills, "mic")
    assert (counts.passed, counts.failed, counts.errors) == (1, 0, 1)
    assert counts.text() == "1 pass, 0 fail, 1 error"
    assert drill_counts(drills, "mica").text() == "0 pass, 1 fail"
    assert drill_counts(drills, "prov").text() == "—"


def test_tree_labels_name_children_relative_to_their_listed_ancestor() -> None:
    labels = tree_labels(["mic", "mic/ais", "mic/ais/db", "mica", "prov/hanoi/x"])
    assert labels == {
        "mic": "mic",
        "mic/ais": "  ais",
        "mic/ais/db": "    db",
        "mica": "mica",  # not a child of mic
        "prov/hanoi/x": "prov/hanoi/x",  # no listed ancestor: the whole path
    }


def test_trend_summary_reads_without_the_sparkline() -> None:
    points = [
        TrendPoint(day=date(2026, 11, 20), score=40.0, hosts=3),
        TrendPoint(day=date(2026, 11, 22), score=70.4, hosts=3),
        TrendPoint(day=date(2026, 11, 24), score=55.0, hosts=4),
    ]
    assert trend_summary("mic", points) == (
        "mic: 3 days, 2026-11-20 → 2026-11-24 · min 40 · max 70 · last 55 (4 hosts)"
    )
    assert "no scored reports" in trend_summary("mic", [])
