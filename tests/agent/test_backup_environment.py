"""A backup's environment file: storage-backend variables reach restic; secrets never leak."""

from __future__ import annotations

from pathlib import Path

import pytest

from rra.agent.collectors.backups import collect_backup
from rra.agent.restic import Restic
from rra.agent.restic.environment import EnvironmentFileError, parse_environment
from rra.agent.state import StateStore
from tests.agent.conftest import SNAPSHOT_HOST, RecordingHost, Repo
from tests.agent.test_backups_collector import HOUR, NOW, backup_config, make_files


def test_variables_reach_restic(
    repo: Repo, data_dir: Path, tmp_path: Path, restic_binary: str, state: StateStore
) -> None:
    make_files(data_dir, 3)
    repo.backup([data_dir], NOW - 2 * HOUR)
    cache_dir = tmp_path / "cache-from-env-file"
    env_file = tmp_path / "finance.env"
    env_file.write_text(
        f"# backend settings\nexport RESTIC_CACHE_DIR='{cache_dir}'\nAWS_SECRET_ACCESS_KEY=s3cr3t-value\n"
    )
    host = RecordingHost()
    backup = backup_config(repo, [data_dir], environment_file=str(env_file), check_read_data="none")

    # A Restic without an explicit cache dir, so restic itself reads RESTIC_CACHE_DIR.
    fact = collect_backup(
        host,
        backup,
        hostname=SNAPSHOT_HOST,
        now=NOW,
        state=state,
        restic=Restic(host, restic_binary),
    )

    assert fact.status == "ok" and fact.snapshot_count == 1
    assert cache_dir.is_dir() and any(cache_dir.iterdir())  # restic really used the variable
    snapshots_call = next(c for c in host.calls if "snapshots" in c.argv)
    assert snapshots_call.env["AWS_SECRET_ACCESS_KEY"] == "s3cr3t-value"
    assert all("s3cr3t-value" not in arg for call in host.calls for arg in call.argv)
    assert "s3cr3t-value" not in fact.model_dump_json()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("RESTIC_PASSWORD=hunter2", "RESTIC_PASSWORD is not allowed here"),
        ("RESTIC_REPOSITORY=/elsewhere", "RESTIC_REPOSITORY is not allowed here"),
        ("PATH=/tmp/evil", "PATH is not a storage-backend variable"),
        ("LD_PRELOAD=/tmp/evil.so", "LD_PRELOAD is not a storage-backend variable"),
        ("just words", "expected NAME=value"),
        ("AWS_SECRET_ACCESS_KEY='unbalanced", "unbalanced quotes"),
    ],
)
def test_refused_lines_name_file_and_line_never_the_value(text: str, message: str) -> None:
    with pytest.raises(EnvironmentFileError) as raised:
        parse_environment(f"# comment\n{text}\n", "/etc/rra/x.env")
    assert raised.value.message.startswith("/etc/rra/x.env:2: ")
    assert message in raised.value.message
    assert "hunter2" not in raised.value.message and "/tmp/evil" not in raised.value.message


def test_parse_values() -> None:
    assert parse_environment(
        'B2_ACCOUNT_ID="a b"\nexport AWS_ACCESS_KEY_ID=plain\n\nHTTPS_PROXY=http://p:3128\n', "f"
    ) == {"B2_ACCOUNT_ID": "a b", "AWS_ACCESS_KEY_ID": "plain", "HTTPS_PROXY": "http://p:3128"}


def test_bad_environment_file_is_a_backup_error_not_a_crash(
    repo: Repo,
    data_dir: Path,
    tmp_path: Path,
    host: RecordingHost,
    restic: Restic,
    state: StateStore,
) -> None:
    env_file = tmp_path / "bad.env"
    env_file.write_text("RESTIC_PASSWORD=hunter2\n")
    missing = backup_config(repo, [data_dir], environment_file=str(tmp_path / "none.env"))
    refused = backup_config(repo, [data_dir], environment_file=str(env_file))

    missing_fact = collect_backup(
        host, missing, hostname=SNAPSHOT_HOST, now=NOW, state=state, restic=restic
    )
    refused_fact = collect_backup(
        host, refused, hostname=SNAPSHOT_HOST, now=NOW, state=state, restic=restic
    )

    assert missing_fact.status == "error"
    assert missing_fact.error == f"{tmp_path / 'none.env'}: environment file not found"
    assert refused_fact.status == "error"
    assert (
        refused_fact.error is not None
        and "RESTIC_PASSWORD is not allowed here" in refused_fact.error
    )
    assert "hunter2" not in refused_fact.model_dump_json()
    assert not any("snapshots" in call.argv for call in host.calls)  # restic never ran
