"""One pass over a restored tree: every regular file hashed once, in parallel.

The same listing serves ``files_min``, ``bytes_min``, the manifest and the tree digest, so no file
is read twice. ``hashlib`` releases the GIL while hashing, so threads use every core; symlinks are
listed but never followed (a restored link may point anywhere on the host).
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

_CHUNK = 1 << 20


class TreeTimeout(Exception):
    """Hashing the restored tree ran past the drill's deadline."""


@dataclass(frozen=True)
class FileDigest:
    path: str  # relative to the restore dir, '/'-separated
    size: int
    sha256: str


@dataclass
class TreeListing:
    files: dict[str, FileDigest] = field(default_factory=dict)
    symlinks: dict[str, str] = field(default_factory=dict)  # relative path → link target
    directories: int = 0
    unreadable: dict[str, str] = field(default_factory=dict)  # relative path → error

    @property
    def file_count(self) -> int:
        return len(self.files)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files.values())

    def digest(self) -> str:
        """sha256 over the sorted lines ``/path\\0sha256\\n`` (paths as they were backed up)."""
        hasher = hashlib.sha256()
        for path in sorted(self.files):
            hasher.update(
                f"/{path}\0{self.files[path].sha256}\n".encode("utf-8", "surrogateescape")
            )
        return hasher.hexdigest()


def _walk(root: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """(relative path, entry) for everything under root, without following symlinks."""
    stack = [""]
    while stack:
        relative_dir = stack.pop()
        # os.path on str keeps the walk cheap on trees of many thousands of files.
        with os.scandir(os.path.join(root, relative_dir)) as entries:  # noqa: PTH118
            for entry in entries:
                relative = f"{relative_dir}/{entry.name}" if relative_dir else entry.name
                yield relative, entry
                if entry.is_dir(follow_symlinks=False):
                    stack.append(relative)


def hash_file(path: str) -> tuple[int, str]:
    """(size, sha256 hex) of a regular file, refusing to follow a symlink at the last component."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NOATIME", 0))
    with os.fdopen(fd, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256")
        size = handle.tell()
    return size, digest.hexdigest()


def _open_flags_fallback(path: str) -> tuple[int, str]:
    # O_NOATIME is refused (EPERM) for files the caller does not own, unless it is root.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256")
        size = handle.tell()
    return size, digest.hexdigest()


def _hash_one(root: str, relative: str) -> tuple[str, tuple[int, str] | str]:
    full = os.path.join(root, relative)  # noqa: PTH118
    try:
        try:
            return relative, hash_file(full)
        except PermissionError:
            return relative, _open_flags_fallback(full)
    except OSError as exc:
        return relative, exc.strerror or str(exc)


def default_workers() -> int:
    # Once the restored tree is in the page cache hashing is CPU bound: one thread per core.
    return max(2, min(16, os.cpu_count() or 1))


# One pool task per file costs a GIL hand-off each (~30 µs): thousands of small files would
# spend more on hand-offs than on hashing, so the pool gets batches of files instead.
_BATCH_FILES = 64
_BATCH_BYTES = 8 << 20


def _batches(sized: list[tuple[int, str]]) -> Iterator[list[str]]:
    batch: list[str] = []
    batch_bytes = 0
    for size, relative in sized:
        batch.append(relative)
        batch_bytes += size
        if len(batch) >= _BATCH_FILES or batch_bytes >= _BATCH_BYTES:
            yield batch
            batch, batch_bytes = [], 0
    if batch:
        yield batch


def hash_tree(
    root: str, *, deadline: float | None = None, workers: int | None = None
) -> TreeListing:
    """Hash every regular file under ``root`` once, in parallel (``deadline``: monotonic time)."""
    listing = TreeListing()
    sized: list[tuple[int, str]] = []
    for relative, entry in _walk(root):
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            listing.symlinks[relative] = os.readlink(entry.path)  # noqa: PTH115
        elif stat.S_ISDIR(info.st_mode):
            listing.directories += 1
        elif stat.S_ISREG(info.st_mode):
            sized.append((info.st_size, relative))
    # Big files first so one large file does not finish last on an otherwise idle pool.
    sized.sort(reverse=True)

    def hash_batch(batch: list[str]) -> list[tuple[str, tuple[int, str] | str]]:
        return [_hash_one(root, relative) for relative in batch]

    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        for results in pool.map(hash_batch, _batches(sized)):
            if deadline is not None and time.monotonic() > deadline:
                pool.shutdown(wait=False, cancel_futures=True)
                raise TreeTimeout(
                    f"hashing the restored tree passed the deadline at {results[0][0]}"
                )
            for relative, outcome in results:
                if isinstance(outcome, str):
                    listing.unreadable[relative] = outcome
                else:
                    size, sha = outcome
                    listing.files[relative] = FileDigest(relative, size, sha)
    return listing
