"""``rra auditor drill ...`` (playbooks, manual runs, history) and ``rra auditor worker`` (the
agentless drill executor). Local commands act as actor ``cli`` with agency-wide scope and go
through ``rra.auditor.drills`` — the same code as the API — so every change is audit-logged.

``drill run --wait`` exit codes: 0 pass, 1 fail, 10 error (or superseded), 11 still not done when
the wait ran out."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlmodel import Session

from rra.agent.drill.load import MAX_PLAYBOOK_BYTES
from rra.auditor.cli_admin import JsonFlag, run_admin
from rra.auditor.cli_support import (
    EXIT_OPERATIONAL,
    database_errors,
    fail,
    options_from,
    org_argument,
    out_console,
    print_json,
    print_table,
    ready_engine,
)
from rra.auditor.drills import queries, store
from rra.auditor.drills.schemas import DrillRunPublic
from rra.auditor.signing import load_or_create_auditor_key
from rra.checks.units import parse_duration

drill_app = typer.Typer(
    help="Restore-drill playbooks scheduled from the auditor.", no_args_is_help=True
)

EXIT_DRILL_FAIL = 1
EXIT_DRILL_ERROR = EXIT_OPERATIONAL
EXIT_WAIT_TIMEOUT = EXIT_OPERATIONAL + 1
POLL_SECONDS = 0.5


def _read(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PLAYBOOK_BYTES + 1)
        return data.decode("utf-8")
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}")
    except UnicodeDecodeError:
        fail(f"{path}: not UTF-8 text")


@drill_app.command("add")
def drill_add(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Playbook YAML files.")],
    org: Annotated[
        str | None, typer.Option(help="Org the playbooks schedule within; default '/' (agency).")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace playbooks of the same name.")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Validate and store playbooks (all or none); their schedules start on the next claim."""
    scope = None if org is None else org_argument(org)
    texts = [(path, _read(path)) for path in files]

    def add(session: Session) -> list[dict[str, Any]]:
        added = []
        for path, text in texts:
            row, replaced = store.add_playbook(
                session, text, source=str(path), org=scope, replace=replace
            )
            added.append(
                queries.playbook_public(row).model_dump(mode="json") | {"replaced": replaced}
            )
        return added

    documents = run_admin(ctx, add)
    if json_output:
        print_json(documents)
        return
    for document in documents:
        verb = "replaced" if document["replaced"] else "added"
        out_console.print(f"{verb} playbook {document['name']} (org {document['org'] or '/'}, "
                          f"schedule {document['schedule'] or 'none'})", markup=False)  # fmt: skip


@drill_app.command("list")
def drill_list(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """List stored playbooks."""
    documents = run_admin(
        ctx,
        lambda s: [
            queries.playbook_public(r).model_dump(mode="json") for r in store.list_playbooks(s)
        ],
    )
    if json_output:
        print_json(documents)
        return
    columns = ("name", "org", "schedule", "targets", "sha256")
    rows = [
        [d["name"], d["org"] or "/", d["schedule"], _targets(d["targets"]), d["sha256"][:12]]
        for d in documents
    ]
    print_table("Playbooks", columns, rows)


def _targets(targets: dict[str, Any]) -> str:
    parts = [*targets.get("hosts", []), *(f"{k}={v}" for k, v in targets.get("labels", {}).items())]
    return ", ".join(parts) or "-"


@drill_app.command("remove")
def drill_remove(ctx: typer.Context, name: Annotated[str, typer.Argument(metavar="NAME")]) -> None:
    """Remove a playbook: its pending runs go; runs in progress and results stay."""
    run_admin(ctx, lambda session: store.remove_playbook(session, name))
    out_console.print(f"playbook {name} removed", markup=False)


def _wait(ctx: typer.Context, run_id: str, seconds: float) -> DrillRunPublic:
    settings = options_from(ctx).settings()
    engine = ready_engine(settings)
    deadline = time.monotonic() + seconds
    try:
        while True:
            with database_errors(settings), Session(engine) as session:
                run = queries.visible_run(session, run_id, "")
            if run.state == "done" or time.monotonic() >= deadline:
                return run
            time.sleep(POLL_SECONDS)
    finally:
        engine.dispose()


@drill_app.command("run")
def drill_run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME")],
    host: Annotated[
        str, typer.Option(help="Enrolled host (id or hostname) or agentless hostname.")
    ],
    wait: Annotated[
        float | None, typer.Option(metavar="SECONDS", help="Wait for the verdict this long.")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Run a playbook now on one host: its agent claims it, or the worker for an agentless host."""
    created = run_admin(
        ctx, lambda session: queries.run_public(store.trigger_run(session, name, host), None)
    )
    run = created if wait is None else _wait(ctx, created.id, wait)
    if json_output:
        print_json(run.model_dump(mode="json"))
    else:
        out_console.print(f"run {run.id}: {run.playbook} on {run.target} via {run.executor}, "
                          f"{run.state}" + (f", verdict {run.verdict}" if run.verdict else ""),
                          markup=False)  # fmt: skip
    if wait is None:
        return
    if run.state != "done":
        raise typer.Exit(EXIT_WAIT_TIMEOUT)
    if run.verdict != "pass":
        raise typer.Exit(EXIT_DRILL_FAIL if run.verdict == "fail" else EXIT_DRILL_ERROR)


@drill_app.command("history")
def drill_history(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Host id or hostname.")] = None,
    playbook: Annotated[str | None, typer.Option(help="Only this playbook.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    json_output: JsonFlag = False,
) -> None:
    """Drill results, newest first."""

    def history(session: Session) -> list[dict[str, Any]]:
        items, _total = queries.drill_history(
            session, "", host=host, playbook=playbook, limit=limit
        )
        return [item.model_dump(mode="json") for item in items]

    documents = run_admin(ctx, history)
    if json_output:
        print_json(documents)
        return
    columns = ("started_at", "playbook", "hostname", "verdict", "rto_seconds", "signer", "drill_id")
    print_table(
        "Drills",
        columns,
        [[str(d[c]) if d[c] is not None else None for c in columns] for d in documents],
    )


def worker_command(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Run what is due, then exit.")] = False,
    interval: Annotated[str, typer.Option(help="Loop mode: poll this often.")] = "60s",
    worker_id: Annotated[
        str | None, typer.Option(help="Name recorded on claimed runs. Default host:pid.")
    ] = None,
    inventory: Annotated[
        Path | None,
        typer.Option("--inventory", "-i", help="Reach targets over SSH as in `auditor collect`."),
    ] = None,
    known_hosts: Annotated[
        Path | None, typer.Option(help="Pinned SSH host keys. Default <data_dir>/known_hosts.")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Execute agentless drill runs (targets without an agent), signed with the auditor key."""
    from rra.auditor.agentless.inventory import InventoryError
    from rra.auditor.agentless.inventory_load import load_inventory
    from rra.auditor.drills.worker import (
        Transport,
        WorkOutcome,
        inventory_transport,
        local_transport,
        run_worker,
        work_once,
    )

    try:
        every = parse_duration(interval)
    except ValueError as exc:
        fail(f"--interval {interval!r}: {exc}")
    settings = options_from(ctx).settings()
    transport: Transport = local_transport
    if inventory is not None:
        try:
            hosts = load_inventory(inventory)
        except InventoryError as error:
            fail(str(error))
        transport = inventory_transport(hosts, known_hosts or settings.data_dir / "known_hosts")
    engine = ready_engine(settings)
    key = load_or_create_auditor_key(settings.data_dir)
    me = worker_id or f"{socket.gethostname()}:{os.getpid()}"

    def show(outcome: WorkOutcome) -> None:
        if json_output:
            print_json(outcome.__dict__)
        else:
            out_console.print(f"run {outcome.run_id}: {outcome.playbook} on {outcome.target}: "
                              f"{outcome.verdict} ({outcome.status})", markup=False)  # fmt: skip

    try:
        with database_errors(settings):
            if once:
                for outcome in work_once(engine, key, worker_id=me, transport=transport):
                    show(outcome)
                return
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            try:
                run_worker(
                    engine,
                    key,
                    worker_id=me,
                    interval=every,
                    stop=stop,
                    on_outcome=show,
                    transport=transport,
                )
            except KeyboardInterrupt:
                stop.set()
    finally:
        engine.dispose()
