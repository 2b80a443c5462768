"""Pure argv builders for restic (no I/O), in the manner of borgmatic's ``borg/`` modules.

The password never appears here: restic reads it from ``--password-file`` or runs
``--password-command`` itself. Global options come first, then the subcommand and its options.

Caching: ``check`` uses a fresh temporary cache by default (``using temporary cache in ...``), so
it needs no ``--no-cache``. ``snapshots``, ``diff`` and ``stats`` read with restic's normal cache
(much cheaper on remote repositories) unless the caller asks for ``no_cache`` or a ``cache_dir``.
Read-only commands pass ``--no-lock`` so the agent never blocks a running backup or prune;
``check`` takes restic's exclusive lock on purpose (a check must not race a prune).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rra.checks.playbook import READ_DATA_SUBSET

_SNAPSHOT_ID = re.compile(r"^[0-9a-f]{8,64}$")


@dataclass(frozen=True)
class RepositoryAccess:
    """Where a repository is and how restic gets its password (never the password itself)."""

    location: str
    password_file: str | None = None
    password_command: str | None = None
    # Storage-backend credentials (AWS_*, B2_*, ...) for restic's environment; never in repr/logs.
    environment: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.location:
            raise ValueError("a repository location is required")
        if (self.password_file is None) == (self.password_command is None):
            raise ValueError("set exactly one of password_file or password_command")


@dataclass(frozen=True)
class CacheOptions:
    """restic's local cache for read-only commands: default location, another dir, or none."""

    cache_dir: str | None = None
    no_cache: bool = False


DEFAULT_CACHE = CacheOptions()


def version_argv(binary: str = "restic") -> list[str]:
    return [binary, "version"]


def common_argv(
    binary: str,
    repo: RepositoryAccess,
    *,
    cache: CacheOptions = DEFAULT_CACHE,
    no_lock: bool = False,
) -> list[str]:
    """``[binary, --repo, R, --password-file F | --password-command C, cache and lock flags]``."""
    argv = [binary, "--repo", repo.location]
    if repo.password_file is not None:
        argv += ["--password-file", repo.password_file]
    if repo.password_command is not None:
        argv += ["--password-command", repo.password_command]
    if cache.no_cache:
        argv.append("--no-cache")
    elif cache.cache_dir is not None:
        argv += ["--cache-dir", cache.cache_dir]
    if no_lock:
        argv.append("--no-lock")
    return argv


def snapshots_argv(
    repo: RepositoryAccess,
    host: str | None = None,
    *,
    paths: Sequence[str] = (),
    binary: str = "restic",
    cache: CacheOptions = DEFAULT_CACHE,
) -> list[str]:
    """All snapshots (of ``host`` when given) as one JSON array, without taking a lock."""
    argv = [*common_argv(binary, repo, cache=cache, no_lock=True), "snapshots", "--json"]
    if host is not None:
        argv += ["--host", host]
    for path in paths:
        argv += ["--path", path]
    return argv


def read_data_args(read_data: str) -> list[str]:
    """``none`` → nothing, ``all`` → ``--read-data``, ``N%`` or ``n/t`` → ``--read-data-subset``."""
    if read_data == "none":
        return []
    if read_data == "all":
        return ["--read-data"]
    if READ_DATA_SUBSET.match(read_data):
        if "/" in read_data:
            part, total = (int(x) for x in read_data.split("/"))
            if not 1 <= part <= total:
                raise ValueError(f"read-data subset {read_data!r}: expected n/t with 1 <= n <= t")
        return [f"--read-data-subset={read_data}"]
    raise ValueError(f"read_data must be none, all, N% or n/t, got {read_data!r}")


def check_argv(
    repo: RepositoryAccess,
    read_data: str = "none",
    *,
    json: bool = False,
    binary: str = "restic",
) -> list[str]:
    """``restic check``; ``json=True`` only for restic 0.18+ (older versions print text only)."""
    argv = [*common_argv(binary, repo), "check", *read_data_args(read_data)]
    if json:
        argv.append("--json")
    return argv


def _snapshot_id(value: str) -> str:
    if not _SNAPSHOT_ID.match(value):
        raise ValueError(f"expected a hexadecimal snapshot id, got {value!r}")
    return value


def diff_argv(
    repo: RepositoryAccess,
    old: str,
    new: str,
    *,
    binary: str = "restic",
    cache: CacheOptions = DEFAULT_CACHE,
) -> list[str]:
    """``restic diff --json OLD NEW``: change lines, then one ``statistics`` line."""
    return [
        *common_argv(binary, repo, cache=cache, no_lock=True),
        "diff",
        "--json",
        _snapshot_id(old),
        _snapshot_id(new),
    ]


def stats_argv(
    repo: RepositoryAccess,
    snapshot_id: str,
    *,
    binary: str = "restic",
    cache: CacheOptions = DEFAULT_CACHE,
) -> list[str]:
    """``restic stats --json ID`` in the default restore-size mode."""
    return [
        *common_argv(binary, repo, cache=cache, no_lock=True),
        "stats",
        "--json",
        _snapshot_id(snapshot_id),
    ]


# ── writing commands (demo data, test fixtures); the agent itself never writes to a repository ──


def _access(
    repository: str, password_file: str | None, password_command: str | None
) -> RepositoryAccess:
    return RepositoryAccess(
        repository, password_file=password_file, password_command=password_command
    )


def init_argv(
    binary: str,
    repository: str,
    *,
    password_file: str | None = None,
    password_command: str | None = None,
) -> list[str]:
    """``restic init`` (costs ~3 s of key derivation)."""
    return [*common_argv(binary, _access(repository, password_file, password_command)), "init"]


def backup_argv(
    binary: str,
    repository: str,
    paths: Sequence[str],
    *,
    password_file: str | None = None,
    password_command: str | None = None,
    host: str | None = None,
    time: str | None = None,
    json: bool = False,
) -> list[str]:
    """``restic backup PATHS``. ``time`` ("YYYY-MM-DD HH:MM:SS") is read in restic's LOCAL time
    zone: run it with ``TZ=UTC`` when the time is meant as UTC."""
    if not paths:
        raise ValueError("restic backup needs at least one path")
    access = _access(repository, password_file, password_command)
    argv = [*common_argv(binary, access, cache=CacheOptions(no_cache=True)), "backup"]
    if json:
        argv.append("--json")
    if host is not None:
        argv += ["--host", host]
    if time is not None:
        argv += ["--time", time]
    return [*argv, "--", *paths]


def restore_argv(
    repo: RepositoryAccess,
    snapshot_id: str,
    target: str,
    *,
    verify: bool = True,
    binary: str = "restic",
) -> list[str]:
    """``restic --no-cache restore ID --target DIR [--verify]`` for a restore drill.

    Always ``--no-cache``: a local cache can mask a damaged tree pack in the repository (a
    cached tree restores fine while the repository's copy is broken), and a drill must prove
    the repository itself restores. Always by full or short id, never ``latest`` (which would
    pick the newest snapshot of any host)."""
    argv = [
        *common_argv(binary, repo, cache=CacheOptions(no_cache=True)),
        "restore",
        _snapshot_id(snapshot_id),
        "--target",
        target,
    ]
    if verify:
        argv.append("--verify")
    return argv
