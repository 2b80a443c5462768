"""``rra auditor collect --inventory FILE``: agentless collection over SSH / WinRM (DESIGN §5).

Exit codes (DESIGN §9): 0 every selected host collected and stored; 2 bad inventory or options;
3 partial: some host unreachable, failed or not stored (each is still reported, with its reason).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rra.auditor.cli_admin import JsonFlag
from rra.auditor.cli_support import (
    EXIT_USAGE,
    database_errors,
    err_console,
    options_from,
    print_json,
    print_table,
    ready_engine,
)

if TYPE_CHECKING:
    from rra.auditor.agentless.collect import HostOutcome

EXIT_PARTIAL = 3


def collect_command(
    ctx: typer.Context,
    inventory: Annotated[
        Path,
        typer.Option("--inventory", "-i", help="Inventory YAML (see examples/inventory.yaml)."),
    ],
    limit: Annotated[
        str | None,
        typer.Option("--limit", "-l", help="Hosts or groups: 'web*,&finance,!fin-db2' (Ansible)."),
    ] = None,
    forks: Annotated[int, typer.Option(min=1, max=256, help="Hosts collected at once.")] = 10,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds allowed per host (its `timeout` var wins).")
    ] = 300.0,
    probe: Annotated[
        bool, typer.Option("--probe", help="Connect to every admin port from here (all hosts).")
    ] = False,
    known_hosts: Annotated[
        Path | None,
        typer.Option(help="Pinned SSH host keys. Default <data_dir>/known_hosts."),
    ] = None,
    store: Annotated[
        bool, typer.Option("--store/--no-store", help="Store the reports in the database.")
    ] = True,
    json_output: JsonFlag = False,
) -> None:
    """Collect hosts without an agent: the agent's collectors over SSH or WinRM."""
    from rra.auditor.agentless.inventory import InventoryError, select_hosts
    from rra.auditor.agentless.inventory_load import load_inventory
    from rra.auditor.agentless.run import CollectOptions, run_collection
    from rra.auditor.agentless.store import store_agentless
    from rra.auditor.signing import load_or_create_auditor_key

    try:
        hosts = select_hosts(load_inventory(inventory), limit)
    except InventoryError as error:
        for issue in error.issues:
            err_console.print(str(issue), markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    settings = options_from(ctx).settings()
    engine = ready_engine(settings) if store else None
    key = load_or_create_auditor_key(settings.data_dir) if store else None
    options = CollectOptions(
        state_root=settings.data_dir / "agentless",
        known_hosts=known_hosts or settings.data_dir / "known_hosts",
        forks=forks,
        timeout=timeout,
        probe=probe,
    )
    rows: list[dict[str, object]] = []
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=json_output or not err_console.is_terminal,
    )
    task = progress.add_task("collecting", total=len(hosts))

    def done(outcome: HostOutcome) -> None:
        host_id, stored = None, None
        if engine is not None and key is not None:
            host_id, stored = store_agentless(engine, key, settings, outcome.name, outcome.report)
        rows.append(_row(outcome, host_id, stored))
        progress.update(task, advance=1, description=f"{outcome.name}: {outcome.status}")
        if not json_output and not err_console.is_terminal:
            err_console.print(f"{outcome.name}: {outcome.status}", markup=False)

    started = time.perf_counter()
    try:
        with database_errors(settings), progress:
            run_collection(hosts, options, on_done=done)
    finally:
        if engine is not None:
            engine.dispose()
    order = {host.name: index for index, host in enumerate(hosts)}
    rows.sort(key=lambda row: order[str(row["host"])])
    _summary(rows, json_output, time.perf_counter() - started)
    if any(row["status"] != "ok" or row["stored"] not in (None, "stored") for row in rows):
        raise typer.Exit(EXIT_PARTIAL)


def _row(outcome: HostOutcome, host_id: str | None, stored: str | None) -> dict[str, object]:
    report = outcome.report
    return {
        "host": outcome.name,
        "host_id": host_id,
        "transport": report.host.transport,
        "status": outcome.status,
        "reason": outcome.reason,
        "score": report.score.total,
        "unknown_findings": sum(1 for finding in report.findings if finding.status == "unknown"),
        "report_id": report.report_id,
        "stored": stored,
        "seconds": round(outcome.seconds, 2),
    }


def _summary(rows: list[dict[str, object]], json_output: bool, seconds: float) -> None:
    if json_output:
        print_json({"hosts": rows, "summary": _counts(rows), "seconds": round(seconds, 2)})
        return
    print_table(
        "Agentless collection",
        ["host", "via", "status", "score", "unknown", "stored", "seconds", "reason"],
        [
            [
                str(row["host"]),
                str(row["transport"]),
                str(row["status"]),
                f"{row['score']:.1f}",
                str(row["unknown_findings"]),
                str(row["stored"] or "-"),
                f"{row['seconds']:.1f}",
                str(row["reason"] or ""),
            ]
            for row in rows
        ],
    )
    counts = _counts(rows)
    err_console.print(
        f"{counts['ok']} collected, {counts['unreachable']} unreachable, {counts['failed']} failed"
        f" of {len(rows)} host(s) in {seconds:.1f} s",
        markup=False,
    )


def _counts(rows: list[dict[str, object]]) -> dict[str, int]:
    return {
        status: sum(1 for row in rows if row["status"] == status)
        for status in ("ok", "unreachable", "failed")
    }
