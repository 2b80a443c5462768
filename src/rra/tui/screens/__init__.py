"""The TUI's screens, one module each."""

from __future__ import annotations

from textual.worker import WorkType


def job(work: WorkType[None]) -> WorkType[None]:
    """A worker's work as a callable rather than a started coroutine: a job that an exclusive
    newer one cancels before it starts leaves no coroutine never awaited (and this names its
    result type for mypy)."""
    return work
