"""Exposure verdicts, probes and sshd's own source restrictions.

Real parts: two sshd processes started here (one on 0.0.0.0, one on 127.0.0.1) seen through
``LocalHost("/").listening_sockets()`` and this machine's firewall; ``sshd -T -C`` as the oracle
for what sshd applies to a source outside the bastions; real TCP connects for the probe.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rra.agent.auth.sshd_config import load_sshd_config
from rra.agent.exposure.firewall import FirewallDecision, read_firewall
from rra.agent.exposure.probe import ProbeResult, apply_probe, probe_tcp
from rra.agent.exposure.services import classify
from rra.agent.exposure.sshd_restriction import ServiceRestriction, sshd_restriction
from rra.agent.exposure.verdict import exposure_verdict
from rra.agent.host import ListeningSocket
from rra.agent.local import LocalHost
from rra.checks.facts import Exposure, ServiceFact
from tests.conftest import require

ANY4 = "0.0.0.0"

SSHD = "/usr/sbin/sshd"
BASTIONS = ["10.0.5.0/28"]
OPEN = FirewallDecision("open", "a source outside the bastions (198.51.100.23) is accepted: x")
SHUT = FirewallDecision(
    "restricted", "nftables inet filter input: tcp dport 22 ip saddr @b accept; policy drop"
)
DENIED = FirewallDecision(
    "unknown", "firewall rules not readable (run as root): Operation not permitted"
)


def sock(address: str = ANY4, port: int = 22, process: str | None = "sshd") -> ListeningSocket:
    return ListeningSocket("tcp", address, port, 812 if process else None, process)


# --- the verdict rules ---------------------------------------------------------------------


def test_loopback_is_never_exposed() -> None:
    for address in ("127.0.0.1", "::1", "0.0.0.0%lo", "::ffff:127.0.0.1"):
        fact = exposure_verdict(sock(address), classify(sock(address)), OPEN, None, True)
        assert fact.exposure == "restricted"
        assert fact.reason == f"listens on loopback only ({address})"


def test_service_restriction_then_firewall_decide() -> None:
    s = sock()
    by_sshd = ServiceRestriction(True, "AllowUsers admin@10.0.5.0/28 (/etc/ssh/sshd_config:12)")
    fact = exposure_verdict(s, classify(s), OPEN, by_sshd, True)
    assert (fact.exposure, fact.reason) == ("restricted", by_sshd.evidence)
    fact = exposure_verdict(s, classify(s), SHUT, None, True)
    assert fact.exposure == "restricted" and fact.reason == f"host firewall: {SHUT.evidence}"
    assert (fact.service, fact.admin, fact.legacy, fact.process, fact.pid) == (
        "ssh",
        True,
        False,
        "sshd",
        812,
    )


def test_nothing_restricts_it_is_inferred() -> None:
    s = sock()
    admits = ServiceRestriction(False, "sshd does not keep 198.51.100.23 out")
    fact = exposure_verdict(s, classify(s), OPEN, admits, True)
    assert fact.exposure == "inferred"
    assert (
        fact.reason
        == f"nothing restricts sources; host firewall: {OPEN.evidence}; service: {admits.evidence}"
    )


def test_unreadable_firewall_is_unknown_and_says_why() -> None:
    s = sock(process=None)  # not root: no owner, named by its port
    fact = exposure_verdict(s, classify(s), DENIED, None, pid_known=False)
    assert fact.exposure == "unknown"
    assert fact.reason == (
        f"cannot tell whether the host firewall restricts it: {DENIED.evidence}; "
        "owning process not visible; named ssh by its port"
    )
    assert exposure_verdict(s, classify(s), None, None, False).exposure == "unknown"
    telnet = sock(port=23, process=None)
    assert exposure_verdict(telnet, classify(telnet), OPEN, None, False).legacy is True


# --- probes --------------------------------------------------------------------------------


def fact(exposure: Exposure, address: str = ANY4) -> ServiceFact:
    return ServiceFact(
        proto="tcp",
        address=address,
        port=22,
        service="ssh",
        admin=True,
        exposure=exposure,
        reason="because",
    )


@pytest.mark.parametrize(
    ("before", "result", "after"),
    [
        ("inferred", "open", "confirmed"),
        ("unknown", "open", "confirmed"),
        ("restricted", "open", "confirmed"),
        ("inferred", "refused", "restricted"),
        ("inferred", "filtered", "restricted"),
        ("unknown", "filtered", "restricted"),
        ("restricted", "refused", "restricted"),
        ("inferred", "error", "inferred"),
        ("confirmed", "refused", "confirmed"),
    ],
)
def test_apply_probe(before: Exposure, result: ProbeResult, after: Exposure) -> None:
    updated = apply_probe(fact(before), result, vantage="10.99.0.7")
    assert (updated.exposure, updated.probe) == (after, result)
    if before == "restricted" and result == "open":
        assert updated.reason == (
            "a probe from 10.99.0.7 connected although because: the probe contradicts the rules"
        )
    elif before != after:
        assert "10.99.0.7" in updated.reason and updated.reason.endswith("because")


def test_probe_of_loopback_socket_decides_nothing() -> None:
    updated = apply_probe(fact("restricted", "127.0.0.1"), "open")
    assert (updated.exposure, updated.probe) == ("restricted", "open")


def test_probe_tcp_against_real_sockets() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert probe_tcp("127.0.0.1", port) == "open"
        assert probe_tcp("127.0.0.1", port, source_address="127.0.0.2") == "open"
        assert probe_tcp("127.0.0.1", port, source_address="192.0.2.200") == "error"  # not ours
    assert probe_tcp("127.0.0.1", port) == "refused"
    assert probe_tcp("no such host.invalid", 22) == "error"


# --- sshd's own restrictions ---------------------------------------------------------------


def restriction(tmp_path: Path, body: str, **kwargs: object) -> tuple[ServiceRestriction, Path]:
    config = tmp_path / "sshd_config"
    config.write_text(body)
    parsed = load_sshd_config(LocalHost("/"), str(config))
    return sshd_restriction(parsed, BASTIONS, **kwargs), config  # type: ignore[arg-type]


DENY_OUTSIDE = "Match Address *,!10.0.5.0/28\n    DenyUsers *\n"
NO_METHODS = (
    "Match Address *,!10.0.5.0/28\n    PubkeyAuthentication no\n    PasswordAuthentication no\n"
    "    KbdInteractiveAuthentication no\n"
)


@pytest.mark.parametrize(
    ("body", "restricted", "evidence"),
    [
        ("PasswordAuthentication no\n", False, "sshd does not keep 198.51.100.23 out"),
        (
            "AllowUsers alice@10.0.5.0/28 bob@10.0.5.3\n",
            True,
            "allowusers alice@10.0.5.0/28 bob@10.0.5.3 ({config}:1)",
        ),
        ("AllowUsers alice@10.0.5.0/24\n", False, "sshd does not keep 10.0.5.17 out"),
        ("AllowUsers alice@10.0.5.0/28 bob\n", False, "sshd does not keep 198.51.100.23 out"),
        (DENY_OUTSIDE, True, "denyusers * ({config}:2)"),
        (NO_METHODS, True, "no authentication method is enabled: "),
        (
            "Match User admin\n    PasswordAuthentication yes\n" + NO_METHODS,
            False,
            "sshd does not keep 198.51.100.23 out (user admin)",
        ),
        (
            "AllowUsers alice@10.*.5.1\n",
            False,
            "sshd source restrictions not evaluated: pattern '10.*.5.1'",
        ),
        (
            "Match Address 10.0.0.0/8\n    DenyUsers *\n",
            False,
            "sshd does not keep 198.51.100.23 out",
        ),
        # Without UseDNS a host-name pattern is compared with the address text: never equal.
        ("Match Host *.example.com\n    DenyUsers *\n", False, "does not keep 198.51.100.23 out"),
        ("AllowUsers alice@bastion.example.com\n", True, "allowusers alice@bastion.example.com"),
        (
            "UseDNS yes\nMatch Host *.example.com\n    DenyUsers *\n",
            False,
            "not evaluated: pattern '*.example.com' cannot be checked for every source",
        ),
    ],
)
def test_sshd_restriction(tmp_path: Path, body: str, restricted: bool, evidence: str) -> None:
    found, config = restriction(tmp_path, body)
    assert found.restricted is restricted
    assert evidence.format(config=config) in found.evidence


def test_listen_address_on_the_management_network(tmp_path: Path) -> None:
    body = "ListenAddress 10.0.9.4:22\nListenAddress [fd00:9::4]:22\n"
    found, config = restriction(tmp_path, body, management_addresses=["10.0.9.0/24", "fd00:9::/64"])
    assert found.restricted
    assert found.evidence == (
        f"sshd listens only on management addresses: ListenAddress 10.0.9.4:22 ({config}:1), "
        f"ListenAddress [fd00:9::4]:22 ({config}:2)"
    )
    found, _ = restriction(
        tmp_path,
        body + "ListenAddress 0.0.0.0\n",
        management_addresses=["10.0.9.0/24", "fd00:9::/64"],
    )
    assert not found.restricted


def _sshd_t(config: Path, hostkey: Path, user: str, addr: str) -> dict[str, str]:
    done = subprocess.run(
        [
            SSHD,
            "-T",
            "-f",
            str(config),
            "-o",
            f"HostKey={hostkey}",
            "-C",
            f"user={user},host={addr},addr={addr}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    settings: dict[str, str] = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        settings[key] = f"{settings[key]} {value}" if key in settings else value
    return settings


@pytest.mark.parametrize("body", [DENY_OUTSIDE, NO_METHODS, "AllowUsers alice@10.0.5.0/28\n"])
def test_restricted_configs_agree_with_sshd_itself(tmp_path: Path, body: str) -> None:
    """sshd -T -C shows the settings rra relied on: nobody outside, the bastion let in."""
    require("sshd", Path(SSHD).exists(), "apt-get install openssh-server")
    found, config = restriction(tmp_path, body)
    assert found.restricted
    hostkey = tmp_path / "hostkey"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey)], check=True)
    outside = _sshd_t(config, hostkey, "rra-probe", "198.51.100.23")
    bastion = _sshd_t(config, hostkey, "alice", "10.0.5.1")
    methods = ("pubkeyauthentication", "passwordauthentication", "kbdinteractiveauthentication")
    shut = (
        outside.get("denyusers") == "*"
        or all(outside[m] == "no" for m in methods)
        or (outside.get("allowusers", "") and "@" in outside["allowusers"])
    )
    assert shut, outside
    assert bastion.get("denyusers") != "*" and any(bastion[m] == "yes" for m in methods)


# --- the whole chain on this machine: two real sshd processes ------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def two_sshd(tmp_path: Path) -> Iterator[dict[str, tuple[int, Path]]]:
    require("root", os.geteuid() == 0, "run the tests as root (CI does)")
    require("sshd", Path(SSHD).exists(), "apt-get install openssh-server")
    require("nft", shutil.which("nft") is not None, "apt-get install nftables")
    hostkey = tmp_path / "hostkey"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey)], check=True)
    Path("/run/sshd").mkdir(exist_ok=True)
    started: dict[str, tuple[int, Path]] = {}
    pidfiles: list[Path] = []
    try:
        for listen in (ANY4, "127.0.0.1"):
            port = _free_port()
            pidfile = tmp_path / f"sshd-{listen}.pid"
            config = tmp_path / f"sshd_config-{listen}"
            # Nobody can log in to these: no passwords, no keys, one user that does not exist.
            config.write_text(
                f"Port {port}\nListenAddress {listen}\nHostKey {hostkey}\nPidFile {pidfile}\n"
                "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                "AuthorizedKeysFile none\nAllowUsers rra-nobody-here\n"
            )
            subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            pidfiles.append(pidfile)
            deadline = time.monotonic() + 5
            while probe_tcp("127.0.0.1", port, 0.2) != "open":
                assert time.monotonic() < deadline, "the test sshd did not start"
                time.sleep(0.02)
            started[listen] = (port, config)
        yield started
    finally:
        for pidfile in pidfiles:
            if pidfile.exists():
                subprocess.run(["kill", pidfile.read_text().strip()], check=False)


def test_real_sshd_on_all_addresses_and_on_loopback(two_sshd: dict[str, tuple[int, Path]]) -> None:
    host = LocalHost("/")
    sockets = {(s.address, s.port): s for s in host.listening_sockets()}
    firewall = read_firewall(host)
    facts = {}
    for listen, (port, config) in two_sshd.items():
        found = sockets[(listen, port)]
        assert (found.proto, found.process) == ("tcp", "sshd") and found.pid is not None
        classification = classify(found)
        assert tuple(classification) == ("ssh", True, False)
        service = sshd_restriction(load_sshd_config(host, str(config)), BASTIONS, local_port=port)
        decision = firewall.decide(found.proto, found.port, BASTIONS, address=found.address)
        facts[listen] = exposure_verdict(found, classification, decision, service, pid_known=True)
    assert facts["127.0.0.1"].exposure == "restricted"
    assert facts["127.0.0.1"].reason == "listens on loopback only (127.0.0.1)"
    ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True)
    if ruleset.returncode == 0 and not ruleset.stdout.strip():
        # This machine filters nothing: the exposed sshd is inferred, and the reason says why.
        assert firewall.fact.tool == "none"
        assert facts[ANY4].exposure == "inferred"
        assert facts[ANY4].reason.startswith(
            "nothing restricts sources; host firewall: a source outside the bastions "
            "(198.51.100.23) is accepted: no filter rules; service: sshd does not keep "
            "198.51.100.23 out"
        )
    else:  # a machine with rules: the verdict follows what they imply
        decision = firewall.decide("tcp", two_sshd[ANY4][0], BASTIONS, address=ANY4)
        expected = {"open": "inferred", "restricted": "restricted", "unknown": "unknown"}
        assert facts[ANY4].exposure == expected[decision.decision]
