"""``rra agent ...``: collect facts on this host (later: enroll, run)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import structlog
import typer
from rich.console import Console

from rra.agent.collect import collect_report
from rra.agent.config import ConfigError, load_config
from rra.agent.local import LocalHost
from rra.agent.render import render_summary
from rra.checks.report import Finding

app = typer.Typer(help="Collect facts on this host and report them.", no_args_is_help=True)
log = structlog.get_logger(__name__)

EXIT_READY = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_OPERATIONAL = 10


@app.callback()
def agent() -> None:
    """Collect facts on this host and report them."""


def exit_code_for(findings: list[Finding]) -> int:
    """DESIGN §9: 1 when anything warns or fails, else 3 when anything is unknown, else 0."""
    statuses = {finding.status for finding in findings}
    if statuses & {"fail", "warn"}:
        return EXIT_FINDINGS
    if "unknown" in statuses:
        return EXIT_PARTIAL
    return EXIT_READY


@app.command()
def collect(
    root: Annotated[
        Path | None,
        typer.Option(
            help="Audit a mounted image: read host files under DIR (live facts become unknown)."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="Agent config (TOML). Default /etc/rra/agent.toml when it exists."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the rra.report/1 envelope as JSON on stdout.")
    ] = False,
) -> None:
    """Collect this host's facts, evaluate the checks and print the report."""
    err = Console(stderr=True)
    try:
        agent_config = load_config(config)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    if root is not None and not root.is_dir():
        err.print(f"error: --root {root}: not a directory", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    host = LocalHost(root or "/")
    try:
        with err.status("collecting", spinner="dots") as status:
            report = collect_report(
                agent_config, host, progress=lambda message: status.update(message)
            )
    except PermissionError as exc:
        err.print(f"error: {exc}", highlight=False)
        raise typer.Exit(EXIT_OPERATIONAL) from None
    if json_output:
        sys.stdout.write(report.to_json() + "\n")
    else:
        render_summary(report, Console())
    raise typer.Exit(exit_code_for(report.findings))
