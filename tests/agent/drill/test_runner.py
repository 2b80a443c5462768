"""The drill runner against real restic repositories: verdicts, evidence and failure modes."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from rra.agent.local import child_environment
from rra.checks.drill import EXIT_FAIL, EXIT_OPERATIONAL, EXIT_PASS

from ..conftest import flip_bytes
from .conftest import DrillSetup, tree_hashes

pytestmark = pytest.mark.restic

Setup = Callable[..., DrillSetup]


def step(result: object, name: str) -> dict[str, object]:
    steps = [s for s in result.steps if s.name == name]  # type: ignore[attr-defined]
    assert steps, f"no step {name}"
    return steps[-1].model_dump()  # type: ignore[no-any-return]


def test_drill_passes_with_full_evidence(drill_setup: Setup) -> None:
    setup = drill_setup()
    result = setup.run()
    assert result.verdict == "pass", result.reasons
    assert result.exit_code == EXIT_PASS
    assert result.reasons == []
    assert result.started_at <= result.restore_done_at <= result.verified_at <= result.ended_at  # type: ignore[operator]
    assert result.rto_seconds == pytest.approx(
        (result.verified_at - result.started_at).total_seconds(),  # type: ignore[operator]
        abs=0.01,
    )
    assert 3500 < (result.rpo_seconds or 0) < 3700  # the snapshot was taken "an hour ago"
    assert result.snapshot_id == setup.repo.snapshots()[0]["id"]
    assert result.restic_version == "0.14.0" or result.restic_version
    source = tree_hashes(setup.data)
    assert result.files_restored == len(source)
    assert result.bytes_restored == sum(
        p.stat().st_size for p in setup.data.rglob("*") if p.is_file()
    )
    # The digest is over the original absolute paths and the content hashes.
    lines = sorted(f"{setup.data}/{rel}\0{sha}\n" for rel, sha in source.items())
    assert result.tree_digest == hashlib.sha256("".join(lines).encode()).hexdigest()
    names = [s.name for s in result.steps]
    assert names[:3] == ["resolve_snapshot", "safety", "restore"]
    assert {"restic_verify", "files_min", "bytes_min", "manifest", "sqlite_integrity"} <= set(names)
    assert result.cleaned_up and not Path(result.restore_dir or "/nonexistent").exists()
    assert setup.sandbox.is_dir() and list(setup.sandbox.iterdir()) == []


def test_restore_uses_this_host_and_path_never_the_newest_of_any_host(drill_setup: Setup) -> None:
    setup = drill_setup()
    ours = setup.repo.snapshots()[0]["id"]
    # A newer snapshot of another host, whose file-000 no longer matches the manifest.
    (setup.data / "docs" / "file-000.bin").write_bytes(b"other host's copy")
    setup.backup(age=timedelta(minutes=5), host="another-host")
    result = setup.run()
    assert result.snapshot_id == ours
    assert result.verdict == "pass", result.reasons


def test_no_snapshot_of_this_host_fails(drill_setup: Setup) -> None:
    setup = drill_setup(backup=False)
    setup.backup(host="another-host")
    result = setup.run()
    assert result.verdict == "fail"
    assert "no any snapshot of host testhost" in result.reasons[0]


def test_corrupted_data_pack_fails(drill_setup: Setup) -> None:
    setup = drill_setup()
    for pack in setup.repo.data_packs():
        flip_bytes(pack)
    result = setup.run()
    assert result.verdict == "fail"
    assert result.exit_code == EXIT_FAIL
    assert step(result, "restore")["status"] == "fail"
    assert any("restore failed" in r for r in result.reasons)


def test_corrupted_tree_pack_fails_although_the_cache_would_mask_it(
    drill_setup: Setup, tmp_path: Path
) -> None:
    setup = drill_setup()
    repo = setup.repo
    cache = tmp_path / "cache" / "restic"
    common = ["--repo", repo.location, "--password-file", str(repo.password_file)]
    env = child_environment({"XDG_CACHE_HOME": str(tmp_path / "cache")})

    def restic(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [repo.binary, *common, *args], capture_output=True, text=True, env=env, check=False
        )

    # Fill the default cache with the trees, then damage the repository's tree packs.
    assert restic("ls", "latest").returncode == 0 and cache.is_dir()
    packs = repo.tree_packs()
    assert packs
    for pack in packs:
        flip_bytes(pack, offset=0, length=64)
    # The control: with the cache, restore --verify still succeeds (FIELD-NOTES) ...
    control = restic("restore", "latest", "--target", str(tmp_path / "control"), "--verify")
    assert control.returncode == 0, control.stderr
    # ... so only a drill that restores with --no-cache sees the damage.
    result = setup.run()
    assert result.verdict == "fail", result.model_dump_json(indent=1)
    assert step(result, "restore")["status"] == "fail"


def test_manifest_names_missing_and_changed_files(drill_setup: Setup) -> None:
    setup = drill_setup(backup=False)
    manifest = setup.data / "MANIFEST.sha256"
    manifest.write_text(manifest.read_text() + f"{'0' * 64}  docs/never-backed-up.txt\n")
    (setup.data / "docs" / "file-007.bin").write_bytes(b"changed after the manifest was made")
    setup.backup()
    result = setup.run()
    assert result.verdict == "fail"
    details = step(result, "manifest")
    assert details["status"] == "fail"
    assert f"{setup.data}/docs/never-backed-up.txt" in details["message"]  # type: ignore[operator]
    assert f"{setup.data}/docs/file-007.bin" in details["message"]  # type: ignore[operator]
    assert details["details"]["missing"] == [f"{setup.data}/docs/never-backed-up.txt"]  # type: ignore[index]
    assert details["details"]["changed"] == [f"{setup.data}/docs/file-007.bin"]  # type: ignore[index]


def test_manifest_entries_cannot_reach_outside_the_restore(drill_setup: Setup) -> None:
    setup = drill_setup(backup=False)
    passwd = hashlib.sha256(Path("/etc/hostname").read_bytes()).hexdigest()
    depth = "../" * (len(setup.data.parts) + 2)
    (setup.data / "MANIFEST.sha256").write_text(f"{passwd}  {depth}etc/hostname\n")
    setup.backup()
    result = setup.run()
    assert result.verdict == "fail"
    assert step(result, "manifest")["details"]["missing"] == ["/etc/hostname"]  # type: ignore[index]


def test_rto_target_exceeded_fails(drill_setup: Setup) -> None:
    setup = drill_setup()
    result = setup.run(setup.playbook(rto="0.05s"))
    assert result.verdict == "fail"
    assert any(r.startswith("RTO ") and "exceeds the target" in r for r in result.reasons)
    assert all(s.status != "fail" for s in result.steps)  # the data itself was fine


def test_rpo_exceeded_fails(drill_setup: Setup) -> None:
    setup = drill_setup(backup=False)
    setup.backup(age=timedelta(days=3))
    result = setup.run()
    assert result.verdict == "fail"
    assert any(r.startswith("RPO ") for r in result.reasons)


def test_sqlite_corruption_and_command_steps(drill_setup: Setup) -> None:
    setup = drill_setup(backup=False)
    db = setup.data / "app.db"
    raw = bytearray(db.read_bytes())
    raw[4096 : 4096 + 8] = b"\xff" * 8  # smash the header of the table's b-tree page
    db.write_bytes(bytes(raw))
    setup.backup()
    playbook = setup.playbook(
        verify=[
            {"sqlite_integrity": {"path": str(db)}},
            {"command": {"argv": ["test", "-s", f"{{restored}}{setup.data}/app.db"]}},
            {"command": {"argv": ["false"], "expect_exit": 0}},
        ]
    )
    result = setup.run(playbook)
    assert result.verdict == "fail"
    statuses = [
        (s.name, s.status) for s in result.steps if s.name in ("sqlite_integrity", "command")
    ]
    assert statuses == [("sqlite_integrity", "fail"), ("command", "pass"), ("command", "fail")]


def test_restic_check_step_runs_first_and_stops_a_damaged_repository(drill_setup: Setup) -> None:
    setup = drill_setup()
    for pack in setup.repo.data_packs():
        flip_bytes(pack)
    result = setup.run(setup.playbook(restic_check={"read_data_subset": "100%"}))
    assert result.verdict == "fail"
    assert [s.name for s in result.steps][:2] == ["resolve_snapshot", "restic_check"]
    assert step(result, "restic_check")["status"] == "fail"
    assert "restore" not in [s.name for s in result.steps]


def test_wrong_password_is_an_operational_error_with_restics_message(
    drill_setup: Setup, tmp_path: Path
) -> None:
    setup = drill_setup()
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not the password\n")
    result = setup.run(setup.playbook(restic={"password_file": str(wrong)}))
    assert result.verdict == "error"
    assert result.exit_code == EXIT_OPERATIONAL
    assert "wrong password" in result.reasons[0]


def test_missing_repository_is_an_operational_error(drill_setup: Setup, tmp_path: Path) -> None:
    setup = drill_setup()
    result = setup.run(setup.playbook(restic={"repository": str(tmp_path / "nowhere")}))
    assert result.verdict == "error"
    assert result.exit_code >= 10
    assert "Is there a repository" in result.reasons[0] or "does not exist" in result.reasons[0]


def test_global_timeout_stops_a_hanging_verify_command(drill_setup: Setup) -> None:
    setup = drill_setup()
    playbook = setup.playbook(
        timeout="4s", verify=[{"command": {"argv": ["sleep", "30"], "timeout": "10m"}}]
    )
    result = setup.run(playbook)
    assert result.verdict == "fail"
    assert (result.ended_at - result.started_at).total_seconds() < 15
    assert step(result, "command")["status"] == "fail"


@pytest.mark.parametrize(
    ("policy", "verdict_pass", "kept"),
    [("never", True, True), ("on_success", False, True), ("on_success", True, False)],
)
def test_cleanup_policy(drill_setup: Setup, policy: str, verdict_pass: bool, kept: bool) -> None:
    setup = drill_setup()
    overrides: dict[str, object] = {"cleanup": policy}
    if not verdict_pass:
        overrides["verify"] = [{"files_min": 10_000}]
    result = setup.run(setup.playbook(**overrides))
    assert (result.verdict == "pass") is verdict_pass
    assert result.restore_dir is not None
    assert Path(result.restore_dir).is_dir() is kept
    assert result.cleaned_up is not kept
