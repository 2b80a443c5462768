"""A WS-Management (WinRM) endpoint on loopback for tests that drive the real pywinrm client.

No WinRM server exists for Linux, so this answers the requests pywinrm sends, over plain HTTP
with Basic authentication, the way a Windows host does:

- ``transfer/Create`` opens a shell (records the ``WINRS_CODEPAGE`` option and the shell's
  environment variables) and answers a Selector ``Name="ShellId"`` and an ``rsp:Shell``;
  ``transfer/Delete`` closes it. An unknown shell gets fault 2150858843 (shell not found).
- ``shell/Command`` records the command line (command + arguments, as cmd.exe sees it) and
  whether ``WINRS_SKIP_CMD_SHELL`` was set, and answers a ``CommandId``; ``shell/Send`` collects
  stdin; ``shell/Receive`` runs the command (on the first Receive, once stdin is in) and answers
  base64 ``Stream`` elements and a ``CommandState .../Done`` with the ``ExitCode``, at most
  :data:`RECEIVE_CHUNK` bytes per stream per answer (the rest follows with ``State=Running``
  first, as a server does with long output). A command still running after the request's
  ``OperationTimeout`` gets fault 2150858793, which pywinrm turns into its operation timeout;
  ``shell/Signal`` is recorded (``signals``).
- The request's ``MessageID`` comes back as ``RelatesTo``. Faults are HTTP 500 with an ``s:Fault``
  whose detail holds a ``WSManFault`` with a ``Code`` and a message; ``fault_next`` injects one.

Commands, like Windows runs them:

- Through cmd.exe (the default), a command line over 8191 characters fails the way cmd.exe fails
  it: stderr ``The command line is too long.`` and exit code 1 (what pywinrm's ``run_ps`` gets for
  a script over ~3,060 characters: diyan/pywinrm#184, hashicorp/vagrant#3816). With
  ``WINRS_SKIP_CMD_SHELL`` the limit is CreateProcess's 32767 (fault 206).
- ``powershell[.exe] ... -EncodedCommand <base64 UTF-16LE>`` is decoded and the script handed to
  the ``handler(script) -> (stdout, stderr, exit_code)`` callback. Output is re-encoded to the
  shell's code page, as the Windows console does: with 437 a non-ASCII name does not survive.
- Built in, and only this: the temp-file chunk protocol of ``WinRMHost`` (documented in
  ``rra.agent.transports.winrm_scripts``), matched by its exact command shapes. Append commands
  accumulate in ``files`` (one dict per endpoint, standing for the remote ``%TEMP%``); the run
  command's decoded script goes to the handler, and the file is removed.
- Other programs go to ``command_handler(argv, stdin)`` (argv split by the Windows C runtime
  rules); without one the program does not exist (cmd.exe: exit 9009; no cmd.exe: fault 2).

Not covered: NTLM, Kerberos, CredSSP, message encryption, TLS (HTTPS), certificates, and every
WS-Management action pywinrm does not use. Exceptions raised by a handler (a test's own asserts)
are re-raised when the endpoint's ``with`` block ends.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from xml.sax.saxutils import escape, quoteattr

Output = tuple[bytes, bytes, int]
Handler = Callable[[str], Output]
CommandHandler = Callable[[list[str], bytes], Output]

CMD_LINE_LIMIT = 8191
CREATE_PROCESS_LIMIT = 32767
RECEIVE_CHUNK = 32 * 1024
CMD_TOO_LONG = b"The command line is too long.\r\n"

NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
}
_TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
_SHELL = NS["rsp"]
_FAULT_NS = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
_DONE = f"{_SHELL}/CommandState/Done"
_RUNNING = f"{_SHELL}/CommandState/Running"
TERMINATE = f"{_SHELL}/signal/terminate"

FAULT_TIMEOUT = "2150858793"
FAULT_SHELL_NOT_FOUND = "2150858843"

# The chunk protocol's command shapes, written out here independently of the transport.
_NAME = r"(rra-[0-9a-f]{32}\.b64)"
_PATH = r"\$rraP = Join-Path \$env:TEMP '" + _NAME + "'"
_APPEND = re.compile(_PATH + r"; \[IO\.File\]::AppendAllText\(\$rraP, '([A-Za-z0-9+/=]*)'\)")
_RUN = re.compile(
    _PATH + "\n"
    r"try \{ \$rraS = \[Text\.Encoding\]::UTF8\.GetString\(\[Convert\]::FromBase64String\("
    r"\[IO\.File\]::ReadAllText\(\$rraP\)\)\) \} finally \{ Remove-Item -LiteralPath \$rraP "
    r"-Force -ErrorAction SilentlyContinue \}" + "\n"
    r"& \(\[ScriptBlock\]::Create\(\$rraS\)\)"
)
_REMOVE = re.compile(
    _PATH + r"; Remove-Item -LiteralPath \$rraP -Force -ErrorAction SilentlyContinue"
)


class Fault(Exception):
    """Answer the current request with a WS-Management fault."""

    def __init__(self, code: str, message: str, subcode: str = "w:InternalError") -> None:
        super().__init__(message)
        self.code, self.message, self.subcode = code, message, subcode


@dataclass
class ShellRecord:
    shell_id: str
    codepage: int
    env: dict[str, str]
    closed: bool = False


@dataclass
class CommandRecord:
    command_id: str
    shell: ShellRecord
    line: str
    skip_cmd_shell: bool
    argv: list[str] = field(default_factory=list)
    script: str | None = None  # the decoded -EncodedCommand text
    stdin: bytearray = field(default_factory=bytearray)
    started: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    stdout: bytes = b""
    stderr: bytes = b""
    rc: int = 0
    sent_out: int = 0
    sent_err: int = 0


def split_command_line(line: str) -> list[str]:
    """argv from a Windows command line, by the C runtime's rules (``subprocess.list2cmdline``'s
    inverse): whitespace separates, ``"`` groups, 2n backslashes + ``"`` → n and a quote toggle,
    2n+1 backslashes + ``"`` → n and a literal ``"``, ``""`` inside quotes → ``"``."""
    args: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            return args
        current: list[str] = []
        quoted = False
        while i < n and (quoted or line[i] not in " \t"):
            char = line[i]
            if char == "\\":
                j = i
                while j < n and line[j] == "\\":
                    j += 1
                if j < n and line[j] == '"':
                    current.append("\\" * ((j - i) // 2))
                    if (j - i) % 2:
                        current.append('"')
                        j += 1
                    i = j
                else:
                    current.append("\\" * (j - i))
                    i = j
            elif char == '"':
                if quoted and i + 1 < n and line[i + 1] == '"':
                    current.append('"')
                    i += 2
                else:
                    quoted = not quoted
                    i += 1
            else:
                current.append(char)
                i += 1
        args.append("".join(current))


def _encoded_command(argv: list[str]) -> str | None:
    """The decoded script of ``-EncodedCommand`` (PowerShell also accepts -e, -ec, -enc...)."""
    for position, token in enumerate(argv[1:-1], start=1):
        lowered = token.lower()
        if lowered in ("-e", "-ec") or (
            len(lowered) >= 4 and "-encodedcommand".startswith(lowered)
        ):
            try:
                return base64.b64decode(argv[position + 1], validate=True).decode("utf-16-le")
            except (binascii.Error, UnicodeDecodeError):
                return None
    return None


def _console(data: bytes, codepage: int) -> bytes:
    """What the Windows console makes of UTF-8 text written under another code page."""
    if codepage == 65001 or not data:
        return data
    try:
        return data.decode("utf-8", errors="replace").encode(f"cp{codepage}", errors="replace")
    except LookupError:
        return data


class WSManEndpoint:
    """``with WSManEndpoint(handler) as endpoint:`` → ``http://127.0.0.1:<port>/wsman``."""

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        user: str = "auditor",
        password: str = "Corr3ct-Horse!",  # noqa: S107 - a test server's own login
        command_handler: CommandHandler | None = None,
        has_powershell: bool = True,
    ) -> None:
        self.handler = handler
        self.command_handler = command_handler
        self.user, self.password = user, password
        self.has_powershell = has_powershell
        self.shells: dict[str, ShellRecord] = {}
        self.commands: list[CommandRecord] = []
        self.scripts: list[str] = []  # what the PowerShell handler was given, in order
        self.files: dict[str, str] = {}  # the remote %TEMP% of the chunk protocol
        self.signals: list[tuple[str, str]] = []  # (command id, signal code)
        self.actions: list[str] = []  # short action names, in order of arrival
        self.errors: list[BaseException] = []
        self._faults: list[tuple[str | None, int, Fault]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ------------------------------------------------------------------------

    def __enter__(self) -> WSManEndpoint:
        endpoint = self

        class Request(_RequestHandler):
            owner = endpoint

        server = ThreadingHTTPServer(("127.0.0.1", 0), Request)
        server.daemon_threads = True  # a hung handler must not block shutdown
        self._server = server
        # A short poll interval: shutdown() waits for it, once per test.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if kind is None and self.errors:
            raise self.errors[0]

    @property
    def port(self) -> int:
        assert self._server is not None, "use the endpoint as a context manager"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/wsman"

    # --- test controls ---------------------------------------------------------------------

    def fault_next(
        self, code: str, message: str, action: str | None = None, after: int = 0
    ) -> None:
        """A later request faults: the next one of ``action`` (Create, Command, Receive, Signal,
        Delete; None: any) once ``after`` such requests have passed."""
        with self._lock:
            self._faults.append((action, after, Fault(code, message)))

    def drop_shells(self) -> None:
        """Forget every shell, as a restarted WinRM service would."""
        with self._lock:
            for shell in self.shells.values():
                shell.closed = True

    def command_lines(self) -> list[str]:
        return [command.line for command in self.commands]

    def open_shells(self) -> list[ShellRecord]:
        return [shell for shell in self.shells.values() if not shell.closed]

    # --- actions ---------------------------------------------------------------------------

    def handle(self, action: str, header: ET.Element, body: ET.Element | None) -> tuple[str, str]:
        """(response action, body XML) for a request; raises Fault."""
        short = action.rsplit("/", 1)[-1]
        with self._lock:
            self.actions.append(short)
            for index, (wanted, after, fault) in enumerate(self._faults):
                if wanted is None or wanted == short:
                    if after:
                        self._faults[index] = (wanted, after - 1, fault)
                        break
                    del self._faults[index]
                    raise fault
        options = {
            option.get("Name", ""): option.text or ""
            for option in header.findall("w:OptionSet/w:Option", NS)
        }
        if action == f"{_TRANSFER}/Create":
            return f"{_TRANSFER}/CreateResponse", self._create(options, body)
        shell = self._shell(header)
        if action == f"{_TRANSFER}/Delete":
            shell.closed = True
            return f"{_TRANSFER}/DeleteResponse", ""
        if action == f"{_SHELL}/Command":
            return f"{_SHELL}/CommandResponse", self._command(shell, options, body)
        if action == f"{_SHELL}/Send":
            return f"{_SHELL}/SendResponse", self._send(body)
        if action == f"{_SHELL}/Receive":
            timeout = _seconds(header.findtext("w:OperationTimeout", "PT60S", NS))
            return f"{_SHELL}/ReceiveResponse", self._receive(body, timeout)
        if action == f"{_SHELL}/Signal":
            return f"{_SHELL}/SignalResponse", self._signal(body)
        raise Fault("2150858817", f"The action {action} is not supported by this endpoint.")

    def _create(self, options: dict[str, str], body: ET.Element | None) -> str:
        shell_id = str(uuid.uuid4()).upper()
        env = {
            variable.get("Name", ""): variable.text or ""
            for variable in (
                body.findall("rsp:Shell/rsp:Environment/rsp:Variable", NS)
                if body is not None
                else []
            )
        }
        with self._lock:
            self.shells[shell_id] = ShellRecord(
                shell_id, int(options.get("WINRS_CODEPAGE", "437")), env
            )
        return (
            f"<x:ResourceCreated><a:Address>{escape(self.url)}</a:Address><a:ReferenceParameters>"
            f"<w:ResourceURI>{_SHELL}/cmd</w:ResourceURI><w:SelectorSet>"
            f'<w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet>'
            f"</a:ReferenceParameters></x:ResourceCreated>"
            f"<rsp:Shell><rsp:ShellId>{shell_id}</rsp:ShellId><rsp:ResourceUri>{_SHELL}/cmd"
            f"</rsp:ResourceUri><rsp:State>Connected</rsp:State><rsp:InputStreams>stdin"
            f"</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>"
        )

    def _shell(self, header: ET.Element) -> ShellRecord:
        shell_id = header.findtext("w:SelectorSet/w:Selector[@Name='ShellId']", "", NS)
        shell = self.shells.get(shell_id)
        if shell is None or shell.closed:
            raise Fault(
                FAULT_SHELL_NOT_FOUND,
                f"The request for the Windows Remote Shell with ShellId {shell_id} failed because "
                "the shell was not found on the server.",
            )
        return shell

    def _command(self, shell: ShellRecord, options: dict[str, str], body: ET.Element | None) -> str:
        line_node = body.find("rsp:CommandLine", NS) if body is not None else None
        if line_node is None:
            raise Fault("2150858817", "The command line is missing.")
        command = (line_node.findtext("rsp:Command", "", NS) or "").strip()
        arguments = [node.text or "" for node in line_node.findall("rsp:Arguments", NS)]
        line = " ".join([command, *arguments])
        record = CommandRecord(
            str(uuid.uuid4()).upper(),
            shell,
            line,
            options.get("WINRS_SKIP_CMD_SHELL", "FALSE").upper() == "TRUE",
        )
        record.argv = split_command_line(line)
        if record.skip_cmd_shell:
            # Without cmd.exe, CreateProcess itself refuses (WinRS reports it as a fault).
            if len(line) > CREATE_PROCESS_LIMIT:
                raise Fault("206", "The filename or extension is too long.")
            if not self._is_powershell(record.argv) and self.command_handler is None:
                raise Fault("2", "The system cannot find the file specified.")
        with self._lock:
            self.commands.append(record)
        return f"<rsp:CommandResponse><rsp:CommandId>{record.command_id}</rsp:CommandId></rsp:CommandResponse>"

    def _find(self, command_id: str | None) -> CommandRecord:
        for record in self.commands:
            if record.command_id == command_id:
                return record
        raise Fault("2150858843", f"The command {command_id} was not found.")

    def _send(self, body: ET.Element | None) -> str:
        stream = body.find("rsp:Send/rsp:Stream", NS) if body is not None else None
        if stream is None:
            raise Fault("2150858817", "The Send request has no stream.")
        record = self._find(stream.get("CommandId"))
        record.stdin += base64.b64decode(stream.text or "")
        return "<rsp:SendResponse/>"

    def _receive(self, body: ET.Element | None, timeout: float) -> str:
        wanted = body.find("rsp:Receive/rsp:DesiredStream", NS) if body is not None else None
        record = self._find(wanted.get("CommandId") if wanted is not None else None)
        with self._lock:
            if not record.started:
                record.started = True
                threading.Thread(target=self._run, args=(record,), daemon=True).start()
        if not record.done.wait(timeout):
            raise Fault(
                FAULT_TIMEOUT,
                "The WS-Management service cannot complete the operation within the time "
                "specified in OperationTimeout.",
                subcode="w:TimedOut",
            )
        out = record.stdout[record.sent_out : record.sent_out + RECEIVE_CHUNK]
        err = record.stderr[record.sent_err : record.sent_err + RECEIVE_CHUNK]
        record.sent_out += len(out)
        record.sent_err += len(err)
        finished = record.sent_out >= len(record.stdout) and record.sent_err >= len(record.stderr)
        cid = record.command_id
        parts = ["<rsp:ReceiveResponse>"]
        for name, data in (("stdout", out), ("stderr", err)):
            if data:
                parts.append(
                    f'<rsp:Stream Name="{name}" CommandId="{cid}">'
                    f"{base64.b64encode(data).decode()}</rsp:Stream>"
                )
            if finished:
                parts.append(
                    f'<rsp:Stream Name="{name}" CommandId="{cid}" End="true"></rsp:Stream>'
                )
        if finished:
            parts.append(
                f'<rsp:CommandState CommandId="{cid}" State="{_DONE}">'
                f"<rsp:ExitCode>{record.rc}</rsp:ExitCode></rsp:CommandState>"
            )
        else:
            parts.append(f'<rsp:CommandState CommandId="{cid}" State="{_RUNNING}"/>')
        parts.append("</rsp:ReceiveResponse>")
        return "".join(parts)

    def _signal(self, body: ET.Element | None) -> str:
        signal = body.find("rsp:Signal", NS) if body is not None else None
        if signal is None:
            raise Fault("2150858817", "The Signal request has no signal.")
        with self._lock:
            self.signals.append((signal.get("CommandId", ""), signal.findtext("rsp:Code", "", NS)))
        return "<rsp:SignalResponse/>"

    # --- running commands ------------------------------------------------------------------

    @staticmethod
    def _is_powershell(argv: list[str]) -> bool:
        program = argv[0].replace("/", "\\").rsplit("\\", 1)[-1].lower() if argv else ""
        return program in ("powershell", "powershell.exe")

    def _run(self, record: CommandRecord) -> None:
        try:
            record.stdout, record.stderr, record.rc = self._execute(record)
        except BaseException as error:  # a test's assert in a handler: report it at __exit__
            self.errors.append(error)
            record.stdout, record.stderr, record.rc = b"", f"handler failed: {error!r}".encode(), 1
        finally:
            record.done.set()

    def _execute(self, record: CommandRecord) -> Output:
        if not record.skip_cmd_shell and len(record.line) > CMD_LINE_LIMIT:
            return b"", CMD_TOO_LONG, 1
        if self._is_powershell(record.argv) and self.has_powershell:
            script = _encoded_command(record.argv)
            if script is None:
                return b"", b"this endpoint runs PowerShell only with -EncodedCommand\r\n", 1
            record.script = script
            out, err, rc = self._powershell(script)
            return _console(out, record.shell.codepage), _console(err, record.shell.codepage), rc
        if self.command_handler is not None and not self._is_powershell(record.argv):
            return self.command_handler(record.argv, bytes(record.stdin))
        program = record.argv[0] if record.argv else ""
        return (
            b"",
            f"'{program}' is not recognized as an internal or external command,\r\n"
            "operable program or batch file.\r\n".encode(),
            9009,
        )

    def _powershell(self, script: str) -> Output:
        append = _APPEND.fullmatch(script)
        if append is not None:
            with self._lock:
                self.files[append[1]] = self.files.get(append[1], "") + append[2]
            return b"", b"", 0
        remove = _REMOVE.fullmatch(script)
        if remove is not None:
            with self._lock:
                self.files.pop(remove[1], None)
            return b"", b"", 0
        run = _RUN.fullmatch(script)
        if run is not None:
            with self._lock:
                payload = self.files.pop(run[1], None)
            if payload is None:
                return (
                    b"",
                    f'Exception calling "ReadAllText": Could not find file {run[1]}.\r\n'.encode(),
                    1,
                )
            script = base64.b64decode(payload, validate=True).decode("utf-8")
        with self._lock:
            self.scripts.append(script)
        if self.handler is None:
            return b"", b"no PowerShell handler configured\r\n", 1
        return self.handler(script)


def _seconds(duration: str | None) -> float:
    """``PT20S`` / ``PT1.5S`` (the only shape pywinrm sends)."""
    found = re.fullmatch(r"PT(\d+(?:\.\d+)?)S", duration or "")
    return float(found[1]) if found else 60.0


def _envelope(action: str, relates_to: str, body: str) -> bytes:
    return (
        f'<s:Envelope xmlns:s="{NS["env"]}" xmlns:a="{NS["a"]}" xmlns:x="{_TRANSFER}" '
        f'xmlns:w="{NS["w"]}" xmlns:rsp="{_SHELL}" xml:lang="en-US"><s:Header>'
        f"<a:Action>{escape(action)}</a:Action><a:MessageID>uuid:{uuid.uuid4()}</a:MessageID>"
        "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo></s:Header>"
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def _fault_envelope(fault: Fault, relates_to: str) -> bytes:
    body = (
        "<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode>"
        f"<s:Value>{escape(fault.subcode)}</s:Value></s:Subcode></s:Code>"
        f'<s:Reason><s:Text xml:lang="en-US">{escape(fault.message)}</s:Text></s:Reason>'
        f'<s:Detail><f:WSManFault xmlns:f="{_FAULT_NS}" Code={quoteattr(fault.code)} '
        f'Machine="127.0.0.1"><f:Message>{escape(fault.message)}</f:Message></f:WSManFault>'
        "</s:Detail></s:Fault>"
    )
    return _envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)


class _RequestHandler(BaseHTTPRequestHandler):
    owner: WSManEndpoint
    protocol_version = "HTTP/1.1"  # keep-alive, as pywinrm's requests session expects
    # Headers and body leave in two writes: with Nagle, each answer would wait for a delayed ACK.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: pytest output is for test failures

    def _reply(
        self, status: int, payload: bytes, headers: Iterator[tuple[str, str]] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in headers or iter(()):
            self.send_header(name, value)
        if payload:
            self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _authorized(self) -> bool:
        expected = base64.b64encode(f"{self.owner.user}:{self.owner.password}".encode()).decode()
        given = self.headers.get("Authorization", "")
        return secrets.compare_digest(given.encode(), f"Basic {expected}".encode())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(length)
        if self.path.rstrip("/").lower() != "/wsman":
            self._reply(404, b"")
            return
        if not self._authorized():
            self._reply(401, b"", iter([("WWW-Authenticate", 'Basic realm="WSMAN"')]))
            return
        try:
            root = ET.fromstring(data)  # noqa: S314 - loopback, from the test's own client
        except ET.ParseError:
            self._reply(400, b"")
            return
        header = root.find("env:Header", NS)
        if header is None:
            self._reply(400, b"")
            return
        action = header.findtext("a:Action", "", NS)
        message_id = header.findtext("a:MessageID", "", NS)
        try:
            reply_action, body = self.owner.handle(action, header, root.find("env:Body", NS))
        except Fault as fault:
            self._reply(500, _fault_envelope(fault, message_id))
            return
        self._reply(200, _envelope(reply_action, message_id, body))
