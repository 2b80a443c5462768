"""The file-system operations a drill needs on the executing host, behind one small interface.

``LocalDrillFS`` works natively (parallel hashing, ``statvfs``, ``sqlite3``); ``CommandDrillFS``
does the same through ``Host.run`` with plain POSIX tools (``realpath``, ``df``, ``find``,
``sha256sum``, ``sqlite3``), so a drill runs over any ``Host`` — argv lists only, no shell.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import sqlite3
import time
from abc import ABC, abstractmethod
from pathlib import Path

from rra.agent.drill.tree import FileDigest, TreeListing, TreeTimeout, hash_tree
from rra.agent.host import Host, HostError
from rra.agent.local import LocalHost


class DrillFSError(Exception):
    """A file-system operation on the executing host failed."""


class DrillFS(ABC):
    @abstractmethod
    def realpath(self, path: str) -> str:
        """The path with every symlink resolved (the path need not exist)."""

    @abstractmethod
    def free_bytes(self, path: str) -> int:
        """Bytes available to this user on the file system holding ``path`` (or its parent)."""

    @abstractmethod
    def make_dirs(self, path: str) -> None:
        """Create ``path`` and missing parents (mode 0700 for the ones created)."""

    @abstractmethod
    def make_fresh_dir(self, path: str) -> None:
        """Create exactly ``path`` (mode 0700); fail if anything exists there."""

    @abstractmethod
    def remove_tree(self, path: str) -> None:
        """Delete ``path`` recursively without following symlinks."""

    @abstractmethod
    def hash_tree(self, root: str, deadline: float | None) -> TreeListing:
        """Every regular file under ``root`` with size and sha256, read once."""

    @abstractmethod
    def sqlite_integrity(self, path: str, timeout: float) -> str:
        """``PRAGMA integrity_check`` of a database file: ``ok`` or SQLite's findings."""


def _nearest_existing(path: str) -> str:
    current = Path(path)
    while not current.exists() and current != current.parent:
        current = current.parent
    return str(current)


class LocalDrillFS(DrillFS):
    def realpath(self, path: str) -> str:
        return os.path.realpath(path)

    def free_bytes(self, path: str) -> int:
        info = os.statvfs(_nearest_existing(path))
        return info.f_bavail * info.f_frsize

    def make_dirs(self, path: str) -> None:
        Path(path).mkdir(mode=0o700, parents=True, exist_ok=True)

    def make_fresh_dir(self, path: str) -> None:
        try:
            Path(path).mkdir(mode=0o700)
        except OSError as exc:
            raise DrillFSError(f"cannot create {path}: {exc.strerror or exc}") from exc

    def remove_tree(self, path: str) -> None:
        # rmtree never follows symlinks (it unlinks them) and refuses a symlinked top.
        shutil.rmtree(path)

    def hash_tree(self, root: str, deadline: float | None) -> TreeListing:
        return hash_tree(root, deadline=deadline)

    def sqlite_integrity(self, path: str, timeout: float) -> str:
        # Read-only: the check must never write into the restored database it is judging.
        uri = f"file:{path}?mode=ro"
        try:
            with sqlite3.connect(uri, uri=True, timeout=timeout) as db:
                rows = db.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as exc:
            return f"cannot read database: {exc}"
        return "\n".join(str(row[0]) for row in rows)


class CommandDrillFS(DrillFS):
    """The same operations through ``Host.run`` on a remote POSIX host."""

    def __init__(self, host: Host, timeout: float = 600.0) -> None:
        self.host = host
        self.timeout = timeout

    def _run(self, argv: list[str], timeout: float | None = None) -> str:
        try:
            result = self.host.run(argv, timeout=timeout or self.timeout)
        except HostError as exc:
            raise DrillFSError(f"{argv[0]}: {exc}") from exc
        if result.rc != 0:
            raise DrillFSError(f"{' '.join(argv[:2])}: {result.stderr_text.strip()[:300]}")
        return result.stdout_text

    def realpath(self, path: str) -> str:
        return self._run(["realpath", "-m", "--", path]).strip()

    def free_bytes(self, path: str) -> int:
        # df needs an existing path, and the sandbox is only created after this check
        probe = path
        while probe not in ("/", "") and not self.host.exists(probe):
            probe = posixpath.dirname(probe)
        out = self._run(["df", "-P", "-B1", "--", probe or "/"]).splitlines()
        return int(out[-1].split()[3])

    def make_dirs(self, path: str) -> None:
        self._run(["mkdir", "-p", "-m", "700", "--", path])

    def make_fresh_dir(self, path: str) -> None:
        self._run(["mkdir", "-m", "700", "--", path])

    def remove_tree(self, path: str) -> None:
        self._run(["rm", "-rf", "--one-file-system", "--", path])

    def hash_tree(self, root: str, deadline: float | None) -> TreeListing:
        timeout = self.timeout if deadline is None else max(1.0, deadline - time.monotonic())
        listing = TreeListing()
        sizes: dict[str, int] = {}
        out = self._run(["find", root, "-mindepth", "1", "-printf", r"%y %s %P\0%l\0"], timeout)
        fields = out.split("\0")
        for head, target in zip(fields[0::2], fields[1::2], strict=False):
            kind, size, relative = head.split(" ", 2)
            if kind == "f":
                sizes[relative] = int(size)
            elif kind == "l":
                listing.symlinks[relative] = target
            elif kind == "d":
                listing.directories += 1
        out = self._run(["find", root, "-type", "f", "-exec", "sha256sum", "-z", "--", "{}", "+"])
        prefix = root.rstrip("/") + "/"
        for record in filter(None, out.split("\0")):
            sha, _, path = record.partition("  ")
            relative = path.removeprefix(prefix)
            listing.files[relative] = FileDigest(relative, sizes.get(relative, 0), sha)
        if deadline is not None and time.monotonic() > deadline:
            raise TreeTimeout("hashing the restored tree passed the deadline")
        return listing

    def sqlite_integrity(self, path: str, timeout: float) -> str:
        return self._run(["sqlite3", "-readonly", path, "PRAGMA integrity_check;"], timeout).strip()


def drill_fs_for(host: Host) -> DrillFS:
    """Native operations on this machine; POSIX commands through the transport elsewhere."""
    if isinstance(host, LocalHost):
        if not host.live:
            raise DrillFSError("a drill runs on a live host, not on an image mounted with --root")
        return LocalDrillFS()
    return CommandDrillFS(host)
