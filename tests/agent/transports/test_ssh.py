"""SSHHost against real sshd instances on loopback (the session's ``sshd_lab``)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rra.agent.host import CommandNotFound, CommandTimeout
from rra.agent.local import LocalHost
from rra.agent.transports.ssh import SSHHost
from rra.agent.transports.ssh_keys import (
    HostKeyMismatch,
    HostKeyUnknown,
    SSHAuthError,
    SSHUnreachable,
)
from tests.sshd_lab import SshdLab, free_port, keygen


def _host(lab: SshdLab, index: int = 0, **options: object) -> SSHHost:
    server = lab.servers[index]
    settings: dict[str, object] = {
        "user": "root",
        "key_file": lab.client_key,
        "allow_agent": False,
        "known_hosts": lab.known_hosts,
        "connect_timeout": 5.0,
    }
    settings.update(options)
    return SSHHost("127.0.0.1", server.port, **settings)  # type: ignore[arg-type]


@pytest.fixture
def host(sshd_lab: SshdLab) -> Iterator[SSHHost]:
    with _host(sshd_lab) as connected:
        yield connected


def test_argv_reaches_the_program_verbatim_never_as_shell_text(
    host: SSHHost, tmp_path: Path
) -> None:
    marker = tmp_path / "injected"
    nasty = [f"; touch {marker}", f"$(touch {marker})", f"`touch {marker}`", "a'b\"c", "x\ny", "*"]
    result = host.run(["printf", "%s\\0", *nasty])
    assert result.rc == 0
    assert result.stdout.split(b"\0")[:-1] == [item.encode() for item in nasty]
    assert not marker.exists()


def test_exit_code_stderr_and_stdin(host: SSHHost) -> None:
    failed = host.run(["sh", "-c", "echo oops >&2; exit 3"])
    assert (failed.rc, failed.stderr_text) == (3, "oops\n")
    echoed = host.run(["cat"], stdin=b"line one\nline two\n")
    assert echoed.stdout == b"line one\nline two\n"
    with pytest.raises(CommandNotFound):
        host.run(["rra-no-such-program-here"])


def test_env_values_travel_on_stdin_not_in_any_command_line(host: SSHHost) -> None:
    secret = "s3cr3t-" + "x" * 12
    result = host.run(
        ["sh", "-c", 'printf "%s|" "$BACKEND_KEY"; cat; cat /proc/[0-9]*/cmdline | tr "\\0" " "'],
        env={"BACKEND_KEY": secret},
        stdin=b"payload",
    )
    assert result.rc == 0, result.stderr_text
    shown, _, rest = result.stdout_text.partition("|")
    assert shown == secret
    assert rest.startswith("payload")
    assert secret not in rest  # no process on the host shows it in its argv


def test_files_like_a_local_host(host: SSHHost, tmp_path: Path) -> None:
    local = LocalHost("/")
    (tmp_path / "a.conf").write_bytes(b"\x00binary\xff")
    (tmp_path / "b.conf").write_text("two")
    (tmp_path / ".hidden.conf").write_text("no")
    (tmp_path / "sub").mkdir()
    assert host.read_file(str(tmp_path / "a.conf")) == b"\x00binary\xff"
    assert host.read_file(str(tmp_path / "missing")) is None
    assert host.read_file(str(tmp_path / "sub")) is None
    assert host.exists(str(tmp_path / "b.conf")) and not host.exists(str(tmp_path / "nope"))
    for pattern in (f"{tmp_path}/*.conf", f"{tmp_path}/.*", "/etc/pam.d/*", "/etc/ssh/sshd_config"):
        assert host.glob(pattern) == local.glob(pattern), pattern
    big = tmp_path / "big.log"
    big.write_bytes(b"0123456789abcdef" * 200_000)
    handle = host.open_binary(str(big))
    assert handle is not None
    with handle:
        assert handle.read() == big.read_bytes()


def test_live_facts(host: SSHHost, sshd_lab: SshdLab) -> None:
    local = LocalHost("/")
    assert host.hostname() == local.hostname()
    assert host.boot_time() == local.boot_time()
    ports = {(s.address, s.port, s.process) for s in host.listening_sockets() if s.proto == "tcp"}
    assert ("127.0.0.1", sshd_lab.servers[1].port, "sshd") in ports
    ours = [c for c in host.established_connections() if c.local_port == sshd_lab.servers[0].port]
    assert ours and all(c.remote_address == "127.0.0.1" for c in ours)


def test_unknown_host_key_is_refused(sshd_lab: SshdLab, tmp_path: Path) -> None:
    with pytest.raises(HostKeyUnknown, match="not pinned"):
        _host(sshd_lab, known_hosts=tmp_path / "empty_known_hosts").run(["true"])


def test_changed_host_key_is_refused(sshd_lab: SshdLab, tmp_path: Path) -> None:
    impostor = tmp_path / "impostor"
    keygen(impostor)
    key_type, key = Path(f"{impostor}.pub").read_text().split()[:2]
    pinned = tmp_path / "known_hosts"
    pinned.write_text(f"[127.0.0.1]:{sshd_lab.servers[0].port} {key_type} {key}\n")
    with pytest.raises(HostKeyMismatch, match="does not match"):
        _host(sshd_lab, known_hosts=pinned).run(["true"])
    # trust-on-first-use never overrides a pinned key
    with pytest.raises(HostKeyMismatch):
        _host(sshd_lab, known_hosts=pinned, host_key_policy="trust_on_first_use").run(["true"])


def test_trust_on_first_use_records_then_pins(sshd_lab: SshdLab, tmp_path: Path) -> None:
    recorded = tmp_path / "tofu_known_hosts"
    with _host(sshd_lab, 1, known_hosts=recorded, host_key_policy="trust_on_first_use") as first:
        assert first.run(["true"]).rc == 0
    assert recorded.read_text() == sshd_lab.servers[1].known_hosts_line()
    with _host(sshd_lab, 1, known_hosts=recorded) as pinned:  # reject policy now passes
        assert pinned.run(["true"]).rc == 0
    # another server on the name recorded for server 1 is refused
    port0, port1 = sshd_lab.servers[0].port, sshd_lab.servers[1].port
    recorded.write_text(recorded.read_text().replace(f":{port1} ", f":{port0} "))
    with pytest.raises(HostKeyMismatch):
        _host(sshd_lab, 0, known_hosts=recorded, host_key_policy="trust_on_first_use").run(["true"])


def test_wrong_key_is_an_auth_error(sshd_lab: SshdLab, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    keygen(stranger)
    with pytest.raises(SSHAuthError):
        _host(sshd_lab, key_file=stranger).run(["true"])


def test_closed_port_and_silent_server_fail_within_the_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(SSHUnreachable):
        SSHHost("127.0.0.1", free_port(), "root", connect_timeout=2).run(["true"])
    assert time.monotonic() - started < 2
    # a server that accepts TCP and never says a word (a hung sshd, a tarpit)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True).start()
    started = time.monotonic()
    with pytest.raises(SSHUnreachable, match=r"no SSH answer within 1\.5 s"):
        SSHHost("127.0.0.1", silent.getsockname()[1], "root", connect_timeout=1.5).run(["true"])
    assert time.monotonic() - started < 1.5 + 3
    silent.close()


def test_hanging_command_times_out_and_is_killed_on_the_host(host: SSHHost) -> None:
    tag = f"rra-hang-{time.monotonic_ns()}"
    started = time.monotonic()
    with pytest.raises(CommandTimeout):
        host.run(["bash", "-c", f"exec -a {tag} sleep 60"], timeout=1)
    assert time.monotonic() - started < 1 + 2
    deadline = time.monotonic() + 8  # the remote `timeout` (1 s + grace) kills what we left
    while time.monotonic() < deadline:
        # anchored: the wrappers around pgrep carry the tag in their own command lines
        if host.run(["pgrep", "-f", f"^{tag}"]).rc == 1:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the hung command is still running on the host")


def test_host_deadline_bounds_every_operation(sshd_lab: SshdLab) -> None:
    with _host(sshd_lab, deadline=time.monotonic() + 2) as bounded:
        assert bounded.run(["true"]).rc == 0
        with pytest.raises(CommandTimeout):
            bounded.run(["sleep", "10"], timeout=30)
        with pytest.raises(CommandTimeout, match="budget"):
            bounded.read_file("/etc/hostname")


def test_become_as_root_reads_privileged_files(sshd_lab: SshdLab) -> None:
    with _host(sshd_lab, become=True) as root:
        assert root.sudo_refused is None and root.privileged
        assert root.read_file("/etc/shadow") == Path("/etc/shadow").read_bytes()
        assert root.run(["id", "-u"]).stdout_text.strip() == "0"


def test_sudo_denied_is_a_clear_permission_error(sshd_lab: SshdLab) -> None:
    user = sshd_lab.add_user()
    with _host(sshd_lab, user=user, become=True) as limited:
        assert limited.run(["id", "-un"]).stdout_text.strip() == user
        assert limited.sudo_refused is not None
        assert "password is required" in limited.sudo_refused
        with pytest.raises(PermissionError, match="sudo -n refused"):
            limited.read_file("/etc/shadow")
        assert limited.read_file("/etc/passwd") == Path("/etc/passwd").read_bytes()
