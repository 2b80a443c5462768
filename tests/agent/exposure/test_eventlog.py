"""Windows Security 4624 logons (RDP type 10, network type 3) as access sources.

No Windows machine exists here, so the host side is replayed: ``ReplayHost`` answers the logons
script with a recorded stdout from ``data/eventlog/``, written by hand in exactly the shape the
script prints (compressed JSON, ``ToString('o')`` times with seven fractional digits, non-ASCII
escaped as ``\\uXXXX``), including the awkward shapes: a warning and a BOM before the document,
CRLF, a single row unwrapped by PowerShell, ``{"value": [...], "Count": n}``, ``{"error": ...}``,
output cut short, UTF-16.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from pathlib import Path

import pytest

from rra.agent.auth.windows import powershell_argv
from rra.agent.exposure.eventlog import (
    EVENTLOG_PATH,
    MAX_LOGINS,
    MAX_SCRIPT_CHARS,
    collect_eventlog,
    logons_script,
    parse_eventlog,
)
from rra.agent.exposure.logins import aggregate
from rra.agent.host import (
    CommandNotFound,
    CommandTimeout,
    HostError,
    RunResult,
)
from tests.windows_replay import WindowsReplayHost

DATA = Path(__file__).parent / "data" / "eventlog"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=30)
SCRIPT = Path(__file__).parents[3] / "src/rra/agent/exposure/eventlog_scripts/logons.ps1"


class ReplayHost(WindowsReplayHost):
    """A Windows ``Host`` that answers the logons script with a recorded result (or raises)."""

    name = "WIN-SRV01"

    def __init__(self, answer: RunResult | HostError) -> None:
        self.answer = answer
        self.calls: list[tuple[list[str], float]] = []

    def run(
        self,
        argv: Sequence[str],
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> RunResult:
        self.calls.append((list(argv), timeout))
        assert list(argv[:-1]) == powershell_argv("")[:-1]
        if isinstance(self.answer, HostError):
            raise self.answer
        return self.answer


def recorded(name: str, rc: int = 0, stderr: bytes = b"") -> RunResult:
    return RunResult(rc, (DATA / name).read_bytes(), stderr)


# --- the script ---------------------------------------------------------------------------------


def test_script_as_sent() -> None:
    script = logons_script(SINCE)
    assert len(script) < MAX_SCRIPT_CHARS
    assert "__SINCE__" not in script
    assert "'2026-10-25T12:00:00Z'" in script
    assert (
        "Get-WinEvent -FilterHashtable @{LogName='Security'; Id=4624; StartTime=$start}" in script
    )
    assert "ConvertTo-Json -InputObject $o -Depth 4 -Compress" in script
    assert ".ToString('o')" in script
    # Sent compacted: no comment lines, no indentation; the file keeps them for readers.
    assert not any(line.startswith(("#", " ")) for line in script.splitlines())
    source = SCRIPT.read_text(encoding="utf-8")
    assert "@'" not in source and '@"' not in source and "<#" not in source
    # Every field the parser reads is one the script writes.
    for key in [
        "time",
        "type",
        "user",
        "domain",
        "ip",
        "workstation",
        "package",
        "process",
        "count",
    ]:
        assert re.search(rf"\b{key} = ", source), key
    # Inside ForEach-Object, "continue" would stop the whole pipeline.
    assert not re.search(r"\bcontinue\b", script)


def test_since_is_sent_in_utc() -> None:
    local = datetime(2026, 10, 25, 14, 0, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("Europe/Berlin")
    )
    assert "'2026-10-25T14:00:00Z'" in logons_script(local)


# --- parsing recorded outputs --------------------------------------------------------------------


def test_busy_server() -> None:
    logins, stats = parse_eventlog((DATA / "busy.json").read_bytes(), SINCE)
    assert stats.error is None
    assert (stats.path, stats.via, stats.records, stats.skipped) == (
        EVENTLOG_PATH,
        "eventlog",
        1532,
        2,
    )
    # 3 + 3 + 12 + 140 + 2 + 1 + 30 + 4; ::1 and ANONYMOUS LOGON are not logins from a machine.
    assert stats.used == len(logins) == 195
    rows = {(x.address, x.service, x.user, x.when) for x in logins}
    assert rows == {
        (
            "203.0.113.7",
            "rdp",
            "CORP\\alice",
            datetime(2026, 11, 23, 18, 2, 11, 550371, tzinfo=UTC),
        ),
        (
            "203.0.113.7",
            "smb/network",
            "CORP\\alice",
            datetime(2026, 11, 23, 18, 2, 10, 912000, tzinfo=UTC),
        ),
        ("198.51.100.9", "winrm", "CORP\\svc-deploy", datetime(2026, 11, 22, 7, 45, tzinfo=UTC)),
        (
            "192.0.2.50",
            "smb/network",
            "CORP\\backup",
            datetime(2026, 11, 20, 9, 15, 30, 123456, tzinfo=UTC),
        ),
        ("10.1.2.3", "smb/network", "CORP\\J\u00fcrgen", datetime(2026, 11, 21, 10, tzinfo=UTC)),
        ("2001:db8::42", "rdp", "WIN-SRV01\\admin", datetime(2026, 11, 19, 11, 11, 11, tzinfo=UTC)),
        ("10.0.5.10", "smb/network", "CORP\\ops", datetime(2026, 11, 19, 12, tzinfo=UTC)),
        ("10.0.5.12", "winrm", "CORP\\admin", datetime(2026, 11, 19, 12, 30, tzinfo=UTC)),
    }
    assert all(x.via == "eventlog" for x in logins)

    sources = aggregate(logins, SINCE, [ip_network("10.0.5.0/28")])
    summary = [(s.address, s.logins, s.service, s.users) for s in sources]
    assert summary == [
        ("10.1.2.3", 2, "smb/network", ["CORP\\J\u00fcrgen"]),
        ("192.0.2.50", 140, "smb/network", ["CORP\\backup"]),
        ("198.51.100.9", 12, "winrm", ["CORP\\svc-deploy"]),
        ("2001:db8::42", 1, "rdp", ["WIN-SRV01\\admin"]),
        # NLA: every RDP session also makes a type 3 logon; the tie goes to rdp.
        ("203.0.113.7", 6, "rdp", ["CORP\\alice"]),
    ]
    assert sources[-1].last_seen == datetime(2026, 11, 23, 18, 2, 11, 550371, tzinfo=UTC)


def test_single_row_unwrapped_with_bom_crlf_and_a_warning() -> None:
    logins, stats = parse_eventlog((DATA / "single.txt").read_bytes(), SINCE)
    assert stats.error is None
    assert [(x.address, x.service, x.user) for x in logins] == [
        ("198.51.100.77", "rdp", "WIN-SRV02\\bob")
    ] * 2
    assert logins[0].when == datetime(2026, 11, 23, 6, 30, 0, 400000, tzinfo=UTC)
    assert (stats.records, stats.used, stats.skipped) == (7, 2, 0)


def test_array_wrapped_by_powershell_type_data() -> None:
    logins, stats = parse_eventlog((DATA / "wrapped.json").read_text(encoding="utf-8"), SINCE)
    assert sorted({(x.address, x.service) for x in logins}) == [
        ("203.0.113.20", "rdp"),
        ("203.0.113.21", "smb/network"),
    ]
    assert (stats.records, stats.used) == (3, 3)


def test_utf16_output() -> None:
    text = (DATA / "busy.json").read_text(encoding="utf-8")
    logins, stats = parse_eventlog(b"\xff\xfe" + text.encode("utf-16-le"), SINCE)
    assert stats.error is None and len(logins) == 195


def test_empty_window() -> None:
    logins, stats = parse_eventlog((DATA / "empty.json").read_bytes(), SINCE)
    assert (logins, stats.records, stats.used, stats.error) == ([], 0, 0, None)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("error.json", "unauthorized operation"),
        ("truncated.txt", "no JSON document"),
    ],
)
def test_failures_are_errors(name: str, message: str) -> None:
    logins, stats = parse_eventlog((DATA / name).read_bytes(), SINCE)
    assert logins == []
    assert stats.error is not None and message in stats.error


def test_time_shapes_and_window() -> None:
    document = (
        '{"since":"x","events":4,"logons":['
        '{"time":"2026-11-23T06:30:00.1234567+02:00","type":10,"user":"a","domain":"-","ip":"192.0.2.1","count":1},'
        '{"time":"2026-11-23T06:30:00","type":10,"user":"b","domain":"","ip":"192.0.2.2","count":1},'
        '{"time":"2026-10-01T06:30:00Z","type":10,"user":"c","domain":"D","ip":"192.0.2.3","count":5},'
        '{"time":"2026-11-23T06:30:00Z","type":"10","user":"d","domain":"D","ip":"192.0.2.4","count":"0"}'
        "]}"
    )
    logins, stats = parse_eventlog(document, SINCE)
    assert [(x.user, x.when) for x in logins] == [
        ("a", datetime(2026, 11, 23, 4, 30, 0, 123456, tzinfo=UTC)),
        ("b", datetime(2026, 11, 23, 6, 30, tzinfo=UTC)),  # no offset: UTC, as the script writes
    ]
    assert (stats.used, stats.skipped) == (2, 1)  # c is outside the window; d has no logins


# --- collection through the Host -------------------------------------------------------------


def test_collect_runs_powershell_once() -> None:
    host = ReplayHost(recorded("busy.json"))
    logins, stats = collect_eventlog(host, SINCE, timeout=90)
    assert len(logins) == 195 and stats.error is None
    [(argv, timeout)] = host.calls
    assert argv == powershell_argv(logons_script(SINCE)) and timeout == 90


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (CommandNotFound("powershell.exe: not found on this host"), "not found"),
        (CommandTimeout("powershell.exe did not finish within 120 s"), "did not finish"),
        (HostError("WinRM: connection refused"), "connection refused"),
    ],
)
def test_transport_failures_are_errors(answer: HostError, message: str) -> None:
    logins, stats = collect_eventlog(ReplayHost(answer), SINCE)
    assert logins == [] and stats.error is not None and message in stats.error
    assert stats.path == EVENTLOG_PATH


def test_powershell_failure_reports_stderr() -> None:
    result = RunResult(1, b"", b"Get-WinEvent : The term 'Get-WinEvent' is not recognized")
    logins, stats = collect_eventlog(ReplayHost(result), SINCE)
    assert logins == []
    assert stats.error is not None and "exited with 1" in stats.error
    assert "Get-WinEvent" in stats.error


def test_a_document_wins_over_a_nonzero_exit() -> None:
    logins, stats = collect_eventlog(ReplayHost(recorded("single.txt", rc=1)), SINCE)
    assert len(logins) == 2 and stats.error is None


def test_absurd_counts_are_bounded() -> None:
    row = '{{"time":"2026-11-23T06:30:00Z","type":3,"user":"u","domain":"D","ip":"192.0.2.{n}","count":999999999999}}'
    document = '{"events":1,"logons":[' + ",".join(row.format(n=n) for n in (1, 2, 3)) + "]}"
    logins, stats = parse_eventlog(document, SINCE)
    assert len(logins) == stats.used == MAX_LOGINS + 2  # the budget, then one login per row
    assert {x.address for x in logins} == {"192.0.2.1", "192.0.2.2", "192.0.2.3"}
