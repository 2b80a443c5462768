"""Successful remote logins read from a host's logs, and their aggregation into access sources.

DESIGN §3 "Direct access sources": the distinct remote addresses that logged in to an admin
service within the window, excluding loopback, local sessions (``:0`` X displays, ttys) and the
configured bastions. The readers (:mod:`.wtmp`, :mod:`.authlog`, :mod:`.eventlog`) produce
:class:`Login` values and a :class:`LogRead` per source; :func:`aggregate` applies the rules.

Addresses are normalised once, here, so that the same machine is one source whatever log named
it: IPv4-mapped IPv6 (``::ffff:10.0.0.5``) becomes IPv4, IPv6 is compressed and loses its zone
(``%eth0`` names an interface of *this* host, not another machine), hostnames are lower-cased
without a trailing dot.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import BinaryIO, Literal

from rra.agent.host import Host
from rra.checks.facts import AccessSourceFact, LogReadFact

Via = Literal["wtmp", "auth.log", "eventlog"]

#: At most this many account names are kept per source (the fact lists who logged in from it).
MAX_USERS = 20

# RFC 1123 host names (underscores tolerated: they occur in the wild). Anything else in a host
# field — "tmux(1234).%0", ":pts/1:S.0" from screen, "pts/3" — is a local session, not a machine.
_HOSTNAME = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*\Z")
# Terminal names some tools write into the host field for local logins.
_TTY = re.compile(r"(?:tty\w*|pts\d*|console|vc\d*|hvc\d*)\Z")
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
# An X display suffix after a host: "host:0", "10.0.0.5:10.0".
_DISPLAY = re.compile(r"(.*?):\d+(?:\.\d+)?\Z")
_INVERT = str.maketrans("0123456789", "9876543210")  # newest date first in an ascending sort
# After a log's base name: .1, .2.gz (logrotate numbering) or -20261101[.gz] (dateext).
_ROTATED = re.compile(r"(?:\.(?P<n>\d+)|-(?P<date>\d{8}))?(?:\.(?:gz|bz2|xz))?\Z")


@dataclass(frozen=True, slots=True)
class Login:
    """One successful login as a log recorded it."""

    address: str  # normalised IP, or a host name when the log has no address
    when: datetime  # aware, UTC
    user: str | None
    service: str | None  # "ssh" | "rdp" | "winrm" | "smb/network" | None when unknown
    via: Via


@dataclass
class LogRead:
    """What reading one log source gave (mirrors :class:`rra.checks.facts.LogReadFact`).

    ``records``: entries read (wtmp records, "Accepted" lines, events); ``used``: logins produced
    (in the window); ``skipped``: malformed or truncated entries, counted and never fatal;
    ``error``: why the source could not be read (fully or from some point on).
    """

    path: str
    via: Via
    records: int = 0
    used: int = 0
    skipped: int = 0
    error: str | None = None

    def fact(self) -> LogReadFact:
        return LogReadFact(
            path=self.path,
            via=self.via,
            records=self.records,
            used=self.used,
            skipped=self.skipped,
            error=self.error,
        )


def _ip_text(address: IPv4Address | IPv6Address) -> str:
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        if address.scope_id is not None:
            return str(IPv6Address(int(address)))
    return str(address)


def normalise_address(text: str) -> str:
    """The canonical spelling of an address or host name (see the module docstring).

    Returns ``""`` for an empty field; text that is neither an address nor a host name is
    returned stripped, so :func:`is_local` can still recognise it as a local session.
    """
    value = text.strip().strip("\x00").strip()
    if not value:
        return ""
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    try:
        return _ip_text(ip_address(value))
    except ValueError:
        pass
    # "host:0" / "10.0.0.5:0.0" — an X display on a remote machine. ":0" alone stays as is: local.
    display = _DISPLAY.match(value)
    if display and display.group(1):
        inner = display.group(1)
        try:
            return _ip_text(ip_address(inner))
        except ValueError:
            value = inner
    lowered = value.lower().rstrip(".")
    return lowered if _HOSTNAME.match(lowered) else value


def parse_ip(address: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(address)
    except ValueError:
        return None


def is_local(address: str) -> bool:
    """True for what is not another machine: loopback, unspecified, empty, X displays, ttys."""
    value = address.strip()
    if not value or value.startswith(":"):
        return True
    ip = parse_ip(value)
    if ip is not None:
        if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.is_loopback or ip.is_unspecified
    lowered = value.lower().rstrip(".")
    if lowered in _LOCAL_NAMES or _TTY.match(lowered):
        return True
    # Not an address and not a host name: screen/tmux session markers and the like.
    return not _HOSTNAME.match(lowered)


def _in_bastions(address: str, bastions: Sequence[IPv4Network | IPv6Network]) -> bool:
    ip = parse_ip(address)
    if ip is None:
        return False
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in bastions)


@dataclass
class _Source:
    last: datetime
    via: Via
    count: int
    services: Counter[str]
    users: set[str]


def aggregate(
    logins: Iterable[Login],
    since: datetime,
    bastions: Sequence[IPv4Network | IPv6Network] = (),
) -> list[AccessSourceFact]:
    """Access sources: one per remote address that logged in at or after ``since``.

    Per source: ``last_seen`` is the newest login, ``logins`` the count, ``service`` the most
    common service (ties: alphabetical), ``via`` the log of the newest login, ``users`` the
    distinct accounts (sorted, at most :data:`MAX_USERS`). Sorted by address (as text, like the
    report's ``direct_access_sources``).
    """
    sources: dict[str, _Source] = {}
    # Logins repeat a handful of addresses many times: decide locality/bastion once per address.
    excluded: dict[str, bool] = {}
    for login in logins:
        if login.when < since:
            continue
        address = login.address
        skip = excluded.get(address)
        if skip is None:
            skip = is_local(address) or _in_bastions(address, bastions)
            excluded[address] = skip
        if skip:
            continue
        source = sources.get(address)
        if source is None:
            source = sources[address] = _Source(login.when, login.via, 0, Counter(), set())
        elif login.when > source.last:
            source.last, source.via = login.when, login.via
        source.count += 1
        if login.service:
            source.services[login.service] += 1
        user = login.user
        if user and user not in source.users:
            source.users.add(user)
            # Only the alphabetically first MAX_USERS are reported: keeping no more bounds
            # memory per source (an evicted name, if seen again, is evicted again).
            if len(source.users) > MAX_USERS:
                source.users.remove(max(source.users))
    facts: list[AccessSourceFact] = []
    for address in sorted(sources):
        source = sources[address]
        service = None
        if source.services:
            service = min(source.services.items(), key=lambda item: (-item[1], item[0]))[0]
        facts.append(
            AccessSourceFact(
                address=address,
                last_seen=source.last,
                logins=source.count,
                service=service,
                via=source.via,
                users=sorted(source.users),
            )
        )
    return facts


# --- rotated and compressed logs ------------------------------------------------------------------


def rotated_paths(host: Host, current: str) -> list[str]:
    """``current`` (when it exists) then its rotated copies, newest first.

    Numbered copies (``.1``, ``.2.gz`` …) come before dated ones (``-20261101``, newest date
    first): logrotate uses one scheme or the other, and a host that switched has older dated
    files only if it moved away from dateext, which is rare. Other names sharing the prefix
    (``auth.log.bak``, ``wtmp.db``) are not rotated copies and are left out.
    """
    folder, _, base = current.rpartition("/")
    ranked: list[tuple[int, int, str, str]] = []
    for path in host.glob(f"{folder}/{base}*"):
        name = path.rpartition("/")[2]
        match = _ROTATED.match(name, len(base)) if name.startswith(base) else None
        if match is None:
            continue
        if match["n"] is not None:
            ranked.append((1, int(match["n"]), "", path))
        elif match["date"] is not None:
            ranked.append((2, 0, match["date"].translate(_INVERT), path))
        else:
            ranked.append((0, 0, "", path))
    return [path for *_, path in sorted(ranked)]


class _Rewound(io.RawIOBase):
    """A non-seekable stream with the bytes already read from its head put back in front."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if self._head:
            count = min(len(self._head), len(view))
            view[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        data = self._stream.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()


def open_log(host: Host, path: str, stack: ExitStack) -> BinaryIO | None:
    """``host.open_binary`` that transparently decompresses gzip, bzip2 and xz (by magic bytes).

    Rotated logs are compressed whatever their name says (``delaycompress``, a ``.1`` renamed by
    hand), so the content decides. Both the file and the decompressor are registered on
    ``stack`` (a decompressor given a file object does not close it). None when the file does
    not exist; PermissionError propagates.
    """
    stream = host.open_binary(path)
    if stream is None:
        return None
    stack.enter_context(stream)
    head = b""
    while len(head) < 6:  # a pipe or remote file may return fewer bytes than asked
        more = stream.read(6 - len(head))
        if not more:
            break
        head += more
    if stream.seekable():
        stream.seek(0)
        raw: BinaryIO = stream
    else:
        raw = io.BufferedReader(_Rewound(head, stream), 1 << 16)
    if head.startswith(b"\x1f\x8b"):
        return stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))  # type: ignore[return-value]
    if head.startswith(b"BZh"):
        return stack.enter_context(bz2.BZ2File(raw, mode="rb"))  # type: ignore[return-value]
    if head.startswith(b"\xfd7zXZ\x00"):
        return stack.enter_context(lzma.LZMAFile(raw, mode="rb"))  # type: ignore[return-value]
    return raw
