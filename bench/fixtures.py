"""Benchmark fixtures: restic repositories with many snapshots, built once and cached in bench/.cache.

Each ``restic backup`` pays the key derivation (~0.5 s here), so 500 snapshots take minutes: the
template repository is built once (two writers in parallel; restic allows concurrent backups) and
copied for each configured backup.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

CACHE = Path(__file__).parent / ".cache"
PASSWORD = "bench-password-not-secret"  # noqa: S105 - throwaway benchmark repository
HOST = "bench-host"


def _restic(repo: Path, password_file: Path, *args: str) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root")}
    subprocess.run(
        ["restic", "--repo", str(repo), "--password-file", str(password_file), "--quiet", *args],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def template_repository(snapshots: int) -> tuple[Path, Path, Path]:
    """(repo, password_file, data_dir) with ``snapshots`` snapshots of data_dir, hourly apart."""
    base = CACHE / f"template-{snapshots}"
    repo, password_file, data = base / "repo", base / "password", base / "data"
    if (base / "complete").exists():
        return repo, password_file, data
    shutil.rmtree(base, ignore_errors=True)
    data.mkdir(parents=True)
    for index in range(200):
        (data / f"file-{index:04d}.txt").write_text(f"record {index}\n" * 20)
    password_file.write_text(PASSWORD)
    password_file.chmod(0o600)
    _restic(repo, password_file, "init")
    newest = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)

    def backup(index: int) -> None:
        when = (newest - timedelta(hours=index)).strftime("%Y-%m-%d %H:%M:%S")
        _restic(repo, password_file, "backup", "--host", HOST, "--time", when, str(data))

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(backup, range(snapshots)))
    (base / "complete").write_text("ok\n")
    return repo, password_file, data


if __name__ == "__main__":
    import sys

    print(template_repository(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
