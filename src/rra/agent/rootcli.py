"""The ``rra`` root command. Subcommand groups live with their component and are found through the
``rra.commands`` entry-point group, loaded only when invoked: ``rra agent ...`` never imports FastAPI
or Textual, and an agent-only install says which extra provides a missing group."""

from __future__ import annotations

from enum import StrEnum
from importlib.metadata import EntryPoint, entry_points
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from rra import __version__
from rra.agent.logs import configure_logging

COMMAND_GROUP = "rra.commands"

# One-line help per known group, so ``rra --help`` lists groups without importing them.
_GROUP_HELP = {
    "agent": "Collect facts on this host and report them.",
    "auditor": "Run the central auditor (needs the 'auditor' extra).",
    "demo": "Run the main job on embedded demo data.",
    "drill": "Validate and run restore drills from playbooks.",
    "schema": "Print the JSON Schemas of rra's documents.",
    "tui": "Terminal UI for IT admins and inspectors (needs the 'tui' extra).",
}
_EXTRA_FOR_GROUP = {"auditor": "auditor", "tui": "tui"}
EXIT_USAGE = 2


def _entries() -> dict[str, EntryPoint]:
    return {entry.name: entry for entry in entry_points(group=COMMAND_GROUP)}


def _missing_extra_command(name: str, error: ImportError) -> Any:
    extra = _EXTRA_FOR_GROUP.get(name, name)
    explain_app = typer.Typer(add_completion=False)

    @explain_app.command(
        name=name,
        help=_GROUP_HELP.get(name, ""),
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
    def explain() -> None:
        typer.echo(
            f"error: 'rra {name}' needs the optional extra '{extra}' ({error}); "
            f"install it with: pip install 'rra[{extra}]'",
            err=True,
        )
        raise typer.Exit(EXIT_USAGE)

    return typer.main.get_command(explain_app)


class LazyGroup(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(_entries())

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = _entries().get(cmd_name)
        if entry is None:
            return None
        try:
            target: Any = entry.load()
        except ImportError as exc:
            return _missing_extra_command(cmd_name, exc)
        if not isinstance(target, typer.Typer):
            raise typer.BadParameter(f"entry point {cmd_name!r} is not a Typer app")
        command = typer.main.get_command(target)
        command.name = cmd_name
        return command

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = [(name, _GROUP_HELP.get(name, "")) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class LogFormat(StrEnum):
    console = "console"
    json = "json"


# rich_markup_mode=None keeps help on the plain path, which lists groups without loading them.
root = typer.Typer(
    cls=LazyGroup,
    name="rra",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"rra {__version__}")
        raise typer.Exit()


@root.callback()
def main_options(
    log_format: Annotated[
        LogFormat, typer.Option(help="Log format on stderr (data always goes to stdout).")
    ] = LogFormat.console,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "warning",
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """rra — the Recovery Readiness Auditor: backups that restore, two-factor coverage, direct access."""
    try:
        configure_logging(log_format.value, log_level)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--log-level") from None


def main() -> None:
    root(prog_name="rra")
