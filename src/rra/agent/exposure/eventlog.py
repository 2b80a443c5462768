"""Logins from the Windows Security log: event 4624 with logon type 10 (RDP) or 3 (network).

One PowerShell 5.1 script (``eventlog_scripts/logons.ps1``, under 3,000 characters as sent:
WinRM's ``run_ps`` fails above ~3,060) reads the events since the window's start with
``Get-WinEvent -FilterHashtable`` and aggregates them on the Windows side per (address, logon
type, account, logon process, caller process), with a count and the newest time, so that a busy
server's output stays small. It prints one compressed JSON document::

    {"since": "...", "events": 1234, "logons": [{"time": "2026-11-24T03:12:01.1234567Z",
      "type": 10, "user": "alice", "domain": "CORP", "ip": "203.0.113.7",
      "workstation": "WS01", "package": "Negotiate", "logon_process": "User32",
      "process": "C:\\\\Windows\\\\System32\\\\svchost.exe", "count": 3}, ...]}

or ``{"error": "..."}`` when it failed on the host (the Security log needs administrators).

Service: type 10 → ``"rdp"``. Type 3 → ``"winrm"`` when the caller process is the WinRM host
(``svchost.exe`` or ``wsmprovhost.exe``: WinRM's Basic and CredSSP logons are made by the service
through ``LogonUser``, logon process ``Advapi``); otherwise ``"smb/network"``. This is a
heuristic: a Kerberos or NTLM WinRM logon is made by LSA from the network packet (caller
``-``, logon process ``Kerberos``/``NtLmSsp``) and looks exactly like an SMB one in 4624. With
NLA, every RDP session also begins with a type 3 logon from the same address; the tie goes to
``rdp`` in :func:`~rra.agent.exposure.logins.aggregate` (alphabetical).

Addresses ``-``, empty, ``::1`` and ``127.0.0.1`` (local logons) and ``ANONYMOUS LOGON`` (null
sessions: nobody logged in) are skipped on both sides. Each aggregated row becomes ``count``
:class:`Login` values — the same object repeated, carrying the row's newest time; only the
newest time matters to an access source's ``last_seen``. At most :data:`MAX_LOGINS` are
expanded in total (then one per row), so that a hostile count cannot exhaust memory.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Any

from rra.agent.auth.windows import powershell_argv
from rra.agent.auth.windows_parse import (
    SectionError,
    as_int,
    as_list,
    as_str,
    decode_output,
    excerpt,
    extract_document,
)
from rra.agent.exposure.logins import Login, LogRead, is_local, normalise_address
from rra.agent.host import Host, HostError

__all__ = [
    "EVENTLOG_PATH",
    "MAX_LOGINS",
    "MAX_SCRIPT_CHARS",
    "collect_eventlog",
    "logons_script",
    "parse_eventlog",
]

#: What ``LogRead.path`` says for this source.
EVENTLOG_PATH = "Security:4624"
MAX_SCRIPT_CHARS = 3000
_PLACEHOLDER = "__SINCE__"
_WINRM_CALLERS = ("svchost.exe", "wsmprovhost.exe")
_SKIPPED_ADDRESSES = frozenset({"", "-", "::1", "127.0.0.1"})
# Rows are expanded into repeated references (8 bytes each). A hostile or broken host could
# claim absurd counts; past this many logins in total, each further row gives one login only.
MAX_LOGINS = 5_000_000


def _compact(script: str) -> str:
    """Drop full-line comments and indentation (the script has no here-strings or block comments)."""
    lines = [line.strip() for line in script.splitlines()]
    return "\n".join(line for line in lines if line and not line.startswith("#")) + "\n"


_TEMPLATE = _compact(
    resources.files("rra.agent.exposure")
    .joinpath("eventlog_scripts", "logons.ps1")
    .read_text(encoding="utf-8")
)


def logons_script(since: datetime) -> str:
    """The script as sent, for a window starting at ``since`` (aware)."""
    start = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _TEMPLATE.replace(_PLACEHOLDER, start)


def _service(logon_type: int, process: str | None) -> str:
    if logon_type == 10:
        return "rdp"
    caller = (process or "").replace("/", "\\").rpartition("\\")[2].lower()
    if caller in _WINRM_CALLERS:
        return "winrm"
    return "smb/network"


def _time(value: Any) -> datetime | None:
    """``DateTime.ToString('o')``: 7 fractional digits, ``Z`` or an offset, or none (UTC here)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}" if digits else head + rest
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _row(raw: Any) -> tuple[Login, int] | None:
    """One aggregated row as (login, count); None when it is malformed."""
    if not isinstance(raw, dict):
        return None
    logon_type, count, when = (
        as_int(raw.get("type")),
        as_int(raw.get("count")),
        _time(raw.get("time")),
    )
    if logon_type not in (3, 10) or count is None or count < 1 or when is None:
        return None
    user = as_str(raw.get("user"))
    domain = as_str(raw.get("domain"))
    account = f"{domain}\\{user}" if user and domain and domain != "-" else user
    service = _service(logon_type, as_str(raw.get("process")))
    ip = as_str(raw.get("ip")) or ""
    return Login(normalise_address(ip), when, account, service, "eventlog"), count


def parse_eventlog(
    stdout: bytes | str, since: datetime | None = None
) -> tuple[list[Login], LogRead]:
    """The logins in the script's output (robust to BOM, CRLF, warnings, unwrapped arrays)."""
    stats = LogRead(path=EVENTLOG_PATH, via="eventlog")
    text = decode_output(stdout) if isinstance(stdout, bytes) else stdout
    try:
        document = extract_document(text)
    except SectionError as exc:
        stats.error = str(exc)
        return [], stats
    logins: list[Login] = []
    rows = as_list(document.get("logons"))
    stats.records = as_int(document.get("events")) or 0
    for raw in rows:
        if isinstance(raw, dict) and str(raw.get("user")).upper() == "ANONYMOUS LOGON":
            continue  # a null session: nobody logged in
        parsed = _row(raw)
        if parsed is None:
            stats.skipped += 1
            continue
        login, count = parsed
        if login.address in _SKIPPED_ADDRESSES or is_local(login.address):
            continue
        if since is not None and login.when < since:
            continue
        count = max(1, min(count, MAX_LOGINS - len(logins)))
        logins.extend([login] * count)
        stats.used += count
    # Old scripts or a truncated count: never report fewer events than logins.
    stats.records = max(stats.records, stats.used + stats.skipped)
    return logins, stats


def collect_eventlog(
    host: Host, since: datetime, timeout: float = 120.0
) -> tuple[list[Login], LogRead]:
    """Run the script on a Windows host and parse it; every failure is ``LogRead.error``."""
    try:
        result = host.run(powershell_argv(logons_script(since)), timeout=timeout)
    except HostError as exc:
        return [], LogRead(path=EVENTLOG_PATH, via="eventlog", error=str(exc))
    logins, stats = parse_eventlog(result.stdout, since)
    if stats.error is not None and result.rc != 0:
        detail = excerpt(result.stderr_text) or stats.error
        stats.error = f"powershell exited with {result.rc}: {detail}"
    return logins, stats
