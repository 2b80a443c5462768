"""``rra schema ...``: print the published JSON Schemas."""

from __future__ import annotations

import json

import typer

from rra.checks.drill import drill_json_schema
from rra.checks.playbook import playbook_json_schema
from rra.checks.report import report_json_schema

app = typer.Typer(help="Print the JSON Schemas of rra's documents.", no_args_is_help=True)


@app.callback()
def schema() -> None:
    """Print the JSON Schemas of rra's documents."""


@app.command()
def report() -> None:
    """The JSON Schema of the rra.report/1 envelope."""
    typer.echo(json.dumps(report_json_schema(), indent=2, sort_keys=True))


@app.command()
def playbook() -> None:
    """The JSON Schema of a restore-drill playbook (rra.playbook/1)."""
    typer.echo(json.dumps(playbook_json_schema(), indent=2, sort_keys=True))


@app.command()
def drill() -> None:
    """The JSON Schema of restore-drill evidence (rra.drill/1)."""
    typer.echo(json.dumps(drill_json_schema(), indent=2, sort_keys=True))
