"""The authentication collector on whole host trees (``--root`` style: the parser decides).

Each tree is a small, realistic host: passwd/shadow/group, sshd_config, PAM, enrollment files,
sudoers. The verdicts and their one-line reasons are what an admin reads.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rra.agent.collectors.auth import collect_auth
from rra.agent.host import RunResult
from rra.agent.local import LocalHost
from rra.checks.base import CheckContext
from rra.checks.evaluate import evaluate
from rra.checks.facts import AccountFact, Facts
from tests.agent.conftest import RecordingHost
from tests.conftest import require

HASH = "$y$j9T$abcdefghijklmnopqrstuv$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
PASSWD = """root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
alice:x:1000:1000::/home/alice:/bin/bash
bob:x:1001:1001::/home/bob:/bin/bash
carol:x:1002:1002::/home/carol:/bin/bash
admin:x:1003:1003::/home/admin:
"""
SHADOW = f"""root:{HASH}:19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
alice:{HASH}:19000:0:99999:7:::
bob:{HASH}:19000:0:99999:7:::
carol:!:19000:0:99999:7:::
admin:{HASH}:19000:0:99999:7:::
"""
GROUP = """root:x:0:
daemon:x:1:
sudo:x:27:admin
alice:x:1000:
bob:x:1001:
carol:x:1002:
admin:x:1003:
"""
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBq6cWdGFW0Kqf3hBk0pZx0yKpQ5XfLj1b8Zc1n4cH0c user@host"
SK_KEY = (
    "verify-required sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAI"
    "Bq6cWdGFW0Kqf3hBk0pZx0yKpQ5XfLj1b8Zc1n4cH0cAAAABHNzaDo= admin@token"
)
TWO_FACTOR_SSHD = (
    "Include /etc/ssh/sshd_config.d/*.conf\n"
    "UsePAM yes\n"
    "KbdInteractiveAuthentication yes\n"
    "PermitRootLogin no\n"
    "AuthenticationMethods publickey,keyboard-interactive\n"
)
GA_NULLOK = "auth required pam_google_authenticator.so nullok\nauth required pam_permit.so\n"


def tree(tmp_path: Path, files: dict[str, str]) -> LocalHost:
    base = {
        "/etc/passwd": PASSWD,
        "/etc/shadow": SHADOW,
        "/etc/group": GROUP,
        "/lib/x86_64-linux-gnu/security/pam_google_authenticator.so": "",
        "/lib/x86_64-linux-gnu/security/pam_permit.so": "",
        "/lib/x86_64-linux-gnu/security/pam_unix.so": "",
        "/lib/x86_64-linux-gnu/security/pam_deny.so": "",
        # libpam reads "other" as well as the service file (a missing one breaks the service).
        "/etc/pam.d/other": "auth required pam_deny.so\n",
    }
    for name, text in {**base, **files}.items():
        path = tmp_path / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return LocalHost(tmp_path)


def by_name(accounts: list[AccountFact] | None) -> dict[str, AccountFact]:
    assert accounts is not None
    return {a.name: a for a in accounts}


def test_key_plus_otp_with_nullok_and_refusals(tmp_path: Path) -> None:
    host = tree(
        tmp_path,
        {
            "/etc/ssh/sshd_config": TWO_FACTOR_SSHD,
            "/etc/pam.d/sshd": GA_NULLOK,
            "/home/alice/.google_authenticator": 'JBSWY3DPEHPK3PXP\n" TOTP_AUTH\n',
            "/home/bob/.ssh/authorized_keys": KEY + "\n",
        },
    )
    facts = collect_auth(host)
    assert facts.ssh is not None and facts.ssh.source == "parsed"
    assert any("not a live host" in n for n in facts.ssh.notes)
    accounts = by_name(facts.accounts)
    assert accounts["alice"].ssh == "enforced"
    assert "key + one-time code" in accounts["alice"].reason
    assert accounts["alice"].enrolled is True
    # nullok + not enrolled: the code is skipped, the key alone gets in.
    assert accounts["bob"].ssh == "missing"
    assert accounts["bob"].reason.startswith(
        "key alone accepted via publickey,keyboard-interactive"
    )
    assert accounts["bob"].second_factor_skippable
    assert accounts["bob"].authorized_keys == 1
    assert accounts["root"].ssh == "no_ssh" and "PermitRootLogin no" in accounts["root"].reason
    assert not accounts["carol"].interactive  # locked password, no key
    assert not accounts["daemon"].interactive and "nologin" in accounts["daemon"].reason
    # An empty shell field is /bin/sh: admin is interactive and privileged (sudo group).
    assert accounts["admin"].interactive and accounts["admin"].privileged
    assert accounts["admin"].shell == "/bin/sh"


def test_plain_debian_defaults_key_alone(tmp_path: Path) -> None:
    host = tree(
        tmp_path,
        {
            "/etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\n",
            "/etc/pam.d/sshd": "@include common-auth\n",
            "/etc/pam.d/common-auth": "auth [success=1 default=ignore] pam_unix.so nullok\nauth requisite pam_deny.so\nauth required pam_permit.so\n",
        },
    )
    accounts = by_name(collect_auth(host).accounts)
    assert accounts["alice"].ssh == "missing"
    assert accounts["alice"].reason == "key alone accepted: AuthenticationMethods not set"
    # PermitRootLogin's default (prohibit-password) still lets root in with a key alone.
    assert accounts["root"].ssh == "missing"


def test_address_match_block_reopens_single_factor(tmp_path: Path) -> None:
    host = tree(
        tmp_path,
        {
            "/etc/ssh/sshd_config": TWO_FACTOR_SSHD
            + "Match Address 192.168.0.0/16\n  AuthenticationMethods publickey\n",
            "/etc/pam.d/sshd": "auth required pam_google_authenticator.so\n",
            "/home/alice/.google_authenticator": 'JBSWY3DPEHPK3PXP\n" TOTP_AUTH\n',
        },
    )
    facts = collect_auth(host)
    assert facts.ssh is not None and facts.ssh.scenarios == 2
    alice = by_name(facts.accounts)["alice"]
    assert alice.ssh == "missing"
    assert "from source matching 'Match address 192.168.0.0/16'" in alice.reason


def test_allow_users_with_host_and_sk_keys(tmp_path: Path) -> None:
    host = tree(
        tmp_path,
        {
            "/etc/ssh/sshd_config": (
                "UsePAM yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                "AllowUsers admin@10.0.5.10 bob\n"
                "AuthorizedKeysFile /etc/ssh/keys/%u\n"
            ),
            "/etc/ssh/keys/admin": SK_KEY + "\n",
            "/etc/ssh/keys/bob": KEY + "\n",
            "/etc/pam.d/sshd": "auth required pam_permit.so\n",
        },
    )
    accounts = by_name(collect_auth(host).accounts)
    assert accounts["alice"].ssh == "no_ssh"
    assert "not in AllowUsers" in accounts["alice"].reason
    # Keys an admin manages, all FIDO with a PIN: the key is two factors.
    assert accounts["admin"].ssh == "enforced"
    assert "security-key PIN" in accounts["admin"].reason
    assert accounts["bob"].ssh == "missing"


def test_password_alone_and_empty_password(tmp_path: Path) -> None:
    shadow = SHADOW.replace(f"bob:{HASH}", "bob:")
    host = tree(
        tmp_path,
        {
            "/etc/shadow": shadow,
            "/etc/ssh/sshd_config": "UsePAM no\nPermitEmptyPasswords yes\nAuthenticationMethods password\n",
        },
    )
    accounts = by_name(collect_auth(host).accounts)
    assert accounts["alice"].ssh == "missing"
    assert accounts["alice"].reason.startswith("password alone accepted via password")
    assert accounts["bob"].ssh == "missing"
    assert accounts["bob"].reason.startswith("no credential at all alone accepted")


class UnreadableHost(LocalHost):
    """A host where some files are unreadable, as for an agent not running as root."""

    def __init__(self, root: Path, unreadable: set[str]) -> None:
        super().__init__(root)
        self.unreadable = unreadable

    def read_file(self, path: str) -> bytes | None:
        if path in self.unreadable:
            raise PermissionError(path)
        return super().read_file(path)


def test_unreadable_shadow_is_unknown_never_enforced(tmp_path: Path) -> None:
    tree(tmp_path, {"/etc/ssh/sshd_config": "UsePAM no\nAuthenticationMethods password\n"})
    host = UnreadableHost(tmp_path, {"/etc/shadow", "/etc/sudoers"})
    facts = collect_auth(host)
    accounts = by_name(facts.accounts)
    assert "shadow" in facts.unknown and "permission denied" in facts.unknown["shadow"]
    assert accounts["alice"].ssh == "unknown"
    assert "/etc/shadow unreadable" in accounts["alice"].reason
    # carol's locked hash cannot be seen: she counts as interactive (unknown, in the denominator).
    assert accounts["carol"].interactive and accounts["carol"].ssh == "unknown"
    assert accounts["alice"].sudo_nopasswd is None


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {
                "/etc/ssh/sshd_config": "Include /etc/ssh/loop.conf\n",
                "/etc/ssh/loop.conf": "Include /etc/ssh/loop.conf\n",
            },
            "nested too deeply",
        ),
        ({"/etc/ssh/sshd_config": "Match Address 10.0.0.0/33\n"}, "Bad Match condition"),
        (
            {"/etc/ssh/sshd_config": "UsePAM yes\nAuthenticationMethods keyboard-interactive\n"},
            "PAM",
        ),
    ],
)
def test_broken_input_is_unknown_with_a_reason(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    facts = collect_auth(tree(tmp_path, files))
    alice = by_name(facts.accounts)["alice"]
    assert alice.ssh == "unknown"
    assert expected in alice.reason or expected in str(facts.unknown)


def test_no_openssh_server(tmp_path: Path) -> None:
    facts = collect_auth(tree(tmp_path, {}))
    accounts = by_name(facts.accounts)
    assert facts.ssh is None
    assert all(a.ssh == "no_ssh" for a in accounts.values())
    metrics, findings, _ = evaluate(
        Facts(accounts=facts.accounts, ssh=facts.ssh), CheckContext(now=_now())
    )
    # root, alice, bob, admin (carol is locked, daemon has nologin)
    assert metrics.interactive_accounts == 4
    assert metrics.second_factor_coverage is None  # nobody can log in remotely
    statuses = {f.check: f.status for f in findings}
    assert statuses["auth.ssh_second_factor"] == "not_applicable"
    assert statuses["auth.root_login"] == "not_applicable"


def test_sudo_nopasswd_reaches_the_check(tmp_path: Path) -> None:
    host = tree(
        tmp_path,
        {
            "/etc/ssh/sshd_config": TWO_FACTOR_SSHD,
            "/etc/pam.d/sshd": GA_NULLOK,
            "/etc/sudoers": "root ALL=(ALL:ALL) ALL\n%sudo ALL=(ALL:ALL) NOPASSWD: ALL\n",
        },
    )
    facts = collect_auth(host)
    admin = by_name(facts.accounts)["admin"]
    assert admin.sudo_nopasswd and "NOPASSWD" in admin.sudo_nopasswd[0]
    assert by_name(facts.accounts)["alice"].sudo_nopasswd == []
    _, findings, _ = evaluate(
        Facts(accounts=facts.accounts, ssh=facts.ssh), CheckContext(now=_now())
    )
    sudo = next(f for f in findings if f.check == "auth.sudo_nopasswd")
    assert sudo.status == "fail"
    assert sudo.evidence["accounts"][0]["account"] == "admin"


def _now() -> datetime:
    return datetime.now(UTC)


class CountingHost(RecordingHost):
    def sshd_calls(self) -> int:
        return sum(1 for c in self.calls if c.argv[0].endswith("sshd"))


def test_live_sshd_t_matches_parser_with_one_call_per_class(tmp_path: Path) -> None:
    require(
        "sshd (as root)",
        Path("/usr/sbin/sshd").exists() and _root(),
        "apt-get install openssh-server",
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    config = tmp_path / "sshd_config"
    config.write_text(
        "UsePAM yes\nKbdInteractiveAuthentication yes\n"
        "AuthenticationMethods publickey,keyboard-interactive\n"
        "Match User root\n  PermitRootLogin no\n"
        "Match Group daemon,www-data\n  AuthenticationMethods publickey\n"
        "Match Address 10.0.0.0/8\n  PasswordAuthentication no\n"
    )
    live_host = CountingHost()
    live = collect_auth(live_host, sshd_config=str(config))
    parsed = collect_auth(LocalHost("/"), use_sshd_t=False, sshd_config=str(config))
    assert live.ssh is not None and live.ssh.source == "sshd -T"
    assert parsed.ssh is not None and parsed.ssh.source == "parsed"
    assert {a.name: a.ssh for a in live.accounts or []} == {
        a.name: a.ssh for a in parsed.accounts or []
    }
    # 3 user classes (root, daemon/www-data members, everyone else) x 2 scenarios + 1 probe,
    # and only for interactive accounts' classes: never one call per account.
    interactive = [a for a in live.accounts or [] if a.interactive]
    assert live_host.sshd_calls() <= 3 * 2 + 1
    assert live_host.sshd_calls() < len(interactive) * 2 + 1 or len(interactive) <= 3


def _root() -> bool:
    import os

    return os.geteuid() == 0


def test_recorded_sshd_failure_falls_back_to_parser(tmp_path: Path) -> None:
    class FailingSshd(LocalHost):
        def __init__(self, root: Path) -> None:
            super().__init__(root)
            self.live = True  # pretend the tree is the running system

        def run(
            self,
            argv: Sequence[str],
            timeout: float = 60.0,
            env: Mapping[str, str] | None = None,
            stdin: bytes | None = None,
        ) -> RunResult:
            if argv[0].endswith("sshd"):
                return RunResult(255, b"", b"sshd: no hostkeys available -- exiting.\n")
            return super().run(argv, timeout=timeout, env=env, stdin=stdin)

        def exists(self, path: str) -> bool:
            return path == "/usr/sbin/sshd" or super().exists(path)

    tree(tmp_path, {"/etc/ssh/sshd_config": TWO_FACTOR_SSHD, "/etc/pam.d/sshd": GA_NULLOK})
    host = FailingSshd(tmp_path)
    facts = collect_auth(host)
    assert facts.ssh is not None and facts.ssh.source == "parsed"
    assert any("no hostkeys available" in n for n in facts.ssh.notes)


def test_subprocess_is_not_used_directly() -> None:
    # The collector reads only through Host (so --root and agentless work): a grep, not a mock.
    source = Path(__file__).parents[3] / "src/rra/agent/auth"
    offenders = subprocess.run(
        [
            "grep",
            "-rlP",
            r"^\s*(import subprocess|from subprocess)|(?<![.\w])(?<!def )open\(",
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert offenders == []


def test_cli_root_audit_shows_accounts_and_json(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from rra.agent import rootcli

    tree(
        tmp_path / "img",
        {
            "/etc/ssh/sshd_config": TWO_FACTOR_SSHD,
            "/etc/pam.d/sshd": GA_NULLOK,
            "/home/alice/.google_authenticator": 'JBSWY3DPEHPK3PXP\n" TOTP_AUTH\n',
        },
    )
    config = tmp_path / "agent.toml"
    config.write_text(f'[agent]\nstate_dir = "{tmp_path / "state"}"\n')
    args = ["agent", "collect", "--root", str(tmp_path / "img"), "--config", str(config)]
    shown = CliRunner().invoke(rootcli.root, args, env={"COLUMNS": "200"})
    assert shown.exit_code == 1, shown.output  # findings
    # alice enforced of alice, bob, admin (root is refused; carol is locked, so not interactive)
    assert "Accounts: 4 interactive, second-factor coverage 33%" in shown.output
    assert "skips pam_google_authenticator (nullok, not enrolled)" in shown.output
    data = json.loads(CliRunner().invoke(rootcli.root, [*args, "--json"]).stdout)
    assert data["facts"]["ssh"]["source"] == "parsed"
    assert data["metrics"]["accounts_without_second_factor"] == ["admin", "bob"]
