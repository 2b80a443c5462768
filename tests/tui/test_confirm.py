"""The confirmation modal: y/enter confirm, n/escape cancel, a question shown as written, and a
second key press cannot answer twice."""

from __future__ import annotations

import asyncio

import pytest
from textual.app import App
from textual.widgets import Button, Static

from rra.tui.screens.confirm import ConfirmScreen

QUESTION = "Run playbook “[bold]x[/bold]” on “ais-web-01” now?"


class Asker(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.answers: list[bool | None] = []

    def on_mount(self) -> None:
        self.push_screen(ConfirmScreen(QUESTION, confirm_label="Run"), self.answers.append)


@pytest.mark.parametrize(
    ("keys", "answer"),
    [(("y",), True), (("enter",), True), (("n",), False), (("escape",), False)],
)
def test_keys_answer_the_question(keys: tuple[str, ...], answer: bool) -> None:
    async def scenario() -> None:
        app = Asker()
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ConfirmScreen)
            # Text, not markup: the brackets in the question show as typed.
            assert str(screen.query_one("#confirm-question", Static).content) == QUESTION
            assert str(screen.query_one("#confirm", Button).label) == "Run (y)"
            await pilot.press(*keys)
            await pilot.pause()
            assert app.answers == [answer]
            assert not isinstance(app.screen, ConfirmScreen)

    asyncio.run(scenario())


def test_buttons_answer_once() -> None:
    async def scenario() -> None:
        app = Asker()
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ConfirmScreen)
            await pilot.click("#cancel")
            screen.action_confirm()  # a late key after the answer changes nothing
            await pilot.pause()
            assert app.answers == [False]

    asyncio.run(scenario())
