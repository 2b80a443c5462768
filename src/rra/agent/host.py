"""The ``Host`` seam: every read of, or command on, an inspected host goes through it (DESIGN §5).

Modelled on Ansible's connection plugins: one small interface with local, SSH and WinRM siblings,
so one collector serves an agent, a ``--root`` audit of a mounted image and agentless collection.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO


@dataclass(frozen=True)
class RunResult:
    rc: int
    stdout: bytes
    stderr: bytes

    @property
    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class ListeningSocket:
    proto: str  # "tcp" | "udp"
    address: str
    port: int
    pid: int | None
    process: str | None


@dataclass(frozen=True)
class Connection:
    """An established TCP connection (for live direct-access sources)."""

    local_address: str
    local_port: int
    remote_address: str
    remote_port: int
    pid: int | None
    process: str | None


class HostError(Exception):
    """The transport failed (not the command): unreachable host, missing binary, timeout."""


class CommandNotFound(HostError):
    """The program named in argv[0] does not exist on the host."""


class CommandTimeout(HostError):
    """The command ran longer than its timeout and was killed."""


def within_deadline(deadline: float | None, wanted: float, where: str) -> float:
    """``wanted`` seconds, cut to what is left before a monotonic ``deadline`` (remote hosts'
    per-host budget). Raises CommandTimeout once the budget is spent."""
    if deadline is None:
        return wanted
    left = deadline - time.monotonic()
    if left <= 0:
        raise CommandTimeout(f"{where}: the host's time budget is spent")
    return min(wanted, left)


class Host(ABC):
    """What collectors may do to a host. Implementations never use a shell for argv commands."""

    #: True when live-only facts (sockets, ``sshd -T``, boot time) describe the inspected system.
    live: bool = True
    #: "linux" or "windows": which collectors apply (Windows hosts are reached through WinRM).
    os_family: str = "linux"

    @abstractmethod
    def run(
        self,
        argv: Sequence[str],
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> RunResult:
        """Run argv (no shell). ``env`` adds to a scrubbed environment. Raises HostError subclasses."""

    @abstractmethod
    def read_file(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist. Raises PermissionError when unreadable."""

    @abstractmethod
    def open_binary(self, path: str) -> BinaryIO | None:
        """A file opened for streaming reads (large logs), or None when it does not exist.

        Raises PermissionError when unreadable. The caller closes it (``with``)."""

    @abstractmethod
    def glob(self, pattern: str) -> list[str]:
        """Host paths (as the host sees them) matching a glob pattern, sorted."""

    @abstractmethod
    def exists(self, path: str) -> bool: ...

    @abstractmethod
    def listening_sockets(self) -> list[ListeningSocket]:
        """TCP listeners and unconnected UDP sockets. Raises HostError when not live."""

    @abstractmethod
    def established_connections(self) -> list[Connection]:
        """Established TCP connections. Raises HostError when not live."""

    @abstractmethod
    def hostname(self) -> str: ...

    @abstractmethod
    def fqdn(self) -> str | None: ...

    @abstractmethod
    def boot_time(self) -> datetime | None:
        """None when not live (a mounted image has no boot time)."""

    def os_identity(self) -> tuple[str | None, str | None, str | None] | None:
        """(OS name, version, machine id) when the transport reads them natively (WinRM).

        None (the default) means: read ``/etc/os-release`` and ``/etc/machine-id`` as files."""
        return None

    def close(self) -> None:  # noqa: B027 - deliberately optional: local hosts hold nothing
        """End any session the transport holds (remote transports); local ones hold none."""

    def permission_hint(self) -> str:
        """What would let this collection read root-only facts (shown in ``unknown`` reasons)."""
        return "run the agent as root"
