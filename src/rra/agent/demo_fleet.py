"""The demo's central half: a real auditor on loopback (TLS, SQLite in the demo folder), the
local agent enrolled and run once, and the fleet summary read back from the auditor's API.

The auditor runs as a child process through the ``rra auditor`` command, so the agent package
never imports the auditor (an agent-only install simply skips this part, naming the extra).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from rra.agent.config import AgentConfig
from rra.agent.enroll import enroll
from rra.agent.host import Host
from rra.agent.run import RunSummary, run_once
from rra.agent.sender import RetryPolicy, tls_context
from rra.agent.state import StateStore
from rra.checks.drill import DrillResult
from rra.checks.facts import HostInfo
from rra.checks.report import Report

RRA = [sys.executable, "-m", "rra"]


class FleetDemoError(Exception):
    pass


@dataclass(frozen=True)
class DemoAuditor:
    url: str
    ca_cert: Path
    admin_token: str
    data_dir: Path


def auditor_available() -> bool:
    """The auditor extra is installed (without importing it: the agent never does)."""
    return all(importlib.util.find_spec(name) is not None for name in ("fastapi", "sqlmodel"))


def auditor_json(data_dir: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [*RRA, "auditor", "--data-dir", str(data_dir), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise FleetDemoError(f"rra auditor {args[0]} failed: {done.stderr.strip()}")
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_auditor(data_dir: Path) -> Iterator[DemoAuditor]:
    """init (CA, certificate, SQLite, admin token), serve on loopback over TLS, stop on exit."""
    initialised = auditor_json(data_dir, "init", "--hostname", "localhost", "--ip", "127.0.0.1")
    port = free_loopback_port()
    log_path = data_dir / "auditor.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*RRA, "auditor", "--data-dir", str(data_dir), "serve",
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ),
        )  # fmt: skip
    url = f"https://127.0.0.1:{port}"
    ca_cert = Path(initialised["ca_cert"])
    try:
        wait_healthy(url, ca_cert, process, log_path)
        yield DemoAuditor(url, ca_cert, initialised["token"]["token"], data_dir)
    finally:
        process.terminate()  # uvicorn finishes in-flight requests and exits on SIGTERM
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_healthy(url: str, ca: Path, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until ``/healthz`` answers 200 over TLS pinned to ``ca``; FleetDemoError if the process
    exits or 30 s pass (the demo, the tests and the ingest bench all start auditors this way)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise FleetDemoError(f"the auditor exited ({process.returncode}): see {log}")
        try:
            if httpx.get(f"{url}/healthz", verify=tls_context(ca), timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise FleetDemoError(f"the auditor did not answer /healthz within 30 s: see {log}")


def enroll_and_run(
    auditor: DemoAuditor,
    config: AgentConfig,
    host: Host,
    host_info: HostInfo,
    state: StateStore,
    *,
    progress: Callable[[str], None],
    on_report: Callable[[Report], None],
    before_run: Callable[[], object] | None = None,
    on_drill: Callable[[DrillResult], None] | None = None,
) -> RunSummary:
    progress("creating an enrollment token")
    token = auditor_json(
        auditor.data_dir,
        "enroll-token", "create", "--org", config.agent.org,
        "--criticality", config.agent.criticality, "--expires", "1h",
    )["token"]  # fmt: skip
    progress("enrolling the agent")
    enroll(state.directory, auditor.url, token, auditor.ca_cert, host_info, force=True)
    if before_run is not None:
        before_run()
    return run_once(
        config,
        host,
        state=state,
        retry=RetryPolicy(attempts=3, max_wait=2.0),
        progress=progress,
        on_report=on_report,
        on_drill=on_drill,
    )


def fetch_fleet(auditor: DemoAuditor) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    headers = {"Authorization": f"Bearer {auditor.admin_token}"}
    with httpx.Client(
        base_url=auditor.url, verify=tls_context(auditor.ca_cert), headers=headers
    ) as api:
        orgs = api.get("/api/v1/orgs")
        hosts = api.get("/api/v1/hosts")
    for answer in (orgs, hosts):
        if answer.status_code != 200:
            raise FleetDemoError(f"{answer.request.url.path}: HTTP {answer.status_code}")
    org_rows: list[dict[str, Any]] = orgs.json()
    host_rows: list[dict[str, Any]] = hosts.json()["items"]
    return org_rows, host_rows


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def render_fleet(orgs: list[dict[str, Any]], hosts: list[dict[str, Any]], console: Console) -> None:
    table = Table(title="Fleet, as the auditor sees it (GET /api/v1/orgs)", title_justify="left")
    table.add_column("org", no_wrap=True)
    for column in ("score", "hosts", "stale", "2FA", "direct", "fresh"):
        table.add_column(column, justify="right", no_wrap=True)
    for org in orgs:
        table.add_row(
            org["org"],
            f"{org['org_score']:.1f}",
            str(org["hosts"]),
            str(org["stale_hosts"]),
            _percent(org["second_factor_coverage"]),
            str(org["direct_access_machine_count"]),
            _percent(org["backup_compliance"]),
        )
    console.print(table)
    console.print(
        "2FA = accounts with a second factor enforced; direct = distinct machines that logged in "
        "directly (bastions excluded); fresh = hosts whose backups are all within their RPO",
        style="dim",
    )
    listing = Table(title="Hosts (GET /api/v1/hosts)", title_justify="left")
    for column in ("host", "org", "status", "score", "dropped reports"):
        listing.add_column(column, no_wrap=True)
    for host in hosts:
        score = "—" if host["score"] is None else f"{host['score']:.1f}"
        listing.add_row(
            host["hostname"], host["org"], host["status"], score, str(host["dropped_reports"])
        )
    console.print(listing)
