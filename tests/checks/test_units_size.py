"""Sizes in playbooks: ``10MB`` is decimal, ``2GiB`` binary, a bare number is bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rra.checks.units import format_size, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10MB", 10_000_000),
        ("2GiB", 2 * 2**30),
        ("4 KiB", 4096),
        ("  1TB ", 10**12),
        ("3tib", 3 * 2**40),
        ("10mb", 10_000_000),
        ("1.5KB", 1500),
        ("512B", 512),
        ("512", 512),
        (512, 512),
        (0, 0),
        ("0", 0),
    ],
)
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text",
    ["10 parsecs", "", "MB", "-1", "1e3", "10M", "1,5MB", -1, True, "9" * 400 + ".5MB"],
)
def test_parse_size_rejects(text: str | int) -> None:
    # Always ValueError, which pydantic turns into a located error: never OverflowError/TypeError.
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


def test_parse_size_rejects_non_text() -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(1.5)  # type: ignore[arg-type]  # YAML hands over floats


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (10_000_000, "10MB"),
        (2 * 10**12, "2TB"),
        (3 * 10**9, "3GB"),
        (1000, "1KB"),
        (1024, "1024B"),
        (1500, "1500B"),
        (0, "0B"),
    ],
)
def test_format_size(size: int, expected: str) -> None:
    assert format_size(size) == expected


@given(st.integers(min_value=0, max_value=10**18))
def test_format_then_parse_round_trips(size: int) -> None:
    assert parse_size(format_size(size)) == size
