"""A Windows ``Host`` for recorded-output tests: no files, no live sockets; subclasses answer ``run``.

There is no Windows machine here, so Windows collectors are tested by replaying what their
PowerShell scripts print (recordings under each test's data folder).
"""

from __future__ import annotations

from datetime import datetime
from typing import BinaryIO

from rra.agent.host import Connection, Host, HostError, ListeningSocket


class WindowsReplayHost(Host):
    """Everything but ``run``: a Windows replay has no files and recorded no sockets."""

    live = True
    name = "replay"

    def read_file(self, path: str) -> bytes | None:
        raise HostError("a Windows replay has no files")

    def open_binary(self, path: str) -> BinaryIO | None:
        raise HostError("a Windows replay has no files")

    def glob(self, pattern: str) -> list[str]:
        raise HostError("a Windows replay has no files")

    def exists(self, path: str) -> bool:
        raise HostError("a Windows replay has no files")

    def listening_sockets(self) -> list[ListeningSocket]:
        raise HostError("not recorded")

    def established_connections(self) -> list[Connection]:
        raise HostError("not recorded")

    def hostname(self) -> str:
        return self.name

    def fqdn(self) -> str | None:
        return None

    def boot_time(self) -> datetime | None:
        return None
