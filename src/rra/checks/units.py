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
        seconds: float = text
    else:
        # YAML hands over None for an empty value, or a date; .match would raise TypeError.
        match = _DURATION.match(text) if isinstance(text, str) else None
        if not match:
            raise ValueError("expected a duration such as '24h', '30d' or '15m'")
        value, unit = match.groups()
        seconds = float(value) * _DURATION_UNITS[unit.lower()]
    # timedelta raises OverflowError (not ValueError, so pydantic would not report it) past
    # ~2.7 million years, and for inf/nan.
    try:
        return timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        raise ValueError("a duration must be a finite, reasonable length") from None


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


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_size(text: str | int) -> int:
    """Parse ``10MB`` (decimal), ``4GiB`` (binary) or a bare byte count into bytes."""
    if isinstance(text, bool):
        raise ValueError("expected a size such as '10MB' or '2GiB'")
    if isinstance(text, int):
        if text < 0:
            raise ValueError("a size cannot be negative")
        return text
    match = _SIZE.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError("expected a size such as '10MB', '2GiB' or a byte count")
    value, unit = match.groups()
    factor = _SIZE_UNITS[(unit or "b").lower()]
    if value.isdigit():  # exact: a float loses bytes above 2**53, so sizes would not round-trip
        return int(value) * factor
    try:
        return int(float(value) * factor)
    except OverflowError:  # hundreds of digits overflow float to inf; pydantic needs ValueError
        raise ValueError("a size must be a finite number") from None


def format_size(size: int) -> str:
    for unit, factor in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"


Size = Annotated[
    int,
    BeforeValidator(parse_size),
    PlainSerializer(format_size, return_type=str),
]
