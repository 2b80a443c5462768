"""``rra schema ...``: print the published JSON Schemas."""

from __future__ import annotations

import json

import typer

from rra.checks.report import report_json_schema

app = typer.Typer(help="Print the JSON Schemas of rra's documents.", no_args_is_help=True)


@app.callback()
def schema() -> None:
    """Print the JSON Schemas of rra's documents."""


@app.command()
def report() -> None:
    """The JSON Schema of the rra.report/1 envelope."""
    typer.echo(json.dumps(report_json_schema(), indent=2, sort_keys=True))
