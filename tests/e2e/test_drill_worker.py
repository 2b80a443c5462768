"""End to end: `rra auditor worker`'s loop runs an agentless drill with the real runner and restic,
and stores evidence signed with the auditor's key that the host's evaluation then uses."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlmodel import Session, select

from rra.agent.identity import verify_signature
from rra.agent.local import child_environment
from rra.auditor.db import make_engine, session_scope
from rra.auditor.drills import schedule, store
from rra.auditor.drills.worker import work_once
from rra.auditor.migrate import upgrade_to_head
from rra.auditor.models import DrillResultRow, DrillRun
from rra.auditor.signing import load_or_create_auditor_key
from rra.checks.drill import DrillResult
from tests.conftest import require


def _restic(*args: str) -> None:
    subprocess.run(
        ["restic", *args], check=True, capture_output=True, env=child_environment({"TZ": "UTC"})
    )


def test_worker_runs_an_agentless_drill_with_real_restic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require("restic", shutil.which("restic") is not None, "apt-get install -y restic")
    monkeypatch.setenv("RRA_DRILL_LOCK", str(tmp_path / "drill.lock"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data = tmp_path / "srv" / "app"
    data.mkdir(parents=True)
    for i in range(20):
        (data / f"f{i}.txt").write_text(f"record {i}\n" * 100)
    password = tmp_path / "pass"
    password.write_text("worker demo password\n")
    repo = tmp_path / "repo"
    _restic("--repo", str(repo), "--password-file", str(password), "init")
    _restic(
        "--repo",
        str(repo),
        "--password-file",
        str(password),
        "backup",
        "--host",
        "localhost",
        str(data),
    )
    playbook = f"""name: app-restore
rto: 10m
source: {{restic: {{repository: "{repo}", password_file: "{password}", host: localhost, path: "{data}"}}}}
sandbox: "{tmp_path / "drills"}"
verify: [{{files_min: 20}}]
"""
    url = f"sqlite:///{tmp_path / 'auditor.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    schedule.recent.clear()
    with session_scope(engine) as session:
        store.add_playbook(session, playbook, org="mof")
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
