"""Snapshot tests (pytest-textual-snapshot, 120x40) of every screen on fixed data and a fixed
clock. A changed layout fails here with an SVG diff; accept it with --snapshot-update after
looking at it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from rra.tui.app import RraApp
from tests.tui.fleet_data import FIXED_NOW, FixedSource, fixed_fleet
from tests.tui.harness import settle

SIZE = (120, 40)
Compare = Callable[..., bool]


def make_app() -> RraApp:
    return RraApp(FixedSource(fixed_fleet(30)), now=lambda: FIXED_NOW)


def test_fleet(snap_compare: Compare) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=settle)


def test_fleet_filtered_and_sorted(snap_compare: Compare) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("slash", *"hue", "enter", "s", "s")  # filter, then sort by 2 columns on

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_host(snap_compare: Compare) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_host_accounts_tab(snap_compare: Compare) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_orgs(snap_compare: Compare) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_drills(snap_compare: Compare) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("D")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_run_drill_confirmation(snap_compare: Compare) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)
