"""SMBv1 from smb.conf and VNC without authentication from the RFB handshake."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rra.agent.exposure.legacy import RFB_NONE, smb1_setting, vnc_security_types
from rra.agent.local import LocalHost


@pytest.mark.parametrize(
    ("conf", "enabled"),
    [
        ("[global]\n  server min protocol = NT1\n", True),
        ("[global]\n  min_protocol = LANMAN2\n", True),
        ("[global]\n  server min protocol = SMB2_02\n", False),
        ("[global]\n  workgroup = X\n[share]\n  server min protocol = NT1\n", False),  # not global
        ("[global]\n  ; server min protocol = NT1\n", False),
    ],
)
def test_smb1_setting(tmp_path: Path, conf: str, enabled: bool) -> None:
    (tmp_path / "etc/samba").mkdir(parents=True)
    (tmp_path / "etc/samba/smb.conf").write_text(conf)
    found = smb1_setting(LocalHost(tmp_path))
    assert (found is not None) == enabled
    if enabled:
        assert found is not None and found.startswith("/etc/samba/smb.conf:2:")
    assert smb1_setting(LocalHost(tmp_path / "none")) is None


def _rfb_server(version: bytes, types: bytes) -> Iterator[int]:
    """A listener that speaks the first RFB messages (the server side of the handshake)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(version)
            conn.recv(12)
            conn.sendall(types)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    thread.join(timeout=2)
    server.close()


@pytest.fixture(params=["none", "vnc-auth", "rfb33-none"])
def rfb(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    answers = {
        "none": (b"RFB 003.008\n", bytes([2, RFB_NONE, 2])),
        "vnc-auth": (b"RFB 003.008\n", bytes([1, 2])),
        "rfb33-none": (b"RFB 003.003\n", (RFB_NONE).to_bytes(4, "big")),
    }
    yield from ((request.param, port) for port in _rfb_server(*answers[request.param]))


def test_vnc_security_types(rfb: tuple[str, int]) -> None:
    kind, port = rfb
    types = vnc_security_types("127.0.0.1", port)
    assert types is not None
    assert (RFB_NONE in types) == (kind != "vnc-auth")


def test_vnc_probe_of_a_non_vnc_port_is_none() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = int(closed.getsockname()[1])
    assert vnc_security_types("127.0.0.1", port, timeout=0.5) is None
