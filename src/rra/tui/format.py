"""Cell text for every screen: one place decides how a score, an age or a status reads.

Statuses and verdicts are badges — a word in brackets *and* a colour — so they read the same on a
monochrome terminal, in a screen reader and in a captured pane.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from rich.text import Text

MISSING: Final = "—"

STATUS_STYLE: Final = {
    "active": "green",
    "late": "yellow",
    "stale": "bold red",
    "retired": "dim",
}
VERDICT_STYLE: Final = {"pass": "green", "fail": "bold red", "error": "bold magenta"}
RUN_STATE_STYLE: Final = {"pending": "cyan", "claimed": "yellow", "done": "green"}
SEVERITY_STYLE: Final = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def badge(word: str, styles: dict[str, str]) -> Text:
    """``[WORD]`` in its colour: readable without the colour."""
    return Text(f"[{word.upper()}]", style=styles.get(word, ""))


def status_badge(status: str) -> Text:
    return badge(status, STATUS_STYLE)


def verdict_badge(verdict: str | None) -> Text:
    return Text(MISSING) if verdict is None else badge(verdict, VERDICT_STYLE)


def score_style(score: float | None) -> str:
    if score is None:
        return "dim"
    if score >= 80:
        return "green"
    if score >= 50:
        return "yellow"
    return "bold red"


def score_text(score: float | None) -> Text:
    return Text(MISSING if score is None else f"{score:.0f}", style=score_style(score))


def percent(value: float | None) -> str:
    return MISSING if value is None else f"{value * 100:.0f}%"


def hours(value: float | None) -> str:
    """A backup age: ``45m``, ``5.0h``, ``3.0d``."""
    if value is None:
        return MISSING
    if value < 1:
        return f"{value * 60:.0f}m"
    if value < 48:
        return f"{value:.1f}h"
    return f"{value / 24:.1f}d"


def count(value: int | None) -> str:
    return MISSING if value is None else str(value)


def ago(moment: datetime | None, now: datetime) -> str:
    """How long before ``now``: ``40s``, ``5m``, ``3h``, ``2d`` (``—`` for never)."""
    if moment is None:
        return MISSING
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = max(0.0, (now - moment).total_seconds())
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m"
    if seconds < 172800:
        return f"{seconds // 3600:.0f}h"
    return f"{seconds // 86400:.0f}d"


def timestamp(moment: datetime | None) -> str:
    """An absolute UTC time for evidence: ``2026-11-24 09:30Z``."""
    if moment is None:
        return MISSING
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")


def seconds(value: float | None) -> str:
    """An RTO: ``95s``, ``12.5m``, ``3.2h``."""
    if value is None:
        return MISSING
    if value < 120:
        return f"{value:.0f}s"
    if value < 7200:
        return f"{value / 60:.1f}m"
    return f"{value / 3600:.1f}h"
