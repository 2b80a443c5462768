"""Real logins prove the verdicts: a test sshd with pam_google_authenticator, driven by paramiko.

FIELD-NOTES: sshd uses its program name as the PAM service, so a symlink ``sshd-rra<N>`` →
/usr/sbin/sshd reads ``/etc/pam.d/sshd-rra<N>`` and the host's own /etc/pam.d/sshd is never
touched. For each configuration the collector judges the test users, then paramiko shows that an
account marked ``missing`` really gets in with one factor and one marked ``enforced`` does not
(but does with both, so the refusal is not an accident).
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rra.agent.collectors.auth import collect_auth
from rra.agent.local import LocalHost
from tests.conftest import require
from tests.sshd_lab import wait_for

SSHD = "/usr/sbin/sshd"
PAM_MODULE = "/lib/x86_64-linux-gnu/security/pam_google_authenticator.so"
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _components() -> None:
    require("root", os.geteuid() == 0, "run the tests as root (CI does)")
    require("sshd", Path(SSHD).exists(), "apt-get install openssh-server")
    require(
        "pam_google_authenticator",
        Path(PAM_MODULE).exists(),
        "apt-get install libpam-google-authenticator",
    )
    require("oathtool", shutil.which("oathtool") is not None, "apt-get install oathtool")
    require("paramiko", _has_paramiko(), "uv sync --group dev")


def _has_paramiko() -> bool:
    try:
        import paramiko  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class User:
    name: str
    password: str
    key_path: Path
    secret: str | None  # TOTP secret when enrolled


@dataclass
class Lab:
    root: Path
    tag: str
    users: dict[str, User]
    servers: itertools.count[int] = field(default_factory=itertools.count)


def _run(*argv: str, stdin: str | None = None) -> None:
    subprocess.run(argv, input=stdin, text=True, check=True, capture_output=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    _components()
    tag = "rra" + secrets.token_hex(3)
    root = tmp_path_factory.mktemp("sshd2fa")
    users: dict[str, User] = {}
    created: list[str] = []
    try:
        for role, enrolled in (("enrolled", True), ("unenrolled", False)):
            name = f"{tag}{role[:3]}"
            _run("useradd", "-m", "-s", "/bin/bash", name)
            created.append(name)
            password = secrets.token_urlsafe(12)
            _run("chpasswd", stdin=f"{name}:{password}\n")
            key = root / f"{name}_ed25519"
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key))
            keys_dir = Path(f"/home/{name}/.ssh")
            keys_dir.mkdir(mode=0o700)
            shutil.copy(f"{key}.pub", keys_dir / "authorized_keys")
            secret = None
            if enrolled:
                secret = "".join(secrets.choice(B32) for _ in range(16))
                ga = Path(f"/home/{name}/.google_authenticator")
                ga.write_text(f'{secret}\n" RATE_LIMIT 9 30\n" WINDOW_SIZE 3\n" TOTP_AUTH\n')
                ga.chmod(0o400)
            _run("chown", "-R", f"{name}:{name}", f"/home/{name}")
            users[role] = User(name, password, key, secret)
        Path("/run/sshd").mkdir(exist_ok=True)
        yield Lab(root, tag, users)
    finally:
        for name in created:
            subprocess.run(["userdel", "-r", "-f", name], capture_output=True, check=False)


@dataclass
class Server:
    port: int
    config: Path
    service: str


StartServer = Callable[..., "Server"]


@pytest.fixture
def server_factory(lab: Lab) -> Iterator[StartServer]:
    started: list[tuple[Path, Path]] = []

    def start(authentication_methods: str | None, pam_auth: str, password: bool = False) -> Server:
        index = next(lab.servers)
        service = f"sshd-{lab.tag}{index}"
        binary = lab.root / service
        binary.symlink_to(SSHD)
        pam_file = Path(f"/etc/pam.d/{service}")
        pam_file.write_text(
            pam_auth + "\naccount required pam_permit.so\nsession required pam_permit.so\n"
        )
        hostkey = lab.root / f"hostkey{index}"
        if not hostkey.exists():
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey))
        port = _free_port()
        pidfile = lab.root / f"sshd{index}.pid"
        lines = [
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {hostkey}",
            f"PidFile {pidfile}",
            "UsePAM yes",
            "KbdInteractiveAuthentication yes",
            f"PasswordAuthentication {'yes' if password else 'no'}",
            "PubkeyAuthentication yes",
            "StrictModes no",
        ]
        if authentication_methods:
            lines.append(f"AuthenticationMethods {authentication_methods}")
        config = lab.root / f"sshd_config{index}"
        config.write_text("\n".join(lines) + "\n")
        subprocess.Popen(
            [str(binary), "-D", "-e", "-f", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append((pidfile, pam_file))
        wait_for(port)
        return Server(port, config, service)

    yield start
    for pidfile, pam_file in started:
        if pidfile.exists():
            subprocess.run(["kill", pidfile.read_text().strip()], check=False)
        pam_file.unlink(missing_ok=True)


def _login(server: Server, user: User, with_key: bool, answers: list[str]) -> bool:
    """A real SSH login: True when the server accepted it."""
    import paramiko

    transport = paramiko.Transport(("127.0.0.1", server.port))
    try:
        transport.start_client(timeout=5)
        remaining: list[str] = ["publickey", "keyboard-interactive"]
        if with_key:
            key = paramiko.Ed25519Key.from_private_key_file(str(user.key_path))
            remaining = transport.auth_publickey(user.name, key)
            if transport.is_authenticated():
                return True
        if "keyboard-interactive" not in remaining:
            return False
        queue = list(answers)

        def handler(title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
            return [queue.pop(0) if queue else "" for _ in prompts]

        try:
            transport.auth_interactive(user.name, handler)
        except paramiko.AuthenticationException:
            return False
        return bool(transport.is_authenticated())
    except paramiko.AuthenticationException:
        return False
    finally:
        transport.close()


def _password_login(server: Server, user: User) -> bool:
    import paramiko

    transport = paramiko.Transport(("127.0.0.1", server.port))
    try:
        transport.start_client(timeout=5)
        try:
            transport.auth_password(user.name, user.password)
        except paramiko.AuthenticationException:
            return False
        return bool(transport.is_authenticated())
    finally:
        transport.close()


def _totp(secret: str) -> str:
    done = subprocess.run(
        ["oathtool", "--totp", "-b", secret], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _verdicts(server: Server, lab: Lab) -> dict[str, str]:
    facts = collect_auth(LocalHost("/"), sshd_config=str(server.config), pam_service=server.service)
    assert facts.accounts is not None and facts.ssh is not None
    assert facts.ssh.source == "sshd -T"  # root on a live host: the sshd itself decides
    names = {u.name: role for role, u in lab.users.items()}
    return {names[a.name]: a.ssh for a in facts.accounts if a.name in names}


def test_pam_only_2fa_is_bypassed_by_a_key(lab: Lab, server_factory: StartServer) -> None:
    server = server_factory(None, "auth required pam_google_authenticator.so")
    verdicts = _verdicts(server, lab)
    assert verdicts == {"enrolled": "missing", "unenrolled": "missing"}
    # The key alone gets in although PAM asks for a code: PAM auth never runs for publickey.
    assert _login(server, lab.users["enrolled"], with_key=True, answers=[])


def test_key_plus_code_enforced_and_nullok_skips(lab: Lab, server_factory: StartServer) -> None:
    server = server_factory(
        "publickey,keyboard-interactive",
        "auth required pam_google_authenticator.so nullok\nauth required pam_permit.so",
    )
    verdicts = _verdicts(server, lab)
    assert verdicts == {"enrolled": "enforced", "unenrolled": "missing"}
    enrolled, unenrolled = lab.users["enrolled"], lab.users["unenrolled"]
    # missing: the unenrolled user gets in with the key alone (nullok: zero prompts).
    assert _login(server, unenrolled, with_key=True, answers=[])
    # enforced: the key alone (a wrong code) is refused, the code alone is refused, and the key
    # plus the code is accepted (so the refusals are not an accident of the set-up).
    assert not _login(server, enrolled, with_key=True, answers=["000000"])
    assert not _login(server, enrolled, with_key=False, answers=[_totp(enrolled.secret or "")])
    assert _login(server, enrolled, with_key=True, answers=[_totp(enrolled.secret or "")])


def test_lone_nullok_module_ignores_and_the_stack_fails(
    lab: Lab, server_factory: StartServer
) -> None:
    # nullok makes the module return PAM_IGNORE for an unenrolled user; with nothing else on
    # the stack no module set success, so PAM fails: that account is locked out, not missing.
    server = server_factory(
        "publickey,keyboard-interactive", "auth required pam_google_authenticator.so nullok"
    )
    verdicts = _verdicts(server, lab)
    assert verdicts == {"enrolled": "enforced", "unenrolled": "enforced"}
    assert not _login(server, lab.users["unenrolled"], with_key=True, answers=[])


def test_without_nullok_unenrolled_is_locked_out_not_missing(
    lab: Lab, server_factory: StartServer
) -> None:
    server = server_factory(
        "publickey,keyboard-interactive", "auth required pam_google_authenticator.so"
    )
    verdicts = _verdicts(server, lab)
    # An alternative that cannot succeed grants nothing: the unenrolled account cannot log in.
    assert verdicts == {"enrolled": "enforced", "unenrolled": "enforced"}
    assert not _login(server, lab.users["unenrolled"], with_key=True, answers=[""])


def test_password_method_runs_the_pam_stack(lab: Lab, server_factory: StartServer) -> None:
    # With UsePAM the password method answers every PAM prompt with the password: an enrolled
    # user's code prompt cannot be passed that way, an unenrolled (nullok) user's password is
    # all it takes.
    server = server_factory(
        "password",
        "auth required pam_google_authenticator.so nullok\nauth required pam_unix.so",
        password=True,
    )
    verdicts = _verdicts(server, lab)
    assert verdicts == {"enrolled": "enforced", "unenrolled": "missing"}
    assert _password_login(server, lab.users["unenrolled"])
    assert not _password_login(server, lab.users["enrolled"])
