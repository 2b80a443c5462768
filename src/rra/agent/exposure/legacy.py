"""Legacy admin protocols that only show up in configuration or in the protocol itself.

telnet and rsh/rlogin are legacy by name (services.py). Two more need a look inside:

* **SMBv1**: Samba serves it only when ``server min protocol`` (or its old name ``min protocol``)
  in smb.conf's ``[global]`` section allows NT1 or older — Samba 4.11+ defaults to SMB2_02.
* **VNC without authentication**: the RFB handshake lists the security types the server offers;
  type 1 ("None") lets anyone in. Read from the live socket (the first 12 + 1 + N bytes).
"""

from __future__ import annotations

import socket
import struct

from rra.agent.host import Host

SMB1_DIALECTS = frozenset({"nt1", "lanman2", "lanman1", "coreplus", "core"})
RFB_NONE = 1


def smb1_setting(host: Host, path: str = "/etc/samba/smb.conf") -> str | None:
    """The smb.conf line that enables SMBv1, or None (not enabled, or no smb.conf)."""
    try:
        raw = host.read_file(path)
    except (PermissionError, OSError):
        return None
    if raw is None:
        return None
    section = ""
    for number, line in enumerate(raw.decode("utf-8", "replace").splitlines(), start=1):
        text = line.strip()
        if not text or text[0] in "#;":
            continue
        if text.startswith("[") and text.endswith("]"):
            section = text[1:-1].strip().lower()
            continue
        key, sep, value = text.partition("=")
        if not sep or section != "global":
            continue
        name = " ".join(key.replace("_", " ").lower().split())
        if (
            name in ("server min protocol", "min protocol")
            and value.strip().lower() in SMB1_DIALECTS
        ):
            return f"{path}:{number}: {text}"
    return None


def vnc_security_types(address: str, port: int, timeout: float = 2.0) -> list[int] | None:
    """The RFB security types a VNC server offers (None when the handshake fails)."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            version = _read(conn, 12)
            if not version.startswith(b"RFB "):
                return None
            if version[4:11] == b"003.003":
                conn.sendall(b"RFB 003.003\n")
                (chosen,) = struct.unpack(">I", _read(conn, 4))
                return [chosen]
            conn.sendall(b"RFB 003.008\n")
            (count,) = struct.unpack(">B", _read(conn, 1))
            return list(_read(conn, count)) if count else []
    except (OSError, struct.error, ValueError):
        return None


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ValueError("connection closed during the RFB handshake")
        data += chunk
    return data
