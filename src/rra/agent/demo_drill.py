"""The demo's restore drill: a real playbook against the demo's finance repository.

With an auditor, the playbook is stored on it and a run is triggered for this host; the agent
then claims the run, restores, verifies and sends the signed evidence — the scheduled path. Without
one, the drill runs here directly, like ``rra drill run``.
"""

from __future__ import annotations

from pathlib import Path

from rra.agent.demo_fleet import DemoAuditor, auditor_json
from rra.agent.drill.load import load_playbook, playbook_sha256
from rra.agent.drill.outbox import remember
from rra.agent.drill.runner import run_drill
from rra.agent.host import Host
from rra.agent.state import StateStore
from rra.checks.drill import DrillResult

PLAYBOOK_NAME = "finance-restore"


def write_demo_playbook(
    folder: Path, repository: Path, password_file: Path, data: Path, snapshot_host: str, target: str
) -> Path:
    path = folder / "playbooks" / f"{PLAYBOOK_NAME}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"""# written by rra demo: restore the finance ledgers and prove they are complete
name: {PLAYBOOK_NAME}
description: Restore the newest finance snapshot of this host and check its contents
schedule: "0 2 * * 6"        # Saturdays 02:00; the demo also triggers one run now
targets: {{hosts: ["{target}"]}}
rto: 15m
rpo: 24h
source:
  restic:
    repository: "{repository}"
    password_file: "{password_file}"
    host: "{snapshot_host}"
    path: "{data}"
sandbox: "{folder / "drills"}"
verify:
  - restic_verify: true
  - files_min: 100
  - bytes_min: 10KB
cleanup: always
"""
    )
    return path


def schedule_demo_drill(auditor: DemoAuditor, playbook: Path, hostname: str) -> str:
    """Store the playbook on the auditor and trigger a run for this host; returns the run id."""
    auditor_json(auditor.data_dir, "drill", "add", str(playbook), "--replace")
    run = auditor_json(auditor.data_dir, "drill", "run", PLAYBOOK_NAME, "--host", hostname)
    return str(run.get("id") or run.get("run_id") or "")


def run_local_drill(playbook_path: Path, host: Host, state: StateStore) -> DrillResult:
    playbook = load_playbook(playbook_path)
    result = run_drill(
        playbook,
        host,
        playbook_sha256=playbook_sha256(playbook_path.read_text("utf-8")),
        lock_path=str(state.directory / "drill.lock"),
    )
    remember(state, result)
    return result
