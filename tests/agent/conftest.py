"""Fixtures for the agent tests: real restic repositories, made by the tests themselves.

``restic init`` costs ~3 s (key derivation), so one template repository is initialised per session
and copied for each test. Snapshots are made with ``restic backup --time ... --host ...``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rra.agent.host import RunResult
from rra.agent.local import LocalHost, child_environment
from rra.agent.restic import CacheOptions, Restic
from rra.agent.restic.commands import backup_argv, init_argv
from rra.agent.state import StateStore
from tests.conftest import require

PASSWORD = "correct horse battery staple 7f3a"
SNAPSHOT_HOST = "testhost"


@pytest.fixture(scope="session")
def restic_binary() -> str:
    """The real restic. Missing: a failure in CI (``CI=true``), a skip elsewhere."""
    path = shutil.which("restic")
    require("restic", path is not None, "apt-get install -y restic")
    assert path is not None
    return path


def _restic(binary: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    # TZ=UTC: ``backup --time`` is read in the local time zone.
    return subprocess.run(
        [binary, *args],
        capture_output=True,
        text=True,
        env=child_environment({"TZ": "UTC"}),
        stdin=subprocess.DEVNULL,
        check=check,
        timeout=120,
    )


@pytest.fixture(scope="session")
def template_repository(restic_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("restic-template")
    password_file = base / "password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    repo = base / "repo"
    argv = init_argv(restic_binary, str(repo), password_file=str(password_file))
    _restic(restic_binary, *argv[1:])
    return repo


@dataclass
class Repo:
    """A private copy of the template repository, with helpers that drive the real restic."""

    binary: str
    path: Path
    password_file: Path

    @property
    def location(self) -> str:
        return str(self.path)

    def restic(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _restic(
            self.binary,
            "--repo",
            self.location,
            "--password-file",
            str(self.password_file),
            "--no-cache",
            *args,
            check=check,
        )

    def backup(self, paths: Sequence[Path | str], at: datetime, host: str = SNAPSHOT_HOST) -> str:
        """Snapshot ``paths`` with time ``at`` (whole seconds, UTC); returns the full id."""
        argv = backup_argv(
            self.binary,
            self.location,
            [str(p) for p in paths],
            password_file=str(self.password_file),
            host=host,
            time=at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            json=True,
        )
        done = _restic(self.binary, *argv[1:])
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        short_id = summary["snapshot_id"]  # 8 characters in restic 0.14
        return self.full_id(short_id)

    def snapshots(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = json.loads(self.restic("snapshots", "--json").stdout)
        return data

    def full_id(self, prefix: str) -> str:
        # A snapshot's file name is its full id: no need to open the repository (~0.5 s of KDF).
        matches = [p.name for p in (self.path / "snapshots").iterdir() if p.name.startswith(prefix)]
        assert len(matches) == 1, f"snapshot {prefix} not found exactly once"
        return matches[0]

    def data_packs(self) -> list[Path]:
        """Pack files that hold only data blobs (from the repository's own index)."""
        return self._packs("data")

    def tree_packs(self) -> list[Path]:
        """Pack files that hold only tree blobs (directory listings)."""
        return self._packs("tree")

    def _packs(self, blob_type: str) -> list[Path]:
        packs: list[Path] = []
        for index_id in self.restic("list", "index").stdout.split():
            index = json.loads(self.restic("cat", "index", index_id).stdout)
            for pack in index["packs"]:
                if all(blob["type"] == blob_type for blob in pack["blobs"]):
                    packs.append(self.path / "data" / pack["id"][:2] / pack["id"])
        return packs


def flip_bytes(path: Path, offset: int = 10, length: int = 16) -> None:
    """Damage a pack file in place (restic writes packs read-only)."""
    path.chmod(0o600)
    data = bytearray(path.read_bytes())
    for i in range(offset, min(offset + length, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def repo(restic_binary: str, template_repository: Path, tmp_path: Path) -> Repo:
    copy = tmp_path / "repo"
    shutil.copytree(template_repository, copy, symlinks=True)
    password_file = tmp_path / "password"
    shutil.copy(template_repository.parent / "password", password_file)
    password_file.chmod(0o600)
    return Repo(restic_binary, copy, password_file)


@dataclass
class Call:
    argv: list[str]
    env: dict[str, str]


class RecordingHost(LocalHost):
    """The real ``LocalHost`` that also records every command it runs (not a mock: it runs them)."""

    def __init__(self) -> None:
        super().__init__("/")
        self.calls: list[Call] = []

    def run(
        self,
        argv: Sequence[str],
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> RunResult:
        self.calls.append(Call(list(argv), child_environment(env)))
        return super().run(argv, timeout=timeout, env=env, stdin=stdin)

    def subcommands(self) -> list[str]:
        known = {"version", "snapshots", "check", "diff", "stats"}
        return [next((a for a in c.argv[1:] if a in known), "?") for c in self.calls]


@pytest.fixture
def host() -> RecordingHost:
    return RecordingHost()


@pytest.fixture
def restic(host: RecordingHost, restic_binary: str, tmp_path: Path) -> Restic:
    """The per-run restic object, with a cache private to the test (copies share a repo id)."""
    return Restic(host, binary=restic_binary, cache=CacheOptions(cache_dir=str(tmp_path / "cache")))


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "data"
    directory.mkdir()
    yield directory


@pytest.fixture
def state(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state")
