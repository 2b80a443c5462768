"""Real OpenSSH sshd instances on loopback acting as inspected hosts (FIELD-NOTES: a test sshd).

Each instance has its own host key, config, port and PidFile; all accept one client key, read
from a lab-owned AuthorizedKeysFile so root's own ``~/.ssh`` is never touched. ``known_hosts``
pins every instance. Used by the SSH transport tests, agentless collection and its benchmark.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"


def sshd_available() -> bool:
    return os.geteuid() == 0 and Path(SSHD).exists() and shutil.which("ssh-keygen") is not None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rra-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )


@dataclass
class Sshd:
    name: str
    port: int
    config: Path
    pidfile: Path
    host_key: Path
    process: subprocess.Popen[bytes] | None = None

    def known_hosts_line(self) -> str:
        key_type, key = Path(f"{self.host_key}.pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {key_type} {key}\n"


@dataclass
class SshdLab:
    root: Path
    client_key: Path
    known_hosts: Path
    servers: list[Sshd] = field(default_factory=list)
    users: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, root: Path) -> SshdLab:
        root.mkdir(parents=True, exist_ok=True)
        client_key = root / "client_ed25519"
        keygen(client_key)
        authorized = root / "authorized_keys"
        shutil.copy(f"{client_key}.pub", authorized)
        authorized.chmod(0o644)
        Path("/run/sshd").mkdir(exist_ok=True)
        return cls(root=root, client_key=client_key, known_hosts=root / "known_hosts")

    def start(self, count: int = 1, extra: str = "") -> list[Sshd]:
        started = [self._start_one(extra) for _ in range(count)]
        with self.known_hosts.open("a") as handle:
            for server in started:
                handle.write(server.known_hosts_line())
        for server in started:
            wait_for(server.port)
        return started

    def _start_one(self, extra: str) -> Sshd:
        index = len(self.servers)
        name = f"host{index:02d}"
        host_key = self.root / f"{name}_host_ed25519"
        keygen(host_key)
        port = free_port()
        pidfile = self.root / f"{name}.pid"
        config = self.root / f"{name}_sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {host_key}",
                    f"PidFile {pidfile}",
                    f"AuthorizedKeysFile {self.root}/authorized_keys .ssh/authorized_keys",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    f"Subsystem sftp {SFTP_SERVER}",
                    "MaxSessions 64",
                    "MaxStartups 100:30:200",
                    extra,
                ]
            )
            + "\n"
        )
        process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = Sshd(name, port, config, pidfile, host_key, process)
        self.servers.append(server)
        return server

    def stop(self, server: Sshd) -> None:
        if server.process is not None and server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
            try:
                server.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.process.kill()

    def add_user(self, prefix: str = "rraless") -> str:
        """A login user with no sudo rights (its sudo -n asks for a password it never gets)."""
        name = f"{prefix}{secrets.token_hex(3)}"
        # "*": no password, yet not "!"-locked, which sshd without PAM would refuse to log in
        subprocess.run(
            ["useradd", "-m", "-s", "/bin/sh", "-p", "*", name], check=True, capture_output=True
        )
        self.users.append(name)
        # the lab's own file sits under a 0700 pytest directory this user cannot traverse
        keys = Path(f"/home/{name}/.ssh")
        keys.mkdir(mode=0o700)
        shutil.copy(f"{self.client_key}.pub", keys / "authorized_keys")
        subprocess.run(["chown", "-R", f"{name}:{name}", str(keys)], check=True)
        return name

    def close(self) -> None:
        for server in self.servers:
            self.stop(server)
        for name in self.users:
            subprocess.run(["userdel", "-r", "-f", name], capture_output=True, check=False)


def wait_for(port: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"sshd on port {port} did not start within {seconds:g} s")
