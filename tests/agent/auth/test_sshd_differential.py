"""Differential test: rra's sshd_config parser against the real ``sshd -T -C`` (OpenSSH 9.2).

Hypothesis writes many configurations (Match blocks with negations and wildcards, Include files,
mixed-case keywords, the deprecated alias, ``keyword=value``) and, for several users and source
addresses, compares the effective settings rra computes with what sshd itself prints.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rra.agent.auth.sshd_config import INVALID, Connection, as_text, load_sshd_config, parse_sshd_t
from rra.agent.local import LocalHost
from tests.conftest import require

SSHD = "/usr/sbin/sshd"
COMPARED = (
    "authenticationmethods",
    "pubkeyauthentication",
    "passwordauthentication",
    "kbdinteractiveauthentication",
    "permitrootlogin",
    "permitemptypasswords",
    "authorizedkeysfile",
    "allowusers",
    "denyusers",
    "allowgroups",
    "denygroups",
)
# Real accounts and groups of this machine: sshd resolves Match Group through getgrouplist.
USERS = ("root", "daemon", "nobody", "postgres", "www-data")
ADDRESSES = ("10.1.2.3", "10.9.0.5", "192.168.7.7", "203.0.113.45", "2001:db8::5")


def _groups_of(user: str) -> frozenset[str]:
    import grp
    import pwd

    entry = pwd.getpwnam(user)
    names = {g.gr_name for g in grp.getgrall() if user in g.gr_mem}
    names.add(grp.getgrgid(entry.pw_gid).gr_name)
    return frozenset(names)


def _sshd_available() -> bool:
    return Path(SSHD).exists() and os.geteuid() == 0


def _keyword(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.lower(), name.upper()])


flags = st.sampled_from(["yes", "no", "Yes", "NO"])
keyword_lines = st.one_of(
    st.tuples(_keyword("PasswordAuthentication"), flags),
    st.tuples(_keyword("PubkeyAuthentication"), flags),
    st.tuples(_keyword("KbdInteractiveAuthentication"), flags),
    st.tuples(_keyword("ChallengeResponseAuthentication"), flags),
    st.tuples(_keyword("PermitEmptyPasswords"), flags),
    st.tuples(
        _keyword("PermitRootLogin"),
        st.sampled_from(
            ["yes", "no", "prohibit-password", "without-password", "forced-commands-only"]
        ),
    ),
    st.tuples(
        _keyword("AuthenticationMethods"),
        st.sampled_from(
            [
                "any",
                "publickey",
                "publickey,password",
                "publickey,keyboard-interactive",
                "publickey,keyboard-interactive:pam password",
                '"publickey,password" publickey,keyboard-interactive',
            ]
        ),
    ),
    st.tuples(
        _keyword("AuthorizedKeysFile"),
        st.sampled_from([".ssh/authorized_keys", "/etc/ssh/keys/%u", "%h/.ssh/k .ssh/k2"]),
    ),
    st.tuples(
        _keyword("AllowUsers"), st.sampled_from(["root", "daemon nobody", "*@10.0.0.0/8", "post*"])
    ),
    st.tuples(_keyword("DenyUsers"), st.sampled_from(["nobody", "www-data@192.168.*", "d?emon"])),
    st.tuples(_keyword("AllowGroups"), st.sampled_from(["root", "ssl-cert", "nogroup daemon"])),
    st.tuples(_keyword("DenyGroups"), st.sampled_from(["www-data", "nogroup"])),
)
user_patterns = st.sampled_from(
    [
        "root",
        "daemon,nobody",
        "*",
        "p*",
        "*,!root",
        "!root",
        "d?emon",
        "root,www-data",
        "nobody,!n*",
    ]
)
group_patterns = st.sampled_from(["root", "ssl-cert", "nogroup", "*,!root", "daemon,www-data"])
address_patterns = st.sampled_from(
    [
        "10.0.0.0/8",
        "10.0.0.0/8,!10.9.0.0/16",
        "192.168.*",
        "2001:db8::/32",
        "203.0.113.45",
        "*,!10.0.0.0/8",
        "fd00::/8,192.168.7.0/24",
    ]
)
criteria = st.one_of(
    st.tuples(st.just("User"), user_patterns),
    st.tuples(st.just("Group"), group_patterns),
    st.tuples(st.just("Address"), address_patterns),
    st.tuples(st.just("Host"), st.sampled_from(["*.example.org", "10.*", "h*"])),
    st.tuples(st.just("LocalPort"), st.sampled_from(["22", "2222"])),
    st.tuples(
        st.just("LocalAddress"), st.sampled_from(["127.0.0.0/8", "10.0.0.1", "*,!127.0.0.1"])
    ),
    st.tuples(st.just("RDomain"), st.sampled_from(["*", "vrf1"])),
)
match_lines = st.one_of(
    st.just("Match all"),
    st.lists(criteria, min_size=1, max_size=3, unique_by=lambda c: c[0]).map(
        lambda cs: "Match " + " ".join(f"{a} {p}" for a, p in cs)
    ),
)


def _render(lines: list[tuple[str, str]], equals: bool) -> list[str]:
    # A trailing comment on every other line: sshd ignores "# ..." after the value.
    return [
        (f"{k}={v}" if equals else f"{k} {v}") + ("  # note" if i % 2 else "")
        for i, (k, v) in enumerate(lines)
    ]


config_strategy = st.fixed_dictionaries(
    {
        "global": st.lists(keyword_lines, max_size=6),
        "include": st.lists(keyword_lines, max_size=3),
        "include_match": st.one_of(
            st.none(), st.tuples(match_lines, st.lists(keyword_lines, max_size=2))
        ),
        "include_in_block": st.booleans(),
        "blocks": st.lists(st.tuples(match_lines, st.lists(keyword_lines, max_size=4)), max_size=4),
        "equals": st.booleans(),
    }
)


def _write(directory: Path, spec: dict[str, Any]) -> Path:
    equals = bool(spec["equals"])
    include = directory / "inc.d" / "10-site.conf"
    include.parent.mkdir(parents=True, exist_ok=True)
    inc_lines = _render(spec["include"], equals)
    if spec["include_match"] is not None:
        header, body = spec["include_match"]
        inc_lines += [header, *_render(body, equals)]
    include.write_text("\n".join(inc_lines) + "\n")
    main = [f"Include {directory}/inc.d/*.conf"] if not spec["include_in_block"] else []
    main += _render(spec["global"], equals)
    for index, (header, body) in enumerate(spec["blocks"]):
        main.append(header)
        if index == 0 and spec["include_in_block"]:
            main.append(f"Include {directory}/inc.d/*.conf")
        main += ["  " + line for line in _render(body, equals)]
    path = directory / "sshd_config"
    path.write_text("\n".join(main) + "\n")
    return path


def _sshd_t(config: Path, conn: Connection) -> dict[str, str | list[str]] | None:
    done = subprocess.run(
        [SSHD, "-T", "-f", str(config), "-C", conn.spec()],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return None
    return parse_sshd_t(done.stdout)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=config_strategy)
def test_parser_agrees_with_sshd_dash_t(spec: dict[str, Any]) -> None:
    require("sshd (as root)", _sshd_available(), "apt-get install openssh-server; run as root")
    Path("/run/sshd").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), spec)
        config = load_sshd_config(LocalHost("/"), str(path))
        compared = 0
        refused = 0
        for user in USERS:
            groups = _groups_of(user)
            for address in ADDRESSES:
                for port in (22, 2222) if "2222" in path.read_text() else (22,):
                    conn = Connection(user, address, address, "127.0.0.1", port)
                    real = _sshd_t(path, conn)
                    ours = config.effective(conn, groups)
                    if real is None:
                        # sshd rejected the configuration; the parser must have noticed too.
                        assert config.errors or INVALID in ours, "sshd refused, rra did not"
                        refused += 1
                        continue
                    assert INVALID not in ours, ours[INVALID]
                    for key in COMPARED:
                        assert as_text(ours[key]) == as_text(real[key]), (
                            key,
                            conn.spec(),
                            path.read_text(),
                        )
                    compared += 1
        assert compared + refused >= len(USERS) * len(ADDRESSES)


def test_debian_default_config_agrees(tmp_path: Path) -> None:
    require("sshd (as root)", _sshd_available(), "apt-get install openssh-server; run as root")
    Path("/run/sshd").mkdir(exist_ok=True)
    config = load_sshd_config(LocalHost("/"), "/etc/ssh/sshd_config")
    real = parse_sshd_t(
        subprocess.run([SSHD, "-T"], capture_output=True, text=True, check=True).stdout
    )
    ours = config.global_settings()
    for key in (*COMPARED, "usepam"):
        assert as_text(ours[key]) == as_text(real[key]), key


def test_sshd_binary_is_the_one_tested() -> None:
    require(
        "sshd",
        shutil.which("sshd") is not None or Path(SSHD).exists(),
        "apt-get install openssh-server",
    )
    version = subprocess.run([SSHD, "-V"], capture_output=True, text=True, check=False).stderr
    assert "OpenSSH_" in version
