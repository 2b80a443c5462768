"""Restore-drill fixtures: a data tree backed up into a private copy of the template repository."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rra.agent.drill.runner import run_drill
from rra.agent.local import LocalHost
from rra.checks.drill import DrillResult
from rra.checks.playbook import Playbook
from tests.agent.conftest import SNAPSHOT_HOST, Repo

NOW = datetime.now(UTC).replace(microsecond=0)


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every regular file under root, by relative path (the oracle for 'untouched')."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def make_app_data(root: Path, files: int = 30) -> None:
    """Files of varied sizes, an SQLite database and a sha256sum manifest of the files."""
    (root / "docs").mkdir(parents=True)
    lines = []
    for i in range(files):
        path = root / "docs" / f"file-{i:03d}.bin"
        path.write_bytes(hashlib.sha256(str(i).encode()).digest() * (50 + 40 * i))
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  docs/{path.name}")
    with sqlite3.connect(root / "app.db") as db:
        db.execute("create table invoices (id integer primary key, amount integer)")
        db.executemany("insert into invoices (amount) values (?)", [(n,) for n in range(500)])
    db.close()
    (root / "MANIFEST.sha256").write_text("\n".join(lines) + "\n")


@dataclass
class DrillSetup:
    repo: Repo
    data: Path
    sandbox: Path
    lock: Path

    def playbook(self, **overrides: Any) -> Playbook:
        document: dict[str, Any] = {
            "name": "finance",
            "rto": "1h",
            "source": {
                "restic": {
                    "repository": self.repo.location,
                    "password_file": str(self.repo.password_file),
                    "host": SNAPSHOT_HOST,
                    "path": str(self.data),
                    "binary": self.repo.binary,
                }
            },
            "sandbox": str(self.sandbox),
            "verify": [
                {"restic_verify": True},
                {"files_min": 30},
                {"bytes_min": "10KB"},
                {"manifest": {"file": str(self.data / "MANIFEST.sha256")}},
                {"sqlite_integrity": {"path": str(self.data / "app.db")}},
            ],
        }
        for key, value in overrides.items():
            if key == "restic":
                document["source"]["restic"].update(value)
            else:
                document[key] = value
        return Playbook.model_validate(document)

    def run(self, playbook: Playbook | None = None, **kwargs: Any) -> DrillResult:
        kwargs.setdefault("lock_path", str(self.lock))
        return run_drill(
            playbook or self.playbook(), LocalHost(), playbook_sha256="0" * 64, **kwargs
        )

    def backup(self, age: timedelta = timedelta(hours=1), host: str = SNAPSHOT_HOST) -> str:
        return self.repo.backup([self.data], NOW - age, host=host)


@pytest.fixture
def drill_setup(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., DrillSetup]:
    # restic's cache lives under the test's own directory (copies of one template share a repo id).
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def make(files: int = 30, backup: bool = True) -> DrillSetup:
        data = tmp_path / "srv" / "finance"
        make_app_data(data, files)
        setup = DrillSetup(repo, data, tmp_path / "drills", tmp_path / "drill.lock")
        if backup:
            setup.backup()
        return setup

    return make
