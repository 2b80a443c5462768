"""``rra demo``: the main job on embedded defaults, on one machine, in well under a minute.

Builds a demo folder with sample data and two real restic repositories — ``finance`` backed up two
hours ago with a suspicious 30 % change since the previous snapshot, ``hr`` last backed up three
days ago — writes an agent config for them and runs a real collection.
"""

from __future__ import annotations

import os
import secrets
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from rra.agent.cli import exit_code_for
from rra.agent.collect import collect_report
from rra.agent.collectors.system import collect_host_info
from rra.agent.config import ConfigError, load_config
from rra.agent.demo_drill import (
    PLAYBOOK_NAME,
    run_local_drill,
    schedule_demo_drill,
    write_demo_playbook,
)
from rra.agent.demo_fleet import (
    FleetDemoError,
    auditor_available,
    enroll_and_run,
    fetch_fleet,
    render_fleet,
    running_auditor,
)
from rra.agent.drill.render import render_drill
from rra.agent.enroll import EnrollError
from rra.agent.local import LocalHost
from rra.agent.render import render_summary
from rra.agent.restic.commands import backup_argv, init_argv
from rra.agent.run import RunSummary
from rra.agent.state import StateStore, atomic_write_bytes
from rra.checks.drill import DrillResult
from rra.checks.report import Report

app = typer.Typer(help="Run the main job on embedded demo data.")

MARKER = ".rra-demo"
DEMO_HOST = "demo-host"  # the restic snapshot hostname the demo config expects
RESTIC_TIME = "%Y-%m-%d %H:%M:%S"


class DemoError(Exception):
    pass


def _prepare_folder(folder: Path) -> None:
    """Reuse only a folder this command made; never delete anything else."""
    if folder.exists():
        if not (folder / MARKER).exists():
            if any(folder.iterdir()):
                raise DemoError(
                    f"{folder} exists and was not made by 'rra demo'; choose another --dir"
                )
        else:
            shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("made by rra demo; deleted and rebuilt by the next run\n")


def _write_files(directory: Path, count: int, tag: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for index in range(count):
        path = directory / f"{tag}-{index:04d}.csv"
        path.write_text(f"id,amount,tag\n{index},{index * 37 % 1000},{tag}\n" * 8)
        files.append(path)
    return files


def _restic(host: LocalHost, argv: list[str]) -> None:
    result = host.run(argv, timeout=120)
    if result.rc != 0:
        raise DemoError(f"{' '.join(argv[:1] + argv[-2:])} failed: {result.stderr_text.strip()}")


def build_demo(folder: Path, now: datetime) -> Path:
    """Create data, repositories and ``agent.toml`` under ``folder``; return the config path."""
    host = LocalHost()
    _prepare_folder(folder)
    password_file = folder / "secrets" / "restic.pass"
    atomic_write_bytes(password_file, secrets.token_urlsafe(24).encode())  # mode 0600
    finance, hr = folder / "data" / "finance", folder / "data" / "hr"
    finance_files = _write_files(finance, 200, "ledger")
    _write_files(hr, 50, "staff")
    repos = {name: folder / "repos" / name for name in ("finance", "hr")}
    for repo in repos.values():
        _restic(host, init_argv("restic", str(repo), password_file=str(password_file)))

    def backup(repo: Path, path: Path, age: timedelta) -> None:
        when = (now - age).astimezone().strftime(RESTIC_TIME)  # restic reads --time as local time
        _restic(
            host,
            backup_argv(
                "restic",
                str(repo),
                [str(path)],
                password_file=str(password_file),
                host=DEMO_HOST,
                time=when,
            ),
        )

    backup(repos["finance"], finance, timedelta(hours=26))
    # Between the two newest finance snapshots 50 ledgers are rewritten and 10 removed: about 30 %
    # of the 200 files, above the 20 % mass-change warning (the pattern ransomware leaves).
    for path in finance_files[:50]:
        path.write_text("ENCRYPTED" + secrets.token_hex(32))
    for path in finance_files[50:60]:
        path.unlink()
    backup(repos["finance"], finance, timedelta(hours=2))
    backup(repos["hr"], hr, timedelta(days=3))
    write_demo_playbook(
        folder, repos["finance"], password_file, finance, DEMO_HOST, host.hostname()
    )

    config = folder / "agent.toml"
    config.write_text(
        f"""# written by rra demo
[agent]
org = "demo/finance-unit"
criticality = "high"
state_dir = "{folder / "state"}"

[[backup]]
name = "finance"
repository = "{repos["finance"]}"
password_file = "{password_file}"
paths = ["{finance}"]
host = "{DEMO_HOST}"
rpo = "24h"

[[backup]]
name = "hr"
repository = "{repos["hr"]}"
password_file = "{password_file}"
paths = ["{hr}"]
host = "{DEMO_HOST}"
rpo = "24h"
check_read_data = "all"

[exposure]
bastions = ["10.0.5.10"]
"""
    )
    return config


@app.command()
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Demo folder (made, or rebuilt).")
    ] = Path("demo"),
    local_only: Annotated[
        bool, typer.Option("--local-only", help="Collect only; do not start an auditor.")
    ] = False,
) -> None:
    """Build the demo folder with real restic repositories, start an auditor on loopback (TLS),
    enroll this agent, run it once and print the fleet summary from the auditor's API."""
    err = Console(stderr=True)
    folder = directory.resolve()
    now = datetime.now(UTC)
    with_auditor = not local_only and auditor_available()
    if not local_only and not with_auditor:
        err.print(
            "note: the auditor extra is not installed (pip install 'rra[auditor]'); "
            "running the local collection only",
            highlight=False,
        )
    reports: list[Report] = []
    drills: list[DrillResult] = []
    fleet: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None
    summary: RunSummary | None = None
    try:
        with err.status("building demo data and restic repositories"):
            config_path = build_demo(folder, now)
        config = load_config(config_path)
        host, state = LocalHost(), StateStore(folder / "state")
        playbook = folder / "playbooks" / f"{PLAYBOOK_NAME}.yaml"
        os.environ.setdefault("RRA_DRILL_LOCK", str(folder / "state" / "drill.lock"))
        if with_auditor:
            with (
                err.status("starting the auditor (TLS on 127.0.0.1)") as status,
                running_auditor(folder / "auditor") as auditor,
            ):
                summary = enroll_and_run(
                    auditor,
                    config,
                    host,
                    collect_host_info(host, config),
                    state,
                    progress=lambda message: status.update(message),
                    on_report=reports.append,
                    before_run=lambda: schedule_demo_drill(auditor, playbook, host.hostname()),
                    on_drill=drills.append,
                )
                fleet = fetch_fleet(auditor)
                status.update("stopping the auditor")
        else:
            with err.status("collecting") as status:
                status.update("restore drill: restoring and verifying the finance snapshot")
                drills.append(run_local_drill(playbook, host, state))
                reports.append(
                    collect_report(config, host, state=state, progress=lambda m: status.update(m))
                )
    except (DemoError, ConfigError, FleetDemoError, EnrollError) as exc:
        err.print(f"error: {exc}", highlight=False)
        raise typer.Exit(2) from None
    report = reports[0]
    report_path = folder / "report.json"
    atomic_write_bytes(report_path, report.to_json().encode(), mode=0o644)
    console = Console()
    render_summary(report, console)
    for drill in drills:
        render_drill(drill, console)
    if fleet is not None and summary is not None:
        render_fleet(*fleet, console)
        err.print(
            f"delivered: {summary.sent} report(s), {summary.spooled} waiting, "
            f"{summary.dropped_total} dropped ever; the auditor was stopped\n"
            f"auditor data: {folder / 'auditor'} (serve it again: rra auditor --data-dir "
            f"{folder / 'auditor'} serve --host 127.0.0.1)",
            highlight=False,
        )
    err.print(
        f"demo folder: {folder}\nconfig:      {config_path}\nreport:      {report_path}\n"
        f"again:       rra agent collect --config {config_path}   "
        f"(exit code would be {exit_code_for(report.findings)})",
        highlight=False,
    )
