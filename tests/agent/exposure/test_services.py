"""Admin service classification: process name first, then port (DESIGN §3)."""

from __future__ import annotations

import pytest

from rra.agent.exposure.services import (
    classified_by_port_only,
    classify,
    is_loopback,
    listens_everywhere,
    split_scope,
)
from rra.agent.host import ListeningSocket

ANY4 = "0.0.0.0"


def sock(process: str | None, port: int, proto: str = "tcp") -> ListeningSocket:
    return ListeningSocket(proto, ANY4, port, 1 if process else None, process)


@pytest.mark.parametrize(
    ("process", "port", "proto", "expected"),
    [
        # By process, on any port.
        ("sshd", 2222, "tcp", ("ssh", True, False)),
        ("dropbear", 22022, "tcp", ("ssh", True, False)),
        ("in.telnetd", 2323, "tcp", ("telnet", True, True)),
        ("telnetd", 23, "tcp", ("telnet", True, True)),
        ("in.rshd", 514, "tcp", ("rsh", True, True)),
        ("rlogind", 1513, "tcp", ("rlogin", True, True)),
        ("xrdp", 3390, "tcp", ("rdp", True, False)),
        ("x11vnc", 5999, "tcp", ("vnc", True, False)),
        ("Xvnc", 5901, "tcp", ("vnc", True, False)),
        ("Xtigervnc", 5901, "tcp", ("vnc", True, False)),
        ("vino-server", 5900, "tcp", ("vnc", True, False)),
        ("smbd", 4450, "tcp", ("smb", True, False)),
        ("nmbd", 137, "udp", ("smb", True, False)),
        ("cockpit-ws", 9091, "tcp", ("cockpit", True, False)),
        ("miniserv.pl", 10443, "tcp", ("webmin", True, False)),
        ("Xorg", 6000, "tcp", ("x11", True, False)),
        ("ipmi_sim", 9001, "udp", ("ipmi", True, False)),
        ("omiserver", 5986, "tcp", ("winrm", True, False)),
        ("svchost.exe", 3389, "tcp", ("rdp", True, False)),
        ("System", 5985, "tcp", ("winrm", True, False)),
        # A generic host process says nothing: its port decides, or it is not admin.
        ("svchost.exe", 8080, "tcp", ("other", False, False)),
        ("systemd", 9090, "tcp", ("cockpit", True, False)),
        ("inetd", 23, "tcp", ("telnet", True, True)),
        # By port when the owner is unknown (non-root) or not an admin daemon.
        (None, 22, "tcp", ("ssh", True, False)),
        (None, 513, "tcp", ("rlogin", True, True)),
        (None, 512, "tcp", ("rexec", True, True)),
        (None, 139, "tcp", ("smb", True, False)),
        (None, 445, "tcp", ("smb", True, False)),
        (None, 135, "tcp", ("msrpc", True, False)),
        (None, 5985, "tcp", ("winrm", True, False)),
        (None, 5910, "tcp", ("vnc", True, False)),
        (None, 5911, "tcp", ("other", False, False)),
        (None, 6063, "tcp", ("x11", True, False)),
        (None, 6064, "tcp", ("other", False, False)),
        (None, 623, "udp", ("ipmi", True, False)),
        (None, 623, "tcp", ("other", False, False)),
        (None, 514, "udp", ("other", False, False)),  # syslog, not rsh
        (None, 10000, "tcp", ("webmin", True, False)),
        ("nginx", 80, "tcp", ("other", False, False)),
        ("python3", 3389, "tcp", ("rdp", True, False)),
    ],
)
def test_classify(
    process: str | None, port: int, proto: str, expected: tuple[str, bool, bool]
) -> None:
    assert tuple(classify(sock(process, port, proto))) == expected


def test_classification_unpacks_and_says_how_it_was_named() -> None:
    service, admin, legacy = classify(sock("sshd", 22))
    assert (service, admin, legacy) == ("ssh", True, False)
    assert not classified_by_port_only(sock("sshd", 22))
    assert classified_by_port_only(sock(None, 22))
    assert classified_by_port_only(sock("systemd", 9090))


@pytest.mark.parametrize(
    ("address", "everywhere", "loopback"),
    [
        (ANY4, True, False),
        ("::", True, False),
        ("*", True, False),
        ("127.0.0.1", False, True),
        ("127.0.0.53", False, True),
        ("::1", False, True),
        ("::ffff:127.0.0.1", False, True),
        ("0.0.0.0%lo", False, True),  # bound to the loopback device
        ("127.0.0.53%lo", False, True),
        ("[::]%eth0", False, False),
        ("0.0.0.0%eth0", False, False),
        ("10.0.0.5", False, False),
        ("fe80::1%eth0", False, False),
        ("::ffff:10.0.0.5", False, False),
    ],
)
def test_address_scope(address: str, everywhere: bool, loopback: bool) -> None:
    assert listens_everywhere(address) is everywhere
    assert is_loopback(address) is loopback


def test_split_scope() -> None:
    assert split_scope("0.0.0.0%lo") == (ANY4, "lo")
    assert split_scope("fe80::1%eth0") == ("fe80::1", "eth0")
    assert split_scope("10.0.0.1") == ("10.0.0.1", None)
