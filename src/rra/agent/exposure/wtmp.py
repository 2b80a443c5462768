"""Logins from wtmp: the login records (``USER_PROCESS``) of glibc's utmp format.

The format is the x86-64 glibc ``struct utmp``, 384 bytes per record, little-endian (this is what
``last`` reads; 32-bit-compatible time fields, ``__WORDSIZE_TIME64_COMPAT32``)::

    offset size field
         0    2 ut_type        (short; then 2 bytes of padding)
         4    4 ut_pid
         8   32 ut_line        ("pts/0", "tty1", ":0")
        40    4 ut_id
        44   32 ut_user
        76  256 ut_host        (remote host name or address text; "" for a console)
       332    4 ut_exit        (2 × short)
       336    4 ut_session
       340    8 ut_tv          (int32 seconds, int32 microseconds)
       348   16 ut_addr_v6     (4 × int32, network byte order; IPv4 in the first word alone)
       364   20 reserved

Only ``USER_PROCESS`` (7) records are logins; ``DEAD_PROCESS`` (logouts), ``BOOT_TIME``, run
levels and the rest are read and passed over. Deliberately unlike ``last``, which also treats
any non-DEAD record with a user and a line as a login (a fix-up for ancient writers), rra trusts
the type: a record of another type is not evidence of a remote login.

The address of a login is ``ut_addr_v6`` when it is not all zero, else ``ut_host`` when it is an
address or a host name (an X display suffix ``:0``/``:0.0`` is stripped; ``:0`` alone is a local
display). The service is ``"ssh"`` for a ``pts/*`` or ``ssh*`` line with a remote host — sshd is
what writes such records on a server; telnetd and remote X sessions also use ``pts`` lines, so
this is a good-enough label, not proof — ``"login"`` for ttys and consoles, else None.

Malformed records never stop the read: a truncated final record, a type outside 0–9, a login
with a time ≤ 0 or microseconds out of range, or no user are *skipped and counted*
(``LogRead.skipped``). Names that are not UTF-8 are decoded with replacement characters.

The file is streamed: a reusable 4 MiB buffer (a multiple of 384 bytes) is filled with
``readinto`` and unpacked with :func:`struct.iter_unpack`; memory stays constant apart from
small caches keyed by the distinct host/line/user fields.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address
from typing import BinaryIO, Protocol, cast

from rra.agent.exposure.logins import (
    Login,
    LogRead,
    is_local,
    normalise_address,
    open_log,
    rotated_paths,
)
from rra.agent.host import Host

__all__ = ["RECORD", "UTMP", "WTMP", "read_wtmp", "rotated_wtmp"]

WTMP = "/var/log/wtmp"

#: The fields rra needs; the others are padding ("x") so that no objects are made for them.
#: type, line, user, host, tv_sec, tv_usec, addr_v6
UTMP = struct.Struct("<h2x4x32s4x32s256s4x4xii16s20x")
RECORD = UTMP.size
assert RECORD == 384  # noqa: S101 - the layout is the contract with every wtmp file

USER_PROCESS = 7
_MAX_TYPE = 9  # ACCOUNTING: the last type glibc defines
_CHUNK = RECORD * 10_922  # ~4 MiB
_ZERO_ADDR = bytes(16)
# Caches stay small on real files (few distinct hosts and users); a file of random garbage
# could make every record distinct, so they are emptied past this size instead of growing.
_CACHE_LIMIT = 65_536


class _ReadInto(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


def rotated_wtmp(host: Host, current: str = WTMP) -> list[str]:
    """The current wtmp then its rotated copies, newest first (``.1``, ``.2`` …, then dated).

    The current file is listed even when it does not exist, so that reading it reports that.
    btmp is deliberately not a source: failed logins are not access.
    """
    rotated = [path for path in rotated_paths(host, current) if path != current]
    return [current, *rotated]


def _text(field: bytes) -> str:
    # C strings: the value ends at the first NUL (what follows can be stale bytes).
    return field.partition(b"\x00")[0].decode("utf-8", errors="replace")


def _address(host_field: bytes, addr: bytes) -> str:
    if addr != _ZERO_ADDR:
        # IPv4 sits in the first word with the other three zero (util-linux's rule, too).
        if addr[4:] == _ZERO_ADDR[4:]:
            return str(IPv4Address(addr[:4]))
        return normalise_address(str(IPv6Address(addr)))
    return normalise_address(_text(host_field))


def _service(line: str, remote: bool) -> str | None:
    if line.startswith(("tty", "console", "hvc")):
        return "login"
    if remote and line.startswith(("pts/", "ssh")):
        return "ssh"
    return None


def read_wtmp(
    host: Host, path: str = WTMP, since: datetime | None = None
) -> tuple[Iterator[Login], LogRead]:
    """Logins recorded in a wtmp file, lazily, and the :class:`LogRead` that counts them.

    The file is opened at once — a missing or unreadable file is reported in ``LogRead.error``
    and gives no logins, never an exception — and read as the iterator is consumed; the counts
    in the ``LogRead`` are final when the iterator is exhausted. Logins before ``since`` are
    dropped without building objects. ``used`` counts the logins yielded, local ones included
    (:func:`~rra.agent.exposure.logins.aggregate` decides what is a source).
    """
    stats = LogRead(path=path, via="wtmp")
    stack = ExitStack()
    try:
        stream = open_log(host, path, stack)
    except OSError as exc:  # PermissionError and I/O errors
        stack.close()
        stats.error = f"cannot read {path}: {exc.strerror or exc}"
        return iter(()), stats
    if stream is None:
        stack.close()
        stats.error = f"{path} does not exist"
        return iter(()), stats
    return _logins(stream, stack, stats, since), stats


def _fill(stream: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` as far as the stream allows (short reads happen on pipes and remote files)."""
    readinto = getattr(stream, "readinto", None)
    filled = 0
    while filled < len(view):
        if readinto is not None:
            count = cast(_ReadInto, stream).readinto(view[filled:]) or 0
        else:
            data = stream.read(len(view) - filled)
            count = len(data)
            view[filled : filled + count] = data
        if count == 0:
            break
        filled += count
    return filled


def _logins(
    stream: BinaryIO, stack: ExitStack, stats: LogRead, since: datetime | None
) -> Iterator[Login]:
    since_sec, since_usec = -1, 0
    if since is not None:
        stamp = since.timestamp()
        since_sec = int(stamp // 1)
        since_usec = round((stamp - since_sec) * 1_000_000)
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    # Caches: a wtmp file repeats few distinct hosts, users and lines.
    addresses: dict[tuple[bytes, bytes], tuple[str, bool]] = {}  # -> (address, is remote)
    users: dict[bytes, str] = {}
    services: dict[tuple[bytes, bool], str | None] = {}
    fromtimestamp = datetime.fromtimestamp
    with stack:
        while True:
            try:
                filled = _fill(stream, view)
            except (OSError, EOFError) as exc:  # EOFError: a gzip file cut short
                stats.error = f"read error in {stats.path}: {exc}"
                return
            whole = filled - filled % RECORD
            skipped = 0 if whole == filled else 1  # a truncated final record
            used = 0
            for kind, line, user, host_field, sec, usec, addr in UTMP.iter_unpack(view[:whole]):
                if kind != USER_PROCESS:
                    if kind < 0 or kind > _MAX_TYPE:
                        skipped += 1
                    continue
                if sec <= 0 or not 0 <= usec < 1_000_000 or user[0] == 0:
                    skipped += 1
                    continue
                if sec < since_sec or (sec == since_sec and usec < since_usec):
                    continue
                key = (host_field, addr)
                known = addresses.get(key)
                if known is None:
                    if len(addresses) >= _CACHE_LIMIT:
                        addresses.clear()
                    address = _address(host_field, addr)
                    known = addresses[key] = (address, not is_local(address))
                address, remote = known
                name = users.get(user)
                if name is None:
                    if len(users) >= _CACHE_LIMIT:
                        users.clear()
                    name = users[user] = _text(user)
                line_key = (line, remote)
                if line_key in services:
                    service = services[line_key]
                else:
                    service = services[line_key] = _service(_text(line), remote)
                used += 1
                # A float of seconds converts exactly to the microsecond for 32-bit times.
                yield Login(address, fromtimestamp(sec + usec / 1e6, UTC), name, service, "wtmp")
            stats.records += whole // RECORD
            stats.skipped += skipped
            stats.used += used
            if filled < len(view):
                return
