"""Refuse an unsafe sandbox before anything is written (DESIGN §8).

A restore writes a whole snapshot and cleanup deletes it again, so a sandbox that is ``/``, a
system directory, overlaps a backed-up path or the repository, or reaches somewhere else through a
symlink could destroy the very data the drill is meant to protect. Every check runs on resolved
paths of the executing host, and all of them run before the first directory is created.
"""

from __future__ import annotations

import math
import posixpath
from dataclasses import dataclass

from rra.agent.drill.fs import DrillFS

#: Restore size + this share must be free on the sandbox's file system.
FREE_SPACE_MARGIN = 0.10

# Never restore into (or below) these: the system itself, or kernel file systems.
_SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/sbin", "/sys", "/usr")


class UnsafeSandbox(Exception):
    """The sandbox cannot be used; nothing has been written."""


@dataclass(frozen=True)
class SandboxPlan:
    sandbox: str  # resolved (equal to the configured path: a symlinked sandbox is refused)
    required_bytes: int
    free_bytes: int


def overlaps(a: str, b: str) -> bool:
    """True when one path is the other or lies inside it (whole path segments only)."""
    a, b = a.rstrip("/") or "/", b.rstrip("/") or "/"
    if a == "/" or b == "/":
        return True
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def local_repository_path(location: str) -> str | None:
    """The directory of a repository on this host's file system, or None for a remote backend."""
    if location.startswith("local:"):
        location = location.removeprefix("local:")
    return location if location.startswith("/") else None


def plan_sandbox(
    fs: DrillFS,
    sandbox: str,
    sources: list[str],
    repository: str,
    restore_size: int,
) -> SandboxPlan:
    """Every safety check, in order; raises ``UnsafeSandbox`` naming the first violation."""
    normalized = posixpath.normpath(sandbox)
    if normalized == "/":
        raise UnsafeSandbox("the sandbox is / (a restore there would overwrite the system)")
    resolved = fs.realpath(normalized)
    if resolved != normalized:
        raise UnsafeSandbox(
            f"the sandbox {sandbox} escapes through a symlink to {resolved}; "
            "use the real directory path"
        )
    for system in _SYSTEM_DIRS:
        if resolved == system or resolved.startswith(system + "/"):
            raise UnsafeSandbox(f"the sandbox {sandbox} is inside the system directory {system}")
    for source in sources:
        for candidate in {posixpath.normpath(source), fs.realpath(source)}:
            if overlaps(resolved, candidate):
                raise UnsafeSandbox(
                    f"the sandbox {sandbox} overlaps the backed-up path {candidate}; a restore "
                    "or its cleanup could change the live data"
                )
    repo_path = local_repository_path(repository)
    if repo_path is not None:
        for candidate in {posixpath.normpath(repo_path), fs.realpath(repo_path)}:
            if overlaps(resolved, candidate):
                raise UnsafeSandbox(
                    f"the sandbox {sandbox} overlaps the repository {candidate}; the drill "
                    "must never write into the backup it is testing"
                )
    required = math.ceil(restore_size * (1 + FREE_SPACE_MARGIN))
    free = fs.free_bytes(resolved)
    if free < required:
        raise UnsafeSandbox(
            f"not enough free space for the restore in {sandbox}: {free:,} bytes free, "
            f"{required:,} needed (restore size {restore_size:,} + 10%)"
        )
    return SandboxPlan(sandbox=resolved, required_bytes=required, free_bytes=free)


def confined(restore_dir: str, original_path: str, fs: DrillFS) -> str:
    """Map an original absolute path into the restore dir; refuse one that leaves it (``..`` or a
    restored symlink pointing outside)."""
    normalized = posixpath.normpath("/" + original_path.lstrip("/"))
    mapped = restore_dir.rstrip("/") + normalized
    resolved = fs.realpath(mapped)
    root = fs.realpath(restore_dir)
    if resolved != root and not resolved.startswith(root.rstrip("/") + "/"):
        raise UnsafeSandbox(
            f"{original_path} leads outside the restore directory (to {resolved}) through a "
            "restored symlink"
        )
    return resolved
