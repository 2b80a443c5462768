"""Shared end-to-end fixtures: one ``rra demo`` run per session (real restic repositories, a real
auditor that received the demo host's report and drill), used by the demo and TUI tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require

RRA = [sys.executable, "-m", "rra"]


@pytest.fixture(scope="session")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require("restic", shutil.which("restic") is not None, "apt-get install -y restic")
    folder = tmp_path_factory.mktemp("e2e") / "demo"
    done = subprocess.run([*RRA, "demo", "--dir", str(folder)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "readiness" in done.stdout
    assert "Fleet, as the auditor sees it" in done.stdout
    assert "[PASS] restore drill 'finance-restore'" in done.stdout
    return folder
