"""Established TCP connections of a remote Linux host from ``ss -H -tnp state established``.

With a state filter ss drops the Netid and State columns: Recv-Q, Send-Q, Local, Peer[, Process].
Addresses use the same forms as the listener output (``ss``), e.g. ``[::ffff:10.0.0.5]:22``.
Checked against iproute2 6.1 (Debian 12).
"""

from __future__ import annotations

from rra.agent.exposure.ss import PROCESS_PATTERN, SsParseError, local_address, run_ss
from rra.agent.host import Connection, Host

ARGV = ("ss", "-H", "-tnp", "state", "established")


def parse_established(output: str) -> list[Connection]:
    """One ``Connection`` per line; raises SsParseError on a foreign line."""
    connections: list[Connection] = []
    for line in output.splitlines():
        fields = line.split()
        if not fields or fields[0] == "Recv-Q":
            continue  # blank, or a header when -H was not honoured
        if len(fields) < 4 or not (fields[0].isdigit() and fields[1].isdigit()):
            raise SsParseError(f"unrecognised ss line {line!r}")
        local, peer = local_address(fields[2]), local_address(fields[3])
        if local is None or peer is None:
            continue
        pid: int | None = None
        process: str | None = None
        found = PROCESS_PATTERN.search(" ".join(fields[4:]))
        if found is not None:
            process, pid = found.group(1).replace('\\"', '"'), int(found.group(2))
        connections.append(Connection(local[0], local[1], peer[0], peer[1], pid, process))
    return connections


def established_via_ss(host: Host, timeout: float = 30.0) -> list[Connection]:
    """Run ss on the host. HostError when it fails or prints something else."""
    return run_ss(host, ARGV, parse_established, timeout)
