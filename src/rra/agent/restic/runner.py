"""The one place that executes restic: ``run_restic`` over a ``Host``, and the per-run ``Restic``.

``Restic`` holds the host, the binary and its cache options, and detects the restic version once
(the first time it is needed); version-dependent choices (``check --json`` from 0.18) live here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from rra.agent.host import CommandNotFound, CommandTimeout, Host, HostError, RunResult
from rra.agent.restic import commands
from rra.agent.restic.commands import DEFAULT_CACHE, CacheOptions, RepositoryAccess
from rra.agent.restic.errors import (
    ResticFailed,
    ResticNotInstalled,
    ResticOutputError,
    ResticTimeout,
    classify_failure,
)
from rra.agent.restic.parse import (
    CheckResult,
    DiffStatistics,
    RestoreResult,
    Snapshot,
    Stats,
    Version,
    format_version,
    parse_check_output,
    parse_diff,
    parse_restore_output,
    parse_snapshots,
    parse_stats,
    parse_version,
)

log = structlog.get_logger(__name__)

#: restic 0.18 added ``check --json``.
CHECK_JSON_SINCE: Version = (0, 18, 0)
VERSION_TIMEOUT = 30.0


def _seconds(timeout: float | timedelta) -> float:
    return timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)


_SUBCOMMANDS = frozenset(
    {
        "backup",
        "cat",
        "check",
        "diff",
        "find",
        "forget",
        "init",
        "key",
        "list",
        "ls",
        "prune",
        "restore",
        "snapshots",
        "stats",
        "unlock",
        "version",
    }
)


def _subcommand(argv: Sequence[str]) -> str:
    return next((arg for arg in argv[1:] if arg in _SUBCOMMANDS), "command")


def run_restic(
    host: Host,
    argv: Sequence[str],
    timeout: float | timedelta,
    *,
    accept_failure: bool = False,
    env: Mapping[str, str] | None = None,
) -> RunResult:
    """Run restic; a non-zero exit raises the matching ``ResticError`` subclass.

    ``accept_failure=True`` returns the result of a run that failed for a reason other than
    repository access (not found, wrong password, locked): ``check`` reports damage that way.
    The environment restic sees is the host's scrubbed one plus ``env`` (storage-backend
    credentials from the backup's environment file); the password is never in it."""
    seconds = _seconds(timeout)
    command = _subcommand(argv)
    try:
        result = host.run(argv, timeout=seconds, env=env or None)
    except CommandNotFound as exc:
        raise ResticNotInstalled(f"restic is not installed on this host ({exc})") from exc
    except CommandTimeout as exc:
        raise ResticTimeout(f"restic {command} timed out after {seconds:g} s") from exc
    except HostError as exc:
        raise ResticFailed(f"could not run restic: {exc}") from exc
    if result.rc == 0:
        return result
    error = classify_failure(result.rc, result.stderr_text, result.stdout_text)
    if accept_failure and type(error) is ResticFailed:
        return result
    log.debug("restic failed", command=command, rc=result.rc, error_type=type(error).__name__)
    raise error


@dataclass
class Restic:
    """restic on one host for one collection run: detects the version once and caches it."""

    host: Host
    binary: str = "restic"
    cache: CacheOptions = DEFAULT_CACHE
    _version: Version | None = field(default=None, init=False, repr=False)

    def version(self) -> Version:
        if self._version is None:
            result = run_restic(self.host, commands.version_argv(self.binary), VERSION_TIMEOUT)
            self._version = parse_version(result.stdout_text)
        return self._version

    def version_string(self) -> str:
        return format_version(self.version())

    def snapshots(
        self,
        repo: RepositoryAccess,
        host: str | None,
        timeout: float | timedelta,
        paths: Sequence[str] = (),
    ) -> list[Snapshot]:
        argv = commands.snapshots_argv(
            repo, host, paths=paths, binary=self.binary, cache=self.cache
        )
        snapshots = parse_snapshots(
            run_restic(self.host, argv, timeout, env=repo.environment).stdout_text
        )
        if host is not None:
            # restic filters by --host already; keep the contract even if a version does not.
            snapshots = [s for s in snapshots if s.hostname == host]
        if paths:
            snapshots = [s for s in snapshots if set(paths) <= set(s.paths)]
        return snapshots

    def check(
        self, repo: RepositoryAccess, read_data: str, timeout: float | timedelta
    ) -> CheckResult:
        """Integrity check. Damage is a result (``ok=False``); no access is an exception."""
        use_json = self.version() >= CHECK_JSON_SINCE
        argv = commands.check_argv(repo, read_data, json=use_json, binary=self.binary)
        result = run_restic(self.host, argv, timeout, accept_failure=True, env=repo.environment)
        return parse_check_output(result.rc, result.stdout_text, result.stderr_text)

    def diff(
        self, repo: RepositoryAccess, old: str, new: str, timeout: float | timedelta
    ) -> DiffStatistics:
        argv = commands.diff_argv(repo, old, new, binary=self.binary, cache=self.cache)
        return parse_diff(run_restic(self.host, argv, timeout, env=repo.environment).stdout_text)

    def stats(self, repo: RepositoryAccess, snapshot_id: str, timeout: float | timedelta) -> Stats:
        argv = commands.stats_argv(repo, snapshot_id, binary=self.binary, cache=self.cache)
        stats = parse_stats(run_restic(self.host, argv, timeout, env=repo.environment).stdout_text)
        # restic 0.14 answers an unknown id with zeros and exit 0: never take that for a count.
        if stats.snapshots_count is not None and stats.snapshots_count != 1:
            raise ResticOutputError(
                f"restic stats {snapshot_id[:8]}: counted {stats.snapshots_count} snapshots, "
                "expected exactly 1"
            )
        return stats

    def restore(
        self,
        repo: RepositoryAccess,
        snapshot_id: str,
        target: str,
        timeout: float | timedelta,
        *,
        verify: bool = True,
    ) -> RestoreResult:
        """Restore without the cache. Damage is a result (``errors`` > 0 or a ``ResticFailed``
        message); no access (missing repository, wrong password, lock) raises."""
        argv = commands.restore_argv(repo, snapshot_id, target, verify=verify, binary=self.binary)
        result = run_restic(self.host, argv, timeout, accept_failure=True, env=repo.environment)
        parsed = parse_restore_output(result.stdout_text, result.stderr_text)
        if result.rc != 0:
            message = classify_failure(result.rc, result.stderr_text, result.stdout_text).message
            return parsed.model_copy(update={"errors": max(parsed.errors, 1), "message": message})
        return parsed
