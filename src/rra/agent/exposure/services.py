"""Which listening sockets are admin services (DESIGN §3 "Admin service exposure").

A socket is classified by the name of the process that owns it first, then by its port: an sshd
on port 2222 is still ssh, and ``systemd``/``inetd`` holding port 9090 or 23 for socket
activation is classified by the port. Process names are the kernel's ``comm`` (at most 15
characters, as psutil and ``ss -p`` report them) or a Windows image name.
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

from rra.agent.host import ListeningSocket


class Classification(NamedTuple):
    service: str
    admin: bool
    legacy: bool


OTHER = "other"

#: Protocols that send credentials in clear or authenticate by source address alone.
LEGACY_SERVICES = frozenset({"telnet", "rsh", "rlogin", "rexec"})

#: Exact process names (lower-case, ``.exe`` stripped) → service.
_PROCESS_NAMES: dict[str, str] = {
    "sshd": "ssh",
    "dropbear": "ssh",
    "dropbearmulti": "ssh",
    "telnetd": "telnet",
    "in.telnetd": "telnet",
    "utelnetd": "telnet",
    "rshd": "rsh",
    "in.rshd": "rsh",
    "rlogind": "rlogin",
    "in.rlogind": "rlogin",
    "rexecd": "rexec",
    "in.rexecd": "rexec",
    "xrdp": "rdp",
    "termservice": "rdp",
    "gnome-remote-de": "rdp",  # gnome-remote-desktop, cut to 15 characters by the kernel
    "freerdp-shadow-": "rdp",
    "smbd": "smb",
    "nmbd": "smb",
    "samba": "smb",
    "samba-dcerpcd": "msrpc",
    "rpcd_epmapper": "msrpc",
    "cockpit-ws": "cockpit",
    "miniserv.pl": "webmin",
    "webmin": "webmin",
    "xorg": "x11",
    "x": "x11",
    "xwayland": "x11",
    "omiserver": "winrm",  # OMI: the WS-Management server for Linux (ports 5985/5986)
    "omiengine": "winrm",
    "wsmprovhost": "winrm",
}
#: Prefixes and substrings for daemons with many builds (x11vnc, Xvnc, Xtigervnc, wayvnc...).
_PROCESS_PREFIXES: tuple[tuple[str, str], ...] = (
    ("winrm", "winrm"),
    ("ipmi", "ipmi"),
    ("vino", "vnc"),
    ("krfb", "vnc"),
)
_PROCESS_SUBSTRINGS: tuple[tuple[str, str], ...] = (("vnc", "vnc"),)
#: Generic hosts of many services: their name says nothing, so only these ports count for them.
_HOST_PROCESS_PORTS: dict[str, dict[int, str]] = {
    "svchost": {3389: "rdp", 5985: "winrm", 5986: "winrm", 135: "msrpc"},
    "system": {5985: "winrm", 5986: "winrm", 445: "smb", 139: "smb"},
}

#: (protocol, first port, last port, service). IPMI is RMCP over UDP; UDP 514 is syslog and
#: UDP 512/513 are biff/rwho, so the r-services count on TCP only.
_PORTS: tuple[tuple[str, int, int, str], ...] = (
    ("tcp", 22, 22, "ssh"),
    ("tcp", 23, 23, "telnet"),
    ("tcp", 512, 512, "rexec"),
    ("tcp", 513, 513, "rlogin"),
    ("tcp", 514, 514, "rsh"),
    ("tcp", 135, 135, "msrpc"),
    ("tcp", 139, 139, "smb"),
    ("tcp", 445, 445, "smb"),
    ("tcp", 3389, 3389, "rdp"),
    ("udp", 3389, 3389, "rdp"),
    ("tcp", 5985, 5986, "winrm"),
    ("tcp", 5900, 5910, "vnc"),
    ("tcp", 6000, 6063, "x11"),
    ("udp", 623, 623, "ipmi"),
    ("tcp", 9090, 9090, "cockpit"),
    ("tcp", 10000, 10000, "webmin"),
)


def _normalise(process: str) -> str:
    name = process.strip().lower()
    return name.removesuffix(".exe")


def service_by_process(socket: ListeningSocket) -> str | None:
    """The admin service named by the owning process, or None when the name does not say."""
    if not socket.process:
        return None
    name = _normalise(socket.process)
    if name in _HOST_PROCESS_PORTS:
        return _HOST_PROCESS_PORTS[name].get(socket.port)
    if name in _PROCESS_NAMES:
        return _PROCESS_NAMES[name]
    for prefix, service in _PROCESS_PREFIXES:
        if name.startswith(prefix):
            return service
    for part, service in _PROCESS_SUBSTRINGS:
        if part in name:
            return service
    return None


def service_by_port(proto: str, port: int) -> str | None:
    for p, first, last, service in _PORTS:
        if p == proto.lower() and first <= port <= last:
            return service
    return None


def classify(socket: ListeningSocket) -> Classification:
    """(service, admin, legacy): by process name first, then by port; otherwise ``other``."""
    service = service_by_process(socket) or service_by_port(socket.proto, socket.port)
    if service is None:
        return Classification(OTHER, False, False)
    return Classification(service, True, service in LEGACY_SERVICES)


def classified_by_port_only(socket: ListeningSocket) -> bool:
    """True when the process did not name the service (unknown owner, or a generic host)."""
    return service_by_process(socket) is None


def split_scope(address: str) -> tuple[str, str | None]:
    """``"0.0.0.0%lo"`` → (``"0.0.0.0"``, ``"lo"``): ``ss`` shows a device-bound socket so."""
    host, sep, device = address.partition("%")
    return host, (device if sep and device else None)


def listens_everywhere(address: str) -> bool:
    """A wildcard bind on every interface (``ss`` prints ``*`` for a dual-stack ``::``)."""
    host, device = split_scope(address)
    return device is None and host in {"0.0.0.0", "::", "*", ""}  # noqa: S104 - a comparison


def is_loopback(address: str) -> bool:
    """Only reachable from this host: a loopback address, or any address bound to ``lo``."""
    host, device = split_scope(address)
    if device == "lo":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host.lower() == "localhost"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback
