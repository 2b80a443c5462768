"""``ss -H -tulnp`` parsing, against recordings and against this machine's own sockets."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from rra.agent.exposure.ss import SsParseError, listening_sockets_via_ss, parse_ss
from rra.agent.host import HostError, ListeningSocket, RunResult
from rra.agent.local import LocalHost
from tests.conftest import require

ANY4 = "0.0.0.0"

DATA = Path(__file__).parent / "data"


def test_recorded_root_output() -> None:
    sockets = parse_ss((DATA / "ss-netns-root.txt").read_text())
    found = {(s.proto, s.address, s.port): (s.process, s.pid) for s in sockets}
    assert found[("tcp", ANY4, 22)] == ("sshd", 5447)
    assert found[("tcp", "::", 22)] == ("sshd", 5447)  # [::] is an IPv6-only socket
    assert found[("tcp", "*", 2222)][0] == "python3"  # * is a dual-stack :: socket
    assert ("udp", "0.0.0.0%lo", 5355) in found  # bound to the loopback device
    assert ("udp", "127.0.0.53", 53) in found
    assert ("udp", "::%v0", 5353) in found
    assert ("udp", "::", 623) in found
    assert ("tcp", "fe80::1%v0", 5900) in found
    assert ("tcp", "::ffff:127.0.0.1", 8080) in found
    assert ("tcp", "fd00::1", 3389) in found
    assert ("tcp", "::1", 631) in found
    assert len(sockets) == 12


def test_recorded_non_root_output_has_no_owner() -> None:
    sockets = parse_ss((DATA / "ss-netns-nonroot.txt").read_text())
    assert len(sockets) == 12
    assert all(s.pid is None and s.process is None for s in sockets)
    assert ListeningSocket("tcp", ANY4, 22, None, None) in sockets


def test_several_owners_and_long_names() -> None:
    sockets = parse_ss((DATA / "ss-debian-host.txt").read_text())
    by_port = {(s.proto, s.port, s.address): s for s in sockets}
    nginx = by_port[("tcp", 80, ANY4)]
    assert (nginx.process, nginx.pid) == ("nginx", 1101)  # the first of the listed owners
    assert by_port[("udp", 53, "127.0.0.53%lo")].process == "systemd-resolve"
    assert by_port[("tcp", 9090, "*")].process == "systemd"
    assert by_port[("tcp", 5901, "::ffff:127.0.0.1")].process == "Xtigervnc"


def test_header_and_connected_sockets_are_skipped() -> None:
    text = (
        "Netid State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n"
        "tcp   LISTEN 0      128    0.0.0.0:22 0.0.0.0:*\n"
        "udp   ESTAB  0      0      10.0.0.5:41000 10.0.0.1:53\n"
        "tcp   LISTEN 0      128    0.0.0.0:* 0.0.0.0:*\n"
    )
    assert parse_ss(text) == [ListeningSocket("tcp", ANY4, 22, None, None)]


@pytest.mark.parametrize(
    "line", ["State Recv-Q", "u_str LISTEN 0 5 /run/x 1 * 0", "tcp LISTEN 0 5 nonsense *:*"]
)
def test_foreign_lines_are_errors(line: str) -> None:
    with pytest.raises(SsParseError):
        parse_ss(line)


class _Failing(LocalHost):
    def run(
        self,
        argv: Sequence[str],
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> RunResult:
        return RunResult(1, b"", b"Cannot open netlink socket: Permission denied")


def test_failed_ss_is_a_host_error() -> None:
    with pytest.raises(HostError, match="Permission denied"):
        listening_sockets_via_ss(_Failing("/"))


def test_real_ss_agrees_with_psutil() -> None:
    """ss through Host.run and psutil see the same listeners on this machine."""
    require("ss", shutil.which("ss") is not None, "apt-get install iproute2")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        via_ss = listening_sockets_via_ss(LocalHost("/"))
        via_psutil = LocalHost("/").listening_sockets()
    ours = [s for s in via_ss if s.port == port]
    assert ours and ours[0].address == "127.0.0.1" and ours[0].proto == "tcp"
    # ss prints a dual-stack "::" as "*", psutil as "::"; ports and protocols must agree.
    assert {(s.proto, s.port) for s in via_ss} == {(s.proto, s.port) for s in via_psutil}
    if os.geteuid() == 0:  # root sees every owner, as `ss -p` does
        assert ours[0].pid == os.getpid()
