"""Human units used in configs and playbooks: durations (``24h``, ``30d``) and sizes (``10MB``)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse ``90s``, ``15m``, ``24h``, ``30d``, ``2w``; a bare number is seconds."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, bool):
        raise ValueError("expected a duration such as '24h', '30d' or '15m'")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=text)
    match = _DURATION.match(text)
    if not match:
        raise ValueError("expected a duration such as '24h', '30d' or '15m'")
    value, unit = match.groups()
    return timedelta(seconds=float(value) * _DURATION_UNITS[unit.lower()])


def format_duration(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    for unit in ("w", "d", "h", "m"):
        size = _DURATION_UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]
