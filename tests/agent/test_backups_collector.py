"""The backup-facts collector against real restic repositories (no mocks of restic)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rra.agent.collectors.backups import (
    CHECK_STATE,
    collect_backup,
    collect_backups,
    covers,
    infer_placement,
    redact_repository,
    redact_text,
)
from rra.agent.config import BackupConfig
from rra.agent.host import RunResult
from rra.agent.local import child_environment
from rra.agent.restic import RepositoryAccess, RepositoryLocked, Restic, Snapshot, run_restic
from rra.agent.restic.commands import check_argv
from rra.agent.restic.parse import format_version, parse_version
from rra.agent.state import StateStore
from rra.checks.facts import BackupFact

from .conftest import PASSWORD, SNAPSHOT_HOST, RecordingHost, Repo, flip_bytes

pytestmark = pytest.mark.restic

NOW = datetime.now(UTC).replace(microsecond=0)
HOUR = timedelta(hours=1)


@pytest.fixture(scope="session")
def restic_version(restic_binary: str) -> str:
    out = subprocess.run(
        [restic_binary, "version"], capture_output=True, text=True, check=True
    ).stdout
    return format_version(parse_version(out))


def backup_config(repo: Repo, paths: Sequence[Path | str], **settings: Any) -> BackupConfig:
    fields: dict[str, Any] = {
        "name": "main",
        "repository": repo.location,
        "password_file": str(repo.password_file),
        "paths": [str(p) for p in paths],
    }
    fields.update(settings)
    return BackupConfig(**fields)


def collect(
    host: RecordingHost,
    backup: BackupConfig,
    restic: Restic,
    state: StateStore,
    now: datetime = NOW,
) -> BackupFact:
    return collect_backup(host, backup, hostname=SNAPSHOT_HOST, now=now, state=state, restic=restic)


def make_files(directory: Path, count: int, version: str = "v1") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (directory / f"f{i:03d}").write_text(f"{version} {i}\n")


def ok_fact(repo: Repo, version: str, **fields: Any) -> BackupFact:
    """The fact every healthy local repository yields, with the fields a test is about."""
    base: dict[str, Any] = {
        "name": "main",
        "repository": repo.location,
        "status": "ok",
        "error": None,
        "rpo_hours": 24.0,
        "offsite": False,
        "append_only": False,
        "restic_version": version,
    }
    base.update(fields)
    return BackupFact(**base)


# ── freshness ──────────────────────────────────────────────────────────────────────────────────


def test_fresh_backup(
    repo: Repo,
    data_dir: Path,
    host: RecordingHost,
    restic: Restic,
    state: StateStore,
    restic_version: str,
) -> None:
    make_files(data_dir, 3)
    snapshot_id = repo.backup([data_dir], NOW - 5 * HOUR)

    fact = collect(host, backup_config(repo, [data_dir]), restic, state)

    assert fact == ok_fact(
        repo,
        restic_version,
        snapshot_count=1,
        latest_snapshot_at=NOW - 5 * HOUR,
        latest_snapshot_id=snapshot_id,
        age_hours=5.0,
        paths_covered=[str(data_dir)],
        paths_missing=[],
        last_check_at=NOW,
        last_check_ok=True,
        last_check_message="no errors were found",
        last_check_read_data="1/12",  # the default check_read_data is rotate:12
        change_ratio=None,
        change_detail=None,
    )
    assert host.subcommands() == ["version", "snapshots", "check"]  # one snapshot: no diff

    # The same with the wall clock as "now" (restic keeps whole seconds of --time).
    # NOW was taken when the module was imported, maybe minutes before this test runs.
    wall = datetime.now(UTC)
    live = collect(host, backup_config(repo, [data_dir]), restic, state, now=wall)
    expected = (wall - (NOW - 5 * HOUR)).total_seconds() / 3600
    assert live.age_hours == pytest.approx(expected, abs=60 / 3600)
    assert host.subcommands()[3:] == ["snapshots"]  # the check is not due again


def test_stale_backup(
    repo: Repo,
    data_dir: Path,
    host: RecordingHost,
    restic: Restic,
    state: StateStore,
    restic_version: str,
) -> None:
    make_files(data_dir, 1)
    snapshot_id = repo.backup([data_dir], NOW - 30 * HOUR)

    fact = collect(host, backup_config(repo, [data_dir], rpo="24h"), restic, state)

    assert fact == ok_fact(
        repo,
        restic_version,
        snapshot_count=1,
        latest_snapshot_at=NOW - 30 * HOUR,
        latest_snapshot_id=snapshot_id,
        age_hours=30.0,
        paths_covered=[str(data_dir)],
        last_check_at=NOW,
        last_check_ok=True,
        last_check_message="no errors were found",
        last_check_read_data="1/12",
    )
    assert fact.age_hours is not None and fact.age_hours > fact.rpo_hours


def test_age_is_that_of_the_oldest_per_path_newest_snapshot(
    repo: Repo, data_dir: Path, host: RecordingHost, restic: Restic, state: StateStore
) -> None:
    a, b = data_dir / "a", data_dir / "b"
    make_files(a, 2)
    make_files(b, 2)
    both = repo.backup([a, b], NOW - 30 * HOUR)
    repo.backup([a], NOW - 2 * HOUR)
    backup = backup_config(repo, [a, b], check_read_data="none")

    fact = collect(host, backup, restic, state)
    assert (fact.latest_snapshot_id, fact.age_hours) == (both, 30.0)
    assert (fact.paths_covered, fact.paths_missing, fact.snapshot_count) == (
        [str(a), str(b)],
        [],
        2,
    )

    # A snapshot of the parent directory covers both paths (ancestor rule).
    parent = repo.backup([data_dir], NOW - 1 * HOUR)
    fact = collect(host, backup, restic, state)
    assert (fact.latest_snapshot_id, fact.age_hours) == (parent, 1.0)
    assert fact.latest_snapshot_at == NOW - 1 * HOUR
    assert fact.snapshot_count == 3


def test_declared_path_not_covered(
    repo: Repo,
    data_dir: Path,
    host: RecordingHost,
    restic: Restic,
    state: StateStore,
    restic_version: str,
) -> None:
    a, ab = data_dir / "a", data_dir / "ab"
    make_files(a, 1)
    make_files(ab, 1)
    repo.backup([ab], NOW - 1 * HOUR)  # "/…/ab" is not an ancestor of "/…/a"
    repo.backup([a / "f000"], NOW - 1 * HOUR)  # a file inside a path does not cover it

    fact = collect(host, backup_config(repo, [ab, a], check_read_data="none"), restic, state)

    assert fact == ok_fact(
        repo,
        restic_version,
        snapshot_count=2,
        latest_snapshot_at=None,
        latest_snapshot_id=None,
        age_hours=None,
        paths_covered=[str(ab)],
        paths_missing=[str(a)],
        last_check_at=NOW,
        last_check_ok=True,
        last_check_message="no errors were found",
        last_check_read_data="none",
    )


def test_empty_repository(
    repo: Repo,
    data_dir: Path,
    host: RecordingHost,
    restic: Restic,
    state: StateStore,
    restic_version: str,
) -> None:
    fact = collect(host, backup_config(repo, [data_dir]), restic, state)

    assert fact == ok_fact(
        repo,
        restic_version,
        snapshot_count=0,
        paths_covered=[],
        paths_missing=[str(data_dir)],
        age_hours=None,
        latest_snapshot_at=None,
        last_check_at=None,
        last_check_ok=None,
    )
    assert "check" not in host.subcommands()  # nothing to check in an empty repository


def test_snapshots_of_another_host_only(
    repo: Repo,
    data_dir: Path,
    host: RecordingHost,
    restic: Restic,
    state: StateStore,
    restic_version: str,
) -> None:
    make_files(data_dir, 1)
    other = repo.backup([data_dir], NOW - 1 * HOUR, host="otherhost")

    fact = collect(host, backup_config(repo, [data_dir]), restic, state)
    assert fact == ok_fact(repo, restic_version, snapshot_count=0, paths_missing=[str(data_dir)])
    assert host.calls[1].argv[-2:] == ["--host", SNAPSHOT_HOST]

    # backup.host names the restic host explicitly and wins over this host's name.
    fact = collect(host, backup_config(repo, [data_dir], host="otherhost"), restic, state)
    assert (fact.snapshot_count, fact.latest_snapshot_id, fact.paths_missing) == (1, other, [])


# ── repositories that cannot be opened ─────────────────────────────────────────────────────────


def error_fact_fields(fact: BackupFact) -> dict[str, Any]:
    return fact.model_dump(exclude={"error", "repository", "restic_version", "name"})


EXPECTED_ERROR_FIELDS = BackupFact(
    name="x", repository="x", status="error", offsite=False, append_only=False
).model_dump(exclude={"error", "repository", "restic_version", "name"})


def test_missing_repository(
    repo: Repo, tmp_path: Path, host: RecordingHost, restic: Restic, state: StateStore
) -> None:
    missing = tmp_path / "no-such-repo"
    backup = backup_config(repo, ["/srv"], repository=str(missing))

    fact = collect(host, backup, restic, state)

    assert error_fact_fields(fact) == EXPECTED_ERROR_FIELDS
    assert fact.repository == str(missing)
    assert fact.error is not None
    assert fact.error.startswith("Fatal: ")
    assert "Is there a repository at the following location?" in fact.error
    assert f"{missing}/config: no such file or directory" in fact.error


def test_wrong_password(
    repo: Repo, tmp_path: Path, host: RecordingHost, restic: Restic, state: StateStore
) -> None:
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not the password\n")
    fact = collect(host, backup_config(repo, ["/srv"], password_file=str(wrong)), restic, state)
    assert error_fact_fields(fact) == EXPECTED_ERROR_FIELDS
    assert fact.error == "Fatal: wrong password or no key found"


def test_password_file_missing_or_unreadable(
    repo: Repo, tmp_path: Path, host: RecordingHost, restic: Restic, state: StateStore
) -> None:
    missing = tmp_path / "absent.pass"
    fact = collect(host, backup_config(repo, ["/srv"], password_file=str(missing)), restic, state)
    assert error_fact_fields(fact) == EXPECTED_ERROR_FIELDS
    assert fact.error == f"Resolving password failed: Fatal: {missing} does not exist"

    directory = tmp_path / "a-directory"
    directory.mkdir()
    fact = collect(host, backup_config(repo, ["/srv"], password_file=str(directory)), restic, state)
    assert fact.status == "error"
    assert fact.error == f"Resolving password failed: Readfile: read {directory}: is a directory"


def test_restic_not_installed(
    repo: Repo, tmp_path: Path, host: RecordingHost, state: StateStore
) -> None:
    absent = Restic(host, binary=str(tmp_path / "bin" / "restic"))
    fact = collect(host, backup_config(repo, ["/srv"]), absent, state)
    assert error_fact_fields(fact) == EXPECTED_ERROR_FIELDS
    assert fact.restic_version is None
    assert fact.error is not None and fact.error.startswith("restic is not installed on this host")


def test_locked_repository_lists_but_does_not_record_a_check(
    repo: Repo,
    data_dir: Path,
    host: RecordingHost,
    restic: Restic,
    state: StateStore,
) -> None:
    make_files(data_dir, 2)
    repo.backup([data_dir], NOW - 1 * HOUR)
    # A running backup holds a lock; restic check needs an exclusive one.
    locker = subprocess.Popen(
        [
            repo.binary,
            "--repo",
            repo.location,
            "--password-file",
            str(repo.password_file),
            "--no-cache",
            "backup",
            "--stdin",
            "--host",
            "locker",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=child_environment(),
    )
    try:
        deadline = time.monotonic() + 20
        while not any((repo.path / "locks").iterdir()):
            assert time.monotonic() < deadline, "restic backup --stdin never took its lock"
            time.sleep(0.05)

        with pytest.raises(RepositoryLocked, match="repository is already locked"):
            access = RepositoryAccess(repo.location, password_file=str(repo.password_file))
            run_restic(host, check_argv(access, "none", binary=repo.binary), 60)

        backup = backup_config(repo, [data_dir], check_read_data="none")
        fact = collect(host, backup, restic, state)
        assert (fact.status, fact.snapshot_count, fact.paths_missing) == ("ok", 1, [])
        assert (fact.last_check_at, fact.last_check_ok) == (None, None)
        assert state.load(CHECK_STATE) == {}
    finally:
        locker.kill()
        locker.wait()
    # A killed restic leaves a stale lock that still blocks check (restic 0.14) until unlocked.
    repo.restic("unlock")
    fact = collect(host, backup, restic, state, now=NOW + HOUR)
    assert (fact.last_check_at, fact.last_check_ok) == (NOW + HOUR, True)


# ── integrity check ────────────────────────────────────────────────────────────────────────────


def test_corrupted_data_pack(
    repo: Repo, data_dir: Path, host: RecordingHost, restic: Restic, state: StateStore
) -> None:
    make_files(data_dir, 20)
    repo.backup([data_dir], NOW - 1 * HOUR)
    packs = repo.data_packs()
    assert packs
    for pack in packs:
        flip_bytes(pack)

    # A plain check reads only the index and trees: it passes over damaged data (FIELD-NOTES).
    plain = collect(host, backup_config(repo, [data_dir], check_read_data="none"), restic, state)
    assert (plain.status, plain.last_check_ok, plain.last_check_read_data) == ("ok", True, "none")
    assert plain.last_check_message == "no errors were found"

    # Reading the data finds it.
    full = collect(
        host, backup_config(repo, [data_dir], name="full", check_read_data="all"), restic, state
    )
    assert (full.status, full.last_check_ok, full.last_check_read_data) == ("ok", False, "all")
    assert full.last_check_at == NOW
    assert full.last_check_message is not None
    assert full.last_check_message.startswith("Fatal: repository contains errors")
    assert "Pack ID does not match" in full.last_check_message
    assert (full.age_hours, full.paths_missing) == (1.0, [])


def test_check_interval_is_respected(
    repo: Repo, data_dir: Path, host: RecordingHost, restic: Restic, state: StateStore
) -> None:
    make_files(data_dir, 1)
    repo.backup([data_dir], NOW - 1 * HOUR)
    backup = backup_config(repo, [data_dir], check_interval="7d", check_read_data="none")

    first = collect(host, backup, restic, state)
    assert first.last_check_at == NOW
    assert host.subcommands().count("check") == 1

    second = collect(host, backup, restic, state, now=NOW + 6 * 24 * HOUR)
    assert host.subcommands().count("check") == 1  # not due: no second check
    assert (second.last_check_at, second.last_check_ok) == (NOW, True)
    assert second.last_check_message == "no errors were found"

    third = collect(host, backup, restic, state, now=NOW + 7 * 24 * HOUR)
    assert host.subcommands().count("check") == 2
    assert third.last_check_at == NOW + 7 * 24 * HOUR


def test_rotating_read_data_subset(
    repo: Repo, data_dir: Path, host: RecordingHost, restic: Restic, state: StateStore
) -> None:
    make_files(data_dir, 1)
    repo.backup([data_dir], NOW - 1 * HOUR)
    backup = backup_config(repo, [data_dir], check_interval="0s", check_read_data="rotate:2")

    seen = []
    for run in range(3):
        fact = collect(host, backup, restic, state, now=NOW + run * HOUR)
        seen.append(fact.last_check_read_data)
        assert (fact.last_check_at, fact.last_check_ok) == (NOW + run * HOUR, True)
    assert seen == ["1/2", "2/2", "1/2"]
    subsets = [a for c in host.calls for a in c.argv if a.startswith("--read-data-subset=")]
    assert subsets == [f"--read-data-subset={k}/2" for k in (1, 2, 1)]
    assert state.load(CHECK_STATE)[f"main {repo.location}"]["rotate"] == {"total": 2, "next": 2}

    # A new rotation size starts over.
    fact = collect(host, backup.model_copy(update={"check_read_data": "rotate:3"}), restic, state)
    assert fact.last_check_read_data == "1/3"


# ── mass change ────────────────────────────────────────────────────────────────────────────────


def test_mass_change_between_the_two_newest_snapshots(
    repo: Repo, data_dir: Path, host: RecordingHost, restic: Restic, state: StateStore
) -> None:
    make_files(data_dir, 100)
    old = repo.backup([data_dir], NOW - 2 * HOUR)
    make_files(data_dir, 40, version="encrypted")  # rewrite 40
    for i in range(90, 100):  # delete 10
        (data_dir / f"f{i:03d}").unlink()
    new = repo.backup([data_dir], NOW - 1 * HOUR)
    backup = backup_config(repo, [data_dir], check_read_data="none")

    fact = collect(host, backup, restic, state)

    # restic stats (restore-size mode) counts every node of the old snapshot: the 100 files and
    # the directories from "/" down to data_dir (restic stores absolute paths).
    files_before = 100 + len(data_dir.parts) - 1
    assert fact.change_detail == {
        "old_snapshot_id": old,
        "new_snapshot_id": new,
        "changed_files": 40,
        "removed_files": 10,
        "added_files": 0,
        "files_before": files_before,
    }
    assert fact.change_ratio == 50 / files_before
    assert (fact.latest_snapshot_id, fact.snapshot_count) == (new, 2)
    assert host.subcommands() == ["version", "snapshots", "check", "diff", "stats"]

    # The result is cached per snapshot pair: a second run does not diff again.
    again = collect(host, backup, restic, state, now=NOW + HOUR)
    assert (again.change_ratio, again.change_detail) == (fact.change_ratio, fact.change_detail)
    assert host.subcommands()[5:] == ["snapshots"]


def test_change_compares_snapshots_of_the_same_paths(
    repo: Repo, data_dir: Path, host: RecordingHost, restic: Restic, state: StateStore
) -> None:
    a, b = data_dir / "a", data_dir / "b"
    make_files(a, 10)
    make_files(b, 10)
    first_a = repo.backup([a], NOW - 4 * HOUR)
    repo.backup([b], NOW - 3 * HOUR)
    (a / "f000").write_text("changed\n")
    second_a = repo.backup([a], NOW - 2 * HOUR)
    backup = backup_config(repo, [a], check_read_data="none")

    fact = collect(host, backup, restic, state)
    assert fact.change_detail is not None
    assert (fact.change_detail["old_snapshot_id"], fact.change_detail["new_snapshot_id"]) == (
        first_a,
        second_a,
    )
    assert fact.change_detail["changed_files"] == 1


# ── credentials ────────────────────────────────────────────────────────────────────────────────


def test_repository_url_credentials_are_redacted(
    repo: Repo, host: RecordingHost, restic: Restic, state: StateStore
) -> None:
    location = "rest:http://backupuser:s3cretPa55@127.0.0.1:1/finance/"
    fact = collect(host, backup_config(repo, ["/srv"], repository=location), restic, state)

    assert fact.repository == "rest:http://***@127.0.0.1:1/finance/"
    assert (fact.status, fact.offsite, fact.append_only) == ("error", True, None)
    assert fact.error is not None
    assert "connection refused" in fact.error
    assert "s3cretPa55" not in fact.model_dump_json()
    assert "backupuser" not in fact.model_dump_json()

    # Configured values win over what the location suggests.
    fact = collect(
        host,
        backup_config(repo, ["/srv"], repository=location, offsite=False, append_only=True),
        restic,
        state,
    )
    assert (fact.offsite, fact.append_only) == (False, True)


def test_no_password_in_any_argv_or_environment(
    repo: Repo, data_dir: Path, host: RecordingHost, restic: Restic, state: StateStore
) -> None:
    make_files(data_dir, 10)
    repo.backup([data_dir], NOW - 2 * HOUR)
    make_files(data_dir, 5, version="v2")
    repo.backup([data_dir], NOW - 1 * HOUR)
    by_file = backup_config(repo, [data_dir], name="by-file", check_read_data="all")
    by_command = backup_config(
        repo,
        [data_dir],
        name="by-command",
        password_file=None,
        password_command=f"cat {repo.password_file}",
        check_read_data="all",
    )

    for backup, flag in ((by_file, "--password-file"), (by_command, "--password-command")):
        host.calls.clear()
        fact = collect(host, backup, restic, state)
        assert (fact.status, fact.last_check_ok) == ("ok", True)
        assert fact.change_ratio is not None
        assert [c for c in host.subcommands() if c != "version"] == [
            "snapshots",
            "check",
            "diff",
            "stats",
        ]
        for call in host.calls:
            if call.argv[1:] != ["version"]:
                assert flag in call.argv
            assert not any(PASSWORD in arg for arg in call.argv), call.argv
            assert not any(PASSWORD in value for value in call.env.values())
            assert not any(name.startswith("RESTIC_") for name in call.env)
    assert PASSWORD not in json.dumps(state.load(CHECK_STATE))


# ── several backups ────────────────────────────────────────────────────────────────────────────


class ExplodingHost(RecordingHost):
    """Runs commands for real, except that it fails on one repository (a transport bug)."""

    def run(
        self,
        argv: Sequence[str],
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> RunResult:
        if any("explode" in arg for arg in argv):
            raise RuntimeError("transport bug")
        return super().run(argv, timeout=timeout, env=env, stdin=stdin)


def test_one_backup_failing_does_not_stop_the_others(
    repo: Repo, data_dir: Path, tmp_path: Path, restic_binary: str, state: StateStore
) -> None:
    make_files(data_dir, 1)
    repo.backup([data_dir], NOW - 3 * HOUR)
    host = ExplodingHost()
    backups = [
        backup_config(repo, [data_dir], name="missing", repository=str(tmp_path / "nope")),
        backup_config(repo, [data_dir], name="exploding", repository=str(tmp_path / "explode")),
        backup_config(repo, [data_dir], name="good", check_read_data="none"),
    ]

    facts = collect_backups(
        host, backups, hostname=SNAPSHOT_HOST, now=NOW, state=state, restic_binary=restic_binary
    )

    assert [(f.name, f.status) for f in facts] == [
        ("missing", "error"),
        ("exploding", "error"),
        ("good", "ok"),
    ]
    assert facts[1].error == "collector failed: RuntimeError: transport bug"
    assert facts[2].age_hours == 3.0
    assert host.subcommands().count("version") == 1  # detected once per run


def test_naive_now_is_refused(host: RecordingHost, state: StateStore) -> None:
    with pytest.raises(ValueError, match="timezone"):
        collect_backups(host, [], hostname="h", now=datetime(2024, 1, 1), state=state)


# ── pure helpers ───────────────────────────────────────────────────────────────────────────────


def snapshot(*paths: str) -> Snapshot:
    return Snapshot(id="0" * 64, time=NOW, paths=list(paths), hostname="h")


@pytest.mark.parametrize(
    ("paths", "declared", "expected"),
    [
        (["/var/lib/finance"], "/var/lib/finance", True),
        (["/var/lib"], "/var/lib/finance", True),
        (["/"], "/var/lib/finance", True),
        (["/etc", "/var"], "/var/lib/finance", True),
        (["/var/lib/fin"], "/var/lib/finance", False),
        (["/var/lib/finance/db"], "/var/lib/finance", False),
        ([], "/var/lib/finance", False),
        (["/var/lib/"], "/var/lib/finance", True),
    ],
)
def test_covers(paths: list[str], declared: str, expected: bool) -> None:
    assert covers(snapshot(*paths), declared) is expected


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("rest:https://user:pass@h/", "rest:https://***@h/"),
        ("rest:https://user:p@ss@backup.example:8000/r", "rest:https://***@backup.example:8000/r"),
        ("rest:https://backup.example/", "rest:https://backup.example/"),
        ("s3:https://AKIA:secret@s3.example.com/bucket", "s3:https://***@s3.example.com/bucket"),
        ("sftp://user@host:22//srv/restic", "sftp://***@host:22//srv/restic"),
        ("sftp:user@host:/srv/restic", "sftp:user@host:/srv/restic"),
        ("/srv/backup/finance", "/srv/backup/finance"),
        ("/srv/backup/user@example", "/srv/backup/user@example"),
    ],
)
def test_redact_repository(location: str, expected: str) -> None:
    assert redact_repository(location) == expected


@given(
    user=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=12),
    password=st.text(
        alphabet=st.characters(
            min_codepoint=33,
            max_codepoint=0x24F,
            blacklist_characters="/@\\\"'",
            blacklist_categories=["Cc", "Zs"],
        ),
        min_size=1,
        max_size=30,
    ),
)
def test_redaction_never_leaks_the_password(user: str, password: str) -> None:
    location = f"rest:https://{user}:{password}@backup.example:8000/repo"
    assert redact_repository(location) == "rest:https://***@backup.example:8000/repo"
    # restic quotes the location and masks only the password in URLs it prints.
    message = f'Fatal: unable to open {location}: Head "https://{user}:***@backup.example/config"'
    assert redact_text(message, location) == (
        "Fatal: unable to open rest:https://***@backup.example:8000/repo: "
        'Head "https://***@backup.example/config"'
    )


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/srv/backup/finance", (False, False)),
        ("local:/srv/backup/finance", (False, False)),
        ("sftp:user@host:/srv/restic", (True, None)),
        ("rest:https://h/", (True, None)),
        ("s3:s3.amazonaws.com/bucket", (True, None)),
        ("b2:bucket:path", (True, None)),
        ("azure:container:/", (True, None)),
        ("gs:bucket:/", (True, None)),
        ("swift:container:/", (True, None)),
        ("rclone:remote:path", (True, None)),
        ("\\\\fileserver\\backup", (None, None)),
    ],
)
def test_infer_placement(location: str, expected: tuple[bool | None, bool | None]) -> None:
    assert infer_placement(location) == expected
