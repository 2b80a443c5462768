"""``LocalHost``: this machine, or a mounted image of one under ``root`` (``--root`` audits)."""

from __future__ import annotations

import glob as globmod
import os
import socket
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import psutil

from rra.agent.host import (
    CommandNotFound,
    CommandTimeout,
    Connection,
    Host,
    HostError,
    ListeningSocket,
    RunResult,
)

# Only these variables pass to child processes: a password in the agent's own environment
# (RESTIC_PASSWORD, cloud keys) must never leak into a command, and a stray RESTIC_REPOSITORY
# must never redirect one.
_PASSED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "XDG_CACHE_HOME", "TZ")


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {name: os.environ[name] for name in _PASSED_ENV if name in os.environ}
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env["LC_ALL"] = "C.UTF-8"  # stable, parseable messages from every tool
    if extra:
        env.update(extra)
    return env


class LocalHost(Host):
    """Reads files under ``root``; commands always run on this machine (they are live facts)."""

    def __init__(self, root: str | os.PathLike[str] = "/") -> None:
        self.root = Path(root).resolve()
        self.live = self.root == Path("/")

    def _map(self, path: str) -> Path:
        if not path.startswith("/"):
            raise ValueError(f"host paths are absolute, got {path!r}")
        return self.root / path.lstrip("/")

    def run(
        self,
        argv: Sequence[str],
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> RunResult:
        try:
            done = subprocess.run(
                list(argv),
                input=stdin if stdin is not None else b"",
                capture_output=True,
                timeout=timeout,
                env=child_environment(env),
                check=False,
            )
        except FileNotFoundError as exc:
            raise CommandNotFound(f"{argv[0]}: not found on this host") from exc
        except subprocess.TimeoutExpired as exc:
            raise CommandTimeout(f"{argv[0]} did not finish within {timeout:g} s") from exc
        except OSError as exc:
            raise HostError(f"{argv[0]}: {exc.strerror or exc}") from exc
        return RunResult(done.returncode, done.stdout, done.stderr)

    def read_file(self, path: str) -> bytes | None:
        try:
            return self._map(path).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def open_binary(self, path: str) -> BinaryIO | None:
        try:
            return self._map(path).open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def glob(self, pattern: str) -> list[str]:
        mapped = str(self._map(pattern))
        prefix = len(str(self.root).rstrip("/"))
        return sorted(match[prefix:] or "/" for match in globmod.glob(mapped))  # noqa: PTH207 - absolute patterns

    def exists(self, path: str) -> bool:
        return self._map(path).exists()

    def listening_sockets(self) -> list[ListeningSocket]:
        if not self.live:
            raise HostError(f"sockets are live facts; not readable from an image at {self.root}")
        sockets: list[ListeningSocket] = []
        for conn in psutil.net_connections(kind="inet"):
            is_tcp = conn.type == socket.SOCK_STREAM
            if is_tcp and conn.status != psutil.CONN_LISTEN:
                continue
            if not is_tcp and conn.raddr:
                continue
            process = None
            if conn.pid is not None:
                try:
                    process = psutil.Process(conn.pid).name()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    process = None
            if not conn.laddr:
                continue
            address, port = conn.laddr[0], conn.laddr[1]
            sockets.append(
                ListeningSocket("tcp" if is_tcp else "udp", address, port, conn.pid, process)
            )
        return sockets

    def established_connections(self) -> list[Connection]:
        if not self.live:
            raise HostError(
                f"connections are live facts; not readable from an image at {self.root}"
            )
        found: list[Connection] = []
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status != psutil.CONN_ESTABLISHED or not conn.laddr or not conn.raddr:
                continue
            process = None
            if conn.pid is not None:
                try:
                    process = psutil.Process(conn.pid).name()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    process = None
            found.append(
                Connection(
                    conn.laddr[0], conn.laddr[1], conn.raddr[0], conn.raddr[1], conn.pid, process
                )
            )
        return found

    def hostname(self) -> str:
        if self.live:
            return socket.gethostname()
        text = (self.read_file("/etc/hostname") or b"").decode("utf-8", "replace").strip()
        return text.split()[0] if text else self.root.name

    def fqdn(self) -> str | None:
        return socket.getfqdn() if self.live else None

    def boot_time(self) -> datetime | None:
        return datetime.fromtimestamp(psutil.boot_time(), tz=UTC) if self.live else None
