"""A yes/no question in a modal: ``y``/``enter`` confirm, ``n``/``escape`` cancel."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses ``True`` when confirmed, ``False`` when cancelled."""

    CSS_PATH = "../css/confirm.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Confirm"),
        Binding("enter", "confirm", "Confirm", show=False),
        Binding("n", "cancel", "Cancel"),
        Binding("escape", "cancel", "Cancel", show=False),
    ]

    def __init__(
        self,
        question: str,
        *,
        confirm_label: str = "Run",
        cancel_label: str = "Cancel",
        title: str = "Confirm",
    ) -> None:
        super().__init__()
        self.question = question
        self.confirm_label = confirm_label
        self.cancel_label = cancel_label
        self.title_text = title
        self._answered = False

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Static(Text(self.title_text), id="confirm-title")
            # Text, not markup: a hostname or playbook in "[…]" shows as it is.
            yield Static(Text(self.question), id="confirm-question")
            with Horizontal(id="confirm-buttons"):
                yield Button(f"{self.confirm_label} (y)", variant="warning", id="confirm")
                yield Button(f"{self.cancel_label} (n)", variant="default", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    def _answer(self, value: bool) -> None:
        if not self._answered:  # a second key press must not dismiss twice
            self._answered = True
            self.dismiss(value)

    def action_confirm(self) -> None:
        self._answer(True)

    def action_cancel(self) -> None:
        self._answer(False)

    @on(Button.Pressed, "#confirm")
    def _confirm_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._answer(True)

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._answer(False)
