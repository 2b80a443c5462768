"""The PowerShell text ``WinRMHost`` sends, and how it is put on a Windows command line.

Everything here is pure (strings in, strings out) so the exact shapes can be read, tested and
matched by the test endpoint (``tests/wsman_endpoint.py``) without a Windows machine.

Command lines
    A PowerShell script travels as ``powershell.exe -NoProfile -NonInteractive -ExecutionPolicy
    Bypass -EncodedCommand <base64 of the UTF-16LE script>`` through the shell's ``cmd.exe``, whose
    whole command line is limited to :data:`CMD_LINE_LIMIT` (8191) characters. After UTF-16 and
    base64 a script grows by 8/3, so only about 3,000 characters fit (pywinrm's ``run_ps`` fails
    at ~3,060 with "The command line is too long.").

Chunk protocol (scripts whose command line would exceed :data:`DIRECT_LINE_BUDGET`)
    1. A random name ``rra-<32 hex>.b64`` is chosen; the script's UTF-8 bytes are base64-encoded
       and cut into pieces of :data:`CHUNK_CHARS` characters.
    2. One command per piece, exactly (one line)::

           $rraP = Join-Path $env:TEMP 'rra-<hex>.b64'; [IO.File]::AppendAllText($rraP, '<piece>')

       Each is sent with ``-EncodedCommand`` and stays under :data:`CHUNK_LINE_BUDGET` characters.
    3. One final command, exactly (three lines joined by ``\\n``)::

           $rraP = Join-Path $env:TEMP 'rra-<hex>.b64'
           try { $rraS = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String([IO.File]::ReadAllText($rraP))) } finally { Remove-Item -LiteralPath $rraP -Force -ErrorAction SilentlyContinue }
           & ([ScriptBlock]::Create($rraS))

       The file is deleted (``finally``) as soon as it has been read, before the script runs, so a
       script that hangs and is terminated leaves nothing behind. The script runs as a script
       block in the same ``powershell.exe`` and writes to the same stdout/stderr. Its exit code
       follows PowerShell's ``-Command`` rules, as it would unchunked.

    Base64 keeps every piece free of quotes, so a piece can never end the ``'...'`` literal.

Quoting
    Paths and patterns enter scripts only as PowerShell single-quoted literals made by
    :func:`ps_quote`: no variable expansion, no subexpressions, and every quote character doubled,
    including the typographic ones PowerShell also accepts as quotes (U+2018–U+201B).
"""

from __future__ import annotations

import base64
import json
import math
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from rra.agent.auth.windows_parse import as_int, as_list, as_str, decode_output, excerpt
from rra.agent.host import Connection, ListeningSocket

#: cmd.exe's maximum command line (characters), which every WinRS command without
#: ``WINRS_SKIP_CMD_SHELL`` passes through.
CMD_LINE_LIMIT = 8191
#: CreateProcess's maximum command line, for argv commands run without cmd.exe.
CREATE_PROCESS_LIMIT = 32767
#: A script whose encoded command line is longer than this is chunked (a margin below the limit).
DIRECT_LINE_BUDGET = 8000
#: Base64 characters of the script per chunk command: keeps each chunk's line under ~6,000.
CHUNK_CHARS = 2000
CHUNK_LINE_BUDGET = 6000

POWERSHELL = "powershell.exe"
#: The flags the collectors' ``powershell_argv`` uses, in front of ``-EncodedCommand``.
POWERSHELL_FLAGS = ("-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass")

# PowerShell's tokenizer treats all of these as the single quote (CharExtensions.IsSingleQuote).
_SINGLE_QUOTES = frozenset("'\u2018\u2019\u201a\u201b")

# Markers printed by read_file_script next to its exit codes (2 and 5 as in the Win32 errors
# ERROR_FILE_NOT_FOUND and ERROR_ACCESS_DENIED): the code alone could come from PowerShell itself.
MISSING_MARKER = "rra:missing"
MISSING_RC = 2
DENIED_MARKER = "rra:denied"
DENIED_RC = 5

# Progress records would arrive on stderr as CLIXML even when a command succeeds.
_QUIET = "$ProgressPreference = 'SilentlyContinue'\n"


def ps_quote(text: str) -> str:
    """``text`` as a PowerShell single-quoted literal: nothing inside is ever interpreted."""
    if "\0" in text:
        raise ValueError("a NUL character cannot be part of a Windows path or pattern")
    return "'" + "".join(char * 2 if char in _SINGLE_QUOTES else char for char in text) + "'"


def encode_command(script: str) -> str:
    """PowerShell's ``-EncodedCommand`` argument: base64 of the UTF-16LE script."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def powershell_arguments(script: str) -> str:
    """The arguments after ``powershell.exe`` (base64 needs no quoting for cmd.exe)."""
    return " ".join((*POWERSHELL_FLAGS, "-EncodedCommand", encode_command(script)))


def powershell_line(script: str) -> str:
    """The whole command line cmd.exe sees for ``script``."""
    return f"{POWERSHELL} {powershell_arguments(script)}"


def encoded_line_length(script: str) -> int:
    """``len(powershell_line(script))`` without building it."""
    utf16_bytes = len(script.encode("utf-16-le"))
    flags = sum(len(flag) + 1 for flag in POWERSHELL_FLAGS)
    return len(POWERSHELL) + 1 + flags + len("-EncodedCommand ") + 4 * math.ceil(utf16_bytes / 3)


def needs_chunks(script: str) -> bool:
    return encoded_line_length(script) > DIRECT_LINE_BUDGET


def chunk_name() -> str:
    return f"rra-{secrets.token_hex(16)}.b64"


def _path_line(name: str) -> str:
    return f"$rraP = Join-Path $env:TEMP {ps_quote(name)}"


def chunk_scripts(script: str, name: str) -> list[str]:
    """The append commands that leave base64 of ``script``'s UTF-8 bytes in ``%TEMP%\\name``."""
    payload = base64.b64encode(script.encode("utf-8")).decode("ascii")
    pieces = [payload[i : i + CHUNK_CHARS] for i in range(0, len(payload), CHUNK_CHARS)] or [""]
    return [
        f"{_path_line(name)}; [IO.File]::AppendAllText($rraP, {ps_quote(piece)})"
        for piece in pieces
    ]


def run_chunks_script(name: str) -> str:
    """Decode the accumulated file, delete it, run its text as a script block."""
    return (
        f"{_path_line(name)}\n"
        "try { $rraS = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String("
        "[IO.File]::ReadAllText($rraP))) } finally { Remove-Item -LiteralPath $rraP -Force "
        "-ErrorAction SilentlyContinue }\n"
        "& ([ScriptBlock]::Create($rraS))"
    )


def remove_chunks_script(name: str) -> str:
    """Clean-up after a failed upload."""
    return (
        f"{_path_line(name)}; Remove-Item -LiteralPath $rraP -Force -ErrorAction SilentlyContinue"
    )


# --- the host's own queries -------------------------------------------------------------------


def read_file_script(path: str) -> str:
    """Base64 of the file's bytes; a marker and exit code when it is missing or denied.

    A directory counts as missing (like ``LocalHost``). ``ReadAllBytes`` errors arrive wrapped in
    a MethodInvocationException, hence the look at the inner exception.
    """
    return (
        _QUIET
        + f"$p = {ps_quote(path)}\n"
        + f"if (-not (Test-Path -LiteralPath $p -PathType Leaf)) {{ '{MISSING_MARKER}'; "
        f"exit {MISSING_RC} }}\n"
        "try { [Convert]::ToBase64String([IO.File]::ReadAllBytes($p)) } catch {\n"
        "$e = $_.Exception; if ($e.InnerException) { $e = $e.InnerException }\n"
        f"if ($e -is [UnauthorizedAccessException]) {{ '{DENIED_MARKER}'; exit {DENIED_RC} }}\n"
        "[Console]::Error.WriteLine($e.Message); exit 1 }\n"
    )


def glob_script(pattern: str) -> str:
    """Full paths matching a PowerShell wildcard pattern, as a JSON array.

    ``Get-Item -Path`` rather than ``Get-ChildItem -Path``: for a pattern that matches a directory
    Get-ChildItem lists the directory's children, while a glob answers the directory itself.
    """
    return (
        _QUIET
        + f"$m = @(Get-Item -Path {ps_quote(pattern)} -Force -ErrorAction SilentlyContinue | "
        "ForEach-Object { [string]$_.FullName })\n"
        "ConvertTo-Json -InputObject $m -Compress\n"
    )


def exists_script(path: str) -> str:
    return _QUIET + f"Test-Path -LiteralPath {ps_quote(path)}\n"


# Get-NetTCPConnection / Get-NetUDPEndpoint report "no objects" as an ObjectNotFound error: that
# means "none", while any other failure (cmdlet missing on 2008 R2, access) must not look like it.
_NET_COMMON = (
    _QUIET
    + "$ErrorActionPreference = 'Stop'\n"
    + "function Rra-Net([scriptblock]$q) { try { @(& $q) } catch {\n"
    "if ($_.CategoryInfo.Category -eq 'ObjectNotFound') { @() } else { throw } } }\n"
    "function Rra-Names($rows) { $n = @{}; $ids = @($rows | ForEach-Object { [int]$_.OwningProcess }"
    " | Sort-Object -Unique)\n"
    "if ($ids.Count) { Get-Process -Id $ids -ErrorAction SilentlyContinue | ForEach-Object {"
    " $n[[int]$_.Id] = [string]$_.ProcessName } }\n"
    "$n }\n"
)

LISTENING_SCRIPT = (
    _NET_COMMON + "try {\n"
    "$t = Rra-Net { Get-NetTCPConnection -State Listen }\n"
    "$u = Rra-Net { Get-NetUDPEndpoint }\n"
    "$n = Rra-Names (@($t) + @($u))\n"
    "$rows = @(foreach ($c in $t) { [ordered]@{proto='tcp'; address=[string]$c.LocalAddress;"
    " port=[int]$c.LocalPort; pid=[int]$c.OwningProcess; process=$n[[int]$c.OwningProcess]} }) +"
    " @(foreach ($c in $u) { [ordered]@{proto='udp'; address=[string]$c.LocalAddress;"
    " port=[int]$c.LocalPort; pid=[int]$c.OwningProcess; process=$n[[int]$c.OwningProcess]} })\n"
    "ConvertTo-Json -InputObject @($rows) -Depth 5 -Compress\n"
    "} catch { ConvertTo-Json -InputObject @{error=[string]$_.Exception.Message} -Compress; exit 1 }\n"
)

ESTABLISHED_SCRIPT = (
    _NET_COMMON + "try {\n"
    "$t = Rra-Net { Get-NetTCPConnection -State Established }\n"
    "$n = Rra-Names $t\n"
    "$rows = @(foreach ($c in $t) { [ordered]@{local_address=[string]$c.LocalAddress;"
    " local_port=[int]$c.LocalPort; remote_address=[string]$c.RemoteAddress;"
    " remote_port=[int]$c.RemotePort; pid=[int]$c.OwningProcess;"
    " process=$n[[int]$c.OwningProcess]} })\n"
    "ConvertTo-Json -InputObject @($rows) -Depth 5 -Compress\n"
    "} catch { ConvertTo-Json -InputObject @{error=[string]$_.Exception.Message} -Compress; exit 1 }\n"
)

HOSTNAME_SCRIPT = "$env:COMPUTERNAME\n"

FQDN_SCRIPT = "try { [System.Net.Dns]::GetHostEntry('').HostName } catch { }\n"

BOOT_TIME_SCRIPT = (
    _QUIET
    + "(Get-CimInstance Win32_OperatingSystem).LastBootUpTime.ToUniversalTime().ToString('o')\n"
)

# Each value read on its own: one unreadable part leaves the others.
OS_INFO_SCRIPT = (
    _QUIET + "$o = [ordered]@{caption=$null; version=$null; machine_guid=$null}\n"
    "try { $os = Get-CimInstance Win32_OperatingSystem -ErrorAction Stop;"
    " $o.caption = [string]$os.Caption; $o.version = [string]$os.Version } catch { }\n"
    "try { $o.machine_guid = [string](Get-ItemProperty -LiteralPath"
    " 'HKLM:\\SOFTWARE\\Microsoft\\Cryptography' -Name MachineGuid -ErrorAction Stop).MachineGuid"
    " } catch { }\n"
    "ConvertTo-Json -InputObject $o -Compress\n"
)


# --- reading the answers ----------------------------------------------------------------------------------


def parse_listening(document: Any) -> list[ListeningSocket]:
    """Rows of LISTENING_SCRIPT (a bare object when PowerShell unwrapped a one-element array)."""
    sockets: list[ListeningSocket] = []
    for raw in as_list(document):
        if not isinstance(raw, dict):
            continue
        proto = (as_str(raw.get("proto")) or "").lower()
        address, port = as_str(raw.get("address")), as_int(raw.get("port"))
        if proto not in ("tcp", "udp") or address is None or port is None:
            continue
        sockets.append(
            ListeningSocket(
                proto, address, port, as_int(raw.get("pid")), as_str(raw.get("process"))
            )
        )
    return sockets


def parse_established(document: Any) -> list[Connection]:
    found: list[Connection] = []
    for raw in as_list(document):
        if not isinstance(raw, dict):
            continue
        local, remote = as_str(raw.get("local_address")), as_str(raw.get("remote_address"))
        local_port, remote_port = as_int(raw.get("local_port")), as_int(raw.get("remote_port"))
        if local is None or remote is None or local_port is None or remote_port is None:
            continue
        found.append(
            Connection(
                local,
                local_port,
                remote,
                remote_port,
                as_int(raw.get("pid")),
                as_str(raw.get("process")),
            )
        )
    return found


def parse_round_trip_time(text: str) -> datetime | None:
    """``DateTime.ToString('o')`` (seven fractional digits, ``Z`` or an offset) as aware UTC."""
    value = text.strip()
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def first_json(text: str) -> Any:
    """The JSON value in the output; text PowerShell printed around it is ignored. None if none."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", text):
        try:
            return decoder.raw_decode(text, match.start())[0]
        except ValueError:
            continue
    return None


def stderr_excerpt(stderr: bytes) -> str:
    """PowerShell over WinRM writes errors as CLIXML; keep the human part."""
    text = decode_output(stderr)
    if text.lstrip().startswith("#< CLIXML"):
        parts = re.findall(r'<S S="Error">(.*?)</S>', text, flags=re.DOTALL)
        text = "".join(parts).replace("_x000D__x000A_", " ") if parts else text
    return excerpt(text)
