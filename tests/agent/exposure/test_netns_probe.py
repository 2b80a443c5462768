"""Real reachability in network namespaces: the firewall evaluator against real probes.

Two namespaces joined by a veth pair: the server (10.77.0.1, a real sshd on port 22) and a
client holding two addresses, 10.77.0.2 ("bastion") and 10.77.0.3 ("user"). Rules are loaded
into the server namespace only (the host's own firewall is never touched) and both namespaces
are deleted in finalizers. Probes run inside the client namespace (``ip netns exec``) with the
source address bound, so each one really comes from the bastion or from the user network.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from rra.agent.exposure.firewall import read_firewall
from rra.agent.exposure.probe import ProbeResult, apply_probe
from rra.agent.exposure.services import classify
from rra.agent.exposure.ss import listening_sockets_via_ss
from rra.agent.exposure.verdict import exposure_verdict
from rra.agent.host import ListeningSocket, RunResult
from rra.agent.local import LocalHost
from tests.conftest import require

ANY4 = "0.0.0.0"

SSHD = "/usr/sbin/sshd"
SERVER, BASTION, USER = "10.77.0.1", "10.77.0.2", "10.77.0.3"
BASTIONS = [f"{BASTION}/32"]
PROBE = (
    "import sys; from rra.agent.exposure.probe import probe_tcp; "
    "print(probe_tcp(sys.argv[1], int(sys.argv[2]), timeout=1.0, source_address=sys.argv[3]))"
)


def _run(*argv: str, stdin: str | None = None) -> str:
    done = subprocess.run(argv, input=stdin, text=True, capture_output=True, check=False)
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr}"
    return done.stdout


class NetnsHost(LocalHost):
    """This machine's files, with every command run inside one network namespace."""

    def __init__(self, namespace: str) -> None:
        super().__init__("/")
        self.namespace = namespace

    def run(
        self,
        argv: Sequence[str],
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> RunResult:
        return super().run(["ip", "netns", "exec", self.namespace, *argv], timeout, env, stdin)


@dataclass
class Lab:
    server: str
    client: str
    root: Path

    def nft(self, rules: str) -> None:
        _run("ip", "netns", "exec", self.server, "nft", "-f", "-", stdin=rules)

    def iptables(self, *argv: str) -> None:
        _run("ip", "netns", "exec", self.server, "iptables", *argv)

    def flush(self) -> None:
        _run("ip", "netns", "exec", self.server, "nft", "flush", "ruleset")

    def probe(self, source: str, port: int = 22) -> str:
        argv = ["ip", "netns", "exec", self.client, sys.executable, "-c", PROBE]
        return _run(*argv, SERVER, str(port), source).strip()


def _components() -> None:
    has_netns = shutil.which("ip") is not None and os.geteuid() == 0
    require("root + ip netns", has_netns, "run as root; apt-get install iproute2 nftables")
    require("nft", shutil.which("nft") is not None, "apt-get install nftables")
    require("iptables", shutil.which("iptables") is not None, "apt-get install iptables")
    require("sshd", Path(SSHD).exists(), "apt-get install openssh-server")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    _components()
    tag = secrets.token_hex(3)
    server, client = f"rra-{tag}-srv", f"rra-{tag}-cli"
    root = tmp_path_factory.mktemp("netns")
    pidfile = root / "sshd.pid"
    created: list[str] = []
    try:
        for namespace in (server, client):
            _run("ip", "netns", "add", namespace)
            created.append(namespace)
            _run("ip", "-n", namespace, "link", "set", "lo", "up")
        _run(
            "ip",
            "-n",
            server,
            "link",
            "add",
            f"rra{tag}s",
            "type",
            "veth",
            "peer",
            "name",
            f"rra{tag}c",
            "netns",
            client,
        )
        _run("ip", "-n", server, "addr", "add", f"{SERVER}/24", "dev", f"rra{tag}s")
        for address in (BASTION, USER):
            _run("ip", "-n", client, "addr", "add", f"{address}/24", "dev", f"rra{tag}c")
        _run("ip", "-n", server, "link", "set", f"rra{tag}s", "up")
        _run("ip", "-n", client, "link", "set", f"rra{tag}c", "up")
        _start_sshd(server, root, pidfile)
        yield Lab(server, client, root)
    finally:
        if pidfile.exists():
            subprocess.run(["kill", pidfile.read_text().strip()], check=False)
        for namespace in created:
            subprocess.run(["ip", "netns", "del", namespace], check=False, capture_output=True)


def _start_sshd(namespace: str, root: Path, pidfile: Path) -> None:
    hostkey = root / "hostkey"
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey))
    config = root / "sshd_config"
    config.write_text(
        f"Port 22\nListenAddress 0.0.0.0\nHostKey {hostkey}\nPidFile {pidfile}\n"
        "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "AuthorizedKeysFile none\nStrictModes no\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    subprocess.Popen(
        ["ip", "netns", "exec", namespace, SSHD, "-D", "-e", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        listening = _run("ip", "netns", "exec", namespace, "ss", "-H", "-tln")
        if f"{ANY4}:22 " in listening:
            return
        time.sleep(0.05)
    raise AssertionError("the test sshd did not start in its namespace")


@pytest.fixture
def rules(lab: Lab) -> Iterator[Lab]:
    lab.flush()
    yield lab
    lab.flush()


def _sshd_socket(lab: Lab) -> ListeningSocket:
    """The sshd socket as a remote collector sees it: ``ss -H -tulnp`` inside the namespace."""
    sockets = listening_sockets_via_ss(NetnsHost(lab.server))
    ours = [s for s in sockets if s.port == 22 and s.proto == "tcp"]
    assert len(ours) == 1, sockets
    return ours[0]


BASTION_ONLY = """
table inet filter {
    set bastions { type ipv4_addr; flags interval; elements = { %s } }
    chain input {
        type filter hook input priority filter; policy drop;
        ct state established,related accept
        iif "lo" accept
        tcp dport 22 ip saddr @bastions accept
        %s
    }
}
"""


def test_no_rules_inferred_then_confirmed_by_a_probe(rules: Lab) -> None:
    sock = _sshd_socket(rules)
    assert (sock.address, sock.process) == (ANY4, "sshd") and sock.pid is not None
    firewall = read_firewall(NetnsHost(rules.server))
    assert firewall.fact.tool == "none" and firewall.fact.active is False
    decision = firewall.decide(sock.proto, sock.port, BASTIONS, address=sock.address)
    assert decision.decision == "open"
    fact = exposure_verdict(sock, classify(sock), decision, None, pid_known=True)
    assert (fact.service, fact.admin, fact.exposure) == ("ssh", True, "inferred")
    assert rules.probe(USER) == "open" and rules.probe(BASTION) == "open"
    confirmed = apply_probe(fact, "open", vantage=USER)
    assert confirmed.exposure == "confirmed" and USER in confirmed.reason


@pytest.mark.parametrize(
    ("tail", "blocked"), [("", "filtered"), ("tcp dport 22 reject with tcp reset", "refused")]
)
def test_nft_bastion_only_is_restricted_and_probes_agree(
    rules: Lab, tail: str, blocked: ProbeResult
) -> None:
    rules.nft(BASTION_ONLY % (BASTION, tail))
    sock = _sshd_socket(rules)
    firewall = read_firewall(NetnsHost(rules.server))
    assert firewall.fact.tool == "nftables" and firewall.fact.default_inbound == "drop"
    decision = firewall.decide(sock.proto, sock.port, BASTIONS, address=sock.address)
    assert decision.decision == "restricted", decision
    assert decision.evidence.startswith(
        "nftables inet filter input: tcp dport 22 ip saddr @bastions accept; "
    )
    assert decision.evidence.endswith(tail or "policy drop")
    fact = exposure_verdict(sock, classify(sock), decision, None, pid_known=True)
    assert fact.exposure == "restricted"
    # The real packets agree: the bastion gets in, the user network does not.
    assert rules.probe(BASTION) == "open"
    assert rules.probe(USER) == blocked
    assert apply_probe(fact, blocked, vantage=USER).exposure == "restricted"
    # Judged against a bastion list that does not hold 10.77.0.2, the same accept rule is an
    # opening for a non-bastion source, and the evidence names that source.
    wrong = firewall.decide("tcp", 22, [f"{USER}/32"], address=sock.address)
    assert wrong.decision == "open" and BASTION in wrong.evidence


def test_nft_rule_for_a_wider_network_is_open(rules: Lab) -> None:
    rules.nft(BASTION_ONLY % ("10.77.0.0/24", ""))
    decision = read_firewall(NetnsHost(rules.server)).decide("tcp", 22, BASTIONS, ANY4)
    assert decision.decision == "open"
    assert re.search(r"a source outside the bastions \(10\.77\.0\.\d+\)", decision.evidence)
    assert "tcp dport 22 ip saddr @bastions accept" in decision.evidence
    assert rules.probe(USER) == "open"  # and indeed the user network connects


def test_iptables_nft_rules_are_read_through_iptables_save(rules: Lab) -> None:
    rules.iptables("-P", "INPUT", "DROP")
    rules.iptables(
        "-A", "INPUT", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"
    )
    rules.iptables(
        "-A",
        "INPUT",
        "-p",
        "tcp",
        "-m",
        "multiport",
        "--dports",
        "22,3389",
        "-s",
        BASTION,
        "-j",
        "ACCEPT",
    )
    rules.iptables("-A", "INPUT", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset")
    try:
        firewall = read_firewall(NetnsHost(rules.server))
        assert firewall.fact.tool == "iptables" and firewall.fact.rules == 3
        decision = firewall.decide("tcp", 22, BASTIONS, ANY4)
        assert decision.decision == "restricted", decision
        assert (
            "iptables filter INPUT: -s 10.77.0.2/32 -p tcp -m multiport --dports 22,3389 -j ACCEPT"
            in decision.evidence
        )
        assert rules.probe(USER) == "refused" and rules.probe(BASTION) == "open"
    finally:
        rules.iptables("-P", "INPUT", "ACCEPT")
        rules.iptables("-F", "INPUT")


def test_nft_json_from_the_namespace_names_the_rule(rules: Lab) -> None:
    rules.nft(BASTION_ONLY % (f"{BASTION}, 192.0.2.0/28", ""))
    output = _run("ip", "netns", "exec", rules.server, "nft", "-j", "list", "ruleset")
    from rra.agent.exposure.firewall import decide_socket
    from rra.agent.exposure.firewall_nft import load_objects, parse_nft

    layer = parse_nft(load_objects(output))
    sock = ListeningSocket("tcp", ANY4, 22, None, None)
    decision = decide_socket([layer], sock, [f"{BASTION}/32", "192.0.2.0/28"])
    assert decision.decision == "restricted"
    assert decision.evidence == (
        "nftables inet filter input: tcp dport 22 ip saddr @bastions accept; policy drop"
    )
    # A bastion list that leaves 192.0.2.0/28 out: the evaluator names a source from it.
    partial = decide_socket([layer], sock, BASTIONS)
    assert partial.decision == "open" and "192.0.2." in partial.evidence
