"""Pure tests of the restic adapter: argv builders, parsers and the exit-code/stderr mapping.

The stderr texts marked "0.14" were captured from restic 0.14.0 on Debian 12; the 0.17+/0.18
samples follow restic's scripting reference (exit codes 10/11/12, ``exit_error`` JSON)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from rra.agent.restic import (
    RepositoryAccess,
    RepositoryLocked,
    RepositoryNotFound,
    ResticFailed,
    ResticOutputError,
    WrongPassword,
)
from rra.agent.restic.commands import (
    CacheOptions,
    backup_argv,
    check_argv,
    common_argv,
    diff_argv,
    init_argv,
    read_data_args,
    snapshots_argv,
    stats_argv,
    version_argv,
)
from rra.agent.restic.errors import classify_failure, error_message
from rra.agent.restic.parse import (
    format_version,
    parse_check_output,
    parse_diff,
    parse_snapshots,
    parse_stats,
    parse_version,
)

REPO = RepositoryAccess("/srv/backup/finance", password_file="/etc/rra/finance.pass")
CMD_REPO = RepositoryAccess("sftp:b@h:/r", password_command="pass show backup/finance")
ID_A = "0fea0ee8bf5d0236c7911f1615c3f9a15b7212cdd2df351c6aa446323fba6c98"
ID_B = "62ca9249b27654e85241028369a03aa2bfbef80752dc6e8811fb0577f7ae1632"
PREFIX = ["restic", "--repo", "/srv/backup/finance", "--password-file", "/etc/rra/finance.pass"]

# ── stderr captured from restic 0.14.0 on this machine ──────────────────────────────────────────
STDERR_MISSING_014 = (
    "Fatal: unable to open config file: stat /srv/nope/config: no such file or directory\n"
    "Is there a repository at the following location?\n"
    "/srv/nope\n"
)
STDERR_WRONG_PASSWORD_014 = "Fatal: wrong password or no key found\n"
STDERR_LOCKED_014 = (
    "using temporary cache in /tmp/restic-check-cache-3023282189\n"
    "create exclusive lock for repository\n"
    "unable to create lock in backend: repository is already locked by PID 4006 on vm by root "
    "(UID 0, GID 0)\n"
    "lock was created at 2026-11-24 03:30:01 (2.014154362s ago)\n"
    "storage ID 325f06f0\n"
    "the `unlock` command can be used to remove stale locks\n"
)
STDERR_REST_REFUSED_014 = (
    'Fatal: unable to open config file: client.Head: Head "http://user:***@127.0.0.1:1/config": '
    "dial tcp 127.0.0.1:1: connect: connection refused\n"
    "Is there a repository at the following location?\n"
    "rest:http://user:***@127.0.0.1:1/\n"
)
STDERR_PASSWORD_FILE_014 = "Resolving password failed: Fatal: /etc/rra/x.pass does not exist\n"
STDOUT_CHECK_OK_014 = (
    "load indexes\ncheck all packs\ncheck snapshots, trees and blobs\n"
    "[0:00] 100.00%  1 / 1 snapshots\n\nno errors were found\n"
)
STDERR_CHECK_OK_014 = (
    "using temporary cache in /tmp/restic-check-cache-2721477821\n"
    "create exclusive lock for repository\n"
)
STDERR_CHECK_DAMAGED_014 = (
    "using temporary cache in /tmp/restic-check-cache-3611203185\n"
    "create exclusive lock for repository\n"
    f"Pack ID does not match, want {ID_A}, got {ID_B}\n"
    "Fatal: repository contains errors\n"
)
SNAPSHOTS_014 = (
    '[{"time":"2024-01-01T10:00:00.123456789Z","tree":"cc29322235ee636f9911b6f92d3c5464f9c938ad8a'
    '1f2b4d05ddc805c97788ec","paths":["/tmp/rx/src/a"],"hostname":"h1","username":"root","id":"'
    f'{ID_A}","short_id":"0fea0ee8"}}]'
)
SNAPSHOT_017 = {
    "time": "2024-06-01T12:30:00.5+02:00",
    "parent": ID_A,
    "tree": "d3c2914d03f45a740842a23479b8a7a74d94ba896b15cd788182756f695f5be2",
    "paths": ["/var/lib/finance"],
    "hostname": "db1",
    "username": "root",
    "uid": 0,
    "gid": 0,
    "tags": ["daily"],
    "program_version": "restic 0.17.3",
    "summary": {
        "files_new": 3,
        "total_files_processed": 100,
        "backup_start": "2024-06-01T12:30:00Z",
    },
    "id": ID_B,
    "short_id": "62ca9249",
}
DIFF_014 = (
    '{"message_type":"change","path":"/d/f1","modifier":"M"}\n'
    '{"message_type":"change","path":"/d/f100","modifier":"-"}\n'
    f'{{"message_type":"statistics","source_snapshot":"{ID_A}","target_snapshot":"{ID_B}",'
    '"changed_files":40,"added":{"files":1,"dirs":0,"others":0,"data_blobs":41,"tree_blobs":4,'
    '"bytes":32078},"removed":{"files":10,"dirs":0,"others":0,"data_blobs":50,"tree_blobs":4,'
    '"bytes":35042}}\n'
)


# ── argv ───────────────────────────────────────────────────────────────────────────────────────


def test_version_argv() -> None:
    assert version_argv() == ["restic", "version"]
    assert version_argv("/opt/restic") == ["/opt/restic", "version"]


def test_common_prefix_with_password_file_and_command() -> None:
    assert common_argv("restic", REPO) == PREFIX
    assert common_argv("restic", CMD_REPO) == [
        "restic",
        "--repo",
        "sftp:b@h:/r",
        "--password-command",
        "pass show backup/finance",
    ]


def test_common_prefix_cache_and_lock_flags() -> None:
    assert common_argv("restic", REPO, cache=CacheOptions(no_cache=True)) == [*PREFIX, "--no-cache"]
    assert common_argv("restic", REPO, cache=CacheOptions(cache_dir="/var/cache/rra")) == [
        *PREFIX,
        "--cache-dir",
        "/var/cache/rra",
    ]
    assert common_argv("restic", REPO, no_lock=True) == [*PREFIX, "--no-lock"]


def test_repository_access_needs_exactly_one_password_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        RepositoryAccess("/r")
    with pytest.raises(ValueError, match="exactly one"):
        RepositoryAccess("/r", password_file="/f", password_command="cat /f")
    with pytest.raises(ValueError, match="location"):
        RepositoryAccess("", password_file="/f")


def test_snapshots_argv() -> None:
    assert snapshots_argv(REPO, "db1") == [
        *PREFIX,
        "--no-lock",
        "snapshots",
        "--json",
        "--host",
        "db1",
    ]
    assert snapshots_argv(REPO, None) == [*PREFIX, "--no-lock", "snapshots", "--json"]
    assert snapshots_argv(REPO, "db1", paths=["/a"], binary="/usr/bin/restic")[-4:] == [
        "--host",
        "db1",
        "--path",
        "/a",
    ]


@pytest.mark.parametrize(
    ("read_data", "expected"),
    [
        ("none", []),
        ("all", ["--read-data"]),
        ("5%", ["--read-data-subset=5%"]),
        ("2.5%", ["--read-data-subset=2.5%"]),
        ("3/12", ["--read-data-subset=3/12"]),
        ("12/12", ["--read-data-subset=12/12"]),
    ],
)
def test_check_argv_read_data(read_data: str, expected: list[str]) -> None:
    assert read_data_args(read_data) == expected
    assert check_argv(REPO, read_data) == [*PREFIX, "check", *expected]


@pytest.mark.parametrize("bad", ["some", "0/12", "13/12", "rotate:12", "5", "-1%", "all "])
def test_check_argv_rejects_bad_read_data(bad: str) -> None:
    with pytest.raises(ValueError, match="read"):
        check_argv(REPO, bad)


def test_check_argv_json_for_new_restic() -> None:
    assert check_argv(REPO, "none", json=True) == [*PREFIX, "check", "--json"]


def test_check_takes_its_lock_and_fresh_cache() -> None:
    argv = check_argv(REPO, "all")
    assert "--no-lock" not in argv  # a check must not race a prune
    assert "--no-cache" not in argv  # check already uses a temporary cache


def test_diff_and_stats_argv() -> None:
    assert diff_argv(REPO, ID_A, ID_B) == [*PREFIX, "--no-lock", "diff", "--json", ID_A, ID_B]
    assert stats_argv(REPO, ID_A) == [*PREFIX, "--no-lock", "stats", "--json", ID_A]


@pytest.mark.parametrize("bad", ["latest", "--read-data", "0FEA0EE8", "abc", ID_A + "0"])
def test_snapshot_ids_are_validated(bad: str) -> None:
    with pytest.raises(ValueError, match="snapshot id"):
        diff_argv(REPO, bad, ID_B)
    with pytest.raises(ValueError, match="snapshot id"):
        stats_argv(REPO, bad)


def test_init_and_backup_argv() -> None:
    assert init_argv("restic", "/srv/r", password_file="/p") == [
        "restic",
        "--repo",
        "/srv/r",
        "--password-file",
        "/p",
        "init",
    ]
    assert backup_argv(
        "restic",
        "/srv/r",
        ["/a", "-b"],
        password_command="cat /p",
        host="h",
        time="2024-01-01 10:00:00",
        json=True,
    ) == [
        "restic",
        "--repo",
        "/srv/r",
        "--password-command",
        "cat /p",
        "--no-cache",
        "backup",
        "--json",
        "--host",
        "h",
        "--time",
        "2024-01-01 10:00:00",
        "--",
        "/a",
        "-b",
    ]
    with pytest.raises(ValueError, match="at least one path"):
        backup_argv("restic", "/srv/r", [], password_file="/p")


def test_no_argv_contains_a_password() -> None:
    argvs = [
        snapshots_argv(REPO, "h"),
        check_argv(REPO, "all"),
        diff_argv(REPO, ID_A, ID_B),
        stats_argv(REPO, ID_A),
    ]
    for argv in argvs:
        assert not any(a.startswith("--password=") or a == "--password" for a in argv)
        assert "--password-file" in argv


# ── version ────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("restic 0.14.0 compiled with go1.19.8 on linux/amd64\n", (0, 14, 0)),
        ("restic 0.17.3 compiled with go1.23.3 on linux/amd64", (0, 17, 3)),
        ("restic 0.16.4-dev (compiled manually) compiled with go1.21 on linux/amd64", (0, 16, 4)),
        ("restic 1.2.10 compiled with go1.30 on windows/amd64", (1, 2, 10)),
    ],
)
def test_parse_version(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_version(text) == expected
    assert format_version(expected) == ".".join(map(str, expected))


@pytest.mark.parametrize("text", ["", "restic", "rustic 0.7.0", "restic version unknown"])
def test_parse_version_malformed(text: str) -> None:
    with pytest.raises(ResticOutputError, match="version"):
        parse_version(text)


# ── snapshots ──────────────────────────────────────────────────────────────────────────────────


def test_parse_snapshots_014() -> None:
    [snap] = parse_snapshots(SNAPSHOTS_014)
    assert snap.id == ID_A
    assert snap.time == datetime(2024, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert snap.paths == ["/tmp/rx/src/a"]
    assert snap.hostname == "h1"
    assert snap.tags is None


def test_parse_snapshots_017_ignores_new_keys() -> None:
    [snap] = parse_snapshots(json.dumps([SNAPSHOT_017]))
    assert snap.id == ID_B
    assert snap.time == datetime(2024, 6, 1, 12, 30, 0, 500000, tzinfo=timezone(timedelta(hours=2)))
    assert snap.program_version == "restic 0.17.3"
    assert snap.tags == ["daily"]


@pytest.mark.parametrize("text", ["[]", "[]\n", "null"])
def test_parse_snapshots_empty(text: str) -> None:
    assert parse_snapshots(text) == []


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "invalid JSON"),
        ('[{"time": "2024-01-01T10:00:00Z"', "invalid JSON"),
        ('{"id": "x"}', "expected a JSON array"),
        ('[{"time": "2024-01-01T10:00:00Z", "paths": [], "hostname": "h"}]', "0.id"),
        (f'[{{"id": "{ID_A}", "time": "yesterday"}}]', "0.time"),
        (f'[{{"id": "{ID_A}", "time": "2024-01-01T10:00:00"}}]', "0.time"),
        (f'[{{"id": "{ID_A[:8]}", "time": "2024-01-01T10:00:00Z"}}]', "0.id"),
        (f'[{{"id": "{ID_A}", "time": "2024-01-01T10:00:00Z", "paths": "/a"}}]', "0.paths"),
    ],
)
def test_parse_snapshots_malformed(text: str, match: str) -> None:
    with pytest.raises(ResticOutputError, match=match):
        parse_snapshots(text)


# ── check ──────────────────────────────────────────────────────────────────────────────────────


def test_check_ok_014() -> None:
    result = parse_check_output(0, STDOUT_CHECK_OK_014, STDERR_CHECK_OK_014)
    assert result.ok is True
    assert result.message == "no errors were found"


def test_check_damaged_014() -> None:
    result = parse_check_output(
        1, STDOUT_CHECK_OK_014.replace("no errors were found", ""), STDERR_CHECK_DAMAGED_014
    )
    assert result.ok is False
    assert result.message == (
        f"Fatal: repository contains errors\nPack ID does not match, want {ID_A}, got {ID_B}"
    )


def test_check_error_count_014() -> None:
    result = parse_check_output(
        1, "error for tree 4645312b:\n  tree 4645312b not found\n", "Fatal: There were 2 errors\n"
    )
    assert result.ok is False
    assert result.errors == 2
    assert result.message.startswith("Fatal: There were 2 errors")
    assert "error for tree 4645312b:" in result.message


def test_check_json_018_clean() -> None:
    stdout = (
        '{"message_type":"summary","num_errors":0,"broken_packs":null,'
        '"suggest_repair_index":false,"suggest_prune":false}\n'
    )
    result = parse_check_output(0, stdout, "")
    assert (result.ok, result.message, result.errors) == (True, "no errors were found", 0)


def test_check_json_018_damaged() -> None:
    stdout = (
        '{"message_type":"summary","num_errors":1,"broken_packs":["7ce76e13"],'
        '"suggest_repair_index":false,"suggest_prune":false}\n'
    )
    stderr = (
        '{"message_type":"error","message":"pack 7ce76e13: Pack ID does not match"}\n'
        '{"message_type":"exit_error","code":1,"message":"Fatal: repository contains errors"}\n'
    )
    result = parse_check_output(1, stdout, stderr)
    assert result.ok is False
    assert result.errors == 1
    assert result.message == (
        "1 errors; broken packs: 7ce76e13\n"
        "Fatal: repository contains errors\npack 7ce76e13: Pack ID does not match"
    )


def test_check_json_summary_without_count_is_malformed() -> None:
    with pytest.raises(ResticOutputError, match="num_errors"):
        parse_check_output(0, '{"message_type":"summary","num_errors":"none"}', "")


# ── diff and stats ─────────────────────────────────────────────────────────────────────────────


def test_parse_diff() -> None:
    stats = parse_diff(DIFF_014)
    assert (stats.source_snapshot, stats.target_snapshot) == (ID_A, ID_B)
    assert stats.changed_files == 40
    assert (stats.added.files, stats.added.bytes) == (1, 32078)
    assert (stats.removed.files, stats.removed.dirs, stats.removed.bytes) == (10, 0, 35042)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "no statistics"),
        ('{"message_type":"change","path":"/a","modifier":"M"}\n', "no statistics"),
        ("not json\n", "line 1 is not JSON"),
        (DIFF_014.replace('"changed_files":40,', ""), "changed_files"),
        (DIFF_014.replace('"changed_files":40', '"changed_files":"many"'), "changed_files"),
    ],
)
def test_parse_diff_malformed(text: str, match: str) -> None:
    with pytest.raises(ResticOutputError, match=match):
        parse_diff(text)


def test_parse_stats() -> None:
    stats = parse_stats('{"total_size":592,"total_file_count":103,"snapshots_count":1}\n')
    assert (stats.total_size, stats.total_file_count, stats.snapshots_count) == (592, 103, 1)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "invalid JSON"),
        ("[1]", "expected a JSON object"),
        ('{"total_size":592}', "total_file_count"),
        ('{"total_size":592,"total_file_count":-1}', "total_file_count"),
    ],
)
def test_parse_stats_malformed(text: str, match: str) -> None:
    with pytest.raises(ResticOutputError, match=match):
        parse_stats(text)


# ── failures: exit codes and stderr ────────────────────────────────────────────────────────────


def test_classify_014_by_stderr() -> None:
    missing = classify_failure(1, STDERR_MISSING_014)
    assert isinstance(missing, RepositoryNotFound)
    assert missing.message == STDERR_MISSING_014.strip()
    wrong = classify_failure(1, STDERR_WRONG_PASSWORD_014)
    assert isinstance(wrong, WrongPassword)
    assert wrong.message == "Fatal: wrong password or no key found"
    locked = classify_failure(1, STDERR_LOCKED_014)
    assert isinstance(locked, RepositoryLocked)
    assert locked.message.startswith("unable to create lock in backend: repository is already")
    assert "using temporary cache" not in locked.message
    refused = classify_failure(1, STDERR_REST_REFUSED_014)
    assert isinstance(refused, RepositoryNotFound)
    assert "connection refused" in refused.message
    password_file = classify_failure(1, STDERR_PASSWORD_FILE_014)
    assert type(password_file) is ResticFailed
    assert password_file.message == STDERR_PASSWORD_FILE_014.strip()


@pytest.mark.parametrize(
    ("rc", "message", "kind"),
    [
        (10, "Fatal: repository does not exist: unable to open config file", RepositoryNotFound),
        (
            11,
            "Fatal: unable to create lock in backend: repository is already locked",
            RepositoryLocked,
        ),
        (12, "Fatal: wrong password or no key found", WrongPassword),
        (1, "Fatal: something else", ResticFailed),
        (3, "Warning: at least one source file could not be read", ResticFailed),
        (42, "Fatal: a code from the future", ResticFailed),
        (130, "Fatal: interrupted", ResticFailed),
    ],
)
def test_classify_017_by_exit_code(rc: int, message: str, kind: type[Exception]) -> None:
    stderr = json.dumps({"message_type": "exit_error", "code": rc, "message": message}) + "\n"
    error = classify_failure(rc, stderr)
    assert type(error) is kind
    assert error.rc == rc
    assert message in error.message


def test_error_message_prefers_fatal_and_drops_progress() -> None:
    stderr = (
        "subprocess ssh: ssh: connect to host 10.0.0.9 port 22: Connection refused\n"
        "[0:00] 100.00%  1 / 1 snapshots\n"
        "Fatal: unable to open repository at sftp:b@10.0.0.9:/r: unable to start the sftp session\n"
    )
    assert error_message(stderr) == (
        "Fatal: unable to open repository at sftp:b@10.0.0.9:/r: unable to start the sftp session\n"
        "subprocess ssh: ssh: connect to host 10.0.0.9 port 22: Connection refused"
    )


def test_error_message_without_stderr() -> None:
    assert error_message("", "") == "restic printed no error message"
    assert error_message("", "reading repository password from stdin\n") == (
        "reading repository password from stdin"
    )


def test_error_message_is_bounded() -> None:
    assert len(error_message("Fatal: " + "x" * 10_000)) <= 2000
