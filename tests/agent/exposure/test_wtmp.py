"""wtmp: rra's reader against the real ``last`` (util-linux) on files written record by record.

The oracle is ``last -f FILE --time-format iso -a -w`` run twice, with and without ``-i``:
with ``-i`` the last column is ``ut_addr_v6`` as numbers (``0.0.0.0`` when it is zero), without
it the text of ``ut_host``. The expected address of a login is the first when non-zero, else the
second — the rule DESIGN §3 gives — normalised here independently of rra.
"""

from __future__ import annotations

import gzip
import io
import ipaddress
import os
import re
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from pathlib import Path
from typing import BinaryIO

import pytest

from rra.agent.exposure.logins import Login, aggregate
from rra.agent.exposure.wtmp import RECORD, read_wtmp, rotated_wtmp
from rra.agent.local import LocalHost
from tests.agent.exposure.utmp_writer import (
    ACCOUNTING,
    BOOT_TIME,
    DEAD_PROCESS,
    INIT_PROCESS,
    LOGIN_PROCESS,
    RUN_LVL,
    USER_PROCESS,
    Record,
    boot,
    login,
    logout,
    run_as_nobody,
    traversable_dir,
    write_wtmp,
)
from tests.conftest import require

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=30)
BASTIONS = [ip_network("10.0.5.10/32"), ip_network("10.0.5.0/28"), ip_network("2001:db8:b::/48")]


@pytest.fixture(scope="module")
def last_binary() -> str:
    path = shutil.which("last")
    require("last", path is not None, "apt-get install util-linux")
    assert path is not None
    return path


# --- the oracle ---------------------------------------------------------------------------------


def _last(binary: str, path: Path, *flags: str) -> list[str]:
    done = subprocess.run(
        [binary, "-f", str(path), "--time-format", "iso", "-a", "-w", *flags],
        capture_output=True,
        env={"TZ": "UTC", "LC_ALL": "C.UTF-8", "PATH": os.environ.get("PATH", "")},
        check=True,
        timeout=60,
    )
    lines = done.stdout.decode("utf-8", "replace").splitlines()
    return [line for line in lines if line.strip() and " begins " not in line]


def _unescape(text: str) -> str:
    # last prints bytes that are not valid UTF-8 as octal escapes (\351).
    raw = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m[1], 8)]), text.encode())
    return raw.decode("utf-8", "replace")


UNSPECIFIED = "0.0.0.0"


def _oracle_address(ip_text: str, host_text: str) -> str:
    if ip_text != UNSPECIFIED:
        ip = ipaddress.ip_address(ip_text)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ip)
    host = host_text.strip()
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    display = re.fullmatch(r"(.+?):\d+(?:\.\d+)?", host)
    return (display[1] if display else host).lower()


def last_logins(binary: str, path: Path) -> list[tuple[str, datetime, str]]:
    """(user, login time, address) for every login ``last`` lists, newest first."""
    with_ip, with_host = _last(binary, path, "-i"), _last(binary, path)
    assert len(with_ip) == len(with_host)
    rows = []
    for ip_line, host_line in zip(with_ip, with_host, strict=True):
        user, tty, stamp = ip_line.split()[:3]
        if tty == "system":  # "reboot system boot": not a login
            continue
        ip_text = ip_line.split()[-1]
        prefix = ip_line[: len(ip_line) - len(ip_text)]
        host_text = host_line[len(prefix) :] if host_line.startswith(prefix.rstrip()) else ""
        when = datetime.fromisoformat(stamp).astimezone(UTC)
        rows.append((_unescape(user), when, _oracle_address(ip_text, host_text)))
    return rows


def _oracle_is_source(address: str) -> bool:
    if not address or address.startswith(":") or address in {UNSPECIFIED, "localhost"}:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return re.fullmatch(r"tty\w*", address) is None
    if ip.is_loopback or ip.is_unspecified:
        return False
    return not any(ip.version == n.version and ip in n for n in BASTIONS)


# --- the scenario ------------------------------------------------------------------------------


def scenario() -> list[Record]:
    t = NOW - timedelta(days=3)
    m = timedelta(minutes=1)
    return [
        boot(NOW - timedelta(days=45)),
        login(NOW - timedelta(days=40), "olduser", "192.0.2.99", "192.0.2.99", "pts/0", 90),
        logout(NOW - timedelta(days=40) + m, "pts/0", 90),
        boot(t),
        login(t + 1 * m, "alice", "203.0.113.7", "203.0.113.7", "pts/0", 100),
        logout(t + 5 * m, "pts/0", 100),
        login(t + 6 * m, "bob", "2001:db8::42", "2001:db8::42", "pts/1", 101),
        login(t + 7 * m, "carol", "jump.example.org", None, "pts/2", 102),
        login(t + 8 * m, "carol", "JUMP.Example.org", None, "pts/3", 103),
        login(t + 9 * m, "dave", ":0", None, ":0", 104),
        login(t + 10 * m, "eve", "127.0.0.1", "127.0.0.1", "pts/4", 105),
        login(t + 11 * m, "eve", "::1", "::1", "pts/5", 106),
        login(t + 12 * m, "frank", "", None, "tty1", 107),
        login(t + 13 * m, "gina", "::ffff:198.51.100.9", "::ffff:198.51.100.9", "pts/6", 108),
        login(t + 14 * m, "henry", "10.0.5.10", "10.0.5.10", "pts/7", 109),
        login(t + 15 * m, "ivan", "10.0.5.3", "10.0.5.3", "pts/8", 110),
        login(t + 16 * m, "judy", "10.0.5.20", "10.0.5.20", "pts/9", 111),
        login(t + 17 * m, "ken", "ws12.corp.example.com:0.0", None, "pts/10", 112),
        login(t + 18 * m, "lee", "gw.example.net", "198.51.100.20", "pts/11", 113),
        login(t + 19 * m, "mia", "2001:db8:b::7", "2001:db8:b::7", "pts/12", 114),
        Record(USER_PROCESS, t + 20 * m, b"m\xe9lanie", "pts/13", "203.0.113.7", "203.0.113.7"),
        Record(
            USER_PROCESS, t + 21 * m, "alice", "pts/14", "203.0.113.7", "203.0.113.7", usec=250_000
        ),
        login(
            t + 22 * m, "averyveryverylongusernamethatfills", "203.0.113.8", "203.0.113.8", "pts/15"
        ),
        Record(INIT_PROCESS, t + 23 * m, "", "", "", None, ut_id="si"),
        Record(RUN_LVL, t + 23 * m, "runlevel", "~", "6.1.0", None),
        Record(LOGIN_PROCESS, t + 24 * m, "LOGIN", "tty2", "", None),
        logout(t + 25 * m, "pts/1", 101),
    ]


def seen(logins: list[Login]) -> list[tuple[str | None, datetime, str]]:
    """What ``last`` shows of each login: user, time to the second (its ISO format), address."""
    return sorted((x.user, x.when.replace(microsecond=0), x.address) for x in logins)


def rra_logins(path: Path, since: datetime | None = None) -> tuple[list[Login], int, int, int]:
    logins, stats = read_wtmp(LocalHost(path.parent), "/" + path.name, since)
    found = list(logins)
    assert stats.error is None
    return found, stats.records, stats.used, stats.skipped


def test_logins_match_last(last_binary: str, tmp_path: Path) -> None:
    path = write_wtmp(tmp_path / "wtmp", scenario())
    found, records, used, skipped = rra_logins(path)
    expected = last_logins(last_binary, path)
    assert len(expected) == 19  # every USER_PROCESS record of the scenario
    assert seen(found) == sorted(expected)
    assert (records, used, skipped) == (len(scenario()), 19, 0)
    by_user = {x.user: x for x in found}
    assert by_user["bob"].address == "2001:db8::42"
    assert by_user["gina"].address == "198.51.100.9"  # IPv4-mapped → IPv4
    assert by_user["lee"].address == "198.51.100.20"  # ut_addr_v6 wins over ut_host
    assert by_user["ken"].address == "ws12.corp.example.com"  # display suffix stripped
    assert by_user["m\ufffdlanie"].address == "203.0.113.7"
    assert by_user["averyveryverylongusernamethatfil"].address == "203.0.113.8"  # 32 bytes
    assert {x.when.microsecond for x in found if x.user == "alice"} == {0, 250_000}
    assert (by_user["bob"].service, by_user["frank"].service, by_user["dave"].service) == (
        "ssh",
        "login",
        None,
    )
    assert all(x.via == "wtmp" and x.when.tzinfo is UTC for x in found)


def test_sources_match_last(last_binary: str, tmp_path: Path) -> None:
    path = write_wtmp(tmp_path / "wtmp", scenario())
    expected_rows = [
        row
        for row in last_logins(last_binary, path)
        if row[1] >= SINCE and _oracle_is_source(row[2])
    ]
    counts = Counter(address for _, _, address in expected_rows)
    newest = {a: max(w for _, w, x in expected_rows if x == a) for a in counts}
    newest["203.0.113.7"] += timedelta(microseconds=250_000)  # last prints whole seconds
    users = {a: sorted({u for u, _, x in expected_rows if x == a}) for a in counts}

    found, *_ = rra_logins(path, since=SINCE)
    sources = aggregate(found, SINCE, BASTIONS)

    assert [s.address for s in sources] == sorted(counts)
    assert {s.address: s.logins for s in sources} == dict(counts)
    assert {s.address: s.last_seen for s in sources} == newest
    assert {s.address: s.users for s in sources} == users
    # Spelled out, so that a wrong oracle cannot hide a wrong rule: loopback, ":0", the console,
    # the bastion IP, the bastion CIDRs (v4 and v6) and the 40-day-old login are not sources.
    assert sorted(counts) == [
        "10.0.5.20",
        "198.51.100.20",
        "198.51.100.9",
        "2001:db8::42",
        "203.0.113.7",
        "203.0.113.8",
        "jump.example.org",
        "ws12.corp.example.com",
    ]
    assert {s.address: s.logins for s in sources}["203.0.113.7"] == 3
    assert {s.address: s.service for s in sources}["jump.example.org"] == "ssh"


def test_since_filters_early_like_the_window(tmp_path: Path) -> None:
    path = write_wtmp(tmp_path / "wtmp", scenario())
    everything, records, used_all, _ = rra_logins(path)
    windowed, records_w, used_w, _ = rra_logins(path, since=SINCE)
    assert records == records_w
    assert [x for x in everything if x.when >= SINCE] == windowed
    assert used_w == used_all - 1  # olduser, 40 days ago
    assert aggregate(everything, SINCE, BASTIONS) == aggregate(windowed, SINCE, BASTIONS)


def test_garbage_and_truncated_records_are_skipped_and_counted(
    last_binary: str, tmp_path: Path
) -> None:
    clean = scenario()
    t = NOW - timedelta(days=1)
    garbage = [
        Record(99, t, "zed", "pts/20", "198.51.100.2", "198.51.100.2"),  # type out of range
        Record(-3, t, "zed", "pts/20", "198.51.100.2", "198.51.100.2"),  # negative type
        Record(USER_PROCESS, 0, "zero", "pts/21", "198.51.100.3", "198.51.100.3"),
        Record(USER_PROCESS, -5, "neg", "pts/21", "198.51.100.3", "198.51.100.3"),
        Record(USER_PROCESS, t, "", "pts/22", "198.51.100.4", "198.51.100.4"),  # no user
        Record(USER_PROCESS, t, "us", "pts/23", "198.51.100.5", "198.51.100.5", usec=2_000_000),
    ]
    reference = write_wtmp(tmp_path / "clean", clean)
    mixed = [*clean[:5], *garbage[:3], *clean[5:], *garbage[3:]]
    path = write_wtmp(tmp_path / "wtmp", [*mixed, garbage[0].pack()[:100]])
    found, records, used, skipped = rra_logins(path)
    assert seen(found) == sorted(last_logins(last_binary, reference))
    assert (records, used, skipped) == (len(clean) + 6, 19, 7)
    # last itself prints nothing for a file with a truncated tail: rra still reads the rest.
    assert last_logins(last_binary, path) == []


def test_last_counts_other_record_types_as_logins_rra_does_not(
    last_binary: str, tmp_path: Path
) -> None:
    t = NOW - timedelta(days=1)
    path = write_wtmp(
        tmp_path / "wtmp",
        [
            Record(LOGIN_PROCESS, t, "alice", "pts/7", "198.51.100.1", "198.51.100.1"),
            Record(ACCOUNTING, t, "acct", "pts/8", "198.51.100.1", "198.51.100.1"),
            login(t, "bob", "198.51.100.2", "198.51.100.2", "pts/9"),
        ],
    )
    assert {row[0] for row in last_logins(last_binary, path)} == {"alice", "acct", "bob"}
    found, records, used, skipped = rra_logins(path)
    assert [x.user for x in found] == ["bob"]
    assert (records, used, skipped) == (3, 1, 0)


def test_large_file_across_buffer_boundaries(last_binary: str, tmp_path: Path) -> None:
    # 12,000 records = 4.4 MiB: more than one 4 MiB read, with records straddling nothing
    # (the buffer is a multiple of 384) and a final partial buffer.
    t = NOW - timedelta(days=2)
    records: list[Record] = []
    for index in range(6_000):
        address = f"198.51.{index % 50}.{index % 200 + 1}"
        line = f"pts/{index % 30}"
        when = t + timedelta(seconds=index)
        records += [login(when, f"u{index % 7}", address, address, line, 1000 + index)]
        records += [logout(when + timedelta(milliseconds=500), line, 1000 + index)]
    path = write_wtmp(tmp_path / "wtmp", records)
    assert path.stat().st_size == 12_000 * RECORD > 4 * 1024 * 1024
    found, count, used, skipped = rra_logins(path)
    assert (count, used, skipped) == (12_000, 6_000, 0)
    assert seen(found) == sorted(last_logins(last_binary, path))


class _Trickle(io.RawIOBase):
    """A non-seekable stream that returns at most 1,000 bytes per read (like a pipe)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = min(1000, len(buffer), len(self._data))
        buffer[:count] = self._data[:count]
        self._data = self._data[count:]
        return count


class TrickleHost(LocalHost):
    def open_binary(self, path: str) -> BinaryIO | None:
        data = self.read_file(path)
        return None if data is None else _Trickle(data)  # type: ignore[return-value]


@pytest.mark.parametrize("compress", [False, True])
def test_short_reads_and_gzip(tmp_path: Path, compress: bool) -> None:
    data = write_wtmp(tmp_path / "plain", scenario()).read_bytes() + b"\x07" * 50
    (tmp_path / "wtmp").write_bytes(gzip.compress(data) if compress else data)
    expected, records, used, _ = rra_logins(tmp_path / "plain")
    logins, stats = read_wtmp(TrickleHost(tmp_path), "/wtmp")
    assert list(logins) == expected
    assert (stats.records, stats.used, stats.skipped, stats.error) == (records, used, 1, None)


def test_rotated_files_in_order(tmp_path: Path) -> None:
    log = tmp_path / "var/log"
    log.mkdir(parents=True)
    for name in ["wtmp", "wtmp.1", "wtmp.2.gz", "wtmp.10.gz", "wtmp-20261001", "wtmp-20261101.gz"]:
        (log / name).write_bytes(b"")
    for name in ["wtmp.db", "wtmp.bak", "btmp", "btmp.1"]:
        (log / name).write_bytes(b"")
    host = LocalHost(tmp_path)
    assert rotated_wtmp(host) == [
        "/var/log/wtmp",
        "/var/log/wtmp.1",
        "/var/log/wtmp.2.gz",
        "/var/log/wtmp.10.gz",
        "/var/log/wtmp-20261101.gz",
        "/var/log/wtmp-20261001",
    ]
    (log / "wtmp").unlink()
    assert rotated_wtmp(host)[0] == "/var/log/wtmp"  # listed so that reading it reports it missing


def test_missing_file_is_reported(tmp_path: Path) -> None:
    logins, stats = read_wtmp(LocalHost(tmp_path), "/var/log/wtmp")
    assert list(logins) == []
    assert stats.error is not None and "does not exist" in stats.error


def test_permission_denied_is_an_error_not_an_exception() -> None:
    with traversable_dir() as tree:
        folder = tree / "var" / "log"
        folder.mkdir(parents=True)
        folder.chmod(0o755)
        (tree / "var").chmod(0o755)
        write_wtmp(folder / "wtmp", scenario()).chmod(0o600)  # only the file is out of reach

        def read() -> list[object]:
            logins, stats = read_wtmp(LocalHost(tree))
            rotated = read_wtmp(LocalHost(tree), "/var/log/wtmp.1")[1]
            return [len(list(logins)), stats.error, stats.records, rotated.error]

        count, error, records, missing = run_as_nobody(read)
    assert (count, records) == (0, 0)
    assert error is not None and "Permission denied" in error
    assert missing is not None and "does not exist" in missing  # the folder itself is readable


def test_every_record_type_is_read_and_only_logins_are_used(tmp_path: Path) -> None:
    t = NOW - timedelta(hours=1)
    kinds = [RUN_LVL, BOOT_TIME, INIT_PROCESS, LOGIN_PROCESS, DEAD_PROCESS, ACCOUNTING]
    records = [Record(kind, t, "x", "pts/1", "198.51.100.1", "198.51.100.1") for kind in kinds]
    path = write_wtmp(tmp_path / "wtmp", [*records, Record(0, 0)])
    found, count, used, skipped = rra_logins(path)
    assert (found, count, used, skipped) == ([], 7, 0, 0)
