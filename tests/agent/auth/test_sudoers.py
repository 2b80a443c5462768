"""sudoers reader: unit cases on file trees, then two oracles with the real sudo 1.9 tools.

- ``cvtsudoers -f json``: for generated sudoers trees (includes, aliases, Defaults, tags,
  continuations, comments, escapes) the rules, Defaults and aliases we parse equal sudo's own parse;
- ``sudo -n`` run by real users (``useradd``) against a generated ``/etc/sudoers.d`` drop-in: for
  every probe, whether sudo asks for authentication, runs or refuses is what ``check`` predicts, and
  every command sudo ran without authentication comes from a rule ``nopasswd_rules`` reports.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rra.agent.auth.sudoers import SudoersPolicy, load_sudoers
from rra.agent.auth.sudoers_parse import parse_sudoers
from rra.agent.local import LocalHost
from tests.conftest import require

DEBIAN_SUDOERS = """\
#
# This file MUST be edited with the 'visudo' command as root.
#
Defaults\tenv_reset
Defaults\tmail_badpass
Defaults\tsecure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
Defaults\tuse_pty
#Defaults:%sudo env_keep += "http_proxy https_proxy ftp_proxy all_proxy no_proxy"

# User privilege specification
root\tALL=(ALL:ALL) ALL

# Allow members of group sudo to execute any command
%sudo\tALL=(ALL:ALL) ALL

# See sudoers(5) for more information on "@include" directives:

@includedir /etc/sudoers.d
"""
README = "#\n# Files in /etc/sudoers.d are parsed in sorted lexical order.\n#\n"


def tree(tmp_path: Path, files: dict[str, str]) -> LocalHost:
    for name, text in files.items():
        path = tmp_path / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return LocalHost(tmp_path)


def load(tmp_path: Path, files: dict[str, str]) -> SudoersPolicy:
    policy = load_sudoers(tree(tmp_path, files))
    assert policy is not None
    return policy


def policy_of(tmp_path: Path, text: str) -> SudoersPolicy:
    policy = load(tmp_path, {"/etc/sudoers": text})
    assert policy.errors == []
    return policy


def nopasswd(
    policy: SudoersPolicy, user: str, groups: tuple[str, ...] = (), host: str = "web1", **kw: Any
) -> list[tuple[str, list[str]]]:
    rules = policy.nopasswd_rules(user, groups, host, **kw)
    return [(rule.source, [str(c) for c in rule.commands]) for rule in rules]


# -- unit cases ------------------------------------------------------------------------------


def test_debian_default_sudoers_has_no_nopasswd(tmp_path: Path) -> None:
    policy = load(tmp_path, {"/etc/sudoers": DEBIAN_SUDOERS, "/etc/sudoers.d/README": README})
    assert policy.errors == []
    assert nopasswd(policy, "alice", ("alice", "sudo")) == []
    assert policy.can_run_as_root("alice", ["sudo"], "web1")
    assert [r.source for r in policy.rules_for("alice", ["sudo"], "web1")] == ["/etc/sudoers:14"]
    assert policy.rules_for("bob", ["bob"], "web1") == []
    assert not policy.can_run_as_root("bob", ["bob"], "web1")


def test_cloud_init_drop_in_is_nopasswd(tmp_path: Path) -> None:
    policy = load(
        tmp_path,
        {
            "/etc/sudoers": DEBIAN_SUDOERS,
            "/etc/sudoers.d/README": README,
            "/etc/sudoers.d/90-cloud-init-users": "# Created by cloud-init v. 23.1\n\n"
            "# User rules for ubuntu\nubuntu ALL=(ALL) NOPASSWD:ALL\n",
        },
    )
    assert policy.errors == []
    assert nopasswd(policy, "ubuntu", ("ubuntu", "sudo")) == [
        ("/etc/sudoers.d/90-cloud-init-users:4", ["ALL"])
    ]
    rule = policy.nopasswd_rules("ubuntu", [], "web1")[0]
    assert rule.text == "ubuntu ALL=(ALL) NOPASSWD:ALL"
    assert rule.nopasswd is True and "NOPASSWD" in rule.tags


def test_missing_sudoers_means_no_sudo(tmp_path: Path) -> None:
    assert load_sudoers(LocalHost(tmp_path)) is None


class DenyingHost(LocalHost):
    """A host where some files exist but cannot be read (root can read anything locally)."""

    def __init__(self, root: Path, denied: set[str]) -> None:
        super().__init__(root)
        self.denied = denied

    def read_file(self, path: str) -> bytes | None:
        if path in self.denied:
            raise PermissionError(13, "Permission denied", path)
        return super().read_file(path)


def test_unreadable_sudoers_propagates_and_unreadable_include_is_an_error(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "/etc/sudoers": "@include /etc/sudoers.local\n@includedir /etc/sudoers.d\n",
            "/etc/sudoers.local": "alice ALL=NOPASSWD: ALL\n",
            "/etc/sudoers.d/ops": "ops ALL=NOPASSWD: ALL\n",
            "/etc/sudoers.d/web": "web ALL=NOPASSWD: ALL\n",
        },
    )
    with pytest.raises(PermissionError):
        load_sudoers(DenyingHost(tmp_path, {"/etc/sudoers"}))
    policy = load_sudoers(DenyingHost(tmp_path, {"/etc/sudoers.local", "/etc/sudoers.d/ops"}))
    assert policy is not None
    assert policy.errors == [
        "/etc/sudoers:1: /etc/sudoers.local: permission denied",
        "/etc/sudoers:2: /etc/sudoers.d/ops: permission denied",
    ]
    assert [r.source for r in policy.rules] == ["/etc/sudoers.d/web:1"]


def test_include_forms_order_and_skipped_names(tmp_path: Path) -> None:
    policy = load(
        tmp_path,
        {
            "/etc/sudoers": "a ALL=ALL\n#include /etc/sudoers.%h\n@include local/extra\n"
            '#includedir /etc/sudoers.d\n@include "/etc/with space"\nz ALL=ALL\n',
            "/etc/sudoers.web1": "h ALL=ALL\n",
            "/etc/local/extra": "e ALL=ALL\n@include nested\n",  # relative to /etc/local/
            "/etc/local/nested": "n ALL=ALL\n",
            "/etc/sudoers.d/20-b": "b ALL=ALL\n",
            "/etc/sudoers.d/10-a": "a2 ALL=ALL\n",
            "/etc/sudoers.d/30.conf": "dot ALL=NOPASSWD: ALL\n",
            "/etc/sudoers.d/40-c~": "tilde ALL=NOPASSWD: ALL\n",
            "/etc/sudoers.d/sub/x": "subdir ALL=ALL\n",
            "/etc/with space": "s ALL=ALL\n",
            "/etc/hostname": "web1.example.com\n",
        },
    )
    assert policy.errors == []
    assert [str(r.users[0]) for r in policy.rules] == ["a", "h", "e", "n", "a2", "b", "s", "z"]
    assert policy.rules[3].source == "/etc/local/nested:1"


def test_missing_include_and_loop_are_errors(tmp_path: Path) -> None:
    policy = load(
        tmp_path,
        {
            "/etc/sudoers": "@include a\n@include /etc/missing\n@includedir /etc/nodir\nz ALL=ALL\n",
            "/etc/a": "a ALL=ALL\n@include b\n",
            "/etc/b": "b ALL=ALL\n#include /etc/a\n#include /etc/sudoers\n",
        },
    )
    assert policy.errors == [
        "/etc/b:2: include loop: /etc/sudoers -> /etc/a -> /etc/b -> /etc/a",
        "/etc/b:3: include loop: /etc/sudoers -> /etc/a -> /etc/b -> /etc/sudoers",
        "/etc/sudoers:2: /etc/missing: not found",
    ]
    assert [str(r.users[0]) for r in policy.rules] == ["a", "b", "z"]


def test_comments_uid_syntax_and_continuations(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        "# a comment ending in a backslash does not continue \\\n"
        "alice ALL = NOPASSWD: /bin/a # trailing comment\n"
        "#1000 ALL = (ALL) NOPASSWD: ALL\n"
        "%#2000 ALL = NOPASSWD: /bin/gid\n"
        "  #include /etc/not-an-include (indented: a comment)\n"
        "bob ALL = NOPASSWD: /bin/b, \\\n"
        "    /bin/c -x \\\n"
        "    -y\n",
    )
    assert nopasswd(policy, "alice") == [("/etc/sudoers:2", ["/bin/a"])]
    assert nopasswd(policy, "carl", uid=1000) == [("/etc/sudoers:3", ["ALL"])]
    assert nopasswd(policy, "carl", uid=1001) == []
    assert nopasswd(policy, "dan", gids=[2000]) == [("/etc/sudoers:4", ["/bin/gid"])]
    assert nopasswd(policy, "bob") == [("/etc/sudoers:6", ["/bin/b", "/bin/c -x -y"])]
    assert policy.rules[-1].text == "bob ALL = NOPASSWD: /bin/b, /bin/c -x -y"


ALIASES = """\
User_Alias OPS = carol, %ops
User_Alias ADMINS = alice, OPS, !dave
Host_Alias WEB = web*, !web9 : DB = db1
Runas_Alias DBA = postgres, mysql
Cmnd_Alias SHUTDOWN = /sbin/shutdown, /sbin/reboot : SVC = SHUTDOWN, /usr/bin/systemctl restart *
ADMINS WEB = (root) NOPASSWD: SVC
ADMINS DB = (DBA) NOPASSWD: ALL
"""


@pytest.mark.parametrize(
    ("user", "groups", "host", "expected", "root"),
    [
        ("alice", (), "web1", [("/etc/sudoers:6", ["SVC"])], True),
        ("alice", (), "web9", [], False),  # !web9 comes last in WEB
        ("carol", (), "web1", [("/etc/sudoers:6", ["SVC"])], True),
        ("eve", ("ops",), "web2", [("/etc/sudoers:6", ["SVC"])], True),
        ("dave", ("ops",), "web1", [], False),  # !dave is the last match in ADMINS
        ("alice", (), "db1", [("/etc/sudoers:7", ["ALL"])], False),  # only as postgres/mysql
        ("mallory", (), "web1", [], False),
    ],
)
def test_aliases_nested_and_negated(
    tmp_path: Path, user: str, groups: tuple[str, ...], host: str, expected: list[Any], root: bool
) -> None:
    policy = policy_of(tmp_path, ALIASES)
    assert nopasswd(policy, user, groups, host) == expected
    assert policy.can_run_as_root(user, groups, host) is root


@pytest.mark.parametrize(
    ("text", "user", "groups", "host", "expected"),
    [
        ("Defaults:ops !authenticate\nops ALL=(ALL) ALL\n", "ops", (), "web1", True),
        ("Defaults:ops !authenticate\nALL ALL=(ALL) ALL\n", "alice", (), "web1", False),
        ("Defaults:%ops !authenticate\n%ops ALL=(ALL) ALL\n", "bob", ("ops",), "web1", True),
        ("Defaults@web1 !authenticate\nalice ALL=(ALL) ALL\n", "alice", (), "web1", True),
        ("Defaults@web1 !authenticate\nalice ALL=(ALL) ALL\n", "alice", (), "db1", False),
        ("Defaults>postgres !authenticate\nalice ALL=(ALL) ALL\n", "alice", (), "h", True),
        ("Defaults>postgres !authenticate\nalice ALL=(root) ALL\n", "alice", (), "h", False),
        ("Defaults!/usr/bin/apt !authenticate\nalice ALL=ALL\n", "alice", (), "h", True),
        ("Defaults!/usr/bin/apt !authenticate\nalice ALL=/bin/ls\n", "alice", (), "h", False),
        (
            "Defaults !authenticate\nDefaults:alice authenticate\nALL ALL=ALL\n",
            "alice",
            (),
            "h",
            False,
        ),
        (
            "Defaults !authenticate\nDefaults:alice authenticate\nALL ALL=ALL\n",
            "bob",
            (),
            "h",
            True,
        ),
        # One pass in file order: the generic line after the user line wins (checked with sudo -n).
        (
            "Defaults:alice !authenticate\nDefaults authenticate\nalice ALL=ALL\n",
            "alice",
            (),
            "h",
            False,
        ),
        # A tag beats every Defaults, Defaults!cmnd included (sudo applies it last).
        ("Defaults:alice !authenticate\nalice ALL=PASSWD: ALL\n", "alice", (), "h", False),
        ("Defaults authenticate\nalice ALL=NOPASSWD: ALL\n", "alice", (), "h", True),
        ("Defaults!/bin/ls authenticate\nalice ALL=NOPASSWD: /bin/ls\n", "alice", (), "h", True),
        ("Defaults:alice !authenticate, env_reset\nalice ALL=ALL\n", "alice", (), "h", True),
    ],
)
def test_defaults_authenticate(
    tmp_path: Path, text: str, user: str, groups: tuple[str, ...], host: str, expected: bool
) -> None:
    policy = policy_of(tmp_path, text)
    assert bool(policy.nopasswd_rules(user, groups, host)) is expected


def test_tags_and_runas_carry_over(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        "alice ALL = NOPASSWD: /bin/a, /bin/b, PASSWD: /bin/c, NOEXEC: /bin/d, NOPASSWD:/bin/e\n"
        "bob ALL = (postgres) NOPASSWD: /bin/a, SETENV: /bin/b : db1 = /bin/c\n",
    )
    assert nopasswd(policy, "alice") == [
        ("/etc/sudoers:1", ["/bin/a", "/bin/b"]),
        ("/etc/sudoers:1", ["/bin/e"]),
    ]
    assert [sorted(r.tags) for r in policy.rules[:4]] == [
        ["NOPASSWD"],
        ["PASSWD"],
        ["NOEXEC", "PASSWD"],
        ["NOEXEC", "NOPASSWD"],
    ]
    assert nopasswd(policy, "bob") == [
        ("/etc/sudoers:2", ["/bin/a"]),
        ("/etc/sudoers:2", ["/bin/b"]),
    ]
    assert not policy.can_run_as_root("bob", [], "web1")  # (postgres) carried to /bin/b
    assert policy.can_run_as_root("bob", [], "db1")  # the second host spec resets runas
    assert nopasswd(policy, "bob", host="db1") == [
        ("/etc/sudoers:2", ["/bin/a"]),
        ("/etc/sudoers:2", ["/bin/b"]),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alice ALL=(ALL) NOPASSWD: ALL\nalice ALL=(ALL) PASSWD: ALL\n", []),
        ("alice ALL=NOPASSWD: ALL\n%admins ALL=(ALL:ALL) PASSWD: ALL\n", []),
        # "sudo -u root -g adm" matches only line 1: a runas spec without lists admits root with
        # any group, "(ALL)" not a group root lacks (checked with sudo -n).
        ("alice ALL=NOPASSWD: ALL\n%admins ALL=(ALL) PASSWD: ALL\n", [("1", ["ALL"])]),
        ("alice ALL=(ALL) NOPASSWD: ALL\nalice ALL=(ALL) PASSWD: /bin/ls\n", [("1", ["ALL"])]),
        (
            "alice ALL=(ALL) NOPASSWD: /bin/ls, /bin/cat\nalice ALL=(ALL) PASSWD: /bin/ls\n",
            [("1", ["/bin/cat"])],
        ),
        ("alice ALL=(ALL) NOPASSWD: ALL\nalice ALL=(root) PASSWD: ALL\n", [("1", ["ALL"])]),
        ("alice ALL=(ALL) NOPASSWD: /bin/ls\nalice ALL=(ALL) !/bin/ls\n", []),
        ("alice ALL=(ALL) PASSWD: ALL\nalice ALL=(ALL) NOPASSWD: /bin/ls\n", [("2", ["/bin/ls"])]),
        ("alice ALL=NOPASSWD: /bin/ls\nalice ALL=PASSWD: /bin/ls -l\n", [("1", ["/bin/ls"])]),
        ("alice ALL=NOPASSWD: /bin/ls -l\nalice ALL=PASSWD: /bin/ls\n", []),
        ("alice ALL=NOPASSWD: /usr/bin/ls\nalice ALL=PASSWD: /usr/bin/*\n", []),
        ("alice ALL=NOPASSWD: /usr/bin/ls\nalice ALL=PASSWD: /usr/bin/\n", []),
    ],
)
def test_last_match_wins(tmp_path: Path, text: str, expected: list[tuple[str, list[str]]]) -> None:
    policy = policy_of(tmp_path, text)
    got = nopasswd(policy, "alice", ("admins",))
    assert [(source.rsplit(":", 1)[1], cmds) for source, cmds in got] == expected


def test_check_reports_the_deciding_rule(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        "alice ALL=(ALL) NOPASSWD: ALL\nalice ALL=(ALL) PASSWD: /bin/ls\nalice ALL=!/bin/su\n",
    )
    ls = policy.check("alice", [], "h", "/bin/ls -l")
    assert (ls.allowed, ls.authenticate, ls.rule and ls.rule.source) == (
        True,
        True,
        "/etc/sudoers:2",
    )
    cat = policy.check("alice", [], "h", "/bin/cat /etc/shadow", runas_user="bob")
    assert (cat.allowed, cat.authenticate) == (True, False)
    su = policy.check("alice", [], "h", "/bin/su")
    assert (su.allowed, su.authenticate) == (False, True)  # denied, after asking for a password
    nobody = policy.check("mallory", [], "h", "/bin/ls")
    assert (nobody.allowed, nobody.authenticate, nobody.rule) == (False, True, None)


@pytest.mark.parametrize(
    ("users", "user", "groups", "expected"),
    [
        ("ALL, !bob", "alice", (), True),
        ("ALL, !bob", "bob", (), False),
        ("!bob, ALL", "bob", (), True),  # the last matching item wins (checked with sudo -n)
        ("%wheel, !%guests", "alice", ("wheel", "guests"), False),
        ("!!alice", "alice", (), True),
        ("+admins, alice", "bob", ("admins",), False),  # netgroups never match here
        ('"alice"', "alice", (), True),
        ("ALICE_ALIAS", "alice", (), False),  # an undefined alias matches nobody
    ],
)
def test_user_lists(
    tmp_path: Path, users: str, user: str, groups: tuple[str, ...], expected: bool
) -> None:
    policy = load(tmp_path, {"/etc/sudoers": f"{users} ALL = NOPASSWD: ALL\n"})
    assert bool(policy.nopasswd_rules(user, groups, "h")) is expected


def test_unresolvable_members_are_noted(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path, "+admins, %:Domain\\ Admins ALL = NOPASSWD: ALL\nalice 10.0.0.0/8, +web = ALL\n"
    )
    assert policy.notes == [
        "/etc/sudoers:1: +admins cannot be resolved here; treated as not matching",
        "/etc/sudoers:1: %:Domain Admins cannot be resolved here; treated as not matching",
        "/etc/sudoers:2: 10.0.0.0/8 cannot be resolved here; treated as not matching",
        "/etc/sudoers:2: +web cannot be resolved here; treated as not matching",
    ]
    assert policy.rules_for("alice", ["admins"], "web") == []


@pytest.mark.parametrize(
    ("runas", "root"),
    [
        ("", True),
        ("(root)", True),
        ("(#0)", True),
        ("(ALL)", True),
        ("(ALL:ALL)", True),
        ("(:adm)", False),
        ("(postgres)", False),
        ("()", False),
        ("(ALL, !root)", False),
        ("(!root, ALL)", True),
    ],
)
def test_runas_and_root(tmp_path: Path, runas: str, root: bool) -> None:
    policy = policy_of(tmp_path, f"alice ALL = {runas} /bin/ls\n")
    assert policy.can_run_as_root("alice", [], "h") is root


def test_host_matching(tmp_path: Path) -> None:
    policy = policy_of(tmp_path, "alice WEB*, db1.example.com = NOPASSWD: ALL\n")
    assert nopasswd(policy, "alice", host="web3")
    assert nopasswd(policy, "alice", host="db1", fqdn="db1.example.com")
    assert not nopasswd(policy, "alice", host="db1", fqdn="db1.example.org")
    assert not nopasswd(policy, "alice", host="mail")


def test_quotes_escapes_and_options(tmp_path: Path) -> None:
    policy = policy_of(
        tmp_path,
        'Defaults env_keep += "A B, C", secure_path="/a:/b", !lecture\n'
        '"dom user" ALL = NOPASSWD: /bin/echo a\\,b\\:c, /bin/sh -c "echo hi", '
        "/usr/bin/printf a=b, /usr/bin/ls \\*.txt\n"
        'alice ALL = (root) TIMEOUT=5 CWD=/tmp NOPASSWD: /usr/bin/env "", '
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 /usr/bin/id\n",
    )
    assert policy.defaults[0].settings == (
        ("env_keep+=", "A B, C"),
        ("secure_path", "/a:/b"),
        ("lecture", False),
    )
    assert nopasswd(policy, "dom user") == [
        (
            "/etc/sudoers:2",
            [
                "/bin/echo a,b:c",
                '/bin/sh -c "echo hi"',
                "/usr/bin/printf a=b",
                "/usr/bin/ls \\*.txt",
            ],
        )
    ]
    assert nopasswd(policy, "alice") == [("/etc/sudoers:3", ['/usr/bin/env ""', "/usr/bin/id"])]
    assert policy.check("alice", [], "h", "/usr/bin/env").allowed
    assert policy.check("dom user", [], "h", "/usr/bin/ls *.txt").allowed  # "\*" is a literal *
    assert not policy.check("dom user", [], "h", "/usr/bin/ls a.txt").allowed
    assert not policy.check("alice", [], "h", "/usr/bin/env sh").allowed


def test_unparseable_lines_are_errors_and_the_rest_is_read(tmp_path: Path) -> None:
    policy = load(
        tmp_path,
        {
            "/etc/sudoers": "alice ALL = NOPASSWD ALL\nbob ALL=(ALL) NOPASSWD: ALL\n"
            'carol ALL = /bin/echo "a,b"\nUser_Alias lower = x\nDefaults:\n',
        },
    )
    assert [e.split(":")[1] for e in policy.errors] == ["1", "3", "4", "5"]
    assert policy.errors[0].startswith("/etc/sudoers:1: ")
    assert nopasswd(policy, "bob") == [("/etc/sudoers:2", ["ALL"])]


def test_duplicate_alias_is_an_error(tmp_path: Path) -> None:
    policy = load(tmp_path, {"/etc/sudoers": "User_Alias A = x\nUser_Alias A = y\nA ALL=ALL\n"})
    assert policy.errors == ["/etc/sudoers:2: duplicate User_Alias A"]
    assert policy.rules_for("x", [], "h") and not policy.rules_for("y", [], "h")


# -- differential oracle 1: cvtsudoers ---------------------------------------------------------


@pytest.fixture(scope="module")
def sudo_tools() -> None:
    require("sudo tools", shutil.which("cvtsudoers") is not None, "apt-get install sudo")
    require("sudo tools", shutil.which("visudo") is not None, "apt-get install sudo")


@dataclass(frozen=True)
class Pools:
    """Names a generated sudoers file may use; the e2e pools only name test users and commands."""

    users: tuple[str, ...]
    hosts: tuple[str, ...]
    runas_users: tuple[str, ...]
    runas_groups: tuple[str, ...]
    commands: tuple[str, ...]
    defaults_types: tuple[str, ...]
    defaults_bindings: dict[str, tuple[str, ...]]
    settings: tuple[str, ...]
    alias_prefix: str = ""


HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
STATIC = Pools(
    users=("alice", "bob", "%wheel", "#1001", "%#50", "+admins", "%:Domain", '"dom user"', "ALL"),
    hosts=("ALL", "web1", "db1", "*.example.com", "10.0.0.0/8", "192.168.1.5", "+hosts"),
    runas_users=("root", "postgres", "ALL", "#0", "%dba"),
    runas_groups=("adm", "ALL", "#5"),
    commands=(
        "ALL",
        "/usr/bin/true",
        "/bin/ls -l",
        "/bin/echo a\\,b",
        "/usr/bin/*",
        "/usr/sbin/",
        "sudoedit /etc/hosts",
        '/usr/bin/env ""',
        "^/usr/bin/(ls|cat)$",
        '/bin/sh -c "echo hi"',
        f"sha256:{HEX} /usr/bin/id",
        "/usr/bin/printf a=b",
        "/usr/bin/ls \\*",
    ),
    defaults_types=("", ":", "@", ">", "!"),
    defaults_bindings={
        ":": ("alice", "%wheel", "#1001", "OPS"),
        "@": ("web1", "SRV", "10.0.0.0/8"),
        ">": ("root", "postgres", "DBA"),
        "!": ("/bin/ls", "/usr/bin/true", "sudoedit", "TOOLS"),
    },
    settings=(
        "authenticate",
        "!authenticate",
        "env_reset",
        "!lecture",
        'env_keep += "A B"',
        'secure_path="/usr/bin:/bin"',
        "timestamp_timeout=5",
    ),
)


@st.composite
def member_list(draw: st.DrawFn, pool: tuple[str, ...], negate: bool = True) -> str:
    items = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))
    bangs = [draw(st.sampled_from(["", "", "", "!"])) if negate else "" for _ in items]
    sep = draw(st.sampled_from([", ", ",", ", \\\n    "]))
    return sep.join(b + item for b, item in zip(bangs, items, strict=True))


@st.composite
def sudoers_lines(draw: st.DrawFn, p: Pools, count: int) -> list[str]:
    a = p.alias_prefix
    users = (*p.users, f"{a}OPS", f"{a}ADMINS")
    hosts, commands = (*p.hosts, f"{a}SRV"), (*p.commands, f"{a}TOOLS")
    lines = []
    for _ in range(count):
        kind = draw(st.sampled_from(["spec", "spec", "spec", "defaults", "comment"]))
        if kind == "comment":
            lines.append(draw(st.sampled_from(["# comment", "", "#", "  # indented \\"])))
        elif kind == "defaults":
            btype = draw(st.sampled_from(p.defaults_types))
            binding = ""
            if btype:
                pool = tuple(b.replace("@A@", a) for b in p.defaults_bindings[btype])
                binding = btype + draw(member_list(pool, negate=btype != "!")).replace("\\\n", "")
            settings = draw(st.lists(st.sampled_from(p.settings), min_size=1, max_size=3))
            lines.append(f"Defaults{binding} {', '.join(settings)}")
        else:
            privileges = []
            for _ in range(draw(st.integers(1, 2))):
                specs = []
                for _ in range(draw(st.integers(1, 3))):
                    form = draw(
                        st.sampled_from(["", "", "({r}) ", "({r}:{g}) ", "(:{g}) ", "() ", "({r})"])
                    )
                    runas = form.format(
                        r=draw(member_list((*p.runas_users, f"{a}DBA"))),
                        g=draw(member_list(p.runas_groups)),
                    )
                    tags = draw(
                        st.lists(
                            st.sampled_from(["NOPASSWD", "PASSWD", "NOEXEC", "EXEC", "SETENV",
                                             "LOG_INPUT", "NOLOG_OUTPUT", "MAIL", "FOLLOW"]),
                            max_size=2,
                        )
                    )  # fmt: skip
                    colon = draw(st.sampled_from([": ", ":"]))
                    cmd = draw(st.sampled_from(["", "", "", "!"])) + draw(st.sampled_from(commands))
                    specs.append(runas + "".join(t + colon for t in tags) + cmd)
                hostlist = draw(member_list(hosts))
                privileges.append(f"{hostlist} = {', '.join(specs)}")
            lines.append(f"{draw(member_list(users))} {' : '.join(privileges)}")
        if lines[-1] and draw(st.sampled_from([False, False, False, True])):
            lines[-1] += "  # trailing comment"
    return lines


@st.composite
def sudoers_tree(draw: st.DrawFn, p: Pools, includes: bool = True) -> dict[str, str]:
    a = p.alias_prefix
    base_users = tuple(u for u in p.users if u != "ALL") or p.users
    ops = draw(member_list(base_users))
    admins = draw(member_list((*base_users, f"{a}OPS")))
    aliases = [
        f"User_Alias {a}OPS = {ops}"
        + draw(st.sampled_from(["\nUser_Alias ", " : "]))
        + f"{a}ADMINS = {admins}",
        f"Runas_Alias {a}DBA = {draw(member_list(p.runas_users))}",
        f"Host_Alias {a}SRV = {draw(member_list(p.hosts))}",
        f"Cmnd_Alias {a}TOOLS = {draw(member_list(p.commands))}",
    ]
    files = {"sudoers": "\n".join([*aliases, *draw(sudoers_lines(p, draw(st.integers(1, 5)))), ""])}
    if includes and draw(st.booleans()):
        files["sudoers"] += "@include sub\n#includedir conf.d\n" + "\n".join(
            draw(sudoers_lines(p, 1))
        ) + "\n"  # fmt: skip
        files["sub"] = "\n".join([*draw(sudoers_lines(p, 2)), ""])
        for name in draw(
            st.lists(st.sampled_from(["10-a", "20-b.bak", "30-c~", "40-d"]), unique=True)
        ):
            files[f"conf.d/{name}"] = "\n".join([*draw(sudoers_lines(p, 1)), ""])
    return files


def json_member(item: dict[str, Any]) -> str:
    bang = "!" if item.get("negated") else ""
    prefixes = {"username": "", "usergroup": "%", "userid": "#", "usergid": "%#", "netgroup": "+",
                "nonunixgroup": "%:", "hostname": "", "networkaddr": "", "command": "",
                "useralias": "", "runasalias": "", "hostalias": "", "cmndalias": ""}  # fmt: skip
    key = next(k for k in prefixes if k in item)
    value = str(item[key])
    return bang + (value if value == "ALL" else prefixes[key] + value)


def json_auth(options: list[dict[str, Any]]) -> list[bool]:
    return [o["authenticate"] for o in options if "authenticate" in o]


def sudo_view(doc: dict[str, Any]) -> dict[str, Any]:
    """cvtsudoers' JSON reduced to what the reader must agree on."""
    rules = []
    for spec in doc.get("User_Specs", []):
        users = tuple(map(json_member, spec["User_List"]))
        hosts = tuple(map(json_member, spec["Host_List"]))
        for cs in spec["Cmnd_Specs"]:
            ru = tuple(map(json_member, cs["runasusers"])) if "runasusers" in cs else None
            rg = tuple(map(json_member, cs["runasgroups"])) if "runasgroups" in cs else None
            values = json_auth(cs.get("Options", []))
            auth = values[-1] if values else None
            rules += [(users, hosts, ru, rg, json_member(c), auth) for c in cs["Commands"]]
    defaults = [
        (tuple(map(json_member, d.get("Binding", []))), json_auth(d["Options"]))
        for d in doc.get("Defaults", [])
    ]
    kinds = {"User_Aliases": "User", "Runas_Aliases": "Runas", "Host_Aliases": "Host",
             "Command_Aliases": "Cmnd"}  # fmt: skip
    aliases = {
        (kind, name): tuple(map(json_member, members))
        for section, kind in kinds.items()
        for name, members in doc.get(section, {}).items()
    }
    return {"rules": rules, "defaults": defaults, "aliases": aliases}


def our_view(policy: SudoersPolicy) -> dict[str, Any]:
    def strs(members: tuple[Any, ...] | None) -> tuple[str, ...] | None:
        return None if members is None else tuple(map(str, members))

    rules = [
        (strs(r.users), strs(r.hosts), strs(r.runas.users), strs(r.runas.groups), str(c),
         None if r.nopasswd is None else not r.nopasswd)
        for r in policy.rules
        for c in r.commands
    ]  # fmt: skip
    defaults = [
        (strs(d.binding), [v for k, v in d.settings if k == "authenticate"])
        for d in policy.defaults
    ]
    return {
        "rules": rules,
        "defaults": defaults,
        "aliases": {k: strs(v) for k, v in policy.aliases.items()},
    }


def visudo_ok(path: Path) -> bool:
    return (
        subprocess.run(["visudo", "-c", "-q", "-f", str(path)], capture_output=True).returncode == 0
    )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(files=sudoers_tree(STATIC))
def test_parse_matches_cvtsudoers(sudo_tools: None, files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        main = root / "sudoers"
        assume(visudo_ok(main))
        out = subprocess.run(
            ["cvtsudoers", "-f", "json", str(main)], capture_output=True, check=True, text=True
        )
        policy = load_sudoers(LocalHost("/"), str(main))
        assert policy is not None
        assert policy.errors == []
        assert our_view(policy) == sudo_view(json.loads(out.stdout))


def test_generator_and_oracle_see_the_hard_cases(sudo_tools: None, tmp_path: Path) -> None:
    """A fixed file with every construct the generator can emit agrees with cvtsudoers too."""
    text = (
        "User_Alias OPS = alice, %wheel : ADMINS = OPS, !bob, #1001, %#50, %:Domain, +admins\n"
        "Runas_Alias DBA = postgres, %dba\nHost_Alias SRV = *.example.com, 10.0.0.0/8, +hosts\n"
        f"Cmnd_Alias TOOLS = /usr/sbin/, ^/usr/bin/(ls|cat)$, sha256:{HEX} /usr/bin/id\n"
        "Defaults:OPS, !%wheel !authenticate, env_reset\nDefaults@SRV authenticate\n"
        "Defaults>DBA, #0 !authenticate\nDefaults!TOOLS, sudoedit !authenticate\n"
        '"dom user", ADMINS SRV, web1 = (ALL, !root : adm, #5) NOPASSWD:NOEXEC: /bin/echo a\\,b, \\\n'
        '  PASSWD: /bin/sh -c "echo hi", () !ALL : ALL = (:ALL) MAIL: TOOLS, /usr/bin/env ""\n'
    )
    (tmp_path / "sudoers").write_text(text)
    assert visudo_ok(tmp_path / "sudoers")
    out = subprocess.run(
        ["cvtsudoers", "-f", "json", str(tmp_path / "sudoers")],
        capture_output=True,
        check=True,
        text=True,
    )
    policy = load_sudoers(LocalHost("/"), str(tmp_path / "sudoers"))
    assert policy is not None and policy.errors == []
    assert our_view(policy) == sudo_view(json.loads(out.stdout))
    assert len(policy.rules) == 4 and len(policy.defaults) == 4 and len(policy.aliases) == 5


# -- differential oracle 2: sudo -n with real users --------------------------------------------


@dataclass(frozen=True)
class Lab:
    tag: str
    users: tuple[str, ...]
    groups: tuple[str, ...]
    commands: tuple[str, ...]
    dropin: Path
    host: str


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)


@pytest.fixture(scope="module")
def lab(sudo_tools: None) -> Iterator[Lab]:
    """Test users, groups and private commands; a drop-in path only our users can be affected by."""
    require(
        "root with useradd and runuser",
        os.geteuid() == 0
        and shutil.which("useradd") is not None
        and shutil.which("runuser") is not None,
        "run the suite as root (the CI container does)",
    )
    tag = "rra" + secrets.token_hex(3)
    made_users: list[str] = []
    made_groups: list[str] = []
    cmd_dir = Path(tempfile.mkdtemp(prefix="rra-sudo-"))
    dropin = Path(f"/etc/sudoers.d/rra-test-{tag}")
    try:
        cmd_dir.chmod(0o755)
        commands = []
        for name in ("c1", "c2", "c3"):
            shutil.copy2("/usr/bin/true", cmd_dir / name)
            commands.append(str(cmd_dir / name))
        groups = (f"{tag}g1", f"{tag}g2")
        for group in groups:
            subprocess.run(["groupadd", group], check=True, capture_output=True)
            made_groups.append(group)
        members = {"a": groups[:1], "b": groups[1:], "c": groups, "d": ()}
        for suffix, extra in members.items():
            argv = ["useradd", "-M", "-s", "/bin/sh"] + (["-G", ",".join(extra)] if extra else [])
            subprocess.run([*argv, tag + suffix], check=True, capture_output=True)
            made_users.append(tag + suffix)
        yield Lab(tag, tuple(made_users), groups, tuple(commands), dropin, socket.gethostname())
    finally:
        dropin.unlink(missing_ok=True)
        for user in made_users:
            run(["userdel", user])
        for group in made_groups:
            run(["groupdel", group])
        shutil.rmtree(cmd_dir, ignore_errors=True)


def install_dropin(lab: Lab, text: str) -> bool:
    """Validate first, then rename into place: sudo never sees a broken or half-written file."""
    staging = lab.dropin.with_name(lab.dropin.name + ".new")  # a "." in the name: sudo skips it
    staging.write_text(text)
    staging.chmod(0o440)
    if not visudo_ok(staging):
        staging.unlink()
        return False
    staging.replace(lab.dropin)
    if run(["visudo", "-c", "-q"]).returncode != 0:  # the whole configuration must stay valid
        lab.dropin.unlink()
        pytest.fail(f"the drop-in broke the sudo configuration:\n{text}")
    return True


def lab_pools(lab: Lab) -> Pools:
    a, b, c, _ = lab.users
    g1, g2 = lab.groups
    c1, c2, c3 = lab.commands
    cmd_dir = str(Path(c1).parent)
    uid_a, gid_g2 = pwd.getpwnam(a).pw_uid, grp.getgrnam(g2).gr_gid
    prefix = lab.tag.upper() + "_"  # alias names no other drop-in uses
    # Never ALL as a user, nor an unbound Defaults: nothing here may touch anyone but our users.
    return Pools(
        users=(a, b, c, f"%{g1}", f"%{g2}", f"#{uid_a}", f"%#{gid_g2}"),
        hosts=("ALL", lab.host, "otherhost"),
        runas_users=("root", b, "ALL", "#0"),
        runas_groups=(g1, "ALL"),
        commands=(c1, f"{c2} x", c3, "ALL", f"{cmd_dir}/", f"{cmd_dir}/c[13]"),
        defaults_types=(":", ">", "!"),
        defaults_bindings={
            ":": (a, b, c, f"%{g1}", f"#{uid_a}", "@A@OPS"),
            ">": (b, c),
            "!": (c1, c3),
        },
        settings=("authenticate", "!authenticate"),
        alias_prefix=prefix,
    )


@dataclass(frozen=True)
class Runas:
    option: str = ""  # "", "-u" or "-g"
    value: str = ""

    def argv(self) -> list[str]:
        return [self.option, self.value] if self.option else []


def identity(user: str) -> tuple[list[str], dict[str, Any]]:
    """Group names, uid and gids of a real user, as the auth collector would pass them."""
    entry = pwd.getpwnam(user)
    gids = os.getgrouplist(user, entry.pw_gid)
    return [grp.getgrgid(g).gr_name for g in gids], {"uid": entry.pw_uid, "gids": gids}


def classify(result: subprocess.CompletedProcess[str]) -> str:
    if "a password is required" in result.stderr:
        return "authenticate"
    if "not allowed" in result.stderr or "not in the sudoers" in result.stderr:
        return "denied"
    if result.returncode == 0 and not result.stderr.strip():
        return "ran"
    raise AssertionError(f"unexpected sudo outcome {result.returncode}: {result.stderr}")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_sudo_agrees_with_check_and_nopasswd_rules(lab: Lab, data: st.DataObject) -> None:
    text = data.draw(sudoers_tree(lab_pools(lab), includes=False))["sudoers"]
    assume(install_dropin(lab, text))
    try:
        policy = load_sudoers(LocalHost("/"))
        assert policy is not None
        assert not [e for e in policy.errors if str(lab.dropin) in e]
        probes = [
            (user, runas, command)
            for user in lab.users
            for runas in (Runas(), Runas("-u", lab.users[1]), Runas("-g", lab.groups[0]))
            for command in (lab.commands[0], f"{lab.commands[1]} x", lab.commands[2])
        ]

        def probe(p: tuple[str, Runas, str]) -> str:
            user, runas, command = p
            argv = ["runuser", "-u", user, "--", "sudo", "-n", *runas.argv(), *command.split()]
            return classify(run(argv))

        with ThreadPoolExecutor(max_workers=4) as pool:
            outcomes = list(pool.map(probe, probes))
        mismatches = []
        for (user, runas, command), outcome in zip(probes, outcomes, strict=True):
            groups, ids = identity(user)
            decision = policy.check(
                user,
                groups,
                lab.host,
                command,
                runas_user=runas.value if runas.option == "-u" else None,
                runas_group=runas.value if runas.option == "-g" else None,
                **ids,
            )
            expected = (
                "authenticate" if decision.authenticate else "ran" if decision.allowed else "denied"
            )
            if expected != outcome:
                mismatches.append((user, runas, command, outcome, expected))
            exempt = decision.runs_as == user and (runas.option != "-g" or runas.value in groups)
            if outcome == "ran" and not exempt:  # gained privileges without authenticating:
                assert decision.rule is not None  # nopasswd_rules must report that rule
                sources = {r.source for r in policy.nopasswd_rules(user, groups, lab.host, **ids)}
                assert decision.rule.source in sources, (user, command, text)
        assert mismatches == [], text
        for user in lab.users:  # "not allowed to run sudo" exactly when no rule applies
            listing = run(["sudo", "-n", "-l", "-U", user]).stdout
            groups, ids = identity(user)
            applies = bool(policy.rules_for(user, groups, lab.host, **ids))
            assert applies is ("is not allowed to run sudo" not in listing), (user, listing, text)
    finally:
        lab.dropin.unlink(missing_ok=True)


def test_sudo_list_shows_the_nopasswd_rules(lab: Lab) -> None:
    """A fixed drop-in: ``sudo -l -U`` lists NOPASSWD for exactly the commands we report."""
    a, b, c, d = lab.users
    c1, c2, c3 = lab.commands
    text = (
        f"Defaults:{c} !authenticate\n"
        f"{a} ALL = (ALL) NOPASSWD: {c1}, PASSWD: {c2}\n"
        f"{b} ALL = (root) {c3}\n"
        f"{c} ALL = (root) {c3}\n"
        f"{a}, {b} ALL = (ALL) PASSWD: {c1}\n"
    )
    assert install_dropin(lab, text)
    try:
        policy = load_sudoers(LocalHost("/"))
        assert policy is not None
        reported = {
            user: [
                str(c)
                for r in policy.nopasswd_rules(user, identity(user)[0], lab.host)
                for c in r.commands
            ]
            for user in lab.users
        }
        assert reported == {a: [], b: [], c: [c3], d: []}  # a's NOPASSWD c1 is taken back by line 5
        lines = run(["sudo", "-n", "-l", "-U", a]).stdout.splitlines()
        assert f"    (ALL) NOPASSWD: {c1}, PASSWD: {c2}" in lines
        assert f"    (ALL) PASSWD: {c1}" in lines
        listing = run(["sudo", "-n", "-l", "-U", c]).stdout
        assert "!authenticate" in listing and f"    (root) {c3}" in listing.splitlines()
        outcome = classify(run(["runuser", "-u", a, "--", "sudo", "-n", c1]))
        assert outcome == "authenticate"  # the last rule for c1 (line 5) wins
        assert classify(run(["runuser", "-u", c, "--", "sudo", "-n", c3])) == "ran"
    finally:
        lab.dropin.unlink(missing_ok=True)


def test_parse_sudoers_is_pure_text() -> None:
    parsed = parse_sudoers("alice ALL=(ALL) NOPASSWD: ALL\n@include other\n", "/x/sudoers")
    assert [type(i).__name__ for i in parsed.items] == ["SudoRule", "Include"]
    assert parsed.errors == [] and parsed.notes == []
