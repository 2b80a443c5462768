"""The fleet table's model: filter, sort (unknowns last), org scoping and paging."""

from __future__ import annotations

import pytest

from rra.tui.fleet_view import COLUMN_KEYS, FleetView, row_cells
from tests.tui.fleet_data import FIXED_NOW, fixed_fleet, fixed_host


def test_default_order_is_worst_score_first_with_unscored_last() -> None:
    view = FleetView()
    view.replace([*fixed_fleet(20), fixed_host(99, hostname="never-reported", score=None)])
    scores = [host.score for host in view.visible()]
    assert scores[-1] is None
    known = [s for s in scores if s is not None]
    assert known == sorted(known)
    view.sort_by("score")  # same column again: reverse, unknown still last
    scores = [host.score for host in view.visible()]
    assert scores[-1] is None
    assert scores[:-1] == sorted(scores[:-1], reverse=True)  # type: ignore[type-var]


@pytest.mark.parametrize("key", COLUMN_KEYS)
def test_every_column_sorts(key: str) -> None:
    view = FleetView()
    view.replace(fixed_fleet(50))
    view.sort_by(key)
    first = [host.id for host in view.visible()]
    view.sort_by(key)
    second = [host.id for host in view.visible()]
    assert sorted(first) == sorted(second)
    assert len(first) == 50
    if key not in ("org", "status"):  # columns with ties keep the name order both ways
        assert first != second


def test_filter_matches_every_word_across_fields() -> None:
    view = FleetView()
    view.replace(fixed_fleet(100))
    view.set_filter("HUE late")
    hits = view.visible()
    assert len(hits) == 20
    assert all(h.org == "prov/hue" and h.status == "late" for h in hits)
    view.set_filter("hanoi stale")  # every word must match: hanoi's hosts are all active
    assert view.visible() == []
    view.set_filter("no-such-host")
    assert view.visible() == []
    assert view.pages == 1
    assert view.window() == []


def test_org_filter_is_segment_aware() -> None:
    view = FleetView()
    view.replace(
        [fixed_host(1, org="mic"), fixed_host(2, org="mic/ais"), fixed_host(3, org="mica")]
    )
    view.set_org("mic")
    assert sorted(h.org for h in view.visible()) == ["mic", "mic/ais"]


def test_pages_cover_the_fleet_once() -> None:
    view = FleetView(page_size=30)
    view.replace(fixed_fleet(100))
    seen: list[str] = []
    for _ in range(view.pages):
        seen.extend(host.id for host in view.window())
        view.turn_page(1)
    assert view.pages == 4
    assert len(seen) == len(set(seen)) == 100
    assert view.turn_page(1) is False  # already on the last page
    view.set_filter("host")  # a new filter goes back to the first page
    assert view.page == 0


def test_replace_drops_hosts_gone_from_the_auditor() -> None:
    view = FleetView()
    view.replace(fixed_fleet(10))
    view.replace(fixed_fleet(5))
    assert len(view.visible()) == 5


def test_cells_read_without_colour() -> None:
    cells = row_cells(fixed_host(4), FIXED_NOW)
    plain = [str(cell) for cell in cells]
    assert plain[0] == "host-00004"
    assert plain[-1] == "[STALE]"
    assert plain[COLUMN_KEYS.index("last_drill")].startswith("[FAIL]")
    assert plain[COLUMN_KEYS.index("second_factor")] == "100%"
    with pytest.raises(ValueError, match="no column"):
        FleetView().sort_by("nope")
