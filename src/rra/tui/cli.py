"""``rra tui``: the terminal UI, on the auditor's API or on one report file (offline)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from rra.tui.client import AuditorClient, check_base_url, read_token
from rra.tui.screens.fleet import REFRESH_SECONDS
from rra.tui.source import ApiSource, DataSource, ReportSource

EXIT_USAGE = 2
app = typer.Typer(add_completion=False, no_args_is_help=False)


def _source(
    auditor: str | None, token_file: Path | None, ca_cert: Path | None, report: Path | None
) -> DataSource:
    if report is not None:
        if auditor is not None or token_file is not None:
            raise ValueError("--report opens one report offline: drop --auditor/--token-file")
        return ReportSource.from_file(report)
    if auditor is None or token_file is None:
        raise ValueError(
            "give --auditor URL --token-file FILE (or --report FILE to read a report offline)"
        )
    check_base_url(auditor)
    if ca_cert is not None and not ca_cert.is_file():
        raise ValueError(f"--ca-cert {ca_cert}: no such file")
    token = read_token(token_file)
    return ApiSource(AuditorClient(auditor, token, ca_cert=ca_cert))


def _warn_if_readable(token_file: Path | None, err: Console) -> None:
    if token_file is None or os.name != "posix":
        return
    mode = token_file.stat().st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        err.print(
            f"warning: {token_file} is readable by other users; chmod 600 it", highlight=False
        )


@app.command()
def tui(
    auditor: Annotated[
        str | None,
        typer.Option("--auditor", envvar="RRA_AUDITOR_URL", help="Auditor URL (https://…)."),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", help="File holding an API token (inspector or admin)."),
    ] = None,
    ca_cert: Annotated[
        Path | None,
        typer.Option("--ca-cert", help="CA certificate to trust for the auditor's TLS."),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Open one report (rra agent collect --json) offline."),
    ] = None,
    refresh: Annotated[
        float, typer.Option("--refresh", min=5.0, help="Seconds between fleet reloads.")
    ] = REFRESH_SECONDS,
) -> None:
    """Fleet, host, org and drill screens for IT admins and inspectors."""
    err = Console(stderr=True)
    try:
        source = _source(auditor, token_file, ca_cert, report)
        _warn_if_readable(token_file, err)
    except ValueError as error:
        err.print(f"error: {error}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    from rra.tui.app import RraApp  # Textual loads only once the arguments are good

    RraApp(source, refresh_seconds=refresh).run()
