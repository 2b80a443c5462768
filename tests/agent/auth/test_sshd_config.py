"""sshd_config parser, Match patterns and source scenarios on file trees under tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from rra.agent.auth.sshd_config import (
    INVALID,
    Connection,
    SshdConfigError,
    as_text,
    load_sshd_config,
)
from rra.agent.auth.sshd_effective import ANY_SOURCE, SettingsSource, build_scenarios, user_class
from rra.agent.auth.sshd_match import (
    PatternError,
    addr_match_list,
    match_group_list,
    match_pattern,
    match_pattern_list,
    match_user,
)
from rra.agent.local import LocalHost


def _tree(tmp_path: Path, files: dict[str, str]) -> LocalHost:
    for name, text in files.items():
        path = tmp_path / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return LocalHost(tmp_path)


def _conn(user: str = "alice", addr: str = "198.51.100.23", port: int = 22) -> Connection:
    return Connection(user, addr, addr, "0.0.0.0", port)


def test_patterns_follow_openssh_semantics() -> None:
    assert match_pattern("alice", "a*e")
    assert match_pattern("alice", "al?ce")
    assert not match_pattern("alice", "A*")  # case-sensitive
    assert match_pattern_list("bob", "a*,b*") == 1
    assert match_pattern_list("bob", "*,!bob") == -1  # a negated match wins
    assert match_pattern_list("bob", "!root") == 0  # a negation alone matches nobody
    assert addr_match_list("10.1.2.3", "10.0.0.0/8,!10.9.0.0/16") == 1
    assert addr_match_list("10.9.2.3", "10.0.0.0/8,!10.9.0.0/16") == -1
    assert addr_match_list("192.168.1.7", "192.168.*") == 1
    assert addr_match_list("2001:db8::1", "10.0.0.0/8") == 0
    with pytest.raises(PatternError):
        addr_match_list("10.1.2.3", "10.1.0.0/8")  # host bits set: sshd rejects the list
    assert match_user("alice", "10.0.0.5", "10.0.0.5", "alice@10.0.0.0/8")
    assert not match_user("alice", "192.0.2.1", "192.0.2.1", "alice@10.0.0.0/8")
    assert match_group_list({"ops", "sudo"}, "ops")
    assert not match_group_list({"ops", "sudo"}, "ops,!sudo")


def test_first_value_wins_and_match_overrides(tmp_path: Path) -> None:
    host = _tree(
        tmp_path,
        {
            "/etc/ssh/sshd_config": (
                "PasswordAuthentication no\n"
                "passwordauthentication yes\n"
                "ChallengeResponseAuthentication yes\n"
                "KbdInteractiveAuthentication no\n"
                "PermitRootLogin=prohibit-password\n"
                'AuthenticationMethods "publickey,password" publickey,keyboard-interactive\n'
                "Match User alice\n"
                "  PasswordAuthentication yes\n"
                "Match Address 10.0.0.0/8\n"
                "  PasswordAuthentication no\n"
                "  AuthenticationMethods publickey\n"
            )
        },
    )
    config = load_sshd_config(host)
    assert not config.errors
    bob = config.effective(_conn("bob"), set())
    assert bob["passwordauthentication"] == "no"  # first global line wins
    assert bob["kbdinteractiveauthentication"] == "yes"  # the alias counts as the same keyword
    assert bob["permitrootlogin"] == "without-password"  # sshd -T's spelling
    assert bob["authenticationmethods"] == "publickey,password publickey,keyboard-interactive"
    alice_inside = config.effective(_conn("alice", "10.1.1.1"), set())
    assert alice_inside["passwordauthentication"] == "yes"  # the first applying block wins
    assert alice_inside["authenticationmethods"] == "publickey"


def test_include_globs_relative_to_etc_ssh_and_match_context(tmp_path: Path) -> None:
    host = _tree(
        tmp_path,
        {
            "/etc/ssh/sshd_config": (
                "Include sshd_config.d/*.conf\n"
                "PasswordAuthentication yes\n"
                "Match User ops\n"
                "  Include /etc/ssh/ops.conf\n"
                "  PubkeyAuthentication no\n"
            ),
            "/etc/ssh/sshd_config.d/10-no-password.conf": "PasswordAuthentication no\n",
            "/etc/ssh/sshd_config.d/20-match.conf": "Match User dev\n  KbdInteractiveAuthentication no\n",
            "/etc/ssh/ops.conf": "AuthenticationMethods publickey,password\nMatch all\n  PermitRootLogin no\n",
        },
    )
    config = load_sshd_config(host)
    assert config.files[1:3] == [
        "/etc/ssh/sshd_config.d/10-no-password.conf",
        "/etc/ssh/sshd_config.d/20-match.conf",
    ]
    dev = config.effective(_conn("dev"), set())
    assert dev["passwordauthentication"] == "no"  # the drop-in comes first
    assert dev["kbdinteractiveauthentication"] == "no"
    # After the included file's Match the main file is global again.
    assert config.effective(_conn("x"), set())["kbdinteractiveauthentication"] == "yes"
    ops = config.effective(_conn("ops"), set())
    assert ops["authenticationmethods"] == "publickey,password"  # included inside Match User ops
    assert ops["pubkeyauthentication"] == "no"  # the includer's Match context is back
    assert ops["permitrootlogin"] == "no"
    # A Match inside a file included from a block applies only when that block applies.
    assert dev["permitrootlogin"] == "without-password"


def test_bad_input_is_recorded_never_raised(tmp_path: Path) -> None:
    host = _tree(
        tmp_path,
        {
            "/etc/ssh/sshd_config": (
                "Include /etc/ssh/loop.conf\n"
                'Banner "unterminated\n'
                "PasswordAuthentication\n"
                "Match Address 10.1.0.0/8\n"
                "Match Colour blue\n"
            ),
            "/etc/ssh/loop.conf": "Include /etc/ssh/loop.conf\n",
        },
    )
    config = load_sshd_config(host)
    text = "\n".join(config.errors)
    assert "nested too deeply" in text
    assert "invalid quotes" in text
    assert "no argument after keyword" in text
    assert "Bad Match condition" in text
    assert "Unsupported Match attribute colour" in text
    with pytest.raises(SshdConfigError):
        load_sshd_config(LocalHost(tmp_path / "empty"))


def test_any_after_a_list_is_refused_like_sshd(tmp_path: Path) -> None:
    host = _tree(
        tmp_path,
        {
            "/etc/ssh/sshd_config": (
                "AuthenticationMethods publickey\n"
                "Match User alice\n"
                "  AuthenticationMethods publickey,password\n"
                "Match Address 10.0.0.0/8\n"
                "  AuthenticationMethods any\n"
            )
        },
    )
    config = load_sshd_config(host)
    # sshd refuses to start: "any" after a list was stored, even in a block that does not apply.
    assert any('"any" must appear alone' in e for e in config.errors)
    assert INVALID in config.effective(_conn("alice", "10.1.1.1"), set())


def test_scenarios_one_per_address_block_and_allow_users_host(tmp_path: Path) -> None:
    host = _tree(
        tmp_path,
        {
            "/etc/ssh/sshd_config": (
                "AllowUsers alice admin@10.0.5.10\n"
                "Match Address 10.0.0.0/8,!10.9.0.0/16\n"
                "  PasswordAuthentication no\n"
                "Match Address 10.0.0.0/8 LocalPort 2222\n"
                "  PasswordAuthentication no\n"
                "Match Host *.corp.example\n"
                "  KbdInteractiveAuthentication no\n"
                "Match Address 10.0.0.0/8,!10.9.0.0/16\n"  # the same sources as the first block
                "  PubkeyAuthentication no\n"
                "Match User bob\n"
                "  PubkeyAuthentication no\n"
                "Match Address 10.0.0.0/8,!10.0.0.0/8\n"  # can never apply
                "  PubkeyAuthentication no\n"
            )
        },
    )
    config = load_sshd_config(host)
    scenarios, notes = build_scenarios(config)
    assert scenarios[0].label == ANY_SOURCE
    labels = [s.label.lower() for s in scenarios]
    # any source, 3 distinct address-bearing blocks, the AllowUsers host; the repeated block
    # is merged with the first and the impossible one is reported.
    assert len(scenarios) == 5
    assert any("localport 2222" in label for label in labels)
    assert any("host *.corp.example" in label for label in labels)
    assert any("10.0.5.10" in label for label in labels)
    assert any("no source address satisfies" in n and ":12" in n for n in notes)
    for scenario in scenarios[1:]:
        # Each synthesised source really is one the block (or entry) it stands for accepts.
        assert scenario.addr and scenario.host
    assert len(scenarios) == len({(s.addr, s.host, s.lport) for s in scenarios})


def test_user_classes_share_evaluations(tmp_path: Path) -> None:
    host = _tree(
        tmp_path,
        {
            "/etc/ssh/sshd_config": (
                "Match Group ops\n  PasswordAuthentication no\nMatch User a*\n  PubkeyAuthentication no\n"
            )
        },
    )
    config = load_sshd_config(host)
    assert user_class(config, "bob", {"users"}) == user_class(config, "carol", {"users"})
    assert user_class(config, "bob", {"ops"}) != user_class(config, "bob", {"users"})
    source = SettingsSource(config)
    scenario = build_scenarios(config)[0][0]
    for name in ("bob", "carol", "dave", "erin"):
        source.settings(name, frozenset({"users"}), scenario)
    source.settings("alice", frozenset({"users"}), scenario)
    assert source.calls == 2
    assert as_text(source.settings("alice", frozenset(), scenario)["pubkeyauthentication"]) == "no"


def test_include_fan_out_is_bounded(tmp_path: Path) -> None:
    # Each file includes every file of the glob: 3 files, 16 levels deep would be 3**16 reads.
    fan = "Include /etc/ssh/f*.conf\n"
    host = _tree(
        tmp_path,
        {
            "/etc/ssh/sshd_config": fan,
            "/etc/ssh/f1.conf": fan,
            "/etc/ssh/f2.conf": fan,
            "/etc/ssh/f3.conf": fan,
        },
    )
    config = load_sshd_config(host)
    assert any("Include loop" in e for e in config.errors)
    assert len(config.files) <= 1001
