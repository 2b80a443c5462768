"""auth.log / secure: sshd ``Accepted`` lines in rotated, compressed, dated files; both syslog
timestamp formats; the year of classic lines across New Year and along the rotation chain."""

from __future__ import annotations

import gzip
import shutil
import time
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rra.agent.exposure.authlog import auth_log_paths, host_timezone, read_auth_logs
from rra.agent.exposure.logins import Login, LogRead, aggregate
from rra.agent.local import LocalHost
from tests.agent.exposure.utmp_writer import run_as_nobody, traversable_dir

NOW = datetime(2027, 1, 10, 10, 0, tzinfo=UTC)


def accepted(
    stamp: str, user: str, address: str, method: str = "publickey", pid: int = 4242
) -> str:
    tail = (
        " ssh2: ED25519 SHA256:Zq3dLkGz0x7pX2PqXhW3r1mX6qk0+5sQJ2m9bEo1xYc"
        if method == "publickey"
        else " ssh2"
    )
    return (
        f"{stamp} web01 sshd[{pid}]: Accepted {method} for {user} from {address} port 50022{tail}"
    )


NOISE = [
    "{stamp} web01 sshd[99]: Connection closed by authenticating user root 192.0.2.50 port 40000 [preauth]",
    "{stamp} web01 sshd[99]: Failed password for invalid user admin from 192.0.2.50 port 40000 ssh2",
    "{stamp} web01 CRON[77]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
    "{stamp} web01 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/ls",
    "{stamp} web01 systemd-logind[500]: New session 12 of user alice.",
]


def with_noise(lines: list[str], stamp: str) -> list[str]:
    out: list[str] = []
    for line in lines:
        out += [n.format(stamp=stamp) for n in NOISE] + [line]
    return out


def write(path: Path, lines: list[str], compress: bool = False, newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(line + newline for line in lines).encode()
    path.write_bytes(gzip.compress(data) if compress else data)


def read(
    root: Path, since: datetime | None = None, now: datetime = NOW, **kwargs: object
) -> tuple[list[Login], dict[str, LogRead]]:
    logins, reads = read_auth_logs(LocalHost(root), since=since, now=now, **kwargs)  # type: ignore[arg-type]
    found = list(logins)
    return found, {r.path: r for r in reads}


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, usec: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, usec, tzinfo=UTC)


def test_classic_lines_across_new_year_and_rotation(tmp_path: Path) -> None:
    log = tmp_path / "var/log"
    write(
        log / "auth.log",
        with_noise(
            [
                accepted("Dec 28 10:00:00", "alice", "203.0.113.7"),
                accepted("Dec 31 23:59:59", "bob", "2001:db8::42", "password"),
                accepted(
                    "Jan  1 00:00:01", "carol", "::ffff:198.51.100.9", "keyboard-interactive/pam"
                ),
                accepted("Jan  9 08:00:00", "alice", "203.0.113.7", "gssapi-with-mic"),
            ],
            "Jan  9 08:00:00",
        ),
    )
    write(
        log / "auth.log.1",
        [
            accepted("Dec  1 09:00:00", "dave", "198.51.100.20", "hostbased"),
            accepted("Dec 27 09:00:00", "dave", "198.51.100.20"),
        ],
    )
    # Compressed, rotated a month earlier; its newest line is in December of the same year.
    write(
        log / "auth.log.2.gz",
        [
            accepted("Oct 30 12:00:00", "erin", "192.0.2.10"),
            accepted("Nov 30 12:00:00", "erin", "192.0.2.10"),
        ],
        compress=True,
    )
    found, reads = read(tmp_path, zone=UTC)
    assert [(x.user, x.when, x.address) for x in found] == [
        ("alice", utc(2026, 12, 28, 10), "203.0.113.7"),
        ("bob", utc(2026, 12, 31, 23, 59, 59), "2001:db8::42"),
        ("carol", utc(2027, 1, 1, 0, 0, 1), "198.51.100.9"),
        ("alice", utc(2027, 1, 9, 8), "203.0.113.7"),
        ("dave", utc(2026, 12, 1, 9), "198.51.100.20"),
        ("dave", utc(2026, 12, 27, 9), "198.51.100.20"),
        ("erin", utc(2026, 10, 30, 12), "192.0.2.10"),
        ("erin", utc(2026, 11, 30, 12), "192.0.2.10"),
    ]
    assert all(x.service == "ssh" and x.via == "auth.log" for x in found)
    assert list(reads) == ["/var/log/auth.log", "/var/log/auth.log.1", "/var/log/auth.log.2.gz"]
    current = reads["/var/log/auth.log"]
    assert (current.records, current.used, current.skipped, current.error) == (24, 4, 0, None)


def test_a_rotated_file_from_the_previous_year_before_the_wrap(tmp_path: Path) -> None:
    # Read on 10 January: the current file starts on 2 January, so auth.log.1 (ending in late
    # December) belongs to the year before, although December is "after" January.
    log = tmp_path / "var/log"
    write(log / "auth.log", [accepted("Jan  2 00:10:00", "a", "192.0.2.1")])
    write(log / "auth.log.1", [accepted("Dec 20 10:00:00", "b", "192.0.2.2")])
    found, _ = read(tmp_path, zone=UTC)
    assert [x.when for x in found] == [utc(2027, 1, 2, 0, 10), utc(2026, 12, 20, 10)]


def test_rfc3339_lines_and_the_window(tmp_path: Path) -> None:
    log = tmp_path / "var/log"
    write(
        log / "auth.log",
        [
            accepted("2026-11-24T03:12:01.123456+00:00", "alice", "203.0.113.7"),
            accepted("2026-12-20T10:00:00+01:00", "bob", "2001:db8::42", "password"),
            accepted("2027-01-05T23:30:00.5-05:00", "carol", "198.51.100.9"),
            accepted("2027-01-09T08:00:00Z", "dave", "198.51.100.10"),
        ],
        newline="\r\n",  # CRLF (a log copied through Windows) still parses
    )
    since = NOW - timedelta(days=30)
    found, reads = read(tmp_path, since=since, zone=UTC)
    assert [(x.user, x.when) for x in found] == [
        ("bob", utc(2026, 12, 20, 9)),
        ("carol", utc(2027, 1, 6, 4, 30, 0, 500000)),
        ("dave", utc(2027, 1, 9, 8)),
    ]
    read_ = reads["/var/log/auth.log"]
    assert (read_.records, read_.used, read_.skipped) == (4, 3, 0)


def test_dated_secure_files_and_default_paths(tmp_path: Path) -> None:
    log = tmp_path / "var/log"
    write(log / "secure", [accepted("Jan  9 10:00:00", "alice", "203.0.113.7")])
    write(log / "secure-20270103", [accepted("Dec 30 10:00:00", "bob", "203.0.113.8")])
    write(
        log / "secure-20261227.gz",
        [accepted("Dec 26 10:00:00", "carol", "203.0.113.9")],
        compress=True,
    )
    write(log / "auth.log", [accepted("2027-01-08T10:00:00+00:00", "dave", "203.0.113.10")])
    write(log / "secure.bak", [accepted("Jan  9 10:00:00", "mallory", "192.0.2.66")])
    write(log / "btmp", ["not a source"])
    host = LocalHost(tmp_path)
    assert auth_log_paths(host) == [
        "/var/log/auth.log",
        "/var/log/secure",
        "/var/log/secure-20270103",
        "/var/log/secure-20261227.gz",
    ]
    found, _ = read(tmp_path, zone=UTC)
    assert {(x.user, x.when) for x in found} == {
        ("dave", utc(2027, 1, 8, 10)),
        ("alice", utc(2027, 1, 9, 10)),
        ("bob", utc(2026, 12, 30, 10)),
        ("carol", utc(2026, 12, 26, 10)),
    }


def test_what_is_not_a_login(tmp_path: Path) -> None:
    log = tmp_path / "var/log"
    lines = [
        accepted("Jan  9 08:00:00", "alice", "203.0.113.7"),
        "Jan  9 08:00:01 web01 sshd[5]: Accepted password for invalid user eve from 192.0.2.5 port 1 ssh2",
        "Jan  9 08:00:02 web01 sshd[5]: Failed password for root from 192.0.2.6 port 1 ssh2",
        "Jan  9 08:00:03 web01 postfix/smtpd[9]: Accepted connection from 192.0.2.7",
        "Jan  9 08:00:04 web01 kernel: Accepted packets: 12",
        "Jan  9 08:00:04 web01 not-sshd[3]: Accepted password for x from 192.0.2.9 port 1 ssh2",
        # sshd lines that say Accepted but cannot be read: counted as skipped.
        "Jan  9 08:00:05 web01 sshd[5]: Accepted publickey for",
        "Someday 08:00:06 web01 sshd[5]: Accepted password for bob from 192.0.2.8 port 1 ssh2",
        "Feb 30 08:00:07 web01 sshd[5]: Accepted password for bob from 192.0.2.8 port 1 ssh2",
        "\x00\x00\xff garbage \x01",
        accepted("Jan  9 08:00:08", "frank", "198.51.100.1", pid=7) + " extra words",
        "Jan  9 08:00:09 web01 sshd-session[8]: Accepted publickey for gina from 198.51.100.2 port 2 ssh2: RSA SHA256:x",
        "Jan  9 08:00:10 web01 sshd[9]: Accepted password for henry from 198.51.100.3",
    ]
    write(log / "auth.log", lines)
    found, reads = read(tmp_path, zone=UTC)
    assert [x.user for x in found] == ["alice", "frank", "gina", "henry"]
    read_ = reads["/var/log/auth.log"]
    assert (read_.records, read_.used, read_.skipped) == (len(lines), 4, 3)


def test_hostile_long_lines_are_cheap(tmp_path: Path) -> None:
    # A local user can write anything to syslog; no pattern may backtrack over a long line.
    junk = "x" * 30_000 + " sshd[1]: Accepted " + "y" * 30_000
    huge = "sshd[1]: Accepted password for " + "z" * 2_000_000
    lines = [junk, huge, accepted("Jan  9 08:00:00", "alice", "203.0.113.7")] * 3
    write(tmp_path / "var/log/auth.log", lines)
    begin = time.perf_counter()
    found, reads = read(tmp_path, zone=UTC)
    assert time.perf_counter() - begin < 2.0
    assert [x.user for x in found] == ["alice"] * 3
    assert reads["/var/log/auth.log"].skipped == 3  # the junk sshd lines; longer ones are dropped


def test_local_time_zone_of_the_host(tmp_path: Path) -> None:
    zoneinfo = Path("/usr/share/zoneinfo/Europe/Berlin")
    if not zoneinfo.exists():
        pytest.fail("tzdata is part of every Debian system; /usr/share/zoneinfo is missing")
    (tmp_path / "etc").mkdir()
    shutil.copy(zoneinfo, tmp_path / "etc/localtime")
    zone = host_timezone(LocalHost(tmp_path))
    assert zone.utcoffset(datetime(2027, 1, 1)) == ZoneInfo("Europe/Berlin").utcoffset(
        datetime(2027, 1, 1)
    )
    write(
        tmp_path / "var/log/auth.log",
        [
            accepted("Jul 14 12:00:00", "a", "192.0.2.1"),  # CEST, +02:00
            accepted("Jan  1 00:30:00", "b", "192.0.2.2"),  # CET, +01:00: still 2026 in UTC
        ],
    )
    found, _ = read(tmp_path)
    assert [x.when for x in found] == [utc(2026, 7, 14, 10), utc(2026, 12, 31, 23, 30)]
    assert host_timezone(LocalHost(tmp_path / "nowhere")) is UTC


def test_block_boundaries_last_line_without_newline(tmp_path: Path) -> None:
    # ~3 MiB: "Accepted" lines straddle the 1 MiB blocks.
    lines = []
    for index in range(30_000):
        if index % 7 == 0:
            lines.append(accepted("Jan  9 08:00:00", f"u{index}", f"198.51.{index % 200}.1"))
        else:
            lines.append(NOISE[index % len(NOISE)].format(stamp="Jan  9 08:00:00"))
    path = tmp_path / "var/log/auth.log"
    write(path, lines)
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    assert path.stat().st_size > 3 * (1 << 20)
    found, reads = read(tmp_path, zone=UTC)
    assert len(found) == len([i for i in range(30_000) if i % 7 == 0])
    assert found[-1].user == "u29995"
    assert reads["/var/log/auth.log"].records == 30_000


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    lines = [accepted("Jan  9 08:00:00", f"u{i}", "198.51.100.1") for i in range(20_000)]
    data = gzip.compress("".join(line + "\n" for line in lines).encode())
    path = tmp_path / "var/log/auth.log.1"
    path.parent.mkdir(parents=True)
    path.write_bytes(data[: len(data) // 2])
    found, reads = read(tmp_path, paths=["/var/log/auth.log.1"], zone=UTC)
    error = reads["/var/log/auth.log.1"].error
    assert error is not None and "auth.log.1" in error
    assert 0 < len(found) < 20_000


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with traversable_dir() as tree:
        write(tree / "var/log/auth.log", [accepted("Jan  9 08:00:00", "a", "192.0.2.1")])
        (tree / "var/log/auth.log").chmod(0o600)  # only the file is out of reach
        for directory in [tree / "var", tree / "var/log"]:
            directory.chmod(0o755)

        def work() -> list[object]:
            logins, reads = read_auth_logs(
                LocalHost(tree), paths=["/var/log/auth.log", "/var/log/secure"], now=NOW, zone=UTC
            )
            return [len(list(logins)), [r.error for r in reads]]

        count, errors = run_as_nobody(work)
    assert count == 0
    assert "Permission denied" in errors[0]
    assert "does not exist" in errors[1]
    assert read_auth_logs(LocalHost(tmp_path / "empty"), now=NOW)[1] == []


def test_aggregated_sources_from_auth_logs(tmp_path: Path) -> None:
    write(
        tmp_path / "var/log/auth.log",
        [
            accepted("Nov 20 10:00:00", "old", "192.0.2.200"),  # 2026, outside the window
            accepted("Jan  9 08:00:00", "alice", "203.0.113.7"),
            accepted("Jan  9 09:00:00", "bob", "203.0.113.7"),
            accepted("Jan  9 09:30:00", "root", "127.0.0.1"),
            accepted("Jan  9 10:00:00", "ops", "10.0.5.10"),
        ],
    )
    found, _ = read(tmp_path, zone=UTC)
    sources = aggregate(found, NOW - timedelta(days=30), [ip_network("10.0.5.10/32")])
    assert [(s.address, s.logins, s.users, s.last_seen) for s in sources] == [
        ("203.0.113.7", 2, ["alice", "bob"], utc(2027, 1, 9, 9)),
    ]


def test_out_of_order_lines_at_new_year_and_sparse_logins(tmp_path: Path) -> None:
    write(
        tmp_path / "var/log/auth.log",
        [
            accepted("Mar  3 10:00:00", "a", "192.0.2.1"),  # 2026: nine months before the next
            accepted("Dec 31 23:59:58", "b", "192.0.2.2"),
            accepted("Jan  1 00:00:01", "c", "192.0.2.3"),
            accepted("Dec 31 23:59:59", "d", "192.0.2.4"),  # written a moment late
            accepted("Jan  1 00:00:02", "e", "192.0.2.5"),
            accepted("Jan  5 00:00:00", "f", "192.0.2.6"),
        ],
    )
    found, _ = read(tmp_path, zone=UTC)
    assert [x.when.year for x in found] == [2026, 2026, 2027, 2026, 2027, 2027]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
    gaps=st.lists(st.integers(0, 300 * 86_400), min_size=1, max_size=25),
    lag=st.integers(0, 300 * 86_400),
    window_days=st.integers(1, 400),
    split=st.integers(0, 25),
)
def test_classic_years_are_exact_for_gaps_under_a_year(
    tmp_path: Path, start: datetime, gaps: list[int], lag: int, window_days: int, split: int
) -> None:
    """True times → classic lines (no year) in auth.log.1 + auth.log → the same true times.

    Holds whenever consecutive logins, and the newest one and ``now``, are less than ~300 days
    apart (a longer silence is ambiguous without a year). ``since`` never changes what is found
    in the window (the reader drops lines early only when they cannot be in it).
    """
    truth = []
    moment = start.replace(microsecond=0)
    for gap in gaps:
        moment += timedelta(seconds=gap)
        truth.append(moment.replace(tzinfo=UTC))
    now = truth[-1] + timedelta(seconds=lag)
    lines = [
        accepted(f"{t:%b} {t.day:2d} {t:%H:%M:%S}", f"u{i}", "192.0.2.1")
        for i, t in enumerate(truth)
    ]
    cut = min(split, len(lines))
    folder = tmp_path / f"case-{abs(hash((start, tuple(gaps), lag, split)))}"
    write(folder / "var/log/auth.log.1", lines[:cut])
    write(folder / "var/log/auth.log", lines[cut:])
    found, _ = read(folder, now=now, zone=UTC)
    assert sorted(x.when for x in found) == truth
    since = now - timedelta(days=window_days)
    windowed, _ = read(folder, since=since, now=now, zone=UTC)
    assert sorted(x.when for x in windowed) == [t for t in truth if t >= since]
