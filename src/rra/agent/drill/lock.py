"""One restore at a time per host: a drill holds an exclusive ``flock`` for its whole run.

A kernel lock is released when its holder dies, so a killed drill never blocks the next one.
The lock file carries the holder's pid and playbook for the message a waiting drill prints.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Default lock file; ``RRA_DRILL_LOCK`` overrides it (tests, hosts without /run/lock).
DEFAULT_LOCK = "/run/lock/rra-drill.lock"
_POLL = 0.2


class DrillBusy(Exception):
    """Another drill holds the host's lock and did not finish within the wait."""


def default_lock_path() -> str:
    configured = os.environ.get("RRA_DRILL_LOCK")
    if configured:
        return configured
    if os.access(Path(DEFAULT_LOCK).parent, os.W_OK):
        return DEFAULT_LOCK
    return str(Path(tempfile.gettempdir()) / f"rra-drill-{os.getuid()}.lock")


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        data = json.loads(text)
        return f"pid {data.get('pid')}, playbook '{data.get('playbook')}'"
    except (OSError, ValueError):
        return "unknown holder"


@contextmanager
def drill_lock(playbook: str, wait_seconds: float, path: str | None = None) -> Iterator[str]:
    """Hold the host's drill lock; wait up to ``wait_seconds`` for another drill to finish."""
    lock_path = path or default_lock_path()
    Path(lock_path).parent.mkdir(parents=True, exist_ok=True)
    # O_NOFOLLOW: a symlink planted at the lock path must not make us open another file.
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        give_up = time.monotonic() + max(0.0, wait_seconds)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= give_up:
                    raise DrillBusy(
                        f"another restore drill is running on this host ({_holder(fd)}); "
                        f"waited {wait_seconds:g} s for {lock_path}"
                    ) from None
                time.sleep(_POLL)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "playbook": playbook}).encode(), 0)
        yield lock_path
    finally:
        os.close(fd)  # closing releases the flock
