"""``rra drill ...``: validate (and run) restore-drill playbooks (DESIGN §8, exit codes §9)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from rra.agent.drill import cli_run
from rra.agent.drill.load import PlaybookError, load_playbook
from rra.checks.drill import EXIT_INVALID, EXIT_PASS

app = typer.Typer(help="Validate and run restore drills from playbooks.", no_args_is_help=True)


@app.callback()
def drill() -> None:
    """Validate and run restore drills from playbooks."""


def _validate_one(path: Path) -> dict[str, Any]:
    try:
        playbook = load_playbook(path)
    except PlaybookError as exc:
        errors = [issue.as_dict() for issue in exc.errors]
        for issue in exc.errors:
            typer.echo(str(issue), err=True)
        return {"file": str(path), "valid": False, "name": None, "errors": errors}
    return {"file": str(path), "valid": True, "name": playbook.name, "errors": []}


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Playbook YAML files.", metavar="FILE...")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list of results on stdout.")
    ] = False,
) -> None:
    """Check playbooks without running them; every error names file:line:column and field.

    Exit 0 when all are valid, 2 when any is invalid or unreadable.
    """
    results = [_validate_one(path) for path in files]
    if as_json:
        typer.echo(json.dumps(results, indent=2))
    else:
        for result in results:
            if result["valid"]:
                typer.echo(f"OK {result['name']} ({result['file']})")
    valid = all(result["valid"] for result in results)
    raise typer.Exit(EXIT_PASS if valid else EXIT_INVALID)


# `run` lives in its own module (it pulls in the runner); registered here so `rra drill` has both.
app.command("run")(cli_run.run)
