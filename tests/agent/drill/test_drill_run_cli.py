"""``rra drill run`` as a user runs it: exit codes 0/1/2/10, JSON evidence, and recording."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from .conftest import DrillSetup, tree_hashes

pytestmark = pytest.mark.restic

RRA = str(Path(sys.executable).with_name("rra"))
Setup = Callable[..., DrillSetup]


def _write(setup: DrillSetup, path: Path, **overrides: object) -> Path:
    document = setup.playbook(**overrides).model_dump(mode="json")
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _rra(setup: DrillSetup, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RRA_DRILL_LOCK": str(setup.lock),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "RRA_AGENT__STATE_DIR": str(tmp_path / "agent-state"),
    }
    return subprocess.run(
        [RRA, "drill", "run", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_pass_prints_json_evidence_and_records_the_fact(drill_setup: Setup, tmp_path: Path) -> None:
    setup = drill_setup()
    done = _rra(setup, tmp_path, str(_write(setup, tmp_path / "pb.yaml")), "--json")
    assert done.returncode == 0, done.stderr
    evidence = json.loads(done.stdout)
    assert evidence["schema"] == "rra.drill/1" and evidence["verdict"] == "pass"
    assert "resolving snapshot" in done.stderr  # progress goes to stderr, data to stdout
    recorded = json.loads((tmp_path / "agent-state" / "drills.json").read_text())
    assert recorded["drills"][-1]["verdict"] == "pass"
    # Not enrolled: nothing is queued for an auditor.
    assert not (tmp_path / "agent-state" / "drill-results").exists()


def test_fail_exits_1_and_human_output_names_the_reason(drill_setup: Setup, tmp_path: Path) -> None:
    setup = drill_setup()
    playbook = _write(setup, tmp_path / "pb.yaml", verify=[{"files_min": 100000}])
    done = _rra(setup, tmp_path, str(playbook), "--no-record")
    assert done.returncode == 1, done.stderr
    assert "[FAIL]" in done.stdout and "minimum 100000" in done.stdout


def test_unsafe_sandbox_exits_2_and_leaves_the_source_alone(
    drill_setup: Setup, tmp_path: Path
) -> None:
    setup = drill_setup()
    before = tree_hashes(setup.data)
    playbook = _write(setup, tmp_path / "pb.yaml", sandbox=str(setup.data / "restore"))
    done = _rra(setup, tmp_path, str(playbook), "--json", "--no-record")
    assert done.returncode == 2
    assert json.loads(done.stdout)["error_kind"] == "unsafe"
    assert tree_hashes(setup.data) == before


def test_wrong_password_exits_10_with_restics_message(drill_setup: Setup, tmp_path: Path) -> None:
    setup = drill_setup()
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    playbook = _write(setup, tmp_path / "pb.yaml", restic={"password_file": str(wrong)})
    done = _rra(setup, tmp_path, str(playbook), "--json", "--no-record")
    assert done.returncode == 10
    assert "wrong password" in json.loads(done.stdout)["reasons"][0]
    assert "nope" not in done.stdout + done.stderr  # the password itself is never printed


def test_malformed_playbook_exits_2_with_line_numbers(drill_setup: Setup, tmp_path: Path) -> None:
    setup = drill_setup(backup=False)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nrto: 4 hours\nsource: {}\nsandbox: /var/tmp/d\nbogus: 1\n")
    done = _rra(setup, tmp_path, str(bad))
    assert done.returncode == 2
    assert f"{bad}:2:6: rto:" in done.stderr
    assert f"{bad}:5:1: bogus:" in done.stderr
