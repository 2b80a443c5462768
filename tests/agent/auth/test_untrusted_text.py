"""Hostile or broken host files never crash the authentication collector.

Every file the collector reads is untrusted text from the inspected host: whatever is in
passwd/shadow/group, sshd_config, PAM or sudoers, the collector returns facts (with ``unknown``
and reasons where it must), never an exception and never ``enforced`` for an account whose
configuration could not be understood.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rra.agent.auth.sshd_config import Connection, load_sshd_config
from rra.agent.collectors.auth import collect_auth
from rra.agent.local import LocalHost

KEYWORDS = [
    "Match",
    "Include",
    "AuthenticationMethods",
    "PasswordAuthentication",
    "AllowUsers",
    "DenyGroups",
    "PermitRootLogin",
    "AuthorizedKeysFile",
    "UsePAM",
    "KbdInteractiveAuthentication",
]
FRAGMENTS = [
    "User",
    "Group",
    "Address",
    "all",
    "!",
    "*",
    ",",
    "=",
    '"',
    "'",
    "\\",
    "#",
    "10.0.0.0/8",
    "::1/129",
    "publickey,",
    "any",
    "yes",
    "no",
    "%u",
    "@",
    "\t",
    "\x00",
    "é",
]
noise_line = st.lists(
    st.one_of(st.sampled_from(KEYWORDS + FRAGMENTS), st.text(max_size=6)), max_size=6
).map(" ".join)
text = st.lists(noise_line, max_size=12).map("\n".join)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, body in files.items():
        path = root / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, errors="surrogateescape")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=text, include=text)
def test_sshd_config_parser_never_raises(config: str, include: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write(
            root,
            {"/etc/ssh/sshd_config": config + "\nInclude x.conf\n", "/etc/ssh/x.conf": include},
        )
        parsed = load_sshd_config(LocalHost(root))
        parsed.effective(Connection("alice", "10.1.2.3", "10.1.2.3"), {"ops"})
        parsed.global_settings()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    passwd=st.lists(
        st.lists(
            st.sampled_from(["alice", "0", "1000", "", "/bin/bash", "/home/a", "x", "::"]),
            max_size=9,
        ).map(":".join),
        max_size=6,
    ).map("\n".join),
    shadow=text,
    group=text,
    sshd=text,
    pam=text,
    sudoers=text,
)
def test_collector_never_raises_and_never_vouches_for_garbage(
    passwd: str, shadow: str, group: str, sshd: str, pam: str, sudoers: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write(
            root,
            {
                "/etc/passwd": "root:x:0:0:root:/root:/bin/bash\n" + passwd,
                "/etc/shadow": shadow,
                "/etc/group": group,
                "/etc/ssh/sshd_config": sshd,
                "/etc/pam.d/sshd": pam,
                "/etc/pam.d/other": "auth required pam_deny.so\n",
                "/etc/sudoers": sudoers,
            },
        )
        facts = collect_auth(LocalHost(root))
        assert facts.accounts is not None
        for account in facts.accounts:
            assert account.reason
            if facts.unknown.get("sshd_config") and account.interactive:
                assert account.ssh != "enforced"
