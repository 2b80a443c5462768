"""``SSHHost``: a Linux host reached over SSH with paramiko (DESIGN §5), for agentless collection.

- Trust: host keys pinned from one known_hosts file (``ssh_keys``); unknown keys refused unless
  trust-on-first-use is chosen per host; a changed key is always refused.
- Commands: argv is quoted with ``shlex.join`` for the remote POSIX shell, so no caller string is
  ever shell text. Values of ``env`` travel on stdin (a tiny reader exports them), never in the
  command line, where ``ps`` on the host would show a backend credential. A remote ``timeout``
  kills what the local deadline gave up on.
- Files: SFTP, one round trip per read instead of one exec each. With ``become`` the SFTP server
  itself runs under ``sudo -n``, so privileged reads need no shell either; when sudo refuses, reads
  fall back to the login user and every permission error carries sudo's own answer, which the
  collectors turn into an ``unknown`` with that reason.
- Deadline: an optional monotonic deadline bounds every operation of the host (``--timeout``).
"""

from __future__ import annotations

import base64
import fnmatch
import posixpath
import select
import shlex
import stat
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, BinaryIO, cast

import paramiko

from rra.agent.exposure.ss import listening_sockets_via_ss
from rra.agent.exposure.ss_established import established_via_ss
from rra.agent.host import (
    CommandNotFound,
    CommandTimeout,
    Connection,
    Host,
    ListeningSocket,
    RunResult,
    within_deadline,
)
from rra.agent.transports.ssh_keys import (
    HostKeyMismatch,
    HostKeyPolicy,
    HostKeyUnknown,
    SSHAuthError,
    SSHError,
    SSHUnreachable,
    known_hosts_name,
    load_pinned,
    policy_for,
)

SFTP_SERVERS = (
    "/usr/lib/openssh/sftp-server",  # Debian, Ubuntu
    "/usr/libexec/openssh/sftp-server",  # RHEL, Fedora, SUSE
    "/usr/libexec/sftp-server",  # Alpine, Arch
)
# Reads NAME=base64 lines up to an empty line, exports them, then runs the real argv.
_ENV_READER = (
    'while IFS= read -r rra_kv && [ -n "$rra_kv" ]; do '
    'export "${rra_kv%%=*}=$(printf %s "${rra_kv#*=}" | base64 -d)"; done; exec "$@"'
)
_REMOTE_GRACE_SECONDS = 2
# A non-root login's PATH lacks the sbin directories, where nft, iptables-save, ss and sshd live:
# without them a collection would conclude "no firewall installed" instead of "not readable".
REMOTE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class SSHHost(Host):
    """One SSH session per host, opened on first use; ``close()`` (or ``with``) ends it."""

    def __init__(
        self,
        address: str,
        port: int = 22,
        user: str | None = None,
        *,
        key_file: Path | None = None,
        allow_agent: bool = True,
        password: str | None = None,
        known_hosts: Path | None = None,
        host_key_policy: HostKeyPolicy = "reject",
        become: bool = False,
        connect_timeout: float = 10.0,
        keepalive_seconds: int = 15,
        deadline: float | None = None,
    ) -> None:
        self.address, self.port, self.user = address, port, user
        self.key_file, self.allow_agent = key_file, allow_agent
        self._password = password
        self.known_hosts, self.host_key_policy = known_hosts, host_key_policy
        self.become = become
        self.connect_timeout, self.keepalive_seconds = connect_timeout, keepalive_seconds
        self.deadline = deadline
        #: Why privileged operations fall back to the login user (sudo's answer), or None.
        self.sudo_refused: str | None = None
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._lock = threading.Lock()
        self._hostname: str | None = None

    def __repr__(self) -> str:  # no password, ever
        return f"SSHHost({self.user or ''}@{self.address}:{self.port}, become={self.become})"

    # --- session ---------------------------------------------------------------------------

    def _remaining(self, wanted: float) -> float:
        return within_deadline(self.deadline, wanted, self.address)

    def connect(self) -> paramiko.SSHClient:
        with self._lock:
            if self._client is not None:
                return self._client
            client = paramiko.SSHClient()
            pinned = client.get_host_keys()  # only our file: never ~/.ssh/known_hosts
            for name, keys in load_pinned(self.known_hosts).items():
                for key_type, key in keys.items():
                    pinned.add(name, key_type, key)
            client.set_missing_host_key_policy(policy_for(self.host_key_policy, self.known_hosts))
            timeout = self._remaining(self.connect_timeout)
            started = time.monotonic()
            try:
                client.connect(
                    self.address,
                    port=self.port,
                    username=self.user,
                    password=self._password,
                    key_filename=str(self.key_file) if self.key_file else None,
                    allow_agent=self.allow_agent,
                    look_for_keys=False,
                    timeout=timeout,
                    banner_timeout=timeout,
                    auth_timeout=timeout,
                    channel_timeout=timeout,
                )
            except (HostKeyUnknown, HostKeyMismatch, SSHError):
                client.close()
                raise
            except paramiko.BadHostKeyException as exc:
                client.close()
                name = known_hosts_name(self.address, self.port)
                raise HostKeyMismatch(
                    f"{name}: host key {exc.key.get_name()} {exc.key.fingerprint} does not match "
                    f"the pinned {exc.expected_key.fingerprint}: refusing (possible interception)"
                ) from None
            except paramiko.AuthenticationException as exc:
                client.close()
                raise SSHAuthError(
                    f"{self.address}:{self.port}: authentication failed: {exc}"
                ) from None
            except paramiko.ssh_exception.NoValidConnectionsError as exc:
                client.close()
                refused = all(
                    isinstance(error, ConnectionRefusedError) for error in exc.errors.values()
                )
                detail = "connection refused (no SSH server on that port)" if refused else str(exc)
                raise SSHUnreachable(f"{self.address}:{self.port}: {detail}") from None
            except (paramiko.SSHException, OSError, EOFError) as exc:
                client.close()
                detail = str(exc) or type(exc).__name__
                # paramiko reports a silent server as "No existing session" or a banner error
                if isinstance(exc, TimeoutError) or time.monotonic() - started >= timeout:
                    detail = f"no SSH answer within {timeout:g} s ({detail})"
                raise SSHUnreachable(f"{self.address}:{self.port}: {detail}") from None
            transport = client.get_transport()
            if transport is not None:
                transport.set_keepalive(self.keepalive_seconds)
            self._client = client
        if self.become:
            self._check_sudo()
        return client

    def close(self) -> None:
        with self._lock:
            if self._sftp is not None:
                self._sftp.close()
            if self._client is not None:
                self._client.close()
            self._sftp, self._client = None, None

    def __enter__(self) -> SSHHost:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _check_sudo(self) -> None:
        probe = self._exec(["sudo", "-n", "true"], timeout=self.connect_timeout)
        if probe.rc != 0:
            answer = probe.stderr_text.strip().splitlines()
            self.sudo_refused = f"sudo -n refused for {self.user or 'the login user'}: " + (
                answer[-1] if answer else f"exit {probe.rc}"
            )

    def permission_hint(self) -> str:
        if not self.become:
            return "set become: true for this host, or collect as root"
        return self.sudo_refused or "sudo -n was allowed, yet the read was refused"

    @property
    def privileged(self) -> bool:
        return self.become and self.sudo_refused is None

    # --- commands --------------------------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> RunResult:
        self.connect()
        return self._exec(argv, timeout=timeout, env=env, stdin=stdin, sudo=self.privileged)

    def _exec(
        self,
        argv: Sequence[str],
        timeout: float,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        sudo: bool = False,
    ) -> RunResult:
        if not argv:
            raise ValueError("empty argv")
        client = self._client
        transport = client.get_transport() if client is not None else None
        if transport is None or not transport.is_active():
            raise SSHUnreachable(f"{self.address}:{self.port}: the SSH session is closed")
        timeout = self._remaining(timeout)
        command = list(argv)
        payload = stdin or b""
        if env:
            lines = [
                f"{name}={base64.b64encode(value.encode()).decode()}" for name, value in env.items()
            ]
            payload = ("\n".join(lines) + "\n\n").encode() + payload
            command = ["sh", "-c", _ENV_READER, "rra-env", *command]
        # sudo outermost: it resets the environment, so the reader must run below it.
        limit = str(int(timeout) + _REMOTE_GRACE_SECONDS)
        command = [
            "env",
            "LC_ALL=C.UTF-8",
            f"PATH={REMOTE_PATH}",
            "timeout",
            "-k",
            "2",
            limit,
            *command,
        ]
        text = shlex.join(["sudo", "-n", "--", *command] if sudo else command)
        try:
            channel = transport.open_session(timeout=timeout)
            channel.exec_command(text)
            if payload:
                channel.sendall(payload)
            channel.shutdown_write()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SSHUnreachable(f"{self.address}:{self.port}: {exc}") from None
        return self._collect(channel, argv[0], timeout)

    def _collect(self, channel: paramiko.Channel, program: str, timeout: float) -> RunResult:
        stdout, stderr = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        try:
            while True:
                while channel.recv_ready():
                    stdout += channel.recv(65536)
                while channel.recv_stderr_ready():
                    stderr += channel.recv_stderr(65536)
                if channel.exit_status_ready() and not channel.recv_ready():
                    if not channel.recv_stderr_ready():
                        break
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CommandTimeout(
                        f"{program} did not finish within {timeout:g} s on {self.address}"
                    )
                select.select([channel], [], [], min(left, 0.5))
            rc = channel.recv_exit_status()
        finally:
            channel.close()
        if rc == 127 and not stdout:
            raise CommandNotFound(f"{program}: not found on {self.address}")
        return RunResult(rc, bytes(stdout), bytes(stderr))

    # --- files -----------------------------------------------------------------------------

    def _sftp_client(self) -> paramiko.SFTPClient:
        client = self.connect()
        with self._lock:
            if self._sftp is None:
                self._sftp = self._open_sftp(client)
            sftp = self._sftp
        sftp.get_channel().settimeout(self._remaining(60.0))  # type: ignore[union-attr]
        return sftp

    def _open_sftp(self, client: paramiko.SSHClient) -> paramiko.SFTPClient:
        if self.privileged:
            for server in SFTP_SERVERS:
                if self._exec(["sudo", "-n", "test", "-x", server], timeout=10).rc != 0:
                    continue
                transport = client.get_transport()
                assert transport is not None  # noqa: S101 - connect() just succeeded
                channel = transport.open_session(timeout=self.connect_timeout)
                channel.exec_command(shlex.join(["sudo", "-n", server]))
                return paramiko.SFTPClient(channel)
            self.sudo_refused = "no sftp-server found to run under sudo: " + ", ".join(SFTP_SERVERS)
        try:
            return client.open_sftp()
        except (paramiko.SSHException, OSError) as exc:
            raise SSHError(f"{self.address}: SFTP is not available: {exc}") from None

    def _denied(self, path: str) -> PermissionError:
        why = f"; {self.sudo_refused}" if self.become and self.sudo_refused else ""
        return PermissionError(
            f"{path}: permission denied for {self.user or 'the login user'}{why}"
        )

    def read_file(self, path: str) -> bytes | None:
        handle = self.open_binary(path)
        if handle is None:
            return None
        with handle:
            return handle.read()

    def open_binary(self, path: str) -> BinaryIO | None:
        _absolute(path)
        sftp = self._sftp_client()
        try:
            if stat.S_ISDIR(sftp.stat(path).st_mode or 0):
                return None  # like LocalHost: a directory is not a file to read
            handle = sftp.open(path, "rb")
        except FileNotFoundError:
            return None
        except PermissionError:
            raise self._denied(path) from None
        except OSError as exc:
            raise SSHError(f"{self.address}: {path}: {exc}") from None
        handle.prefetch()  # pipelined reads: a large log streams instead of one round trip per block
        return cast(BinaryIO, cast(IO[bytes], handle))

    def exists(self, path: str) -> bool:
        _absolute(path)
        try:
            self._sftp_client().stat(path)
        except FileNotFoundError:
            return False
        except PermissionError:
            raise self._denied(path) from None
        return True

    def glob(self, pattern: str) -> list[str]:
        """POSIX glob over SFTP: ``*?[`` per segment, hidden names only for dotted segments."""
        _absolute(pattern)
        sftp = self._sftp_client()
        matches = ["/"]
        for segment in [part for part in pattern.split("/") if part]:
            found: list[str] = []
            for base in matches:
                if not any(char in segment for char in "*?["):
                    candidate = posixpath.join(base, segment)
                    try:
                        sftp.lstat(candidate)
                    except OSError:
                        continue
                    found.append(candidate)
                    continue
                try:
                    names = sftp.listdir(base)
                except OSError:
                    continue  # not a directory, or unreadable: nothing matches below it
                found.extend(
                    posixpath.join(base, name)
                    for name in names
                    if fnmatch.fnmatchcase(name, segment)
                    and (segment.startswith(".") or not name.startswith("."))
                )
            matches = found
        return sorted(matches)

    # --- live facts ------------------------------------------------------------------------

    def listening_sockets(self) -> list[ListeningSocket]:
        return listening_sockets_via_ss(self)

    def established_connections(self) -> list[Connection]:
        return established_via_ss(self)

    def hostname(self) -> str:
        if self._hostname is None:
            text = (self.read_file("/proc/sys/kernel/hostname") or b"").decode().strip()
            self._hostname = text or self.address
        return self._hostname

    def fqdn(self) -> str | None:
        result = self.run(["hostname", "-f"], timeout=10)
        name = result.stdout_text.strip()
        return name if result.rc == 0 and name else None

    def boot_time(self) -> datetime | None:
        for line in (self.read_file("/proc/stat") or b"").decode().splitlines():
            if line.startswith("btime "):
                return datetime.fromtimestamp(int(line.split()[1]), tz=UTC)
        return None


def _absolute(path: str) -> None:
    if not path.startswith("/"):
        raise ValueError(f"host paths are absolute, got {path!r}")
