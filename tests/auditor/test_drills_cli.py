"""``rra auditor drill ...`` and ``rra auditor worker`` end to end through the root command, on an
initialised data dir (SQLite)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from rra.agent import rootcli
from rra.agent.host import Host
from rra.agent.local import LocalHost
from rra.auditor.db import make_engine
from rra.auditor.drills.worker import work_once
from rra.auditor.signing import auditor_key_path, load_or_create_auditor_key
from rra.checks.drill import DrillResult
from rra.checks.playbook import Playbook
from tests.auditor.drill_support import drill_result, playbook_yaml, unique_name

EXIT_USAGE = 2


def rra(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(rootcli.root, ["auditor", "--data-dir", str(data_dir), *args])


def ok_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


class Auditor:
    def __init__(self, data_dir: Path, init: dict[str, Any]) -> None:
        self.data_dir = data_dir
        self.init = init
        self.engine: Engine = make_engine(f"sqlite:///{data_dir / 'auditor.db'}")

    def playbook(self, tmp_path: Path, **options: Any) -> tuple[str, Path]:
        name = unique_name()
        path = tmp_path / f"{name}.yaml"
        path.write_text(playbook_yaml(name, **options))
        return name, path


@pytest.fixture(scope="module")
def auditor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Auditor]:
    data_dir = tmp_path_factory.mktemp("drill-cli") / "auditor"
    made = Auditor(data_dir, ok_json(rra(data_dir, "init", "--json")))
    yield made
    made.engine.dispose()


def test_init_creates_the_auditor_signing_key(auditor: Auditor) -> None:
    path = auditor_key_path(auditor.data_dir)
    assert auditor.init["auditor_key"] == str(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert (
        load_or_create_auditor_key(auditor.data_dir).public_key_b64
        == auditor.init["auditor_public_key"]
    )


def test_add_list_replace_remove(auditor: Auditor, tmp_path: Path) -> None:
    first, first_path = auditor.playbook(tmp_path, schedule_="0 2 * * 6", hosts=["nas.example"])
    second, second_path = auditor.playbook(tmp_path)
    added = ok_json(rra(auditor.data_dir, "drill", "add", str(first_path), str(second_path),
                        "--org", "mic", "--json"))  # fmt: skip
    assert [(d["name"], d["org"], d["replaced"]) for d in added] == [
        (first, "mic", False), (second, "mic", False)
    ]  # fmt: skip
    listed = {d["name"]: d for d in ok_json(rra(auditor.data_dir, "drill", "list", "--json"))}
    assert listed[first]["schedule"] == "0 2 * * 6"
    assert listed[first]["targets"]["hosts"] == ["nas.example"]
    table = rra(auditor.data_dir, "drill", "list")
    assert table.exit_code == 0 and first in table.stdout

    again = rra(auditor.data_dir, "drill", "add", str(first_path))
    assert again.exit_code == EXIT_USAGE and "already exists" in again.stderr
    replaced = rra(auditor.data_dir, "drill", "add", str(first_path), "--replace")
    assert replaced.exit_code == 0 and f"replaced playbook {first}" in replaced.stdout

    assert rra(auditor.data_dir, "drill", "remove", second).exit_code == 0
    names = [d["name"] for d in ok_json(rra(auditor.data_dir, "drill", "list", "--json"))]
    assert second not in names and first in names
    missing = rra(auditor.data_dir, "drill", "remove", second)
    assert missing.exit_code == EXIT_USAGE and "no playbook" in missing.stderr


def test_add_is_all_or_nothing_and_names_the_bad_line(auditor: Auditor, tmp_path: Path) -> None:
    good, good_path = auditor.playbook(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nrto: 4h\nsandbox: nope\n")
    result = rra(auditor.data_dir, "drill", "add", str(good_path), str(bad))
    assert result.exit_code == EXIT_USAGE
    assert f"{bad}:3:10: sandbox" in result.stderr
    names = [d["name"] for d in ok_json(rra(auditor.data_dir, "drill", "list", "--json"))]
    assert good not in names


def finish_runs_soon(auditor: Auditor, verdict: str) -> threading.Thread:
    """A worker that picks the run up a moment later (the CLI is waiting meanwhile)."""

    def execute(
        playbook: Playbook, host: Host, *, playbook_sha256: str, executor: str, run_id: str | None
    ) -> DrillResult:
        return drill_result(
            playbook=playbook.name, run_id=run_id, verdict=verdict, executor="worker"
        )

    def work() -> None:
        time.sleep(0.3)
        work_once(auditor.engine, load_or_create_auditor_key(auditor.data_dir), worker_id="test",
                  execute=execute, transport=lambda _target: LocalHost())  # fmt: skip

    thread = threading.Thread(target=work)
    thread.start()
    return thread


@pytest.mark.parametrize(("verdict", "code"), [("pass", 0), ("fail", 1), ("error", 10)])
def test_run_wait_exits_with_the_verdict(
    auditor: Auditor, tmp_path: Path, verdict: str, code: int
) -> None:
    name, path = auditor.playbook(tmp_path)
    assert rra(auditor.data_dir, "drill", "add", str(path)).exit_code == 0
    worker = finish_runs_soon(auditor, verdict)
    result = rra(auditor.data_dir, "drill", "run", name, "--host", "nas.example", "--wait", "30",
                 "--json")  # fmt: skip
    worker.join()
    assert result.exit_code == code, result.output
    run = json.loads(result.stdout)
    assert (run["state"], run["verdict"], run["executor"]) == ("done", verdict, "worker")


def test_run_wait_times_out_with_exit_11(auditor: Auditor, tmp_path: Path) -> None:
    name, path = auditor.playbook(tmp_path)
    assert rra(auditor.data_dir, "drill", "add", str(path)).exit_code == 0
    result = rra(auditor.data_dir, "drill", "run", name, "--host", "nas.example", "--wait", "0.2")
    assert result.exit_code == 11 and "pending" in result.stdout
    # Leave nothing due for the other tests' workers.
    assert rra(auditor.data_dir, "drill", "remove", name).exit_code == 0


def test_worker_once_stores_an_error_for_a_host_it_cannot_reach(
    auditor: Auditor, tmp_path: Path
) -> None:
    name, path = auditor.playbook(tmp_path)
    assert rra(auditor.data_dir, "drill", "add", str(path)).exit_code == 0
    created = ok_json(
        rra(auditor.data_dir, "drill", "run", name, "--host", "far.example", "--json")
    )
    assert created["state"] == "pending"
    worked = rra(auditor.data_dir, "worker", "--once", "--worker-id", "w1")
    assert worked.exit_code == 0, worked.output
    assert f"run {created['id']}: {name} on far.example: error (stored)" in worked.stdout
    history = ok_json(rra(auditor.data_dir, "drill", "history", "--host", "far.example", "--json"))
    assert [(d["playbook"], d["verdict"], d["signer"]) for d in history] == [
        (name, "error", "auditor")
    ]
    assert rra(auditor.data_dir, "drill", "history").exit_code == 0


def test_cli_actions_are_audit_logged(auditor: Auditor, tmp_path: Path) -> None:
    name, path = auditor.playbook(tmp_path)
    assert rra(auditor.data_dir, "drill", "add", str(path)).exit_code == 0
    assert rra(auditor.data_dir, "drill", "remove", name).exit_code == 0
    from sqlmodel import Session, col, select

    from rra.auditor.models import AuditEvent

    with Session(auditor.engine) as session:
        events = session.exec(
            select(AuditEvent).where(AuditEvent.target == name).order_by(col(AuditEvent.id))
        ).all()
    assert [(e.action, e.actor) for e in events] == [
        ("playbook.add", "cli"),
        ("playbook.remove", "cli"),
    ]
