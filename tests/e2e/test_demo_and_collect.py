"""End to end: `rra demo` builds real restic repositories; `rra agent collect --json` reads them."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from rra.checks.report import Report

RRA = [sys.executable, "-m", "rra"]


def test_demo_report_has_the_planted_facts(demo_folder: Path) -> None:
    report = Report.model_validate_json((demo_folder / "report.json").read_text())
    backups = {b.name: b for b in report.facts.backups}
    finance, hr = backups["finance"], backups["hr"]
    assert finance.status == "ok" and finance.snapshot_count == 2
    assert finance.age_hours is not None and 1.9 < finance.age_hours < 2.5
    # 50 rewritten + 10 removed; restic stats counts 200 files plus the directories from / down.
    finance_dir = demo_folder / "data" / "finance"
    assert finance.change_ratio == pytest.approx(60 / (200 + len(finance_dir.parts) - 1))
    assert hr.age_hours is not None and 71.9 < hr.age_hours < 72.5
    assert hr.last_check_ok is True and hr.last_check_read_data == "all"
    assert report.metrics.backup_age_hours == hr.age_hours
    assert report.metrics.backups_fresh is False
    statuses = {f.check: f.status for f in report.findings}
    assert statuses["recovery.backup_fresh"] == "fail"  # hr is 72 h old: beyond 2 × RPO
    assert statuses["recovery.mass_change"] == "warn"
    assert statuses["recovery.backup_offsite"] == "fail"
    # The demo's restore drill passed, so the "no drill in 90 days" cap is lifted.
    assert statuses["recovery.restore_drill"] == "pass"
    assert not any(cap.startswith("recovery<=50") for cap in report.score.caps_applied)
    (drill,) = report.facts.drills
    assert drill.playbook == "finance-restore" and drill.verdict == "pass"
    assert drill.rto_seconds is not None and drill.rto_seconds < 15 * 60


def test_demo_delivered_its_report_to_the_auditor_it_started(demo_folder: Path) -> None:
    report = Report.model_validate_json((demo_folder / "report.json").read_text())
    database = demo_folder / "auditor" / "auditor.db"
    with sqlite3.connect(database) as conn:
        stored = conn.execute("select report_id, seq from reports").fetchall()
        (score,) = conn.execute("select score_total from host_state").fetchone()
    assert stored == [(report.report_id, report.seq)]
    with sqlite3.connect(database) as conn:
        drills = conn.execute("select playbook, verdict, signer from drill_results").fetchall()
        runs = conn.execute("select trigger, state from drill_runs").fetchall()
    # The agent claimed the triggered run, ran it and sent signed evidence.
    assert drills == [("finance-restore", "pass", "host")]
    assert runs == [("manual", "done")]
    assert score == report.score.total  # same policy: the auditor's re-evaluation agrees
    spool = demo_folder / "state" / "spool"
    assert sorted(spool.glob("*.json")) == []  # acknowledged, so removed


def test_collect_cli_json_envelope_and_exit_code(demo_folder: Path) -> None:
    env = {**os.environ, "RESTIC_PASSWORD": "must-not-be-used"}
    done = subprocess.run(
        [*RRA, "agent", "collect", "--json", "--config", str(demo_folder / "agent.toml")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 1, done.stderr  # findings
    envelope = json.loads(done.stdout)
    assert envelope["schema"] == "rra.report/1"
    report = Report.model_validate(envelope)
    assert report.seq >= 2  # the demo's own collection was seq 1
    password = (demo_folder / "secrets" / "restic.pass").read_text()
    assert password not in done.stdout and password not in done.stderr


def test_collect_cli_summary(demo_folder: Path) -> None:
    done = subprocess.run(
        [*RRA, "agent", "collect", "--config", str(demo_folder / "agent.toml")],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert done.returncode == 1
    assert "[FAIL]" in done.stdout and "recovery.backup_fresh" in done.stdout
    assert "readiness" in done.stdout


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    done = subprocess.run([*RRA, "demo", "--dir", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2
    assert "not made by 'rra demo'" in done.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"
