"""The ``rra`` root command. Subcommand groups live with their component and are found through the
``rra.commands`` entry-point group, loaded only when invoked: ``rra agent ...`` never imports FastAPI
or Textual, and an agent-only install says which extra provides a missing group."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

import click
import typer

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


def _entries() -> dict[str, EntryPoint]:
    return {entry.name: entry for entry in entry_points(group=COMMAND_GROUP)}


def _missing_extra_command(name: str, error: ImportError) -> click.Command:
    extra = _EXTRA_FOR_GROUP.get(name, name)

    def explain() -> None:
        raise click.UsageError(
            f"'rra {name}' needs the optional extra '{extra}' ({error}); "
            f"install it with: pip install 'rra[{extra}]'"
        )

    return click.Command(name, callback=explain, help=_GROUP_HELP.get(name, ""))


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_entries())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _entries().get(cmd_name)
        if entry is None:
            return None
        try:
            target: Any = entry.load()
        except ImportError as exc:
            return _missing_extra_command(cmd_name, exc)
        command = typer.main.get_command(target) if isinstance(target, typer.Typer) else target
        if not isinstance(command, click.Command):
            raise click.ClickException(f"entry point {cmd_name!r} is not a command")
        command.name = cmd_name
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _GROUP_HELP.get(name, "")) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rra")
@click.option(
    "--log-format",
    type=click.Choice(["console", "json"]),
    default="console",
    show_default=True,
    help="Log format on stderr.",
)
@click.option("--log-level", default="warning", show_default=True, help="debug, info, warning, error.")
def root(log_format: str, log_level: str) -> None:
    """rra — the Recovery Readiness Auditor: backups that restore, two-factor coverage, direct access."""
    try:
        configure_logging("json" if log_format == "json" else "console", log_level)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--log-level") from None


def main() -> None:
    root(prog_name="rra")
