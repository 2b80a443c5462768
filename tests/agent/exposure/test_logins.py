"""The access-source rules of DESIGN §3 (window, loopback/local, bastions) and address spelling."""

from __future__ import annotations

import bz2
import gzip
import lzma
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rra.agent.exposure.logins import (
    MAX_USERS,
    Login,
    LogRead,
    aggregate,
    is_local,
    normalise_address,
    open_log,
    rotated_paths,
)
from rra.agent.local import LocalHost
from rra.checks.facts import AccessSourceFact, LogReadFact

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=30)


def at(days_ago: float) -> datetime:
    return NOW - timedelta(days=days_ago)


def ssh(address: str, days_ago: float, user: str | None = "alice") -> Login:
    return Login(address, at(days_ago), user, "ssh", "auth.log")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7\x00", "203.0.113.7"),
        ("::ffff:198.51.100.9", "198.51.100.9"),
        ("2001:0DB8:0000::0042", "2001:db8::42"),
        ("[2001:db8::42]", "2001:db8::42"),
        ("fe80::1%eth0", "fe80::1"),
        ("Jump.Example.ORG.", "jump.example.org"),
        ("ws12.corp.example.com:0.0", "ws12.corp.example.com"),
        ("10.0.0.5:10.0", "10.0.0.5"),
        (":0", ":0"),
        (":0.0", ":0.0"),
        ("", ""),
        ("tmux(1234).%0", "tmux(1234).%0"),
    ],
)
def test_normalise_address(raw: str, expected: str) -> None:
    assert normalise_address(raw) == expected


@pytest.mark.parametrize(
    "address",
    [
        "",
        "   ",
        ":0",
        ":1.0",
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "::",
        "localhost",
        "LOCALHOST.",
        "localhost.localdomain",
        "tty1",
        "ttyS0",
        "console",
        "pts/3",
        ":pts/1:S.0",
        "tmux(1234).%0",
    ],
)
def test_local_addresses(address: str) -> None:
    assert is_local(address)


@pytest.mark.parametrize(
    "address", ["203.0.113.7", "10.0.0.1", "2001:db8::42", "fe80::1", "jump.example.org", "ws12"]
)
def test_remote_addresses(address: str) -> None:
    assert not is_local(address)


def test_window_loopback_local_and_counting() -> None:
    logins = [
        ssh("203.0.113.7", 1, "alice"),
        ssh("203.0.113.7", 2, "bob"),
        ssh("203.0.113.7", 40, "old"),  # outside the window: neither counted nor a user
        ssh("203.0.113.7", 29.9, "alice"),
        ssh("198.51.100.1", 31),  # only outside the window: not a source
        ssh("127.0.0.1", 1),
        ssh("::1", 1),
        ssh("", 1),
        ssh(":0", 1),
        ssh("localhost", 1),
        ssh("tty1", 1),
        ssh("jump.example.org", 3, None),
    ]
    sources = aggregate(logins, SINCE)
    assert sources == [
        AccessSourceFact(
            address="203.0.113.7",
            last_seen=at(1),
            logins=3,
            service="ssh",
            via="auth.log",
            users=["alice", "bob"],
        ),
        AccessSourceFact(
            address="jump.example.org",
            last_seen=at(3),
            logins=1,
            service="ssh",
            via="auth.log",
            users=[],
        ),
    ]


def test_window_boundary_is_inclusive() -> None:
    assert [
        s.address for s in aggregate([Login("192.0.2.1", SINCE, "a", None, "wtmp")], SINCE)
    ] == ["192.0.2.1"]
    just_before = SINCE - timedelta(microseconds=1)
    assert aggregate([Login("192.0.2.1", just_before, "a", None, "wtmp")], SINCE) == []


def test_bastions_as_ips_and_cidrs() -> None:
    bastions = [
        ip_network("10.0.5.10/32"),
        ip_network("10.0.6.0/24"),
        ip_network("2001:db8:b::/48"),
    ]
    logins = [
        ssh("10.0.5.10", 1),  # the bastion IP
        ssh("10.0.5.11", 1),  # its neighbour is not a bastion
        ssh("10.0.6.200", 1),  # inside the CIDR
        ssh("10.0.7.1", 1),
        ssh("2001:db8:b::1", 1),
        ssh("2001:db8:c::1", 1),
        ssh("::ffff:10.0.6.7", 1),  # IPv4-mapped: the same machine as 10.0.6.7
        ssh("bastion.example.org", 1),  # a host name is never matched against a CIDR
    ]
    assert [s.address for s in aggregate(logins, SINCE, bastions)] == [
        "10.0.5.11",
        "10.0.7.1",
        "2001:db8:c::1",
        "bastion.example.org",
    ]


def test_ipv4_mapped_and_ipv4_are_one_source_when_normalised() -> None:
    raw = ["::ffff:198.51.100.9", "198.51.100.9", "::FFFF:198.51.100.9"]
    logins = [ssh(normalise_address(a), i + 1) for i, a in enumerate(raw)]
    [source] = aggregate(logins, SINCE)
    assert (source.address, source.logins, source.last_seen) == ("198.51.100.9", 3, at(1))


def test_service_is_the_most_common_via_is_the_newest() -> None:
    logins = [
        Login("192.0.2.5", at(5), "a", "smb/network", "eventlog"),
        Login("192.0.2.5", at(4), "a", "smb/network", "eventlog"),
        Login("192.0.2.5", at(3), "a", "rdp", "eventlog"),
        Login("192.0.2.5", at(1), "a", None, "wtmp"),
        Login("192.0.2.6", at(2), "b", "smb/network", "eventlog"),
        Login("192.0.2.6", at(2), "b", "rdp", "eventlog"),  # a tie: alphabetical
        Login("192.0.2.7", at(2), "c", None, "wtmp"),
    ]
    by_address = {s.address: s for s in aggregate(logins, SINCE)}
    assert (by_address["192.0.2.5"].service, by_address["192.0.2.5"].via) == ("smb/network", "wtmp")
    assert by_address["192.0.2.5"].last_seen == at(1)
    assert by_address["192.0.2.6"].service == "rdp"
    assert by_address["192.0.2.7"].service is None


def test_users_sorted_distinct_and_capped() -> None:
    logins = [ssh("192.0.2.9", 1, f"user{i:02d}") for i in reversed(range(30))] + [
        ssh("192.0.2.9", 2, "user00")
    ]
    [source] = aggregate(logins, SINCE)
    assert source.users == [f"user{i:02d}" for i in range(MAX_USERS)]
    assert source.logins == 31


def test_sorted_by_address_and_order_independent() -> None:
    logins = [ssh(a, 1) for a in ["203.0.113.7", "10.0.0.1", "2001:db8::1", "a.example"]]
    first = aggregate(logins, SINCE)
    assert [s.address for s in first] == sorted(s.address for s in first)
    assert aggregate(reversed(logins), SINCE) == first


@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["192.0.2.1", "192.0.2.2", "127.0.0.1", "10.0.5.10", ":0", "h.example"]
            ),
            st.integers(0, 60),
            st.sampled_from(["a", "b", None]),
        ),
        max_size=40,
    )
)
def test_aggregate_counts_match_a_direct_count(rows: list[tuple[str, int, str | None]]) -> None:
    bastions = [ip_network("10.0.5.0/28")]
    logins = [ssh(address, days, user) for address, days, user in rows]
    sources = aggregate(logins, SINCE, bastions)
    kept = [r for r in rows if r[1] <= 30 and r[0] in {"192.0.2.1", "192.0.2.2", "h.example"}]
    assert {s.address: s.logins for s in sources} == {
        a: sum(1 for r in kept if r[0] == a) for a in {r[0] for r in kept}
    }
    for source in sources:
        assert source.last_seen == at(min(r[1] for r in kept if r[0] == source.address))


def test_log_read_becomes_the_fact() -> None:
    read = LogRead("/var/log/wtmp", "wtmp", records=10, used=4, skipped=1, error=None)
    assert read.fact() == LogReadFact(
        path="/var/log/wtmp", via="wtmp", records=10, used=4, skipped=1, error=None
    )


def test_rotated_paths_order(tmp_path: Path) -> None:
    log = tmp_path / "var/log"
    log.mkdir(parents=True)
    names = ["auth.log", "auth.log.1", "auth.log.2.gz", "auth.log.11.gz", "auth.log-20261020"]
    names += ["auth.log-20261103.gz", "auth.log.bak", "auth.log.old", "auth.logger"]
    for name in names:
        (log / name).write_text("")
    assert rotated_paths(LocalHost(tmp_path), "/var/log/auth.log") == [
        "/var/log/auth.log",
        "/var/log/auth.log.1",
        "/var/log/auth.log.2.gz",
        "/var/log/auth.log.11.gz",
        "/var/log/auth.log-20261103.gz",
        "/var/log/auth.log-20261020",
    ]


@pytest.mark.parametrize(
    "compress",
    [lambda b: b, gzip.compress, bz2.compress, lzma.compress],
    ids=["plain", "gzip", "bzip2", "xz"],
)
def test_open_log_decompresses_by_content_not_name(tmp_path: Path, compress: object) -> None:
    payload = b"line one\nline two\n" * 1000
    (tmp_path / "auth.log.1").write_bytes(compress(payload))  # type: ignore[operator]
    with ExitStack() as stack:
        stream = open_log(LocalHost(tmp_path), "/auth.log.1", stack)
        assert stream is not None
        assert stream.read() == payload
    assert open_log(LocalHost(tmp_path), "/missing", ExitStack()) is None
