"""Run a drill now: pick a playbook and a host (:class:`RunDrillForm`), confirm, then ask the
auditor. :func:`confirm_and_trigger` is the one path every screen uses (drills ``n``, the host
screen's "run a drill here", the palette), so the questions and the refusals read the same."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Select, Static

from rra.tui.client import AuditorAuthError, AuditorError
from rra.tui.models import DrillRun, Playbook
from rra.tui.screens.confirm import ConfirmScreen
from rra.tui.source import DataSource

OFFLINE_MESSAGE = "drills need an auditor: this is a report file (offline); connect with --auditor"


class RunDrillForm(ModalScreen[tuple[str, str] | None]):
    """Which playbook on which host: dismisses ``(playbook, host)`` or ``None``."""

    CSS_PATH = "../css/confirm.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, playbooks: Sequence[Playbook], *, host: str | None = None, playbook: str | None = None
    ) -> None:
        super().__init__()
        self.playbooks = list(playbooks)
        self.host = host or ""
        names = [book.name for book in self.playbooks]
        if playbook is None and len(names) == 1:
            playbook = names[0]
        self.playbook = playbook if playbook in names else None

    def compose(self) -> ComposeResult:
        options = [
            (f"{book.name} ({book.org or 'all orgs'})" + ("" if book.enabled else " [disabled]"),
             book.name)
            for book in self.playbooks
        ]  # fmt: skip
        with Vertical(id="run-form"):
            yield Static(Text("Run a drill now"), id="run-title")
            yield Static(Text("Playbook"))
            yield Select(
                options,
                prompt="choose a playbook…",
                value=Select.NULL if self.playbook is None else self.playbook,
                id="run-playbook",
            )
            yield Static(Text("Host (hostname or host id)"))
            yield Input(value=self.host, placeholder="e.g. ais-web-01", id="run-host")
            yield Static("", id="run-error")
            with Horizontal(id="run-buttons"):
                yield Button("Next…", variant="primary", id="run-next")
                yield Button("Cancel (esc)", id="run-cancel")

    def on_mount(self) -> None:
        if self.playbook is None:
            self.query_one("#run-playbook", Select).focus()
        else:
            self.query_one("#run-host", Input).focus()

    def chosen(self) -> tuple[str, str] | str:
        """The answer, or what is still missing."""
        playbook = self.query_one("#run-playbook", Select).value
        host = self.query_one("#run-host", Input).value.strip()
        if not isinstance(playbook, str):
            return "choose a playbook"
        if not host:
            return "type the host to run it on"
        return playbook, host

    def action_submit(self) -> None:
        answer = self.chosen()
        if isinstance(answer, str):
            self.query_one("#run-error", Static).update(Text(answer))
            return
        self.dismiss(answer)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Select.Changed, "#run-playbook")
    def _playbook_chosen(self) -> None:
        self.query_one("#run-host", Input).focus()

    @on(Input.Submitted, "#run-host")
    def _host_submitted(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#run-next")
    def _next_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_submit()

    @on(Button.Pressed, "#run-cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel()


def _tell(app: App[object], message: str, severity: SeverityLevel = "information") -> None:
    # Not markup: an error's own text ("[...]", a hostname) must show as it is.
    timeout = 10.0 if severity == "error" else None
    app.notify(message, title="Run drill", severity=severity, timeout=timeout, markup=False)


async def confirm_and_trigger(
    screen: Screen[Any],
    source: DataSource,
    host: str | None = None,
    *,
    playbook: str | None = None,
) -> DrillRun | None:
    """Ask which playbook on which host (prefilled with ``host``/``playbook``), confirm, then run
    it; every outcome is a notification. Returns the queued run, or ``None``.

    Must run in a worker (it waits for the modals to be dismissed)."""
    app = screen.app
    if source.offline:
        _tell(app, OFFLINE_MESSAGE, "warning")
        return None
    try:
        playbooks = await source.playbooks()
    except AuditorError as error:
        _tell(app, f"cannot list playbooks: {error}", "error")
        return None
    if not playbooks:
        _tell(app, "no playbook is visible to this token", "warning")
        return None
    choice = await app.push_screen_wait(RunDrillForm(playbooks, host=host, playbook=playbook))
    if choice is None:
        return None
    name, target = choice
    question = (
        f"Run playbook “{name}” on “{target}” now?\n"
        "The host's agent (or the worker, for an agentless host) restores into its sandbox "
        "and reports a signed verdict."
    )
    if not await app.push_screen_wait(ConfirmScreen(question, title="Run a drill now")):
        _tell(app, "no drill run: cancelled")
        return None
    try:
        run = await source.trigger_run(name, target)
    except AuditorAuthError as error:
        _tell(app, f"your token may not run drills ({error}); an admin token can", "error")
        return None
    except AuditorError as error:
        _tell(app, f"drill not run: {error}", "error")
        return None
    _tell(app, f"drill run queued: {run.id}")
    return run
