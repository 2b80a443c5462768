from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from rra.agent.collectors.system import collect_host_info, parse_os_release
from rra.agent.config import AgentConfig
from rra.agent.local import LocalHost, child_environment
from rra.agent.state import StateStore


def make_root(tmp_path: Path) -> Path:
    root = tmp_path / "image"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("finance-01\n")
    (root / "etc" / "machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    (root / "etc" / "os-release").write_text(
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'
        "# a comment\nBROKEN='unbalanced\n"
    )
    return root


def test_host_info_from_a_mounted_image(tmp_path: Path) -> None:
    config = AgentConfig.model_validate({"agent": {"org": "mic/ais", "criticality": "high"}})
    info = collect_host_info(LocalHost(make_root(tmp_path)), config)
    assert info.hostname == "finance-01"
    assert info.fqdn is None
    assert info.boot_time is None  # live-only
    assert info.machine_id == "0123456789abcdef0123456789abcdef"
    assert (info.os.family, info.os.name, info.os.version) == (
        "linux",
        "Debian GNU/Linux 12 (bookworm)",
        "12",
    )
    assert (info.org, info.criticality) == ("mic/ais", "high")


def test_host_info_live() -> None:
    info = collect_host_info(LocalHost("/"), AgentConfig())
    assert info.hostname
    assert info.boot_time is not None


def test_os_release_quoting() -> None:
    assert parse_os_release('A=\'x y\'\nB=plain\nC="q\\"d"\n') == {
        "A": "x y",
        "B": "plain",
        "C": 'q"d',
    }


def test_root_paths_stay_under_root(tmp_path: Path) -> None:
    host = LocalHost(make_root(tmp_path))
    assert host.read_file("/etc/hostname") == b"finance-01\n"
    assert host.read_file("/etc/missing") is None
    assert host.glob("/etc/*-id") == ["/etc/machine-id"]
    with pytest.raises(ValueError, match="absolute"):
        host.read_file("etc/hostname")


def test_child_environment_drops_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESTIC_PASSWORD", "hunter2")
    monkeypatch.setenv("RESTIC_REPOSITORY", "/elsewhere")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "k")
    env = child_environment({"EXTRA": "1"})
    assert "RESTIC_PASSWORD" not in env
    assert "RESTIC_REPOSITORY" not in env
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["EXTRA"] == "1"
    result = LocalHost().run(["env"])
    assert b"hunter2" not in result.stdout


def test_state_store_atomic_and_private(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    store.save("restic-check", {"finance": {"ok": True}})
    path = tmp_path / "state" / "restic-check.json"
    assert json.loads(path.read_text()) == {"finance": {"ok": True}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["restic-check.json"]  # no temp left
    path.write_text("{torn")
    assert store.load("restic-check") == {}
    with pytest.raises(ValueError):
        store.save("../escape", {})


def test_seq_is_monotonic_across_stores(tmp_path: Path) -> None:
    assert [StateStore(tmp_path).next_seq() for _ in range(3)] == [1, 2, 3]


def test_state_dir_falls_back_when_the_configured_one_is_not_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rra.agent import collect

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    fallback = tmp_path / "user-data" / "rra"
    monkeypatch.setattr(collect, "default_state_dir", lambda: fallback)
    config = AgentConfig.model_validate({"agent": {"state_dir": str(blocker / "state")}})
    assert collect.open_state(config).directory == fallback
    assert fallback.is_dir()


def test_no_writable_state_dir_is_an_operational_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rra.agent import collect

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(collect, "default_state_dir", lambda: blocker / "fallback")
    config = AgentConfig.model_validate({"agent": {"state_dir": str(blocker / "state")}})
    with pytest.raises(PermissionError, match="no writable state dir"):
        collect.open_state(config)


def test_collect_reports_progress_per_backup(tmp_path: Path) -> None:
    from rra.agent.collect import collect_report

    config = AgentConfig.model_validate(
        {
            "agent": {"state_dir": str(tmp_path / "state")},
            "backup": [
                {
                    "name": name,
                    "repository": str(tmp_path / name),
                    "password_file": "/none",
                    "paths": ["/srv"],
                }
                for name in ("finance", "hr")
            ],
        }
    )
    messages: list[str] = []
    report = collect_report(config, LocalHost(), progress=messages.append)
    assert [m for m in messages if m.startswith("backup ")] == [
        "backup 1/2: finance",
        "backup 2/2: hr",
    ]
    assert [b.status for b in report.facts.backups] == ["error", "error"]  # no such repositories
