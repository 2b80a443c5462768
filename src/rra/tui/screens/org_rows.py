"""The org screen's rows, pure: tree labels, drill counts per org and the trend's readable summary.

Org paths are segment-aware everywhere: ``mic`` covers ``mic`` and ``mic/ais``, never ``mica``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from rich.text import Text

from rra.tui import format as fmt
from rra.tui.models import DrillResult, OrgRollup, TrendPoint

Cell = str | Text
INDENT: Final = "  "


@dataclass(frozen=True)
class OrgColumn:
    key: str
    label: str


COLUMNS: Final = (
    OrgColumn("org", "Org"),
    OrgColumn("score", "Score"),
    OrgColumn("hosts", "Hosts"),
    OrgColumn("stale", "Stale"),
    OrgColumn("second_factor", "2FA"),
    OrgColumn("privileged_second_factor", "Priv 2FA"),
    OrgColumn("without_second_factor", "No 2FA"),
    OrgColumn("direct_machines", "Direct machines"),
    OrgColumn("direct_hosts", "Direct hosts"),
    OrgColumn("backups", "Backups OK"),
    OrgColumn("drills", "Drills"),
)
COLUMN_KEYS: Final = tuple(column.key for column in COLUMNS)


def in_org(path: str, org: str) -> bool:
    """Whether ``path`` is ``org`` or below it (``""`` is the whole agency)."""
    return org == "" or path == org or path.startswith(org + "/")


def depth(org: str) -> int:
    return len(org.split("/")) if org else 0


def tree_labels(orgs: Sequence[str]) -> dict[str, str]:
    """Each org's label in tree order: indented by depth below its nearest listed ancestor, which
    it is named relative to (``mic/ais`` under ``mic`` reads ``  ais``); an org with no listed
    ancestor shows its whole path."""
    listed = set(orgs)
    labels: dict[str, str] = {}
    levels: dict[str, int] = {}
    for org in orgs:
        parts = org.split("/")
        parent = next(
            (
                "/".join(parts[:cut])
                for cut in range(len(parts) - 1, 0, -1)
                if "/".join(parts[:cut]) in listed
            ),
            None,
        )
        if parent is None:
            levels[org] = 0
            labels[org] = org
        else:
            levels[org] = levels.get(parent, 0) + 1
            labels[org] = INDENT * levels[org] + org[len(parent) + 1 :]
    return labels


@dataclass(frozen=True)
class DrillCounts:
    passed: int = 0
    failed: int = 0
    errors: int = 0

    def text(self) -> str:
        if not (self.passed or self.failed or self.errors):
            return fmt.MISSING
        words = f"{self.passed} pass, {self.failed} fail"
        return words + (f", {self.errors} error" if self.errors else "")


def drill_counts(drills: Iterable[DrillResult], org: str) -> DrillCounts:
    """Verdicts of the drills of hosts in ``org`` or below it."""
    verdicts = [drill.verdict for drill in drills if in_org(drill.org, org)]
    return DrillCounts(
        passed=verdicts.count("pass"),
        failed=verdicts.count("fail"),
        errors=verdicts.count("error"),
    )


def org_cells(rollup: OrgRollup, label: str, drills: DrillCounts) -> tuple[Cell, ...]:
    return (
        label,
        fmt.score_text(rollup.org_score),
        str(rollup.hosts),
        str(rollup.stale_hosts),
        fmt.percent(rollup.second_factor_coverage),
        fmt.percent(rollup.privileged_second_factor_coverage),
        str(rollup.accounts_without_second_factor),
        str(rollup.direct_access_machine_count),
        str(rollup.hosts_with_direct_access),
        fmt.percent(rollup.backup_compliance),
        drills.text(),
    )


def org_rows(
    rollups: Sequence[OrgRollup], drills: Sequence[DrillResult]
) -> dict[str, tuple[Cell, ...]]:
    """Every org's cells, keyed by org path, in the order given (the API's tree order)."""
    labels = tree_labels([rollup.org for rollup in rollups])
    return {
        rollup.org: org_cells(rollup, labels[rollup.org], drill_counts(drills, rollup.org))
        for rollup in rollups
    }


def trend_summary(org: str, points: Sequence[TrendPoint]) -> str:
    """The trend in words, so it reads without the sparkline."""
    if not points:
        return f"{org}: no scored reports in the trend window"
    scores = [point.score for point in points]
    first, last = points[0], points[-1]
    days = "day" if len(points) == 1 else "days"
    return (
        f"{org}: {len(points)} {days}, {first.day.isoformat()} → {last.day.isoformat()} · "
        f"min {min(scores):.0f} · max {max(scores):.0f} · last {last.score:.0f}"
        f" ({last.hosts} hosts)"
    )
