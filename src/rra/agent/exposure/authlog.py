"""Logins from sshd's ``Accepted …`` lines in auth.log / secure and their rotated copies.

Read: ``/var/log/auth.log`` (Debian, Ubuntu) and ``/var/log/secure`` (RHEL family) with their
rotated copies (``.1``, ``.2.gz``, ``-20261101``), decompressed by magic bytes. Each file is
streamed in 1 MiB blocks and only lines containing ``Accepted `` are looked at: the search runs
over bytes at memchr speed, so the cost is decompression and I/O, not Python per line.

A line is a login when it is ``sshd[PID]: Accepted METHOD for USER from ADDR [port PORT] …``
(``sshd-session`` too, OpenSSH ≥ 9.8) with either syslog timestamp:

* RFC 3339 (rsyslog's ``RSYSLOG_FileFormat``): ``2026-11-24T03:12:01.123456+00:00 host sshd[1]: …``
* classic (``RSYSLOG_TraditionalFileFormat``): ``Nov 24 03:12:01 host sshd[1]: …`` — local time
  of the host (``/etc/localtime``, read through the host; UTC when absent) and **no year**.

The year of classic lines: within a file, lines are in time order, so a step back of more than
a day (Dec → Jan) starts the next year; smaller steps back are lines written a moment out of
order, and a step forward of almost a year is such a line from just before New Year. The
file's newest line is not in the future of its
reference — ``now`` (plus a day of clock skew) for the current file, and for each rotated copy
the oldest line of the next newer copy — which fixes the absolute year. Because the newest line
is only known at the end of a file, a file's classic logins are held (as small tuples) until it
has been read — but only those that can be in the window: the latest year a line can have is
known as it is read (the one that puts it just before the reference), so a line that would be
before ``since`` even then is dropped at once. Memory grows with the logins in the window.
Exact when consecutive logins, and the newest one and the reference, are less than ~300 days
apart (property-tested); a longer silence is ambiguous without a year.

Counted in ``LogRead``: ``records`` = lines read, ``used`` = logins in the window, ``skipped`` =
sshd ``Accepted`` lines that could not be parsed. Other lines are not errors. ``Accepted … for
invalid user …`` is not a login (sshd never accepts an unknown user; such text is forged or
foreign) and is ignored. Limitation: syslog text can be forged by any local user (``logger -t
sshd``); the journal's trusted fields are not read here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import BinaryIO
from zoneinfo import ZoneInfo

from rra.agent.exposure.logins import Login, LogRead, normalise_address, open_log, rotated_paths
from rra.agent.host import Host

__all__ = ["AUTH_LOGS", "auth_log_paths", "host_timezone", "read_auth_logs"]

#: The current files; rotated copies are found next to them.
AUTH_LOGS = ("/var/log/auth.log", "/var/log/secure")

_BLOCK = 1 << 20
_NEEDLE = b"Accepted "
_MAX_LINE = 1 << 16  # a "line" longer than this without a newline is binary junk
_SKEW = timedelta(days=1)  # a log line may be this far ahead of `now` (clock skew)
_LATE = timedelta(days=364)  # a step forward this long is a line written late across New Year
_LEAP_YEAR = datetime(2000, 1, 1)

_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
# The program tag; what precedes it (timestamp, host name) is matched separately and anchored,
# so that no pattern backtracks over a long hostile line.
_SSHD = re.compile(r"(?<= )sshd(?:-session)?\[\d+\]: Accepted ")
_CLASSIC = re.compile(
    r"(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)"
    r"(?:\.(?P<frac>\d{1,6})\d*)? \S+ "
)
_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d\d-\d\d)[T ](?P<time>\d\d:\d\d:\d\d)(?:\.(?P<frac>\d{1,6})\d*)?"
    r"(?P<zone>Z|[+-]\d\d:?\d\d)? \S+ "
)
_ACCEPTED = re.compile(
    r"Accepted (?P<method>[\w@./-]+) for (?P<user>\S+(?: user \S+)?) from (?P<addr>\S+)"
    r"(?: port \d+)?(?:[ :]|\Z)"
)


def host_timezone(host: Host) -> tzinfo:
    """The host's local time zone (classic syslog times are local), UTC when it cannot be read."""
    try:
        stream = host.open_binary("/etc/localtime")
        if stream is None:
            return UTC
        with stream:
            return ZoneInfo.from_file(stream, key="localtime")
    except (OSError, ValueError):
        return UTC


def auth_log_paths(host: Host) -> list[str]:
    """Existing auth logs, each current file followed by its rotated copies, newest first."""
    return [path for current in AUTH_LOGS for path in rotated_paths(host, current)]


@dataclass
class _Pending:
    """Classic (year-less) logins of one file, held until its newest line fixes the year."""

    entries: list[tuple[int, int, int, int, int, int, int, str, str]] = field(default_factory=list)
    last: tuple[int, int, int, int, int, int, int] | None = None  # the newest classic line
    wraps: int = 0  # year boundaries crossed so far in this file
    position: timedelta | None = None  # latest point in the year reached so far


def _iter_lines(stream: BinaryIO, stats: LogRead) -> Iterator[bytes]:
    """Lines containing ``Accepted ``; also counts every line into ``stats.records``."""
    read = stream.read
    carry = b""
    while True:
        block: bytes = read(_BLOCK)
        if not block:
            if carry:
                stats.records += 1
                if _NEEDLE in carry and len(carry) <= _MAX_LINE:
                    yield carry
            return
        data = carry + block if carry else block
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            carry = data if len(data) <= _MAX_LINE else b""
            continue
        stats.records += data.count(b"\n", 0, cut)
        position = data.find(_NEEDLE, 0, cut)
        while position != -1:
            start = data.rfind(b"\n", 0, position) + 1
            end = data.find(b"\n", position, cut)
            if end - start <= _MAX_LINE:  # syslog caps messages at a few KiB; longer is junk
                yield data[start:end]
            position = data.find(_NEEDLE, end, cut)
        carry = data[cut:]


def _year_for(month: int, day: int, clock: tuple[int, int, int, int], reference: datetime) -> int:
    """The year that puts (month, day, clock) at or before ``reference`` (naive local time)."""
    year = reference.year
    limit = reference + _SKEW
    for candidate in (year, year - 1, year - 2, year - 3, year - 4):
        try:
            if datetime(candidate, month, day, *clock) <= limit:
                return candidate
        except ValueError:  # 29 February in a common year
            continue
    return year - 1


class _FileReader:
    """Parses one file's lines; holds its classic logins and resolves their years at the end.

    ``reference`` (naive local time) is what no line of the file is later than: ``now`` for a
    current file, the oldest line of the next newer file for a rotated one.
    """

    def __init__(
        self, stats: LogRead, zone: tzinfo, since: datetime | None, reference: datetime
    ) -> None:
        self.stats = stats
        self.zone = zone
        self.since = since
        self.reference = reference
        self.pending = _Pending()
        self.oldest: datetime | None = None  # oldest line seen (local wall time), for the chain
        self.names: dict[str, str] = {}  # one string per distinct user/address while held

    def _emit(self, when: datetime, user: str, address: str) -> Login | None:
        local = when.astimezone(self.zone).replace(tzinfo=None)
        if self.oldest is None or local < self.oldest:
            self.oldest = local
        if self.since is not None and when < self.since:
            return None
        self.stats.used += 1
        return Login(address, when, user, "ssh", "auth.log")

    def line(self, raw: bytes) -> Login | None:
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        sshd = _SSHD.search(text)
        if sshd is None:
            return None  # another program's message mentioning "Accepted "
        accepted = _ACCEPTED.match(text, sshd.end() - len("Accepted "))
        if accepted is not None and accepted["user"].startswith("invalid user "):
            return None
        head = text[: sshd.start()]
        classic = _CLASSIC.fullmatch(head)
        rfc = None if classic else _RFC3339.fullmatch(head)
        if accepted is None or (classic is None and rfc is None):
            self.stats.skipped += 1
            return None
        user = self.names.setdefault(accepted["user"], accepted["user"])
        address = normalise_address(accepted["addr"])
        address = self.names.setdefault(address, address)
        if rfc is not None:
            when = self._rfc_time(rfc)
            return None if when is None else self._emit(when, user, address)
        assert classic is not None  # noqa: S101 - for the type checker
        month, day = _MONTHS.get(classic["mon"], 0), int(classic["day"])
        usec = int((classic["frac"] or "0").ljust(6, "0"))
        clock = (int(classic["h"]), int(classic["m"]), int(classic["s"]), usec)
        try:
            # The point in a leap year, so that 29 February has one.
            position = datetime(2000, month, day, *clock) - _LEAP_YEAR
        except ValueError:  # no such month, 30 February, 25:00
            self.stats.skipped += 1
            return None
        pending = self.pending
        wraps = self._wraps(position)
        pending.last = (wraps, month, day, *clock)
        # Held only if it can be in the window: its year is at most the one that puts it just
        # before the reference. The file's first line is always held: it dates the chain.
        if not pending.entries or not self._before_window(month, day, clock):
            pending.entries.append((wraps, month, day, *clock, user, address))
        return None

    def _before_window(self, month: int, day: int, clock: tuple[int, int, int, int]) -> bool:
        if self.since is None:
            return False
        year = _year_for(month, day, clock, self.reference)
        try:
            latest = datetime(year, month, day, *clock, tzinfo=self.zone)
        except ValueError:
            return False
        return latest < self.since

    def _wraps(self, position: timedelta) -> int:
        """Year boundaries between the file's first classic line and this one.

        Lines are in time order, give or take out-of-order writes a moment apart. So a step back
        of more than a day is a new year, a smaller one is noise, and a step *forward* of almost
        a year is a late line from just before the last New Year.
        """
        pending = self.pending
        if pending.position is None or position >= pending.position:
            if pending.position is not None and position - pending.position > _LATE:
                return pending.wraps - 1
            pending.position = position
        elif position < pending.position - _SKEW:
            pending.wraps += 1
            pending.position = position
        return pending.wraps

    def _rfc_time(self, match: re.Match[str]) -> datetime | None:
        frac = (match["frac"] or "").ljust(6, "0") if match["frac"] else ""
        zone = match["zone"] or ""
        text = f"{match['date']}T{match['time']}{'.' + frac if frac else ''}{zone}"
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.stats.skipped += 1
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=self.zone)
        return when.astimezone(UTC)

    def finish(self) -> Iterator[Login]:
        """The held classic logins, with years counted back from the reference."""
        entries, last = self.pending.entries, self.pending.last
        if not entries or last is None:
            return
        newest_year = _year_for(last[1], last[2], last[3:], self.reference)
        for wraps, month, day, hour, minute, second, usec, user, address in entries:
            year = newest_year - (last[0] - wraps)
            try:
                local = datetime(year, month, day, hour, minute, second, usec, tzinfo=self.zone)
            except ValueError:  # 30 February, 29 February in a common year
                self.stats.skipped += 1
                continue
            login = self._emit(local.astimezone(UTC), user, address)
            if login is not None:
                yield login
        entries.clear()


def _chains(paths: Sequence[str]) -> list[list[str]]:
    """Paths grouped by their current file (rotation chain), keeping the given order in each."""
    chains: dict[str, list[str]] = {}
    for path in paths:
        base = re.sub(r"(?:\.\d+|-\d{8})?(?:\.(?:gz|bz2|xz))?\Z", "", path)
        chains.setdefault(base, []).append(path)
    return list(chains.values())


def read_auth_logs(
    host: Host,
    paths: Sequence[str] | None = None,
    since: datetime | None = None,
    now: datetime | None = None,
    zone: tzinfo | None = None,
) -> tuple[Iterator[Login], list[LogRead]]:
    """sshd logins from auth logs, lazily, and one :class:`LogRead` per file.

    ``paths`` default to :func:`auth_log_paths`; given paths must list each rotation chain
    newest first (as :func:`auth_log_paths` does), since the year of classic lines is inferred
    along the chain. Files are opened one at a time as the iterator is consumed; the
    ``LogRead`` entries (errors included) are final when it is exhausted.
    """
    chosen = list(dict.fromkeys(paths)) if paths is not None else auth_log_paths(host)
    reads = {path: LogRead(path=path, via="auth.log") for path in chosen}
    tz = zone if zone is not None else host_timezone(host)
    start = (now or datetime.now(UTC)).astimezone(tz)
    return _read_all(host, _chains(chosen), reads, since, start, tz), list(reads.values())


def _read_all(
    host: Host,
    chains: list[list[str]],
    reads: dict[str, LogRead],
    since: datetime | None,
    start: datetime,
    zone: tzinfo,
) -> Iterator[Login]:
    for chain in chains:
        reference = start.replace(tzinfo=None)
        for path in chain:
            stats = reads[path]
            reader = _FileReader(stats, zone, since, reference)
            with ExitStack() as stack:
                try:
                    stream = open_log(host, path, stack)
                    if stream is None:
                        stats.error = f"{path} does not exist"
                        continue
                    for raw in _iter_lines(stream, stats):
                        login = reader.line(raw)
                        if login is not None:
                            yield login
                except (OSError, EOFError) as exc:  # EOFError: a gzip file cut short
                    stats.error = f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
            # A file read only in part still dates what it gave (its lines are in order).
            yield from reader.finish()
            if reader.oldest is not None and reader.oldest < reference:
                reference = reader.oldest
