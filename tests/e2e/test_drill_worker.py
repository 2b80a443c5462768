"""End to end: `rra auditor worker`'s loop runs an agentless drill with the real runner and restic,
and stores evidence signed with the auditor's key that the host's evaluation then uses."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from rra.agent.identity import verify_signature
from rra.agent.local import child_environment
from rra.auditor.agentless.inventory_load import load_inventory
from rra.auditor.db import make_engine, session_scope
from rra.auditor.drills import schedule, store
from rra.auditor.drills.worker import inventory_transport, work_once
from rra.auditor.migrate import upgrade_to_head
from rra.auditor.models import DrillResultRow, DrillRun
from rra.auditor.signing import load_or_create_auditor_key
from rra.checks.drill import DrillResult
from tests.conftest import require
from tests.sshd_lab import SshdLab


def _restic(*args: str) -> None:
    subprocess.run(
        ["restic", *args], check=True, capture_output=True, env=child_environment({"TZ": "UTC"})
    )


def _backed_up(
    tmp_path: Path, name: str, files: int, snapshot_host: str
) -> tuple[Path, Path, Path]:
    """(data dir, password file, repository): ``files`` files backed up as ``snapshot_host``."""
    require("restic", shutil.which("restic") is not None, "apt-get install -y restic")
    data = tmp_path / "srv" / name
    data.mkdir(parents=True)
    for i in range(files):
        (data / f"f{i}.txt").write_text(f"record {i}\n" * 100)
    password = tmp_path / "pass"
    password.write_text(f"{name} drill password\n")
    repo = tmp_path / "repo"
    _restic("--repo", str(repo), "--password-file", str(password), "init")
    location = ["--repo", str(repo), "--password-file", str(password)]
    _restic(*location, "backup", "--host", snapshot_host, str(data))
    return data, password, repo


def _auditor_with(tmp_path: Path, playbook: str) -> Engine:
    """A migrated SQLite auditor database holding ``playbook`` (org mof)."""
    url = f"sqlite:///{tmp_path / 'auditor.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    schedule.recent.clear()
    with session_scope(engine) as session:
        store.add_playbook(session, playbook, org="mof")
    return engine


def test_worker_runs_an_agentless_drill_with_real_restic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RRA_DRILL_LOCK", str(tmp_path / "drill.lock"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data, password, repo = _backed_up(tmp_path, "app", 20, "localhost")
    playbook = f"""name: app-restore
rto: 10m
source: {{restic: {{repository: "{repo}", password_file: "{password}", host: localhost, path: "{data}"}}}}
sandbox: "{tmp_path / "drills"}"
verify: [{{files_min: 20}}]
"""
    engine = _auditor_with(tmp_path, playbook)
    with session_scope(engine) as session:
        run_id = store.trigger_run(session, "app-restore", "localhost").id
    key = load_or_create_auditor_key(tmp_path / "auditor")
    outcomes = work_once(engine, key, worker_id="worker-1")
    assert len(outcomes) == 1
    with Session(engine) as session:
        row = session.exec(select(DrillResultRow)).one()
        run = session.exec(select(DrillRun).where(DrillRun.id == run_id)).one()
    assert (row.verdict, row.signer, row.run_id) == ("pass", "auditor", run_id)
    assert run.state == "done"
    assert verify_signature(key.public_key_b64, row.payload.encode(), row.signature)
    evidence = DrillResult.model_validate(json.loads(row.payload))
    assert evidence.executor == "worker" and evidence.files_restored == 20
    assert evidence.tree_digest and evidence.cleaned_up
    # A second pass finds nothing left to do: the run was executed exactly once.
    assert work_once(engine, key, worker_id="worker-2") == []
    engine.dispose()


def test_worker_runs_an_agentless_drill_over_ssh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sshd_lab: SshdLab
) -> None:
    """The inventory names the target; the worker reaches it through SSHHost (a real sshd)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data, password, repo = _backed_up(tmp_path, "ledger", 12, "fin-db1")
    server = sshd_lab.servers[1]
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        f"""all:
  hosts:
    fin-db1:
      address: 127.0.0.1
      port: {server.port}
      user: root
      key_file: {sshd_lab.client_key}
      known_hosts: {sshd_lab.known_hosts}
"""
    )
    playbook = f"""name: ledger-restore
rto: 10m
source: {{restic: {{repository: "{repo}", password_file: "{password}", host: fin-db1, path: "{data}"}}}}
sandbox: "{tmp_path / "drills"}"
verify: [{{files_min: 12}}]
"""
    engine = _auditor_with(tmp_path, playbook)
    with session_scope(engine) as session:
        store.trigger_run(session, "ledger-restore", "fin-db1")
        store.trigger_run(session, "ledger-restore", "not-in-inventory")
    key = load_or_create_auditor_key(tmp_path / "auditor")
    transport = inventory_transport(load_inventory(inventory), sshd_lab.known_hosts)
    outcomes = {o.target: o for o in work_once(engine, key, worker_id="w", transport=transport)}
    with Session(engine) as session:
        found = {r.target: r for r in session.exec(select(DrillResultRow)).all()}
    assert outcomes["fin-db1"].verdict == "pass", [r.payload for r in found.values()]
    assert outcomes["not-in-inventory"].verdict == "error"
    with Session(engine) as session:
        rows = {r.target: r for r in session.exec(select(DrillResultRow)).all()}
    evidence = DrillResult.model_validate(json.loads(rows["fin-db1"].payload))
    assert evidence.files_restored == 12 and evidence.tree_digest and evidence.cleaned_up
    assert not any((tmp_path / "drills").iterdir()) if (tmp_path / "drills").exists() else True
    missing = DrillResult.model_validate(json.loads(rows["not-in-inventory"].payload))
    assert "not in the worker's inventory" in " ".join(missing.reasons)
    engine.dispose()
