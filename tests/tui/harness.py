"""Run one TUI screen on its own, for pilot tests of that screen."""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.screen import Screen


class ScreenHarness(App[None]):
    """An app whose only job is to show ``screen`` (pushed on mount, over an empty default)."""

    def __init__(self, screen: Screen[Any]) -> None:
        super().__init__()
        self._screen_under_test = screen

    def on_mount(self) -> None:
        self.push_screen(self._screen_under_test)
