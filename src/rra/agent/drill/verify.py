"""Verify steps over a restored tree (DESIGN §8). Each returns one ``DrillStep``.

Paths in steps are the original absolute paths; they are mapped into the restore directory and
may not leave it. Counts and hashes come from the one ``TreeListing`` made after the restore.
"""

from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass

from rra.agent.drill.fs import DrillFS, DrillFSError
from rra.agent.drill.safety import UnsafeSandbox, confined
from rra.agent.drill.tree import TreeListing
from rra.agent.host import Host, HostError
from rra.checks.drill import DrillStep
from rra.checks.playbook import (
    RESTORED_PLACEHOLDER,
    BytesMinStep,
    CommandStep,
    FilesMinStep,
    ManifestStep,
    RestoreVerifyStep,
    SqliteIntegrityStep,
    VerifyStep,
)
from rra.checks.units import format_duration

MAX_MANIFEST_BYTES = 64 * 1024 * 1024
#: Problems named in a step's details (the message names the first few).
MAX_LISTED = 100


@dataclass
class VerifyContext:
    host: Host
    fs: DrillFS
    restore_dir: str
    listing: TreeListing
    deadline: float
    restic_verified_files: int | None

    def remaining(self) -> float:
        return max(1.0, self.deadline - time.monotonic())


def _step(name: str, ok: bool, message: str, **details: object) -> DrillStep:
    return DrillStep(name=name, status="pass" if ok else "fail", message=message, details=details)


def _relative(restore_dir: str, resolved: str) -> str:
    return resolved[len(restore_dir.rstrip("/")) + 1 :]


def parse_manifest(text: str) -> list[tuple[str, str]]:
    """(sha256, name) pairs from ``sha256sum`` output (text or ``*`` binary mode, ``\\``-escaped
    names). Raises ValueError naming the first bad line."""
    entries: list[tuple[str, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        if not line.strip() or line.startswith("#"):
            continue
        escaped = line.startswith("\\")
        body = line[1:] if escaped else line
        digest, sep, name = body.partition(" ")
        if not sep or len(digest) != 64 or not all(c in "0123456789abcdefABCDEF" for c in digest):
            raise ValueError(f"line {number}: not in sha256sum format: {line[:80]!r}")
        if name[:1] in (" ", "*"):
            name = name[1:]
        if escaped:
            name = name.replace("\\\\", "\0").replace("\\n", "\n").replace("\0", "\\")
        if not name:
            raise ValueError(f"line {number}: no file name")
        entries.append((digest.lower(), name))
    return entries


def _manifest(spec: ManifestStep, ctx: VerifyContext) -> DrillStep:
    path = spec.manifest.file
    try:
        resolved = confined(ctx.restore_dir, path, ctx.fs)
    except UnsafeSandbox as exc:
        return _step("manifest", False, str(exc), file=path)
    key = _relative(ctx.restore_dir, resolved)
    if key not in ctx.listing.files:
        return _step("manifest", False, f"the manifest {path} is not in the snapshot", file=path)
    if ctx.listing.files[key].size > MAX_MANIFEST_BYTES:
        return _step("manifest", False, f"the manifest {path} is larger than 64 MiB", file=path)
    data = ctx.host.read_file(resolved) or b""
    try:
        entries = parse_manifest(data.decode("utf-8", "surrogateescape"))
    except ValueError as exc:
        return _step("manifest", False, f"{path}: {exc}", file=path)
    base = posixpath.dirname(path)
    missing: list[str] = []
    changed: list[str] = []
    for digest, name in entries:
        original = posixpath.normpath(posixpath.join(base, name))
        found = ctx.listing.files.get(original.lstrip("/"))
        if found is None:
            missing.append(original)
        elif found.sha256 != digest:
            changed.append(original)
    ok = bool(entries) and not missing and not changed
    if not entries:
        message = f"the manifest {path} lists no files"
    elif ok:
        message = f"{len(entries)} files match {path}"
    else:
        parts = []
        if missing:
            parts.append(f"missing: {', '.join(missing[:5])}")
        if changed:
            parts.append(f"changed: {', '.join(changed[:5])}")
        message = f"{len(missing) + len(changed)} of {len(entries)} files in {path} do not match ({'; '.join(parts)})"
    return _step(
        "manifest",
        ok,
        message,
        file=path,
        entries=len(entries),
        missing=missing[:MAX_LISTED],
        changed=changed[:MAX_LISTED],
    )


def _sqlite(spec: SqliteIntegrityStep, ctx: VerifyContext) -> DrillStep:
    path = spec.sqlite_integrity.path
    try:
        resolved = confined(ctx.restore_dir, path, ctx.fs)
    except UnsafeSandbox as exc:
        return _step("sqlite_integrity", False, str(exc), path=path)
    if _relative(ctx.restore_dir, resolved) not in ctx.listing.files:
        return _step("sqlite_integrity", False, f"{path} is not in the snapshot", path=path)
    try:
        answer = ctx.fs.sqlite_integrity(resolved, ctx.remaining())
    except DrillFSError as exc:
        return DrillStep(name="sqlite_integrity", status="error", message=str(exc))
    ok = answer.strip() == "ok"
    message = f"{path}: integrity_check ok" if ok else f"{path}: {answer[:500]}"
    return _step("sqlite_integrity", ok, message, path=path)


def expand_argv(argv: list[str], restore_dir: str) -> list[str]:
    return [arg.replace(RESTORED_PLACEHOLDER, restore_dir) for arg in argv]


def _command(spec: CommandStep, ctx: VerifyContext) -> DrillStep:
    command = spec.command
    argv = expand_argv(command.argv, ctx.restore_dir)
    timeout = min(command.timeout.total_seconds(), ctx.remaining())
    try:
        result = ctx.host.run(argv, timeout=timeout, env={"RRA_RESTORED": ctx.restore_dir})
    except HostError as exc:
        return DrillStep(
            name="command", status="fail", message=f"{argv[0]}: {exc}", details={"argv": argv}
        )
    tail = (result.stderr_text.strip() or result.stdout_text.strip()).splitlines()[-3:]
    ok = result.rc == command.expect_exit
    verdict = "as expected" if ok else f"expected {command.expect_exit}"
    message = f"{argv[0]} exited {result.rc} ({verdict})"
    if tail and not ok:
        message += ": " + " / ".join(tail)[:400]
    return _step(
        "command", ok, message, argv=argv, rc=result.rc, timeout=format_duration(command.timeout)
    )


def run_step(step: VerifyStep, ctx: VerifyContext) -> DrillStep:
    listing = ctx.listing
    if isinstance(step, RestoreVerifyStep):
        if not step.restic_verify:
            return DrillStep(name="restic_verify", status="skipped", message="turned off")
        count = ctx.restic_verified_files
        return _step(
            "restic_verify",
            count is not None,
            f"restic verified {count} files against the repository"
            if count is not None
            else "restic did not report verifying the restored files",
            verified_files=count,
        )
    if isinstance(step, FilesMinStep):
        ok = listing.file_count >= step.files_min
        return _step(
            "files_min",
            ok,
            f"{listing.file_count} files restored (minimum {step.files_min})",
            files=listing.file_count,
            minimum=step.files_min,
        )
    if isinstance(step, BytesMinStep):
        ok = listing.total_bytes >= step.bytes_min
        return _step(
            "bytes_min",
            ok,
            f"{listing.total_bytes:,} bytes restored (minimum {step.bytes_min:,})",
            bytes=listing.total_bytes,
            minimum=step.bytes_min,
        )
    if isinstance(step, ManifestStep):
        return _manifest(step, ctx)
    if isinstance(step, SqliteIntegrityStep):
        return _sqlite(step, ctx)
    return _command(step, ctx)
