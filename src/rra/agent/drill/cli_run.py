"""``rra drill run PLAYBOOK``: run a restore drill here and print its evidence (DESIGN §8, §9).

Exit 0 pass, 1 fail, 2 invalid playbook or unsafe sandbox, 10 could not run. When this host is
enrolled, the signed result is also queued for the auditor (sent by the next ``rra agent run``)
and kept as a fact for the host's next reports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from rra.agent.collect import open_state
from rra.agent.config import ConfigError, load_config
from rra.agent.drill.load import PlaybookError, load_playbook, playbook_sha256
from rra.agent.drill.outbox import DrillOutbox, remember
from rra.agent.drill.render import render_drill
from rra.agent.drill.runner import DEFAULT_LOCK_WAIT, run_drill
from rra.agent.enroll import EnrollError, load_identity
from rra.agent.local import LocalHost
from rra.checks.drill import EXIT_INVALID, DrillResult


def _record(config_path: Path | None, result: DrillResult, err: Console) -> str | None:
    """Keep the drill for this host's reports and queue it for the auditor, when enrolled."""
    try:
        state = open_state(load_config(config_path))
    except (ConfigError, OSError) as exc:
        err.print(f"[yellow]note:[/yellow] result not recorded ({escape(str(exc))})")
        return None
    remember(state, result)
    try:
        _enrollment, key = load_identity(state.directory)
    except EnrollError:
        return None  # not enrolled: the drill is a local fact only
    path = DrillOutbox(state.directory).add(result, key)
    return str(path)


def run(
    playbook_file: Annotated[Path, typer.Argument(help="Playbook YAML file.", metavar="PLAYBOOK")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the evidence as JSON.")] = False,
    lock_wait: Annotated[
        float, typer.Option(help="Seconds to wait for another drill on this host.")
    ] = DEFAULT_LOCK_WAIT,
    record: Annotated[
        bool,
        typer.Option(help="Keep the result in the agent's state and queue it for the auditor."),
    ] = True,
    config: Annotated[
        Path | None, typer.Option(help="Agent config (TOML), for the state directory.")
    ] = None,
) -> None:
    """Run a restore drill on this host: restore into the sandbox, verify, time it.

    Exit 0 pass, 1 fail, 2 invalid playbook or unsafe sandbox, 10 could not run.
    """
    err = Console(stderr=True)
    try:
        playbook = load_playbook(playbook_file)
    except PlaybookError as exc:
        for issue in exc.errors:
            err.print(escape(str(issue)), highlight=False, soft_wrap=True)
        if as_json:
            errors = [issue.as_dict() for issue in exc.errors]
            typer.echo(json.dumps({"file": str(playbook_file), "valid": False, "errors": errors}))
        raise typer.Exit(EXIT_INVALID) from None
    digest = playbook_sha256(playbook_file.read_text("utf-8"))

    def progress(message: str) -> None:
        err.print(f"[dim]· {escape(message)}[/dim]", highlight=False)

    result = run_drill(
        playbook,
        LocalHost(),
        playbook_sha256=digest,
        executor="cli",
        lock_wait=lock_wait,
        progress=progress,
    )
    queued = _record(config, result, err) if record else None
    if as_json:
        typer.echo(result.to_json())
    else:
        render_drill(result, Console())
        if queued:
            err.print(f"signed result queued for the auditor: {escape(queued)}")
    raise typer.Exit(result.exit_code)
