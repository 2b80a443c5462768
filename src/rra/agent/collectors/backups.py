"""Backup facts (DESIGN §2 ``facts.backups``, §3 "Backup freshness") from restic repositories.

For each configured backup:

- snapshots of the restic host (``backup.host`` or this host's name) are listed without a lock;
  a snapshot *covers* a declared path P when one of its ``paths`` is P or an ancestor of P;
- per declared path, the newest covering snapshot; ``age_hours`` is measured from the OLDEST of
  those (the freshest state in which every declared path is covered), ``None`` when a path has
  no covering snapshot at all (it is then in ``paths_missing``);
- ``restic check`` runs at most every ``check_interval`` (result kept in the state document
  ``restic-check``), reading ``check_read_data`` of the pack data; ``rotate:T`` reads part k/T,
  k advancing 1..T over successive checks;
- ``change_ratio`` compares the two newest snapshots covering the declared paths that have the
  same ``paths`` (``diff`` + ``stats`` of the older one); the result is cached per snapshot pair
  in the state document ``restic-change``.

A repository that cannot be opened is ``status: "error"`` with restic's message; the failure of
one backup never stops the others.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

import structlog

from rra.agent.config import BackupConfig
from rra.agent.host import Host
from rra.agent.restic import (
    RepositoryAccess,
    Restic,
    ResticError,
    ResticOutputError,
    Snapshot,
)
from rra.agent.restic.environment import read_environment_file
from rra.agent.state import StateStore
from rra.checks.facts import BackupFact

log = structlog.get_logger(__name__)

CHECK_STATE = "restic-check"
CHANGE_STATE = "restic-change"

#: restic backends that store the repository on another machine.
REMOTE_PREFIXES = ("sftp:", "rest:", "s3:", "b2:", "azure:", "gs:", "swift:", "rclone:")
_ROTATE = re.compile(r"^rotate:(\d+)$")


# ── repository location ────────────────────────────────────────────────────────────────────────


def _userinfo_span(location: str) -> tuple[int, int] | None:
    """Start and end (exclusive, before ``@``) of URL userinfo in ``location``, if any."""
    scheme_end = location.find("://")
    if scheme_end < 0:
        return None
    start = scheme_end + 3
    slash = location.find("/", start)
    authority_end = len(location) if slash < 0 else slash
    at = location.rfind("@", start, authority_end)
    if at < 0:
        return None
    return start, at


def redact_repository(location: str) -> str:
    """``rest:https://user:pass@h/`` → ``rest:https://***@h/``; local paths stay as they are."""
    span = _userinfo_span(location)
    if span is None:
        return location
    start, at = span
    return f"{location[:start]}***{location[at:]}"


_URL_USERINFO = re.compile(r"(?P<scheme>://)[^/@\s\"']+@")


def redact_text(text: str, location: str) -> str:
    """Remove credentials from a message: the repository's own userinfo wherever it appears,
    and the userinfo of any URL (restic masks only the password: ``user:***@``)."""
    span = _userinfo_span(location)
    if span is not None:
        start, at = span
        text = text.replace(location, redact_repository(location))
        userinfo = location[start:at]
        if userinfo:
            text = text.replace(f"{userinfo}@", "***@")
    return _URL_USERINFO.sub(r"\g<scheme>***@", text)


def infer_placement(location: str) -> tuple[bool | None, bool | None]:
    """(offsite, append_only) as far as the location tells: a remote backend is offsite with
    unknown append-only mode; a local path (restic's default backend) is neither."""
    if location.startswith(REMOTE_PREFIXES):
        return True, None
    if location.startswith("\\\\"):  # a Windows UNC share: another machine, but which?
        return None, None
    return False, False


# ── coverage and freshness ─────────────────────────────────────────────────────────────────────


def _newest_first(snapshots: Sequence[Snapshot]) -> list[Snapshot]:
    return sorted(snapshots, key=lambda s: (s.time, s.id), reverse=True)


def covers(snapshot: Snapshot, path: str) -> bool:
    """One of the snapshot's paths is ``path`` or an ancestor directory of it."""
    target = PurePosixPath(path)
    for backed_up in snapshot.paths:
        root = PurePosixPath(backed_up)
        if root == target or root in target.parents:
            return True
    return False


def newest_covering(
    snapshots: Sequence[Snapshot], paths: Sequence[str]
) -> dict[str, Snapshot | None]:
    """For each declared path, the newest snapshot covering it (``None`` if none does)."""
    ordered = _newest_first(snapshots)
    return {path: next((s for s in ordered if covers(s, path)), None) for path in paths}


@dataclass(frozen=True)
class Freshness:
    paths_covered: list[str]
    paths_missing: list[str]
    latest: Snapshot | None  # the oldest of the per-path newest covering snapshots


def freshness(snapshots: Sequence[Snapshot], paths: Sequence[str]) -> Freshness:
    per_path = newest_covering(snapshots, paths)
    covered = [p for p, s in per_path.items() if s is not None]
    missing = [p for p, s in per_path.items() if s is None]
    found = [s for s in per_path.values() if s is not None]
    latest = None if missing or not found else min(found, key=lambda s: (s.time, s.id))
    return Freshness(covered, missing, latest)


def change_pair(
    snapshots: Sequence[Snapshot], paths: Sequence[str]
) -> tuple[Snapshot, Snapshot] | None:
    """(older, newer): the newest snapshot covering a declared path, and the newest one before it
    with the same backed-up ``paths`` (so the diff compares like with like)."""
    ordered = [s for s in _newest_first(snapshots) if any(covers(s, p) for p in paths)]
    if not ordered:
        return None
    newest = ordered[0]
    same = sorted(newest.paths)
    older = next((s for s in ordered[1:] if sorted(s.paths) == same), None)
    return None if older is None else (older, newest)


# ── state documents ────────────────────────────────────────────────────────────────────────────


def _state_key(backup: BackupConfig) -> str:
    return f"{backup.name} {redact_repository(backup.repository)}"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


@dataclass(frozen=True)
class CheckRecord:
    checked_at: datetime
    ok: bool | None
    message: str | None
    read_data: str | None


def _load_check(state: StateStore, key: str) -> tuple[dict[str, Any], CheckRecord | None]:
    entry = state.load(CHECK_STATE).get(key)
    if not isinstance(entry, dict):
        return {}, None
    checked_at = _parse_time(entry.get("checked_at"))
    if checked_at is None:
        return entry, None
    ok = entry.get("ok")
    message = entry.get("message")
    read_data = entry.get("read_data")
    return entry, CheckRecord(
        checked_at=checked_at,
        ok=ok if isinstance(ok, bool) else None,
        message=message if isinstance(message, str) else None,
        read_data=read_data if isinstance(read_data, str) else None,
    )


def _read_data_for_run(setting: str, entry: dict[str, Any]) -> tuple[str, dict[str, int] | None]:
    """The ``--read-data`` choice for this check, and the rotation state to keep after it."""
    match = _ROTATE.match(setting)
    if not match:
        return setting, None
    total = max(1, int(match.group(1)))
    rotation = entry.get("rotate")
    part = 1
    if isinstance(rotation, dict) and rotation.get("total") == total:
        wanted = rotation.get("next")
        if isinstance(wanted, int) and 1 <= wanted <= total:
            part = wanted
    return f"{part}/{total}", {"total": total, "next": part % total + 1}


def _check_due(record: CheckRecord | None, now: datetime, interval: timedelta) -> bool:
    if record is None:
        return True
    if record.checked_at > now:  # the clock went back: do not trust the record's age
        return True
    return now - record.checked_at >= interval


def _run_check(
    restic: Restic,
    backup: BackupConfig,
    access: RepositoryAccess,
    state: StateStore,
    now: datetime,
) -> CheckRecord | None:
    """Run ``restic check`` if it is due; return the latest known check result."""
    key = _state_key(backup)
    entry, record = _load_check(state, key)
    if not _check_due(record, now, backup.check_interval):
        return record
    read_data, rotation = _read_data_for_run(backup.check_read_data, entry)
    result_ok: bool | None
    try:
        result = restic.check(access, read_data, backup.timeout)
    except ResticOutputError as exc:
        # restic ran the check but its verdict cannot be read: recorded as unknown, not passed.
        log.warning("restic check output unreadable", backup=backup.name, error=exc.message)
        result_ok, message = None, exc.message
    except ResticError as exc:
        # The check did not run to the end (locked by a backup or prune, timed out, access lost
        # since the listing): nothing to record, it is tried again on the next run.
        log.warning("restic check did not complete", backup=backup.name, error=exc.message)
        return record
    else:
        result_ok, message = result.ok, result.message
    message = redact_text(message, backup.repository)
    new_entry: dict[str, Any] = {
        "checked_at": now.isoformat(),
        "ok": result_ok,
        "message": message,
        "read_data": read_data,
    }
    if rotation is not None:
        new_entry["rotate"] = rotation
    document = state.load(CHECK_STATE)
    document[key] = new_entry
    state.save(CHECK_STATE, document)
    return CheckRecord(checked_at=now, ok=result_ok, message=message, read_data=read_data)


# ── change ratio ───────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Change:
    ratio: float | None
    detail: dict[str, Any] | None


def _change(
    restic: Restic,
    backup: BackupConfig,
    access: RepositoryAccess,
    state: StateStore,
    snapshots: Sequence[Snapshot],
) -> Change:
    pair = change_pair(snapshots, backup.paths)
    if pair is None:
        return Change(None, None)
    old, new = pair
    key = _state_key(backup)
    pair_key = f"{old.id}:{new.id}"
    cached = state.load(CHANGE_STATE).get(key)
    if isinstance(cached, dict) and cached.get("pair") == pair_key:
        cached_ratio = cached.get("ratio")
        cached_detail = cached.get("detail")
        if isinstance(cached_detail, dict) and (
            cached_ratio is None or isinstance(cached_ratio, float | int)
        ):
            return Change(None if cached_ratio is None else float(cached_ratio), cached_detail)
    detail: dict[str, Any] = {"old_snapshot_id": old.id, "new_snapshot_id": new.id}
    try:
        diff = restic.diff(access, old.id, new.id, backup.timeout)
        stats = restic.stats(access, old.id, backup.timeout)
    except ResticError as exc:
        log.warning("change ratio not computed", backup=backup.name, error=exc.message)
        detail["error"] = redact_text(exc.message, backup.repository)
        return Change(None, detail)
    files_before = stats.total_file_count
    detail.update(
        changed_files=diff.changed_files,
        removed_files=diff.removed.files,
        added_files=diff.added.files,
        files_before=files_before,
    )
    ratio = (diff.changed_files + diff.removed.files) / files_before if files_before else None
    document = state.load(CHANGE_STATE)
    document[key] = {"pair": pair_key, "ratio": ratio, "detail": detail}
    state.save(CHANGE_STATE, document)
    return Change(ratio, detail)


# ── the collector ──────────────────────────────────────────────────────────────────────────────


def _access(host: Host, backup: BackupConfig) -> RepositoryAccess:
    """How to reach the repository; raises EnvironmentFileError for a bad environment file."""
    environment = (
        read_environment_file(host, backup.environment_file) if backup.environment_file else {}
    )
    return RepositoryAccess(
        location=backup.repository,
        password_file=backup.password_file,
        password_command=backup.password_command,
        environment=environment,
    )


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")


def collect_backup(
    host: Host,
    backup: BackupConfig,
    *,
    hostname: str,
    now: datetime,
    state: StateStore,
    restic: Restic | str = "restic",
) -> BackupFact:
    """The fact for one configured backup. restic failures become ``status: "error"``.

    ``restic`` is the run's ``Restic`` (its version is detected once per run) or a binary name."""
    _require_aware(now)
    runner = restic if isinstance(restic, Restic) else Restic(host, binary=restic)
    if runner.host is not host:
        raise ValueError("the Restic object must run on the host being collected")
    offsite, append_only = infer_placement(backup.repository)
    base: dict[str, Any] = {
        "name": backup.name,
        "repository": redact_repository(backup.repository),
        "rpo_hours": backup.rpo.total_seconds() / 3600,
        "offsite": backup.offsite if backup.offsite is not None else offsite,
        "append_only": backup.append_only if backup.append_only is not None else append_only,
    }
    restic_host = backup.host or hostname
    try:
        access = _access(host, backup)
        version = runner.version_string()
        base["restic_version"] = version
        snapshots = runner.snapshots(access, restic_host, backup.timeout)
    except ResticError as exc:
        message = redact_text(exc.message, backup.repository)
        log.warning("backup repository unavailable", backup=backup.name, error=message)
        _, previous = _load_check(state, _state_key(backup))
        return BackupFact(status="error", error=message, **base, **_check_fields(previous))

    fresh = freshness(snapshots, backup.paths)
    record: CheckRecord | None
    if snapshots:
        record = _run_check(runner, backup, access, state, now)
        change = _change(runner, backup, access, state, snapshots)
    else:
        _, record = _load_check(state, _state_key(backup))
        change = Change(None, None)
    latest = fresh.latest
    fact = BackupFact(
        status="ok",
        snapshot_count=len(snapshots),
        latest_snapshot_at=latest.time.astimezone(UTC) if latest else None,
        latest_snapshot_id=latest.id if latest else None,
        age_hours=(now - latest.time).total_seconds() / 3600 if latest else None,
        paths_covered=fresh.paths_covered,
        paths_missing=fresh.paths_missing,
        change_ratio=change.ratio,
        change_detail=change.detail,
        **base,
        **_check_fields(record),
    )
    log.info(
        "backup collected",
        backup=backup.name,
        snapshots=fact.snapshot_count,
        age_hours=fact.age_hours,
        paths_missing=fact.paths_missing,
    )
    return fact


def _check_fields(record: CheckRecord | None) -> dict[str, Any]:
    if record is None:
        return {}
    return {
        "last_check_at": record.checked_at,
        "last_check_ok": record.ok,
        "last_check_message": record.message,
        "last_check_read_data": record.read_data,
    }


def collect_backups(
    host: Host,
    backups: Sequence[BackupConfig],
    *,
    hostname: str,
    now: datetime,
    state: StateStore,
    restic: Restic | None = None,
    restic_binary: str = "restic",
    progress: Callable[[str], None] | None = None,
) -> list[BackupFact]:
    """One fact per configured backup, in configuration order; one backup's failure (even an
    unexpected one) becomes that backup's error fact and never stops the others.

    ``progress`` is told which backup is being read (a check reading pack data takes minutes)."""
    _require_aware(now)
    runner = restic if restic is not None else Restic(host, binary=restic_binary)
    facts: list[BackupFact] = []
    for position, backup in enumerate(backups, start=1):
        if progress is not None:
            progress(f"backup {position}/{len(backups)}: {backup.name}")
        try:
            fact = collect_backup(
                host, backup, hostname=hostname, now=now, state=state, restic=runner
            )
        except Exception as exc:
            log.exception("backup collection failed", backup=backup.name)
            fact = BackupFact(
                name=backup.name,
                repository=redact_repository(backup.repository),
                status="error",
                error=redact_text(
                    f"collector failed: {type(exc).__name__}: {exc}", backup.repository
                ),
                rpo_hours=backup.rpo.total_seconds() / 3600,
            )
        facts.append(fact)
    return facts
