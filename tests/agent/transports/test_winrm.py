"""WinRMHost with the real pywinrm client against the in-repo WS-Management endpoint.

The endpoint (``tests/wsman_endpoint.py``) speaks plain HTTP with Basic authentication, so these
hosts use ``scheme="http", auth="basic"``; PowerShell itself is played by each test's handler,
which answers the decoded script. Recorded section outputs come from the replay tests.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
import winrm
from hypothesis import given
from hypothesis import strategies as st

from rra.agent.auth.windows import WINDOWS_SECTIONS, collect_windows_auth, powershell_argv
from rra.agent.exposure.eventlog import collect_eventlog, logons_script
from rra.agent.host import CommandNotFound, CommandTimeout, Connection, HostError, ListeningSocket
from rra.agent.logs import configure_logging
from rra.agent.transports import winrm_scripts as scripts
from rra.agent.transports.winrm import (
    FAULT_SHELL_NOT_FOUND,
    WinRMAuthError,
    WinRMError,
    WinRMFault,
    WinRMHost,
    WinRMUnreachable,
)
from tests.agent.auth.test_windows import recording, replay
from tests.agent.exposure.test_eventlog import SINCE, recorded
from tests.agent.exposure.test_eventlog import ReplayHost as EventlogReplayHost
from tests.wsman_endpoint import CMD_LINE_LIMIT, TERMINATE, WSManEndpoint

PASSWORD = "Corr3ct-Horse!pw"
Answer = tuple[bytes, bytes, int]


def ok(text: str | bytes) -> Answer:
    return (text.encode() if isinstance(text, str) else text), b"", 0


@pytest.fixture
def endpoint() -> Iterator[WSManEndpoint]:
    with WSManEndpoint(lambda script: ok(""), password=PASSWORD) as running:
        yield running


def host_for(endpoint: WSManEndpoint, password: str | None = None, **options: Any) -> WinRMHost:
    settings: dict[str, Any] = {"auth": "basic", "scheme": "http", "connect_timeout": 5.0}
    settings.update(options)
    return WinRMHost(
        "127.0.0.1", endpoint.port, endpoint.user, password or endpoint.password, **settings
    )


@pytest.fixture
def host(endpoint: WSManEndpoint) -> Iterator[WinRMHost]:
    with host_for(endpoint) as connected:
        yield connected


def pywinrm_session(endpoint: WSManEndpoint) -> winrm.Session:
    """pywinrm's own high-level client (``run_ps``: code page 437, no chunking)."""
    return winrm.Session(
        endpoint.url, auth=(endpoint.user, PASSWORD), transport="basic", ca_trust_path=None
    )


def answer(endpoint: WSManEndpoint, handler: Callable[[str], Answer]) -> None:
    endpoint.handler = handler


def ps_unquote(text: str, start: int) -> str:
    """The value of the PowerShell single-quoted literal opening at ``text[start]``.

    PowerShell's rule: any of ' ‘ ’ ‚ ‛ is a quote; two in a row stand for the first one."""
    quotes = "'\u2018\u2019\u201a\u201b"
    assert text[start] in quotes
    value: list[str] = []
    i = start + 1
    while True:
        char = text[i]
        if char in quotes:
            if i + 1 < len(text) and text[i + 1] in quotes:
                value.append(char)
                i += 2
                continue
            return "".join(value)
        value.append(char)
        i += 1


# --- collectors through the real client -------------------------------------------------------


def section_of(script: str) -> str:
    names = [name for name, text in WINDOWS_SECTIONS.items() if text == script]
    assert len(names) == 1, "the endpoint was handed something other than a section script"
    return names[0]


@pytest.mark.parametrize(
    "scenario", ["member_server", "localized_de", "legacy_shapes", "duo_failclosed", "broken"]
)
def test_windows_auth_collection_matches_the_replay_path(
    endpoint: WSManEndpoint, host: WinRMHost, scenario: str
) -> None:
    recorded_sections = recording(scenario)

    def sections(script: str) -> Answer:
        result = recorded_sections[section_of(script)]
        assert not isinstance(result, HostError)
        return result.stdout, result.stderr, result.rc

    answer(endpoint, sections)
    assert collect_windows_auth(host) == replay(scenario)
    assert sorted(endpoint.scripts) == sorted(WINDOWS_SECTIONS.values())
    assert [shell.codepage for shell in endpoint.shells.values()] == [65001]
    assert all(len(line) <= scripts.DIRECT_LINE_BUDGET for line in endpoint.command_lines())


def test_eventlog_collection_matches_the_replay_path(
    endpoint: WSManEndpoint, host: WinRMHost
) -> None:
    expected_script = logons_script(SINCE)
    for name in ("busy.json", "single.txt", "wrapped.json"):
        data = recorded(name)

        def logons(script: str, data: bytes = data.stdout) -> Answer:
            assert script == expected_script
            return ok(data)

        answer(endpoint, logons)
        assert collect_eventlog(host, SINCE) == collect_eventlog(EventlogReplayHost(data), SINCE)


def test_non_ascii_account_names_survive_because_the_shell_uses_utf8(
    endpoint: WSManEndpoint, host: WinRMHost
) -> None:
    base = recording("member_server")
    users = [
        {"name": name, "sid": f"S-1-5-21-1-2-3-{rid}", "enabled": True, "password_required": True}
        for name, rid in (("Jürgen", 1001), ("Ölçü", 1002))
    ]
    # Raw UTF-8, as PowerShell prints it under code page 65001.
    utf8 = json.dumps(
        {"computer": "WS1", "source": "Get-LocalUser", "users": users}, ensure_ascii=False
    )

    def sections(script: str) -> Answer:
        if section_of(script) == "accounts":
            return ok(utf8.encode("utf-8") + b"\r\n")
        recorded_answer = base[section_of(script)]
        assert not isinstance(recorded_answer, HostError)
        return ok(recorded_answer.stdout)

    answer(endpoint, sections)
    names = {account.name for account in collect_windows_auth(host).accounts}
    assert {"Jürgen", "Ölçü"} <= names
    assert [shell.codepage for shell in endpoint.shells.values()] == [65001]

    # pywinrm's own Session asks for code page 437: the same answer comes back mangled.
    session = pywinrm_session(endpoint)
    mangled = session.run_ps(WINDOWS_SECTIONS["accounts"]).std_out
    assert "Jürgen".encode() not in mangled
    assert "Jürgen".encode("cp437") in mangled


# --- long scripts -----------------------------------------------------------------------------


def long_script(chars: int) -> str:
    line = "Write-Output 'Grüße, l''été: ‘quoted’ \U0001f512' # $env:X `n\r\n"
    text = "# header with a trailing space \n" + line * (chars // len(line) + 1)
    return text[:chars]


@pytest.mark.parametrize("chars", [3_100, 9_000, 40_000])
def test_long_scripts_are_chunked_and_arrive_byte_for_byte(
    endpoint: WSManEndpoint, host: WinRMHost, chars: int
) -> None:
    script = long_script(chars)
    assert scripts.needs_chunks(script)
    answer(endpoint, lambda text: ok(f"{len(text)} chars\r\n"))
    result = host.run(powershell_argv(script))
    assert (result.rc, result.stdout) == (0, f"{len(script)} chars\r\n".encode())
    assert endpoint.scripts == [script]  # the handler saw only the original, exactly
    lines = endpoint.command_lines()
    assert len(lines) == len(scripts.chunk_scripts(script, "x")) + 1
    assert max(len(line) for line in lines) <= scripts.CHUNK_LINE_BUDGET < CMD_LINE_LIMIT
    assert endpoint.files == {}  # the temp file was deleted


def test_the_endpoint_enforces_the_command_line_limit_on_unchunked_scripts(
    endpoint: WSManEndpoint,
) -> None:
    answer(endpoint, lambda text: ok("ran\r\n"))
    session = pywinrm_session(endpoint)
    short = session.run_ps("Get-Date")
    assert (short.status_code, short.std_out) == (0, b"ran\r\n")
    for chars in (3_100, 9_000):
        result = session.run_ps(long_script(chars))
        assert result.status_code == 1
        assert result.std_err == b"The command line is too long.\r\n"
    assert endpoint.scripts == ["Get-Date"]
    assert [len(line) > CMD_LINE_LIMIT for line in endpoint.command_lines()] == [False, True, True]


def test_the_longest_unchunked_script_fits(endpoint: WSManEndpoint, host: WinRMHost) -> None:
    script = "x" * 2_900
    assert not scripts.needs_chunks(script)
    answer(endpoint, lambda text: ok("fine"))
    assert host.run(powershell_argv(script)).stdout == b"fine"
    assert len(endpoint.commands) == 1
    assert len(endpoint.command_lines()[0]) == scripts.encoded_line_length(script)


def test_a_failed_upload_is_a_transport_error_and_is_cleaned_up(
    endpoint: WSManEndpoint, host: WinRMHost
) -> None:
    host.hostname()
    # The first piece lands in the remote file, the second one's Command faults.
    endpoint.fault_next("5", "Access is denied.", action="Command", after=1)
    with pytest.raises(WinRMFault):
        host.run(powershell_argv(long_script(5_000)))
    assert len(scripts.chunk_scripts(long_script(5_000), "x")) > 2
    assert endpoint.files == {}  # removed by the clean-up command
    assert endpoint.scripts == [scripts.HOSTNAME_SCRIPT]  # nothing partial ever ran


# --- errors -----------------------------------------------------------------------------------


def test_bad_credentials(endpoint: WSManEndpoint) -> None:
    wrong = "not-" + PASSWORD
    with host_for(endpoint, password=wrong) as bad, pytest.raises(WinRMAuthError) as caught:
        bad.hostname()
    assert "401" in str(caught.value) and endpoint.user in str(caught.value)
    assert wrong not in str(caught.value) and PASSWORD not in str(caught.value)


def test_a_wsman_fault_keeps_its_code_and_never_the_password(
    endpoint: WSManEndpoint, host: WinRMHost
) -> None:
    endpoint.fault_next("5", f"Access is denied. (echoing {PASSWORD})", action="Create")
    with pytest.raises(WinRMFault) as caught:
        host.run(powershell_argv("Get-Date"))
    assert caught.value.code == "5"
    assert caught.value.message.startswith("Access is denied.")
    assert PASSWORD not in str(caught.value) and "***" in str(caught.value)
    endpoint.fault_next("2150858770", "The WinRM client cannot process the request.", "Receive")
    with pytest.raises(WinRMFault) as receive:
        host.run(powershell_argv("Get-Date"))
    assert receive.value.code == "2150858770"


def test_a_dropped_shell_is_reopened_once(endpoint: WSManEndpoint, host: WinRMHost) -> None:
    answer(endpoint, lambda text: ok("ok"))
    assert host.run(powershell_argv("1")).stdout == b"ok"
    endpoint.drop_shells()
    assert host.run(powershell_argv("2")).stdout == b"ok"
    assert endpoint.actions.count("Create") == 2
    endpoint.fault_next(FAULT_SHELL_NOT_FOUND, "The shell was not found.", action="Command")
    assert host.run(powershell_argv("3")).stdout == b"ok"
    assert endpoint.actions.count("Create") == 3
    assert endpoint.scripts == ["1", "2", "3"]


def test_a_hanging_command_times_out_and_is_terminated(
    endpoint: WSManEndpoint, host: WinRMHost
) -> None:
    release = threading.Event()

    def hang(script: str) -> Answer:
        if "Start-Sleep" in script:
            release.wait(30)
        return ok("done")

    answer(endpoint, hang)
    try:
        started = time.monotonic()
        with pytest.raises(CommandTimeout) as caught:
            host.run(powershell_argv("Start-Sleep 3600"), timeout=1.0)
        elapsed = time.monotonic() - started
        assert 1.0 <= elapsed < 1.0 + 5
        assert "1 s" in str(caught.value)
        hung = endpoint.commands[-1]
        assert (hung.command_id, TERMINATE) in endpoint.signals
        assert host.run(powershell_argv("Get-Date")).stdout == b"done"  # the shell still works
    finally:
        release.set()


def test_the_host_deadline_bounds_every_command(endpoint: WSManEndpoint) -> None:
    with host_for(endpoint, deadline=time.monotonic() - 1) as late, pytest.raises(CommandTimeout):
        late.run(powershell_argv("Get-Date"))


def test_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = WinRMHost("127.0.0.1", port, "u", PASSWORD, auth="basic", scheme="http")
    with pytest.raises(WinRMUnreachable) as caught:
        closed.hostname()
    assert caught.value.kind == "refused"
    assert "refused" in str(caught.value) and PASSWORD not in str(caught.value)


def test_https_with_certificate_validation_is_the_default(endpoint: WSManEndpoint) -> None:
    default = WinRMHost("127.0.0.1", endpoint.port, endpoint.user, PASSWORD)
    assert default.endpoint == f"https://127.0.0.1:{endpoint.port}/wsman"
    assert default.auth == "ntlm"
    transport = default._protocol.transport
    assert transport.server_cert_validation == "validate"
    assert transport.ca_trust_path is None  # the default trust store, not REQUESTS_CA_BUNDLE
    with_ca = WinRMHost("h", 5986, "u", PASSWORD, ca_file="/etc/rra/winrm-ca.pem")
    assert with_ca._protocol.transport.ca_trust_path == "/etc/rra/winrm-ca.pem"
    unchecked = WinRMHost("h", 5986, "u", PASSWORD, cert_validation=False)
    assert unchecked._protocol.transport.server_cert_validation == "ignore"
    # HTTPS against the plain-HTTP endpoint: the TLS handshake fails, and says so.
    tls = WinRMHost("127.0.0.1", endpoint.port, endpoint.user, PASSWORD, auth="basic")
    with pytest.raises(WinRMUnreachable) as caught:
        tls.hostname()
    assert caught.value.kind == "tls"
    assert "TLS/SSL" in str(caught.value) and PASSWORD not in str(caught.value)
    assert endpoint.actions == []


# --- argv commands ----------------------------------------------------------------------------


def test_argv_reaches_the_program_verbatim_without_cmd(endpoint: WSManEndpoint) -> None:
    seen: list[tuple[list[str], bytes]] = []

    def program(argv: list[str], stdin: bytes) -> Answer:
        seen.append((argv, stdin))
        return ok(json.dumps(argv[1:]))

    endpoint.command_handler = program
    nasty = [
        "a b",
        'q"uote',
        "back\\slash\\",
        "",
        "a&calc",
        "50%PATH%",
        "tab\there",
        "Ölçü",
        "^|<>",
    ]
    with host_for(endpoint) as host:
        result = host.run(["C:\\Program Files\\restic\\restic.exe", *nasty], stdin=b"line\r\n")
    assert json.loads(result.stdout) == nasty
    assert seen == [(["C:\\Program Files\\restic\\restic.exe", *nasty], b"line\r\n")]
    assert endpoint.commands[-1].skip_cmd_shell  # no cmd.exe: & | < > % mean nothing


def test_env_travels_in_a_dedicated_shell_not_the_command_line(
    endpoint: WSManEndpoint, host: WinRMHost
) -> None:
    endpoint.command_handler = lambda argv, stdin: ok("ok")
    host.hostname()
    result = host.run(["restic.exe", "snapshots"], env={"RESTIC_PASSWORD": "s3cret-value"})
    assert result.stdout == b"ok"
    dedicated = [shell for shell in endpoint.shells.values() if shell.env]
    assert [shell.env for shell in dedicated] == [{"RESTIC_PASSWORD": "s3cret-value"}]
    assert dedicated[0].closed  # deleted after the command
    assert all("s3cret" not in line for line in endpoint.command_lines())
    assert len(endpoint.open_shells()) == 1  # the shared shell stays


def test_missing_programs(endpoint: WSManEndpoint) -> None:
    with host_for(endpoint) as host, pytest.raises(CommandNotFound):
        host.run(["restic.exe", "version"])
    endpoint.has_powershell = False
    with host_for(endpoint) as host, pytest.raises(CommandNotFound):
        host.run(powershell_argv("Get-Date"))


# --- files ------------------------------------------------------------------------------------

DENIED = b"<denied>"
INJECTION = "C:\\Temp\\x'; Remove-Item -Recurse -Force C:\\ ; '\u2019$(whoami).txt"
FILES = {
    "C:\\ProgramData\\ssh\\sshd_config": b"Port 22\r\nPasswordAuthentication no\r\n",
    "C:\\data\\blob.bin": bytes(range(256)) * 3,
    "C:\\data\\empty.txt": b"",
    "C:\\Windows\\System32\\config\\SAM": DENIED,
    INJECTION: b"only a file name",
}


def file_system(script: str) -> Answer:
    """PowerShell as far as read_file/exists go. The script must be the template with one path
    literal, and that literal must parse back (by PowerShell's rules) to a file name."""
    for template in (scripts.read_file_script, scripts.exists_script):
        prefix = template("P").split("'P'")[0]
        if script.startswith(prefix):
            path = ps_unquote(script, len(prefix))
            assert script == template(path), "the script differs from its template"
            break
    else:
        raise AssertionError(f"not a file script: {script!r}")
    if template is scripts.exists_script:
        return ok(f"{path in FILES}\r\n")
    content = FILES.get(path)
    if content is None:
        return f"{scripts.MISSING_MARKER}\r\n".encode(), b"", scripts.MISSING_RC
    if content is DENIED:
        return f"{scripts.DENIED_MARKER}\r\n".encode(), b"", scripts.DENIED_RC
    return ok(base64.b64encode(content) + b"\r\n")


def test_read_file(endpoint: WSManEndpoint, host: WinRMHost) -> None:
    answer(endpoint, file_system)
    assert (
        host.read_file("C:\\ProgramData\\ssh\\sshd_config")
        == FILES["C:\\ProgramData\\ssh\\sshd_config"]
    )
    assert host.read_file("C:\\data\\blob.bin") == FILES["C:\\data\\blob.bin"]
    assert host.read_file("C:\\data\\empty.txt") == b""
    assert host.read_file("C:\\data\\missing.txt") is None
    with pytest.raises(PermissionError):
        host.read_file("C:\\Windows\\System32\\config\\SAM")
    handle = host.open_binary("C:\\data\\blob.bin")
    assert handle is not None
    with handle:
        assert handle.read() == FILES["C:\\data\\blob.bin"]
    assert host.open_binary("C:\\nope") is None


def test_a_quote_in_a_path_is_part_of_the_name_never_code(
    endpoint: WSManEndpoint, host: WinRMHost
) -> None:
    answer(endpoint, file_system)
    assert host.read_file(INJECTION) == b"only a file name"
    assert host.exists(INJECTION) is True
    assert host.exists("C:\\data\\missing.txt") is False
    assert endpoint.scripts[:2] == [
        scripts.read_file_script(INJECTION),
        scripts.exists_script(INJECTION),
    ]


@given(st.text())
def test_ps_quote_round_trips(text: str) -> None:
    if "\0" in text:
        with pytest.raises(ValueError):
            scripts.ps_quote(text)
        return
    quoted = scripts.ps_quote(text)
    assert ps_unquote(quoted + " trailing", 0) == text


def test_ps_quote_examples() -> None:
    assert scripts.ps_quote("C:\\a b\\c.txt") == "'C:\\a b\\c.txt'"
    assert scripts.ps_quote("it's") == "'it''s'"
    assert scripts.ps_quote("\u2018x\u2019") == "'\u2018\u2018x\u2019\u2019'"
    assert scripts.ps_quote("$env:X $(calc) `n") == "'$env:X $(calc) `n'"


def test_glob(endpoint: WSManEndpoint, host: WinRMHost) -> None:
    seen: list[str] = []

    def listing(script: str) -> Answer:
        seen.append(ps_unquote(script, script.index("Get-Item -Path ") + len("Get-Item -Path ")))
        if "*.log" in script:
            return ok('["C:\\\\logs\\\\b.log","C:\\\\logs\\\\a.log"]\r\n')
        if "one" in script:
            return ok('"C:\\\\one.txt"\r\n')  # a one-element array unwrapped
        return ok("[]\r\n")

    answer(endpoint, listing)
    assert host.glob("C:\\logs\\*.log") == ["C:\\logs\\a.log", "C:\\logs\\b.log"]
    assert host.glob("C:\\one*") == ["C:\\one.txt"]
    assert host.glob("C:\\empty\\*") == []
    assert seen == ["C:\\logs\\*.log", "C:\\one*", "C:\\empty\\*"]


# --- live facts -------------------------------------------------------------------------------

LISTENING = (
    '\ufeff[{"proto":"tcp","address":"0.0.0.0","port":3389,"pid":1044,"process":"svchost"},'
    '{"proto":"tcp","address":"::","port":5985,"pid":4,"process":"System"},'
    '{"proto":"tcp","address":"10.0.0.5","port":22,"pid":3120,"process":"sshd"},'
    '{"proto":"udp","address":"::","port":3389,"pid":1044,"process":"svchost"},'
    '{"proto":"udp","address":"0.0.0.0","port":123,"pid":1380,"process":null}]\r\n'
)


def test_listening_sockets(endpoint: WSManEndpoint, host: WinRMHost) -> None:
    replies = iter(
        [
            LISTENING,
            '{"proto":"tcp","address":"::","port":5986,"pid":4,"process":"System"}',
            "[]",
            '{"error":"Get-NetTCPConnection is not recognized"}',
        ]
    )
    answer(
        endpoint,
        lambda script: ok(next(replies)) if script == scripts.LISTENING_SCRIPT else ok("?"),
    )
    assert host.listening_sockets() == [
        ListeningSocket("tcp", "0.0.0.0", 3389, 1044, "svchost"),
        ListeningSocket("tcp", "::", 5985, 4, "System"),
        ListeningSocket("tcp", "10.0.0.5", 22, 3120, "sshd"),
        ListeningSocket("udp", "::", 3389, 1044, "svchost"),
        ListeningSocket("udp", "0.0.0.0", 123, 1380, None),
    ]
    assert host.listening_sockets() == [ListeningSocket("tcp", "::", 5986, 4, "System")]
    assert host.listening_sockets() == []
    with pytest.raises(WinRMError, match="not recognized"):
        host.listening_sockets()
    assert "ConvertTo-Json -InputObject @($rows) -Depth 5 -Compress" in scripts.LISTENING_SCRIPT


def test_established_connections(endpoint: WSManEndpoint, host: WinRMHost) -> None:
    row = (
        '{"local_address":"10.0.0.5","local_port":3389,"remote_address":"203.0.113.7",'
        '"remote_port":51234,"pid":1044,"process":"svchost"}'
    )
    answer(endpoint, lambda script: ok(row))  # one connection: the unwrapped shape
    assert host.established_connections() == [
        Connection("10.0.0.5", 3389, "203.0.113.7", 51234, 1044, "svchost")
    ]
    assert endpoint.scripts == [scripts.ESTABLISHED_SCRIPT]


def test_host_identity(endpoint: WSManEndpoint, host: WinRMHost) -> None:
    replies = {
        scripts.HOSTNAME_SCRIPT: ok("WIN-SRV01\r\n"),
        scripts.FQDN_SCRIPT: ok("win-srv01.corp.example\r\n"),
        scripts.BOOT_TIME_SCRIPT: ok("2026-11-20T06:12:01.1234567Z\r\n"),
        scripts.OS_INFO_SCRIPT: ok(
            '{"caption":"Microsoft Windows Server 2022 Standard ","version":"10.0.20348",'
            '"machine_guid":"5c1f3e9a-0d2b-4c55-9e77-0a1b2c3d4e5f"}\r\n'
        ),
    }
    answer(endpoint, lambda script: replies[script])
    assert host.os_family == "windows"
    assert host.hostname() == "WIN-SRV01"
    assert host.hostname() == "WIN-SRV01"
    assert endpoint.scripts.count(scripts.HOSTNAME_SCRIPT) == 1  # cached
    assert host.fqdn() == "win-srv01.corp.example"
    assert host.boot_time() == datetime(2026, 11, 20, 6, 12, 1, 123456, tzinfo=UTC)
    assert host.os_info() == (
        "Microsoft Windows Server 2022 Standard",
        "10.0.20348",
        "5c1f3e9a-0d2b-4c55-9e77-0a1b2c3d4e5f",
    )
    assert host.os_identity() == host.os_info()  # what collect_host_info reads
    replies[scripts.FQDN_SCRIPT] = ok("")
    replies[scripts.OS_INFO_SCRIPT] = ok('{"caption":null,"version":null,"machine_guid":null}')
    assert host.fqdn() is None
    assert host.os_info() == (None, None, None)


def test_one_shell_is_reused_and_closed(endpoint: WSManEndpoint) -> None:
    answer(endpoint, lambda script: ok("x"))
    with host_for(endpoint) as host:
        for _ in range(3):
            host.run(powershell_argv("Get-Date"))
        assert len(endpoint.open_shells()) == 1
    assert endpoint.open_shells() == []
    assert endpoint.actions.count("Create") == 1 and endpoint.actions[-1] == "Delete"


# --- the password -----------------------------------------------------------------------------


def test_the_password_never_appears_in_repr_errors_or_logs(
    endpoint: WSManEndpoint, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = structlog.get_config()
    configure_logging("json", "debug")
    caplog.set_level(logging.DEBUG)
    basic_header = base64.b64encode(f"{endpoint.user}:{PASSWORD}".encode()).decode()
    messages: list[str] = []
    try:
        host = host_for(endpoint)
        messages.append(repr(host))
        answer(endpoint, lambda script: ok("WIN-SRV01"))
        host.hostname()
        host.run(powershell_argv(long_script(4_000)))
        endpoint.fault_next("5", f"denied {PASSWORD}", action="Command")
        with pytest.raises(WinRMFault) as fault:
            host.run(powershell_argv("Get-Date"))
        messages.append(str(fault.value))
        with host_for(endpoint, password=PASSWORD + "x") as wrong:
            with pytest.raises(WinRMAuthError) as denied:
                wrong.hostname()
            messages.append(str(denied.value))
            messages.append(repr(wrong))
        host.close()
    finally:
        structlog.configure(**saved)
    captured = capsys.readouterr()
    logged = captured.err + captured.out + caplog.text
    assert "winrm.shell_opened" in logged  # the logs were captured
    for text in [*messages, logged]:
        assert PASSWORD not in text
        assert basic_header not in text
