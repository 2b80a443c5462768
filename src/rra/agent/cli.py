"""``rra agent ...``: collect facts on this host, enroll it with an auditor, run (collect + send)."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Annotated

import structlog
import typer
from rich.console import Console
from rich.markup import escape

from rra.agent.collect import collect_report, open_state
from rra.agent.collectors.system import collect_host_info
from rra.agent.config import AgentConfig, ConfigError, load_config
from rra.agent.enroll import EnrollError
from rra.agent.enroll import enroll as enroll_host
from rra.agent.local import LocalHost
from rra.agent.render import render_summary
from rra.agent.run import RunSummary, run_loop, run_once, stop_on_signals
from rra.agent.spool import SpoolBusy
from rra.checks.report import Finding

app = typer.Typer(help="Collect facts on this host and report them.", no_args_is_help=True)
log = structlog.get_logger(__name__)
TOKEN_ENV = "RRA_ENROLL_TOKEN"  # noqa: S105 - the variable's name, not a token

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


def _fail(err: Console, message: str, code: int) -> typer.Exit:
    # escape: messages carry the auditor's own text, which must not be read as markup
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _load_config_or_exit(path: Path | None, err: Console) -> AgentConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise _fail(err, str(exc), EXIT_USAGE) from None


ConfigOption = Annotated[
    Path | None,
    typer.Option(help="Agent config (TOML). Default /etc/rra/agent.toml when it exists."),
]


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
    agent_config = _load_config_or_exit(config, err)
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


def _read_token(token: str | None, token_file: Path | None, err: Console) -> str:
    """Exactly one source: --token, --token-file, else the environment. Never echoed."""
    if token is not None and token_file is not None:
        raise _fail(err, "give the token once: --token or --token-file, not both", EXIT_USAGE)
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise _fail(err, f"--token-file {token_file}: {exc.strerror}", EXIT_USAGE) from None
        except UnicodeDecodeError:
            raise _fail(err, f"--token-file {token_file}: not UTF-8 text", EXIT_USAGE) from None
    elif token is None:
        token = os.environ.get(TOKEN_ENV, "").strip() or None
    if not token:
        raise _fail(
            err, f"an enrollment token is needed: --token-file FILE or {TOKEN_ENV}", EXIT_USAGE
        )
    return token


@app.command()
def enroll(
    auditor: Annotated[
        str, typer.Option(help="The auditor's base URL, e.g. https://auditor.example.org:8443")
    ],
    ca_cert: Annotated[
        Path | None,
        typer.Option(
            help="The auditor's CA certificate (PEM), pinned for every connection; required for https."
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help="One-time enrollment token. Other users can read it in 'ps' while this runs: "
            f"prefer --token-file or the {TOKEN_ENV} environment variable."
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(help="Read the enrollment token from this file (keep it mode 0600)."),
    ] = None,
    config: ConfigOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing enrollment (new key, new host id).")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the enrollment as JSON on stdout.")
    ] = False,
) -> None:
    """Register this host with the auditor: a new host key, sent with a one-time token."""
    err = Console(stderr=True)
    agent_config = _load_config_or_exit(config, err)
    secret = _read_token(token, token_file, err)
    try:
        state = open_state(agent_config)
        host_info = collect_host_info(LocalHost("/"), agent_config)
        enrollment, answer = enroll_host(
            state.directory,
            auditor,
            secret,
            ca_cert,
            host_info,
            force=force,
            timeout=agent_config.delivery.timeout.total_seconds(),
        )
    except EnrollError as exc:
        raise _fail(err, str(exc), EXIT_USAGE if exc.bad_input else EXIT_OPERATIONAL) from None
    except PermissionError as exc:
        raise _fail(err, str(exc), EXIT_OPERATIONAL) from None
    err.print(
        f"enrolled as host {answer.host_id} in org {answer.org} "
        f"(criticality {answer.criticality}); state in {state.directory}",
        highlight=False,
        soft_wrap=True,
    )
    if answer.clone_of:
        err.print(
            f"[yellow]warning:[/yellow] the auditor flagged this host as a possible clone of "
            f"host {answer.clone_of} (same machine id, another key)",
            highlight=False,
            soft_wrap=True,
        )
    if json_output:
        document = {
            **enrollment.model_dump(mode="json"),
            "clone_of": answer.clone_of,
            "state_dir": str(state.directory),
        }
        sys.stdout.write(json.dumps(document, indent=2) + "\n")


def _emit(summary: RunSummary, err: Console, json_output: bool) -> None:
    err.print(
        f"report {summary.report_id} (seq {summary.seq}): sent {summary.sent}, "
        f"rejected {summary.rejected}, still spooled {summary.spooled}, "
        f"dropped so far {summary.dropped_total}",
        highlight=False,
        soft_wrap=True,
    )
    if summary.error:
        err.print(
            f"[red]not delivered:[/red] {escape(summary.error)}", highlight=False, soft_wrap=True
        )
    if json_output:
        sys.stdout.write(json.dumps(summary.as_dict()) + "\n")
        sys.stdout.flush()


@app.command()
def run(
    once: Annotated[
        bool, typer.Option("--once", help="One cycle, then exit (for a timer or scheduled task).")
    ] = False,
    config: ConfigOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print each cycle's summary as a JSON line on stdout.")
    ] = False,
) -> None:
    """Collect, sign and spool a report, then send the spool to the auditor; repeat unless --once.

    Exit codes with --once: 0 everything delivered, 10 something is still spooled or was rejected
    (auditor unreachable, host refused), 2 bad configuration.
    """
    err = Console(stderr=True)
    agent_config = _load_config_or_exit(config, err)
    host = LocalHost("/")
    try:
        if once:
            with err.status("collecting", spinner="dots") as status:
                summary = run_once(agent_config, host, progress=lambda m: status.update(m))
            _emit(summary, err, json_output)
            raise typer.Exit(EXIT_READY if summary.delivered else EXIT_OPERATIONAL)
        stop = threading.Event()
        with stop_on_signals(stop):
            run_loop(agent_config, host, stop, lambda s: _emit(s, err, json_output))
    except (EnrollError, SpoolBusy, PermissionError) as exc:
        raise _fail(err, str(exc), EXIT_OPERATIONAL) from None
    raise typer.Exit(EXIT_READY)
