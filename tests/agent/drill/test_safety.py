"""Unsafe sandboxes are refused before anything is written; one restore at a time per host."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rra.agent.drill.fs import LocalDrillFS
from rra.agent.drill.safety import overlaps, plan_sandbox
from rra.checks.drill import EXIT_INVALID, DrillResult

from .conftest import DrillSetup, tree_hashes

pytestmark = pytest.mark.restic

Setup = Callable[..., DrillSetup]


def _assert_refused(result: DrillResult, words: str) -> None:
    assert result.verdict == "error"
    assert result.error_kind == "unsafe"
    assert result.exit_code == EXIT_INVALID
    assert words in result.reasons[0], result.reasons
    assert "restore" not in [s.name for s in result.steps]
    assert result.restore_dir is None


@pytest.mark.parametrize(
    ("sandbox", "words"),
    [
        (lambda s: "/", "the sandbox is /"),
        (lambda s: str(s.data), "overlaps the backed-up path"),
        (lambda s: str(s.data / "docs" / "restore-here"), "overlaps the backed-up path"),
        (lambda s: str(s.data.parent), "overlaps the backed-up path"),
        (lambda s: str(s.repo.path / "drills"), "overlaps the repository"),
        (lambda s: "/etc/rra-drills", "inside the system directory /etc"),
    ],
    ids=["root", "source", "inside-source", "contains-source", "inside-repo", "system-dir"],
)
def test_unsafe_sandbox_refused_and_source_untouched(
    drill_setup: Setup, sandbox: Callable[[DrillSetup], str], words: str
) -> None:
    setup = drill_setup()
    before_data = tree_hashes(setup.data)
    before_repo = tree_hashes(setup.repo.path)
    target = sandbox(setup)
    existed = Path(target).exists()
    result = setup.run(setup.playbook(sandbox=target))
    _assert_refused(result, words)
    assert tree_hashes(setup.data) == before_data
    assert tree_hashes(setup.repo.path) == before_repo
    assert Path(target).exists() is existed


def test_sandbox_escaping_through_a_symlink_is_refused(drill_setup: Setup, tmp_path: Path) -> None:
    setup = drill_setup()
    before = tree_hashes(setup.data)
    link = tmp_path / "innocent-looking"
    link.symlink_to(setup.data)
    result = setup.run(setup.playbook(sandbox=str(link / "drills")))
    _assert_refused(result, "escapes through a symlink")
    assert tree_hashes(setup.data) == before
    assert not (setup.data / "drills").exists()


@pytest.fixture
def tiny_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: too small for any of the test snapshots."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        from tests.conftest import require

        require("tmpfs mount (root)", False, f"run as root: {done.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_not_enough_free_space_is_refused(drill_setup: Setup, tiny_filesystem: Path) -> None:
    setup = drill_setup()
    result = setup.run(setup.playbook(sandbox=str(tiny_filesystem / "drills")))
    _assert_refused(result, "not enough free space")
    assert list(tiny_filesystem.iterdir()) == []


def test_overlap_is_by_whole_path_segments() -> None:
    assert overlaps("/srv/data", "/srv/data/x")
    assert overlaps("/srv/data/x", "/srv/data")
    assert overlaps("/", "/anything")
    assert not overlaps("/srv/data2", "/srv/data")
    assert not overlaps("/var/tmp/drills", "/srv/data")


def test_plan_reports_space_with_margin(tmp_path: Path) -> None:
    plan = plan_sandbox(LocalDrillFS(), str(tmp_path / "drills"), ["/srv/x"], "sftp:h:/r", 1000)
    assert plan.required_bytes == 1100
    assert plan.free_bytes >= plan.required_bytes


def test_two_drills_on_one_host_never_restore_at_once(drill_setup: Setup) -> None:
    setup = drill_setup()
    results: list[DrillResult] = []

    def drill(wait: float) -> None:
        results.append(setup.run(lock_wait=wait))

    # Both wait: they run one after the other, and their restores do not overlap in time.
    threads = [threading.Thread(target=drill, args=(120.0,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.verdict for r in results] == ["pass", "pass"]
    first, second = sorted(results, key=lambda r: r.started_at)
    assert first.ended_at <= second.started_at

    # One holds the lock; a drill that may not wait refuses instead of restoring.
    results.clear()
    from rra.agent.drill.lock import drill_lock

    with drill_lock("someone-else", 0, str(setup.lock)):
        drill(0.0)
    (refused,) = results
    assert refused.verdict == "error" and refused.error_kind == "operational"
    assert "another restore drill is running" in refused.reasons[0]
    assert f"pid {os.getpid()}" in refused.reasons[0]
    assert "restore" not in [s.name for s in refused.steps]
