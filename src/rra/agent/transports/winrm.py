"""``WinRMHost``: a Windows host reached over WinRM with pywinrm (DESIGN §5), for agentless audits.

- Connection: ``{scheme}://{address}:{port}/wsman``, HTTPS with certificate validation unless
  ``cert_validation=False`` is given explicitly; ``ca_file`` names the CA bundle. NTLM by default
  (pywinrm encrypts NTLM messages even over HTTP). Proxies from the environment are not used: the
  credentials go to the host named, nowhere else. The password is held in memory only and never
  appears in a repr, a log line or an exception message.
- Shells: one WinRS shell per host, opened on first use with code page 65001, so that output with
  non-ASCII account names arrives as UTF-8 (pywinrm's ``Session`` uses 437). A shell the server
  dropped is reopened once. ``close()`` (or ``with``) deletes it.
- Commands: ``run(powershell_argv(script))`` (the collectors' shape) runs the script with
  ``-EncodedCommand``; a script too long for cmd.exe's 8191-character line is uploaded to a
  temporary file in base64 pieces first (:mod:`rra.agent.transports.winrm_scripts` documents the
  exact protocol). Any other argv runs without cmd.exe (``WINRS_SKIP_CMD_SHELL``), quoted by
  ``subprocess.list2cmdline`` for the program's own argument parser, so no argument is shell
  text. ``env`` values travel in a dedicated shell's environment (the WS-Management message),
  never in a command line; ``stdin`` is sent as the command's input stream.
- Timeouts: each Receive asks the server to answer within the time left (WS-Management
  ``OperationTimeout``), so a hanging command is noticed on time; it is then terminated with a
  Signal and ``CommandTimeout`` is raised. An optional monotonic ``deadline`` bounds every
  operation of the host.
- Errors: pywinrm and requests exceptions become :class:`WinRMAuthError` (HTTP 401),
  :class:`WinRMFault` (a WS-Management fault, with its code), :class:`WinRMUnreachable` (refused,
  TLS, DNS, no answer — ``kind`` says which), ``CommandTimeout`` and ``CommandNotFound``; all are
  ``HostError``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import math
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, BinaryIO, Literal, TypeVar, cast

import requests
import structlog
import winrm.exceptions as winrm_errors
from winrm.protocol import Protocol

from rra.agent.auth.windows import powershell_argv
from rra.agent.auth.windows_parse import as_list, as_str, decode_output, excerpt
from rra.agent.host import (
    CommandNotFound,
    CommandTimeout,
    Connection,
    Host,
    HostError,
    ListeningSocket,
    RunResult,
    within_deadline,
)
from rra.agent.transports import winrm_scripts as scripts

__all__ = [
    "WinRMAuthError",
    "WinRMError",
    "WinRMFault",
    "WinRMHost",
    "WinRMUnreachable",
]

log = structlog.get_logger(__name__)

WinRMAuth = Literal["basic", "ntlm", "kerberos"]
WinRMScheme = Literal["https", "http"]
UnreachableKind = Literal["refused", "tls", "dns", "timeout", "connection"]

#: WS-Management fault codes (Win32 / WinRM error numbers, as the server sends them). The
#: operation timeout (2150858793) never arrives here: pywinrm raises WinRMOperationTimeoutError.
FAULT_SHELL_NOT_FOUND = "2150858843"  # the shell expired or was closed on the server
_FAULT_FILE_NOT_FOUND = ("2", "3")  # CreateProcess: the program (or its path) does not exist

# The HTTP read timeout must outlast the longest operation the server may hold a request for.
_READ_GRACE_SECONDS = 10
_PS_PREFIX = tuple(powershell_argv("")[:-1])
_CMD_NOT_FOUND_RC = 9009  # cmd.exe: "... is not recognized as an internal or external command"

_T = TypeVar("_T")


class WinRMError(HostError):
    """The WinRM transport failed (not the command)."""


class WinRMAuthError(WinRMError):
    """The server rejected the credentials (HTTP 401)."""


class WinRMFault(WinRMError):
    """A WS-Management fault: ``code`` is the WSManFault code (or the SOAP subcode)."""

    def __init__(self, where: str, code: str | None, message: str) -> None:
        super().__init__(f"{where}: WS-Management fault {code or '(no code)'}: {message}")
        self.code = code
        self.message = message


class WinRMUnreachable(WinRMError):
    """No WS-Management conversation: refused, TLS or certificate failure, DNS, no answer."""

    def __init__(self, message: str, kind: UnreachableKind) -> None:
        super().__init__(message)
        self.kind = kind


class WinRMHost(Host):
    """One WinRS shell per host, opened on first use; ``close()`` (or ``with``) ends it."""

    os_family = "windows"

    def __init__(
        self,
        address: str,
        port: int,
        user: str,
        password: str,
        *,
        auth: WinRMAuth = "ntlm",
        scheme: WinRMScheme = "https",
        ca_file: str | None = None,
        cert_validation: bool = True,
        connect_timeout: float = 10.0,
        operation_timeout: int = 20,
        deadline: float | None = None,
    ) -> None:
        if auth not in ("basic", "ntlm", "kerberos"):
            raise ValueError(f"unsupported WinRM auth {auth!r}: basic, ntlm or kerberos")
        if scheme not in ("https", "http"):
            raise ValueError(f"unsupported WinRM scheme {scheme!r}: https or http")
        if not user and auth != "kerberos":  # Kerberos may use the ticket cache's principal
            raise ValueError(f"WinRM {auth} authentication needs a user")
        self.address, self.port, self.user = address, port, user
        self.auth, self.scheme = auth, scheme
        self.ca_file, self.cert_validation = ca_file, cert_validation
        self.connect_timeout, self.operation_timeout = (
            connect_timeout,
            max(1, int(operation_timeout)),
        )
        self.deadline = deadline
        self.endpoint = f"{scheme}://{address}:{port}/wsman"
        self._password = password
        self._protocol = Protocol(
            self.endpoint,
            transport=auth,
            username=user,
            password=password,
            ca_trust_path=cast(str, ca_file),  # None: the default trust store, not env variables
            server_cert_validation="validate" if cert_validation else "ignore",
            read_timeout_sec=self.operation_timeout + _READ_GRACE_SECONDS,
            operation_timeout_sec=self.operation_timeout,
            proxy=None,  # never hand the credentials to a proxy named by the environment
        )
        # requests takes (connect, read): a dead address fails after connect_timeout, while a
        # Receive may legitimately take operation_timeout to answer.
        transport = cast(Any, self._protocol.transport)
        transport.read_timeout_sec = (connect_timeout, self.operation_timeout + _READ_GRACE_SECONDS)
        self._shell: str | None = None
        self._lock = threading.RLock()
        self._hostname: str | None = None
        if auth == "basic" and scheme == "http":
            log.warning("winrm.basic_over_http", host=address, port=port)

    def __repr__(self) -> str:  # no password, ever
        return f"WinRMHost({self.user}@{self.endpoint}, auth={self.auth})"

    # --- session ---------------------------------------------------------------------------

    def _remaining(self, wanted: float) -> float:
        return within_deadline(self.deadline, wanted, self.address)

    def _scrub(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text

    def _call(self, action: str, function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Call pywinrm; its exceptions become typed HostErrors with password-free messages."""
        where = f"{self.endpoint} ({action})"
        try:
            return function(*args, **kwargs)
        except winrm_errors.AuthenticationError:
            raise WinRMAuthError(
                f"{self.endpoint}: the credentials for {self.user!r} were rejected "
                f"({self.auth} authentication, HTTP 401)"
            ) from None
        except winrm_errors.WSManFaultError as fault:
            code = (
                str(fault.wsman_fault_code)
                if fault.wsman_fault_code is not None
                else fault.fault_subcode or fault.fault_code
            )
            raise WinRMFault(where, code, self._scrub(fault.reason.strip())) from None
        except winrm_errors.WinRMOperationTimeoutError:
            raise CommandTimeout(f"{where}: the server's operation timeout expired") from None
        except winrm_errors.WinRMTransportError as exc:
            raise WinRMError(f"{where}: HTTP {exc.code} from the server") from None
        except winrm_errors.WinRMError as exc:
            raise WinRMError(f"{where}: {self._scrub(str(exc))}") from None
        except requests.exceptions.SSLError as exc:
            raise WinRMUnreachable(
                f"{self.endpoint}: TLS/SSL handshake or certificate verification failed: "
                f"{self._scrub(_root_cause(exc))}",
                "tls",
            ) from None
        except requests.exceptions.ConnectTimeout:
            raise WinRMUnreachable(
                f"{self.endpoint}: no connection within {self.connect_timeout:g} s", "timeout"
            ) from None
        except requests.exceptions.ReadTimeout:
            raise CommandTimeout(f"{where}: the server did not answer in time") from None
        except requests.exceptions.ConnectionError as exc:
            kind, detail = _connection_failure(exc)
            raise WinRMUnreachable(f"{self.endpoint}: {self._scrub(detail)}", kind) from None
        except requests.exceptions.RequestException as exc:
            raise WinRMError(f"{where}: {self._scrub(_root_cause(exc))}") from None
        except (ET.ParseError, StopIteration, KeyError, ValueError, AssertionError) as exc:
            # pywinrm reads the answer with next(...) and asserts: a foreign server lands here.
            raise WinRMError(
                f"{where}: unexpected answer from the server ({type(exc).__name__})"
            ) from None

    def _open_shell(self, env: Mapping[str, str] | None = None) -> str:
        shell = self._call(
            "open shell",
            self._protocol.open_shell,
            codepage=65001,  # UTF-8 console: non-ASCII names survive (FIELD-NOTES)
            env_vars=dict(env) if env else None,
        )
        log.debug("winrm.shell_opened", host=self.address, codepage=65001, dedicated=bool(env))
        return shell

    def _shared_shell(self) -> str:
        if self._shell is None:
            self._shell = self._open_shell()
        return self._shell

    def _close_shell(self, shell: str, close_session: bool) -> None:
        try:
            self._call(
                "close shell", self._protocol.close_shell, shell, close_session=close_session
            )
        except HostError as error:  # the server expires shells on its own
            log.debug("winrm.close_failed", host=self.address, error=str(error))

    def close(self) -> None:
        with self._lock:
            shell, self._shell = self._shell, None
            if shell is not None:
                self._close_shell(shell, close_session=True)
            else:
                self._protocol.transport.close_session()

    def __enter__(self) -> WinRMHost:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- commands --------------------------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> RunResult:
        if not argv:
            raise ValueError("empty argv")
        if len(argv) == len(_PS_PREFIX) + 1 and tuple(argv[:-1]) == _PS_PREFIX:
            return self.run_powershell(argv[-1], timeout=timeout, env=env, stdin=stdin)
        command = subprocess.list2cmdline([argv[0]])
        arguments = subprocess.list2cmdline(list(argv[1:]))
        if len(command) + 1 + len(arguments) > scripts.CREATE_PROCESS_LIMIT:
            raise WinRMError(
                f"{argv[0]}: the command line exceeds Windows' "
                f"{scripts.CREATE_PROCESS_LIMIT} characters"
            )
        with self._lock:
            deadline = time.monotonic() + self._remaining(timeout)
            return self._execute(
                command,
                [arguments] if arguments else [],
                argv[0],
                deadline,
                timeout,
                env=env,
                stdin=stdin,
                skip_cmd_shell=True,
            )

    def run_powershell(
        self,
        script: str,
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> RunResult:
        """Run a PowerShell script; one too long for a command line is chunked (module doc)."""
        with self._lock:
            deadline = time.monotonic() + self._remaining(timeout)
            if not scripts.needs_chunks(script):
                return self._powershell(script, deadline, timeout, env=env, stdin=stdin)
            name = scripts.chunk_name()
            pieces = scripts.chunk_scripts(script, name)
            log.debug(
                "winrm.script_chunked", host=self.address, chars=len(script), chunks=len(pieces)
            )
            try:
                for piece in pieces:
                    result = self._powershell(piece, deadline, timeout)
                    if result.rc != 0:
                        raise WinRMError(
                            f"{self.address}: uploading a {len(script)}-character script failed "
                            f"(exit {result.rc}): {scripts.stderr_excerpt(result.stderr)}"
                        )
            except HostError:
                self._discard_upload(name)
                raise
            return self._powershell(
                scripts.run_chunks_script(name), deadline, timeout, env=env, stdin=stdin
            )

    def _discard_upload(self, name: str) -> None:
        # Best effort: at worst %TEMP% keeps a base64 file of a collection script.
        with contextlib.suppress(HostError):
            self._powershell(
                scripts.remove_chunks_script(name), time.monotonic() + self.connect_timeout, 0
            )

    def _powershell(
        self,
        script: str,
        deadline: float,
        timeout: float,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> RunResult:
        result = self._execute(
            scripts.POWERSHELL,
            [scripts.powershell_arguments(script)],
            scripts.POWERSHELL,
            deadline,
            timeout,
            env=env,
            stdin=stdin,
            skip_cmd_shell=False,  # like run_ps: the line passes cmd.exe (hence its 8191 limit)
        )
        if result.rc == _CMD_NOT_FOUND_RC and not result.stdout:
            raise CommandNotFound(f"{scripts.POWERSHELL}: not found on {self.address}")
        return result

    def _execute(
        self,
        command: str,
        arguments: list[str],
        program: str,
        deadline: float,
        timeout: float,
        *,
        env: Mapping[str, str] | None,
        stdin: bytes | None,
        skip_cmd_shell: bool,
    ) -> RunResult:
        shell = self._open_shell(env) if env else self._shared_shell()
        try:
            try:
                command_id = self._start(shell, command, arguments, skip_cmd_shell)
            except WinRMFault as fault:
                if env or fault.code != FAULT_SHELL_NOT_FOUND:
                    raise
                # The server dropped our shell (idle timeout, restart): nothing ran, so retry once.
                self._shell = None
                shell = self._shared_shell()
                command_id = self._start(shell, command, arguments, skip_cmd_shell)
            if stdin is not None:
                self._call(
                    "send input",
                    self._protocol.send_command_input,
                    shell,
                    command_id,
                    stdin,
                    end=True,
                )
            return self._receive(shell, command_id, program, deadline, timeout)
        finally:
            if env:
                self._close_shell(shell, close_session=False)

    def _start(self, shell: str, command: str, arguments: list[str], skip_cmd_shell: bool) -> str:
        try:
            return self._call(
                "command",
                self._protocol.run_command,
                shell,
                command,
                arguments,
                skip_cmd_shell=skip_cmd_shell,
            )
        except WinRMFault as fault:
            if skip_cmd_shell and fault.code in _FAULT_FILE_NOT_FOUND:
                raise CommandNotFound(f"{command}: not found on {self.address}") from None
            raise

    def _receive(
        self, shell: str, command_id: str, program: str, deadline: float, timeout: float
    ) -> RunResult:
        stdout, stderr = bytearray(), bytearray()
        protocol = self._protocol
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    log.warning("winrm.command_timeout", host=self.address, program=program)
                    raise CommandTimeout(
                        f"{program} did not finish within {timeout:g} s on {self.address}"
                    )
                # The server holds a Receive until output arrives or OperationTimeout passes.
                protocol.operation_timeout_sec = max(
                    1, min(self.operation_timeout, math.ceil(left))
                )
                try:
                    out, err, rc, done = self._call(
                        "receive", protocol.get_command_output_raw, shell, command_id
                    )
                except CommandTimeout:
                    continue  # no output within the operation timeout: ask again, or give up
                stdout += out
                stderr += err
                if done:
                    break
        except HostError:
            self._terminate(shell, command_id)  # a timed-out or orphaned command must not run on
            raise
        finally:
            protocol.operation_timeout_sec = self.operation_timeout
        self._terminate(shell, command_id)  # WinRS keeps a finished command until signalled
        return RunResult(rc, bytes(stdout), bytes(stderr))

    def _terminate(self, shell: str, command_id: str) -> None:
        try:
            self._call("signal", self._protocol.cleanup_command, shell, command_id)
        except HostError as error:
            log.debug("winrm.signal_failed", host=self.address, error=str(error))

    def _json(self, script: str, what: str, timeout: float = 60.0) -> Any:
        """Run one of our scripts printing JSON; its ``{"error": ...}`` becomes a WinRMError."""
        result = self.run_powershell(script, timeout=timeout)
        text = decode_output(result.stdout).replace("\ufeff", "").strip()
        document = scripts.first_json(text)
        if isinstance(document, dict) and set(document) == {"error"}:
            raise WinRMError(f"{self.address}: {what}: {as_str(document['error'])}")
        if document is None or result.rc != 0:
            detail = scripts.stderr_excerpt(result.stderr) or excerpt(text) or "no output"
            raise WinRMError(f"{self.address}: {what} failed (exit {result.rc}): {detail}")
        return document

    # --- files -----------------------------------------------------------------------------

    def read_file(self, path: str) -> bytes | None:
        result = self.run_powershell(scripts.read_file_script(path), timeout=120.0)
        text = result.stdout_text.strip()
        if result.rc == scripts.MISSING_RC and text == scripts.MISSING_MARKER:
            return None
        if result.rc == scripts.DENIED_RC and text == scripts.DENIED_MARKER:
            raise PermissionError(f"{path}: access denied for {self.user} on {self.address}")
        if result.rc != 0:
            raise WinRMError(
                f"{self.address}: reading {path} failed (exit {result.rc}): "
                f"{scripts.stderr_excerpt(result.stderr) or 'no message'}"
            )
        try:
            return base64.b64decode("".join(text.split()), validate=True)
        except ValueError:
            raise WinRMError(f"{self.address}: reading {path}: the answer is not base64") from None

    def open_binary(self, path: str) -> BinaryIO | None:
        """The whole file is read at once (WinRM has no streaming reads)."""
        data = self.read_file(path)
        return None if data is None else io.BytesIO(data)

    def glob(self, pattern: str) -> list[str]:
        """PowerShell wildcards (``*``, ``?``, ``[a-z]``); unreadable directories match nothing."""
        found = self._json(scripts.glob_script(pattern), f"glob {pattern}")
        return sorted({text for text in (as_str(item) for item in as_list(found)) if text})

    def exists(self, path: str) -> bool:
        result = self.run_powershell(scripts.exists_script(path))
        answer = result.stdout_text.strip()
        if result.rc != 0 or answer not in ("True", "False"):
            raise WinRMError(
                f"{self.address}: Test-Path {path} failed (exit {result.rc}): "
                f"{scripts.stderr_excerpt(result.stderr) or excerpt(answer) or 'no output'}"
            )
        return answer == "True"

    # --- live facts ------------------------------------------------------------------------

    def listening_sockets(self) -> list[ListeningSocket]:
        return scripts.parse_listening(self._json(scripts.LISTENING_SCRIPT, "listening sockets"))

    def established_connections(self) -> list[Connection]:
        return scripts.parse_established(
            self._json(scripts.ESTABLISHED_SCRIPT, "established connections")
        )

    def hostname(self) -> str:
        if self._hostname is None:
            result = self.run_powershell(scripts.HOSTNAME_SCRIPT)
            name = decode_output(result.stdout).strip()
            self._hostname = name if result.rc == 0 and name else self.address
        return self._hostname

    def fqdn(self) -> str | None:
        result = self.run_powershell(scripts.FQDN_SCRIPT)
        name = decode_output(result.stdout).strip()
        return name if result.rc == 0 and name else None

    def boot_time(self) -> datetime | None:
        result = self.run_powershell(scripts.BOOT_TIME_SCRIPT)
        return (
            scripts.parse_round_trip_time(decode_output(result.stdout)) if result.rc == 0 else None
        )

    def os_identity(self) -> tuple[str | None, str | None, str | None] | None:
        """Windows has no /etc/os-release: the host info comes from :meth:`os_info`."""
        return self.os_info()

    def os_info(self) -> tuple[str | None, str | None, str | None]:
        """(OS caption, version, MachineGuid) in one round trip; None for what was unreadable."""
        document = self._json(scripts.OS_INFO_SCRIPT, "os info")
        if not isinstance(document, dict):
            raise WinRMError(f"{self.address}: os info: expected an object")
        return (
            as_str(document.get("caption")),
            as_str(document.get("version")),
            as_str(document.get("machine_guid")),
        )


def _root_cause(exc: BaseException) -> str:
    """The innermost message of a requests/urllib3 chain (the outer ones repeat the URL)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    message = str(exc)
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        message = str(current) or message
        reason = getattr(current, "reason", None)
        nested = reason if isinstance(reason, BaseException) else None
        if nested is None and current.args and isinstance(current.args[0], BaseException):
            nested = current.args[0]
        current = nested or current.__cause__ or current.__context__
    return message


def _connection_failure(exc: requests.exceptions.ConnectionError) -> tuple[UnreachableKind, str]:
    detail = _root_cause(exc)
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 20:
        chain.append(current)
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            current = reason
        elif current.args and isinstance(current.args[0], BaseException):
            current = current.args[0]
        else:
            current = current.__cause__ or current.__context__
    if any(isinstance(item, ConnectionRefusedError) for item in chain) or "refused" in detail:
        return "refused", f"connection refused ({detail})"
    lowered = detail.lower()
    if "name or service not known" in lowered or "resolve" in lowered or "getaddrinfo" in lowered:
        return "dns", f"the name does not resolve ({detail})"
    return "connection", f"no connection ({detail})"
