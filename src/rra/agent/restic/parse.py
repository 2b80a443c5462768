"""Parsers for restic's output into pydantic models. Anything unreadable → ``ResticOutputError``.

Formats handled (0.14 verified on Debian 12; 0.17/0.18 from restic's scripting reference):
- ``restic version``: ``restic 0.14.0 compiled with go1.19.8 on linux/amd64``.
- ``snapshots --json``: one JSON array; ``time`` has 9 fractional digits; 0.17+ adds ``summary``
  and ``program_version`` (unknown keys are ignored).
- ``check``: text in 0.14-0.17 (exit code + ``no errors were found`` / ``Fatal: repository
  contains errors``); 0.18+ with ``--json``: a ``summary`` object on stdout, errors on stderr.
- ``diff --json``: ``change`` lines, then one ``statistics`` line.
- ``stats --json``: ``{total_size, total_file_count, snapshots_count}``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from rra.agent.restic.errors import ResticOutputError, error_message
from rra.agent.restic.jsonlines import last_message

_VERSION = re.compile(r"\brestic (\d+)\.(\d+)\.(\d+)")

Version = tuple[int, int, int]


def _excerpt(text: str, limit: int = 200) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "…"


def parse_version(text: str) -> Version:
    """``restic 0.14.0 compiled with go1.19.8 on linux/amd64`` → ``(0, 14, 0)``.

    Also ``restic 0.17.3 compiled with go1.23.3 on linux/amd64`` and development builds such as
    ``restic 0.16.4-dev (compiled manually) compiled with go1.21 on linux/amd64``."""
    match = _VERSION.search(text)
    if not match:
        raise ResticOutputError(f"cannot read the restic version from {_excerpt(text)!r}")
    major, minor, patch = (int(group) for group in match.groups())
    return (major, minor, patch)


def format_version(version: Version) -> str:
    return ".".join(str(part) for part in version)


class _Output(BaseModel):
    # restic adds fields over time; what we do not use must not break parsing.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Snapshot(_Output):
    id: str = Field(pattern=r"^[0-9a-f]{64}$")
    short_id: str | None = None
    time: datetime
    tree: str | None = None
    paths: list[str] = Field(default_factory=list)
    hostname: str = ""
    username: str | None = None
    tags: list[str] | None = None
    parent: str | None = None
    program_version: str | None = None

    @field_validator("time", mode="before")
    @classmethod
    def _restic_time(cls, value: Any) -> Any:
        # restic writes nanoseconds (9 digits); fromisoformat keeps microseconds.
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError as exc:
                raise ValueError(f"not an RFC 3339 time: {value!r}") from exc
            if parsed.tzinfo is None:
                raise ValueError(f"time without a timezone: {value!r}")
            return parsed
        return value


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResticOutputError(
            f"restic {what} printed invalid JSON ({exc.msg} at line {exc.lineno}): "
            f"{_excerpt(text)!r}"
        ) from None


def _validation(what: str, exc: ValidationError) -> ResticOutputError:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return ResticOutputError(f"restic {what}: unexpected output at {where}: {first['msg']}")


_SNAPSHOT_LIST = TypeAdapter(list[Snapshot])


def parse_snapshots(text: str) -> list[Snapshot]:
    """``snapshots --json`` → snapshots (``[]`` for an empty repository or unmatched ``--host``)."""
    data = _json(text, "snapshots")
    # restic 0.14 prints ``null``-free arrays, but be lenient about ``null`` from other versions.
    if data is None:
        return []
    if not isinstance(data, list):
        raise ResticOutputError(f"restic snapshots: expected a JSON array, got {_excerpt(text)!r}")
    try:
        return _SNAPSHOT_LIST.validate_python(data)
    except ValidationError as exc:
        raise _validation("snapshots", exc) from None


class CheckResult(_Output):
    ok: bool
    message: str
    errors: int | None = Field(None, description="Error count, when restic reports one (0.18+)")


_CHECK_ERRORS = re.compile(r"There were (\d+) errors")


def _last_line(text: str) -> str | None:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("[")]
    return lines[-1] if lines else None


def parse_check_output(rc: int, stdout: str, stderr: str) -> CheckResult:
    """The verdict of ``restic check``: ok only when restic exited 0 (and, with JSON, reported
    zero errors). The message is restic's last word: ``no errors were found``, or the errors."""
    summary = last_message(stdout.splitlines(), "summary")
    if summary is not None:
        num_errors = summary.get("num_errors")
        if not isinstance(num_errors, int) or isinstance(num_errors, bool):
            raise ResticOutputError(f"restic check: summary without num_errors: {summary!r}")
        broken = summary.get("broken_packs") or []  # null on a clean repository
        ok = rc == 0 and num_errors == 0
        if ok:
            return CheckResult(ok=True, message="no errors were found", errors=0)
        parts = [f"{num_errors} errors"]
        if broken:
            parts.append(f"broken packs: {', '.join(str(p) for p in broken)}")
        if summary.get("suggest_repair_index"):
            parts.append("restic suggests `repair index`")
        if summary.get("suggest_prune"):
            parts.append("restic suggests `prune`")
        detail = error_message(stderr)
        return CheckResult(ok=False, message="; ".join(parts) + f"\n{detail}", errors=num_errors)
    if rc == 0:
        return CheckResult(ok=True, message=_last_line(stdout) or "no errors were found")
    match = _CHECK_ERRORS.search(stdout + "\n" + stderr)
    errors = int(match.group(1)) if match else None
    # Errors may be printed on stdout (0.14 prints some "error for tree ..." lines there).
    error_lines = [
        ln.strip()
        for ln in stdout.splitlines()
        if ln.strip() and ("error" in ln.lower() or "damaged" in ln.lower())
    ]
    message = error_message("\n".join([*error_lines, stderr]))
    return CheckResult(ok=False, message=message, errors=errors)


class DiffStat(_Output):
    files: int = 0
    dirs: int = 0
    others: int = 0
    data_blobs: int = 0
    tree_blobs: int = 0
    bytes: int = 0


class DiffStatistics(_Output):
    source_snapshot: str
    target_snapshot: str
    changed_files: int
    added: DiffStat
    removed: DiffStat


def parse_diff(text: str) -> DiffStatistics:
    """``diff --json OLD NEW`` → the last ``statistics`` line."""
    statistics: Any = None
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            raise ResticOutputError(
                f"restic diff: line {number} is not JSON: {_excerpt(line)!r}"
            ) from None
        if isinstance(obj, dict) and obj.get("message_type") == "statistics":
            statistics = obj
    if statistics is None:
        raise ResticOutputError("restic diff: no statistics line in the output")
    try:
        return DiffStatistics.model_validate(statistics)
    except ValidationError as exc:
        raise _validation("diff", exc) from None


class Stats(_Output):
    total_size: int = Field(ge=0)
    total_file_count: int = Field(ge=0)
    snapshots_count: int | None = Field(None, ge=0)


def parse_stats(text: str) -> Stats:
    """``stats --json`` (restore-size mode): total_size, total_file_count, snapshots_count."""
    data = _json(text.strip(), "stats")
    if not isinstance(data, dict):
        raise ResticOutputError(f"restic stats: expected a JSON object, got {_excerpt(text)!r}")
    try:
        return Stats.model_validate(data)
    except ValidationError as exc:
        raise _validation("stats", exc) from None


class RestoreResult(_Output):
    """What ``restic restore [--verify]`` said (text in 0.14-0.15; the summary line of later
    versions reads the same): the verified file count, and the error count it reported."""

    verified_files: int | None = None
    errors: int = 0
    message: str = ""


_VERIFIED = re.compile(r"finished verifying (\d+) files")
_ERRORS = re.compile(r"There were (\d+) errors")


def parse_restore_output(stdout: str, stderr: str) -> RestoreResult:
    text = f"{stdout}\n{stderr}"
    verified = _VERIFIED.findall(text)
    errors = _ERRORS.findall(text)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return RestoreResult(
        verified_files=int(verified[-1]) if verified else None,
        errors=int(errors[-1]) if errors else 0,
        message="\n".join(lines[-3:]),
    )
