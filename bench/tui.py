"""Benchmark: the TUI on a 10,000-host fleet — time to first full paint, filter keystroke to the
updated table, and the TUI process's peak memory.

Each scenario runs in a child process (headless Textual, 160x50) so its peak RSS is its own. The
fleet arrives as the API's JSON pages (500 hosts each) and is validated by the client's own
TypeAdapter, so everything but the HTTP round trips is measured. Baselines, run in the same
invocation:
  * the same app on a 200-host fleet (one page: what the table shows at once) — the ratio is what
    fleet size costs;
  * a plain Textual DataTable filled with all 10,000 rows — what paging saves.

    .venv/bin/python bench/tui.py [--hosts 10000] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.tui.fleet_data import FIXED_NOW, FixedSource, fixed_fleet  # noqa: E402

from rra.tui.client import HOST_LIST  # noqa: E402 - after the path is set
from rra.tui.models import HostSummary  # noqa: E402

SIZE = (160, 50)
FILTER_KEYS = "host-01"  # narrows step by step: 10,000 → … → 1,000 rows
TARGET_FIRST_PAINT = 1.5
TARGET_KEYSTROKE = 0.150


class JsonPagesSource(FixedSource):
    """The fleet as the API sends it: JSON pages, validated like AuditorClient does."""

    def __init__(self, size: int) -> None:
        super().__init__([])
        self.pages = [
            [host.model_dump(mode="json") for host in fixed_fleet(size)[start : start + 500]]
            for start in range(0, size, 500)
        ]

    async def host_pages(self) -> AsyncIterator[list[HostSummary]]:
        for page in self.pages:
            await asyncio.sleep(0)  # a page boundary is a network wait in real life
            yield HOST_LIST.validate_python(page)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def next_paint(widget: Any) -> float:
    """The moment the screen has been refreshed after what was just rendered."""
    painted = asyncio.Event()
    widget.call_after_refresh(painted.set)
    await painted.wait()
    return time.perf_counter()


async def app_scenario(size: int) -> dict[str, Any]:
    from rra.tui.app import RraApp

    source = JsonPagesSource(size)
    rss_before = rss_mb()
    started = time.perf_counter()
    app = RraApp(source, now=lambda: FIXED_NOW)
    result: dict[str, Any] = {}
    async with app.run_test(size=SIZE) as pilot:
        fleet = app.fleet
        while fleet.first_painted_at is None:
            await asyncio.sleep(0.001)
        result["first_paint_s"] = fleet.first_painted_at - started
        await app.workers.wait_for_complete()
        result["fully_loaded_s"] = await next_paint(fleet) - started
        assert len(fleet.view.hosts) == size
        await pilot.press("slash")
        await pilot.pause()
        # Key to paint: the key event is sent, the filter runs, the table is refilled, and the
        # screen is refreshed (pilot's own idle waits after that are not counted).
        painted: list[float] = []
        render = fleet.render_window

        def traced_render() -> None:
            render()
            fleet.call_after_refresh(lambda: painted.append(time.perf_counter()))

        fleet.render_window = traced_render  # type: ignore[method-assign]
        keystrokes = []
        for key in FILTER_KEYS:
            painted.clear()
            before = time.perf_counter()
            await pilot.press("minus" if key == "-" else key)
            while not painted:
                await asyncio.sleep(0.001)
            keystrokes.append(painted[0] - before)
        result["filter_rows_left"] = len(fleet.view.visible())
        result["keystroke_s"] = keystrokes
        result["keystroke_median_s"] = statistics.median(keystrokes)
        result["keystroke_max_s"] = max(keystrokes)
    result["rss_before_mb"] = rss_before
    result["peak_rss_mb"] = rss_mb()
    return result


async def full_table_scenario(size: int) -> dict[str, Any]:
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from rra.tui.fleet_view import COLUMNS, row_cells

    hosts = fixed_fleet(size)

    class FullTable(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable()

    started = time.perf_counter()
    app = FullTable()
    async with app.run_test(size=SIZE) as pilot:
        table: DataTable[Any] = app.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column.label, key=column.key)
        for host in hosts:
            table.add_row(*row_cells(host, FIXED_NOW), key=host.id)
        await pilot.pause()
        first_paint = time.perf_counter() - started
        before = time.perf_counter()
        table.clear()
        for host in hosts:
            if "host-0" in host.hostname:
                table.add_row(*row_cells(host, FIXED_NOW), key=host.id)
        await pilot.pause()
        refilter = time.perf_counter() - before
    return {"first_paint_s": first_paint, "refilter_s": refilter, "peak_rss_mb": rss_mb()}


def child(kind: str, size: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--hosts", str(size)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", choices=["app", "full-table"])
    args = parser.parse_args()
    if args.child == "app":
        print(json.dumps(asyncio.run(app_scenario(args.hosts))))
        return
    if args.child == "full-table":
        print(json.dumps(asyncio.run(full_table_scenario(args.hosts))))
        return
    rounds = [
        {"fleet": child("app", args.hosts), "baseline": child("app", 200)}
        for _ in range(args.rounds)
    ]
    full = child("full-table", args.hosts)

    def median(side: str, key: str) -> float:
        return float(statistics.median(r[side][key] for r in rounds))

    summary = {
        "hosts": args.hosts,
        "rounds": args.rounds,
        "first_paint_s": median("fleet", "first_paint_s"),
        "fully_loaded_s": median("fleet", "fully_loaded_s"),
        "keystroke_median_s": median("fleet", "keystroke_median_s"),
        "keystroke_max_s": median("fleet", "keystroke_max_s"),
        "peak_rss_mb": median("fleet", "peak_rss_mb"),
        "baseline_200": {
            "first_paint_s": median("baseline", "first_paint_s"),
            "keystroke_median_s": median("baseline", "keystroke_median_s"),
            "peak_rss_mb": median("baseline", "peak_rss_mb"),
        },
        "full_datatable": full,
    }
    base = summary["baseline_200"]
    summary["ratio_first_paint"] = summary["first_paint_s"] / base["first_paint_s"]
    summary["ratio_keystroke"] = summary["keystroke_median_s"] / base["keystroke_median_s"]
    summary["targets_met"] = {
        "first_paint": summary["first_paint_s"] <= TARGET_FIRST_PAINT,
        "keystroke": summary["keystroke_max_s"] <= TARGET_KEYSTROKE,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"TUI on {args.hosts:,} hosts (median of {args.rounds} rounds; baseline: 200 hosts)")
    print(
        f"  first full paint   {summary['first_paint_s']:.3f} s  "
        f"(×{summary['ratio_first_paint']:.2f} the baseline; target ≤ {TARGET_FIRST_PAINT} s)"
    )
    print(f"  whole fleet loaded {summary['fully_loaded_s']:.3f} s")
    print(
        f"  filter keystroke   median {summary['keystroke_median_s'] * 1000:.1f} ms, "
        f"max {summary['keystroke_max_s'] * 1000:.1f} ms "
        f"(×{summary['ratio_keystroke']:.2f} the baseline; target ≤ 150 ms)"
    )
    print(
        f"  peak RSS           {summary['peak_rss_mb']:.1f} MB "
        f"(baseline {base['peak_rss_mb']:.1f} MB)"
    )
    print(f"  plain DataTable with all rows: first paint {full['first_paint_s']:.3f} s, "
          f"refilter {full['refilter_s'] * 1000:.0f} ms, peak RSS {full['peak_rss_mb']:.1f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
