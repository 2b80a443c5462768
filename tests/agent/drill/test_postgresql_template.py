"""The shipped PostgreSQL template, filled in, proves a real `pg_dump -Fc` restores and reads;
a truncated dump fails the same drill."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from rra.agent.drill.runner import run_drill
from rra.agent.local import LocalHost
from rra.checks.playbook import Playbook
from tests.agent.conftest import SNAPSHOT_HOST, Repo
from tests.auditor.conftest import PG_SOCKET_DIR, scratch_database
from tests.conftest import require

pytestmark = pytest.mark.restic

TEMPLATE = Path(__file__).parents[3] / "playbooks" / "postgresql-dump.yaml"


def _dump(url_name: str, target: Path) -> None:
    require("pg_dump", shutil.which("pg_dump") is not None, "apt-get install -y postgresql")
    subprocess.run(
        ["pg_dump", "-Fc", "-h", PG_SOCKET_DIR, "-f", str(target), url_name],
        check=True,
        capture_output=True,
    )


def _playbook(repo: Repo, dumps: Path, sandbox: Path) -> Playbook:
    document: dict[str, Any] = yaml.safe_load(TEMPLATE.read_text())
    restic = document["source"]["restic"]
    restic.update(
        repository=repo.location,
        password_file=str(repo.password_file),
        path=str(dumps),
        host=SNAPSHOT_HOST,
        binary=repo.binary,
    )
    document["sandbox"] = str(sandbox)
    document["verify"][0] = {"bytes_min": "100B"}
    document["verify"][1]["command"]["argv"][-1] = f"{{restored}}{dumps}/finance.dump"
    return Playbook.model_validate(document)


def test_postgresql_dump_template_passes_then_fails_on_a_truncated_dump(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    dumps = tmp_path / "var" / "backups" / "postgresql"
    dumps.mkdir(parents=True)
    with scratch_database("rra_drill_pg") as url:
        name = url.split("@/", 1)[1].split("?")[0]
        with psycopg.connect(host=PG_SOCKET_DIR, dbname=name, autocommit=True) as conn:
            conn.execute("create table ledger (id serial primary key, amount numeric)")
            conn.execute("insert into ledger (amount) select g from generate_series(1, 2000) g")
        _dump(name, dumps / "finance.dump")
    now = datetime.now(UTC)
    repo.backup([dumps], now - timedelta(hours=1))
    playbook = _playbook(repo, dumps, tmp_path / "drills")
    lock = str(tmp_path / "drill.lock")
    passed = run_drill(playbook, LocalHost(), playbook_sha256="0" * 64, lock_path=lock)
    assert passed.verdict == "pass", passed.reasons
    (command,) = [s for s in passed.steps if s.name == "command"]
    assert command.details["argv"][0] == "pg_restore" and command.details["rc"] == 0

    # Cut the dump inside its table of contents (as a dump job killed early leaves it) and back it
    # up again: the newest snapshot no longer holds a readable dump.
    dump = dumps / "finance.dump"
    dump.write_bytes(dump.read_bytes()[:200])
    repo.backup([dumps], now - timedelta(minutes=5))
    failed = run_drill(playbook, LocalHost(), playbook_sha256="0" * 64, lock_path=lock)
    assert failed.verdict == "fail"
    assert any(r.startswith("command: pg_restore exited 1") for r in failed.reasons), failed.reasons
