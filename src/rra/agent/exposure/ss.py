"""Listening sockets of a remote Linux host from ``ss -H -tulnp`` (DESIGN §5).

Columns: Netid, State, Recv-Q, Send-Q, Local, Peer[, Process]. The process column is missing
for sockets the caller may not inspect (non-root sees only its own). Local addresses come as
``0.0.0.0:22``, ``[::]:22`` (IPv6 only), ``*:22`` (dual-stack ``::``; kept as ``*``),
``0.0.0.0%lo:53`` / ``[::]%eth0:5353`` (bound to a device; kept as ``addr%dev``) and
``[fe80::1]%eth0:22``. Checked against iproute2 6.1 (Debian 12).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from rra.agent.host import Host, HostError, ListeningSocket

PROCESS_PATTERN = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=(\d+),fd=\d+\)')
_LOCAL = re.compile(
    r"^(?:\[(?P<v6>[^\]]*)\]|(?P<host>[^\[\]]*?))(?:%(?P<dev>[^:\]]+))?:(?P<port>\d+|\*)$"
)


T = TypeVar("T")


class SsParseError(ValueError):
    """A line that is not ``ss -tuln`` output."""


def local_address(text: str) -> tuple[str, int] | None:
    found = _LOCAL.match(text)
    if found is None:
        raise SsParseError(f"unrecognised local address {text!r}")
    if found.group("port") == "*":
        return None  # not bound to a port (cannot be a listener)
    host = found.group("v6") if found.group("v6") is not None else found.group("host")
    if found.group("dev"):
        host = f"{host}%{found.group('dev')}"
    return host, int(found.group("port"))


def parse_ss(output: str) -> list[ListeningSocket]:
    """TCP listeners and unconnected UDP sockets; raises SsParseError on a foreign line."""
    sockets: list[ListeningSocket] = []
    for line in output.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "Netid":
            continue  # a header, when -H was not honoured
        if len(fields) < 6 or fields[0] not in {"tcp", "udp"}:
            raise SsParseError(f"unrecognised ss line {line!r}")
        netid, state = fields[0], fields[1]
        if netid == "tcp" and state != "LISTEN":
            continue
        if netid == "udp" and state not in {"UNCONN", "LISTEN"}:
            continue  # a connected UDP socket has a peer: not a service
        local = local_address(fields[4])
        if local is None:
            continue
        pid: int | None = None
        process: str | None = None
        users = " ".join(fields[6:])
        found = PROCESS_PATTERN.search(users)
        if found is not None:
            process = found.group(1).replace('\\"', '"')
            pid = int(found.group(2))
        sockets.append(ListeningSocket(netid, local[0], local[1], pid, process))
    return sockets


def run_ss(host: Host, argv: Sequence[str], parse: Callable[[str], T], timeout: float) -> T:
    """Run one ss command on the host and parse it. HostError when it fails or prints something
    else (the listener and the established-connection readers share this)."""
    shown = " ".join(argv)
    result = host.run(list(argv), timeout=timeout)
    if result.rc != 0:
        raise HostError(f"{shown} failed (rc {result.rc}): {result.stderr_text.strip()}")
    try:
        return parse(result.stdout_text)
    except SsParseError as exc:
        raise HostError(f"{shown}: {exc}") from exc


def listening_sockets_via_ss(host: Host, timeout: float = 30.0) -> list[ListeningSocket]:
    """Run ``ss -H -tulnp`` on the host. HostError when it fails or prints something else."""
    return run_ss(host, ("ss", "-H", "-tulnp"), parse_ss, timeout)
