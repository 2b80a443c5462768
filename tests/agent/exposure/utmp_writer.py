"""Test helpers for the exposure readers: wtmp files and unprivileged reads.

wtmp files: 384-byte x86-64 glibc ``struct utmp`` records, packed field by field.

Independent of the reader's struct (it packs every field, including the ones rra ignores), so a
layout mistake in either shows up against ``last``, which reads these files with glibc's own
definition.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EMPTY, RUN_LVL, BOOT_TIME, NEW_TIME, OLD_TIME = 0, 1, 2, 3, 4
INIT_PROCESS, LOGIN_PROCESS, USER_PROCESS, DEAD_PROCESS, ACCOUNTING = 5, 6, 7, 8, 9

# type, pad, pid, line, id, user, host, exit(termination, exit), session, tv_sec, tv_usec,
# addr_v6 (four 32-bit words, kept as raw network-order bytes), reserved
_LAYOUT = struct.Struct("<hxxi32s4s32s256shhiii16s20s")
assert _LAYOUT.size == 384


def addr_v6(address: str | None) -> bytes:
    """``ut_addr_v6`` as glibc stores it: IPv4 in the first word, IPv6 in all four."""
    if not address:
        return bytes(16)
    if ":" in address:
        return socket.inet_pton(socket.AF_INET6, address)
    return socket.inet_pton(socket.AF_INET, address) + bytes(12)


@dataclass(frozen=True)
class Record:
    type: int
    when: datetime | int  # an int is a raw tv_sec (for garbage: 0, negative)
    user: str | bytes = ""
    line: str | bytes = ""
    host: str | bytes = ""
    addr: str | None = None  # text address packed into ut_addr_v6
    pid: int = 1000
    ut_id: str = ""
    usec: int = 0
    session: int = 0
    raw_addr: bytes | None = None  # 16 raw bytes instead of addr

    def pack(self) -> bytes:
        def field(value: str | bytes) -> bytes:
            return value if isinstance(value, bytes) else value.encode()

        if isinstance(self.when, datetime):
            stamp = self.when.astimezone(UTC)
            sec, usec = int(stamp.timestamp()), stamp.microsecond
        else:
            sec, usec = self.when, self.usec
        if self.usec:
            usec = self.usec
        addr = self.raw_addr if self.raw_addr is not None else addr_v6(self.addr)
        return _LAYOUT.pack(
            self.type,
            self.pid,
            field(self.line),
            field(self.ut_id),
            field(self.user),
            field(self.host),
            0,
            0,
            self.session,
            sec,
            usec,
            addr,
            bytes(20),
        )


def login(
    when: datetime,
    user: str,
    host: str = "",
    addr: str | None = None,
    line: str = "pts/0",
    pid: int = 1000,
) -> Record:
    """A login as sshd writes it: ut_host as text, ut_addr_v6 when the address is known."""
    return Record(USER_PROCESS, when, user, line, host, addr, pid, ut_id=line[-4:])


def logout(when: datetime, line: str = "pts/0", pid: int = 1000) -> Record:
    return Record(DEAD_PROCESS, when, "", line, "", None, pid, ut_id=line[-4:])


def boot(when: datetime) -> Record:
    return Record(BOOT_TIME, when, "reboot", "~", "6.1.0-test", None, 0, ut_id="~~")


def write_wtmp(path: Path, records: Iterable[Record | bytes]) -> Path:
    """Write records (or raw bytes, for truncated/garbage tails) to ``path``."""
    with path.open("wb") as out:
        for record in records:
            out.write(record if isinstance(record, bytes) else record.pack())
    return path


@contextmanager
def traversable_dir() -> Iterator[Path]:
    """A temporary directory that ``nobody`` can enter (pytest's own base directory is 0700)."""
    with tempfile.TemporaryDirectory(prefix="rra-exposure-") as name:
        path = Path(name)
        path.chmod(0o755)
        yield path


def run_as_nobody(work: Callable[[], Any]) -> Any:
    """``work()``'s JSON-able result, computed with the kernel's own permission checks.

    As root (which bypasses file modes) it runs in a forked child that has dropped to
    ``nobody``; rra is already imported, so the child needs no access to the interpreter
    (which lives under /root here).
    """
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 1
        try:
            os.close(reader)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            os.write(writer, json.dumps(work()).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the unprivileged child failed"
    return json.loads(data)
