"""The firewall evaluator on recorded nft/iptables/ufw outputs (see data/README-firewall-ss.md).

The live counterpart, with real packets, is test_netns_probe.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from rra.agent.exposure.firewall import Firewall, decide_socket, read_firewall
from rra.agent.exposure.firewall_iptables import parse_iptables_save
from rra.agent.exposure.firewall_model import Ruleset, representatives
from rra.agent.exposure.firewall_nft import load_objects, parse_nft
from rra.agent.exposure.firewall_ufw import parse_ufw_status
from rra.agent.host import CommandNotFound, ListeningSocket, RunResult
from rra.agent.local import LocalHost

ANY4 = "0.0.0.0"

DATA = Path(__file__).parent / "data"
BASTIONS = ["10.0.5.0/28", "192.0.2.7/32", "2001:db8:5::/64"]
NFT = ("nft", "-j", "list", "ruleset")
V4, V6, UFW = ("iptables-save",), ("ip6tables-save",), ("ufw", "status", "verbose")


def text(name: str) -> str:
    return (DATA / name).read_text()


class RecordedHost(LocalHost):
    """Answers commands from recordings; a command not recorded is not installed."""

    def __init__(
        self,
        outputs: Mapping[tuple[str, ...], tuple[int, str, str]],
        files: Mapping[str, bytes] | None = None,
    ) -> None:
        super().__init__("/")
        self.outputs = dict(outputs)
        self.files = dict(files or {})
        self.ran: list[tuple[str, ...]] = []

    def run(
        self,
        argv: Sequence[str],
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> RunResult:
        key = tuple(argv)
        self.ran.append(key)
        if key not in self.outputs:
            raise CommandNotFound(f"{argv[0]}: not found")
        rc, out, err = self.outputs[key]
        return RunResult(rc, out.encode(), err.encode())

    def read_file(self, path: str) -> bytes | None:
        return self.files.get(path)


def nft_layer(name: str) -> Ruleset:
    return parse_nft(load_objects(text(f"nft-{name}.json")))


def decide(
    layer: Ruleset,
    port: int,
    bastions: Sequence[str] = BASTIONS,
    proto: str = "tcp",
    address: str = "*",
) -> tuple[str, str]:
    found = decide_socket([layer], ListeningSocket(proto, address, port, None, None), bastions)
    return found.decision, found.evidence


# --- nftables -------------------------------------------------------------------------------


def test_no_rules_at_all_is_open() -> None:
    assert decide(nft_layer("empty"), 22) == (
        "open",
        "a source outside the bastions (198.51.100.23) is accepted: no filter rules",
    )
    assert decide(nft_layer("debian-default"), 3389)[1].endswith(
        "nftables inet filter input: policy accept"
    )


def test_policy_drop_with_bastion_sets() -> None:
    layer = nft_layer("bastions")
    assert decide(layer, 22) == (
        "restricted",
        "nftables inet filter input: tcp dport 22 ip saddr @bastions accept; "
        "tcp dport 22 ip6 saddr @bastions6 accept; policy drop",
    )
    assert decide(layer, 623, proto="udp", address=ANY4) == (
        "restricted",
        "nftables inet filter input: udp dport 623 ip saddr 10.0.5.0/28 accept; policy drop",
    )
    assert decide(layer, 23) == (
        "restricted",
        "no source can connect: nftables inet filter input: policy drop",
    )
    # 10.0.0.0/8 is wider than the bastions: the evaluator names a source from the gap.
    decision, evidence = decide(layer, 3389)
    assert decision == "open"
    assert evidence == (
        "a source outside the bastions (10.0.0.1) is accepted: "
        "nftables inet filter input: tcp dport 3389 ip saddr 10.0.0.0/8 accept"
    )
    # The same rule set is restricted for 3389 once 10.0.0.0/8 are all bastions.
    assert decide(layer, 3389, ["10.0.0.0/8"], address=ANY4)[0] == "restricted"
    # No bastion list: whatever any rule admits counts as outside.
    assert decide(layer, 22, [])[0] == "open"


def test_transport_header_ports_sets_and_negation() -> None:
    layer = nft_layer("th")
    bastions = ["10.0.5.0/28", "2001:db8:5::/64", "2001:db8:6::1/128"]
    for proto in ("tcp", "udp"):  # th dport matches either
        assert decide(layer, 3389, bastions, proto=proto) == (
            "restricted",
            "nftables inet filter input: meta l4proto { tcp, udp } th dport 3389 ip saddr "
            "10.0.5.0/28 accept; meta l4proto { tcp, udp } th dport 3389 ip6 saddr "
            "{ 2001:db8:5::/64, 2001:db8:6::1 } accept; policy drop",
        )
    assert decide(layer, 3389, BASTIONS, proto="udp")[1] == (
        "a source outside the bastions (2001:db8:6::1) is accepted: nftables inet filter input: "
        "meta l4proto { tcp, udp } th dport 3389 ip6 saddr { 2001:db8:5::/64, 2001:db8:6::1 } accept"
    )
    assert decide(layer, 5986, address=ANY4)[0] == "restricted"  # a range inside a set
    assert decide(layer, 623, proto="udp", address=ANY4) == (
        "restricted",
        "nftables inet filter input: udp dport 623 accept; "
        "udp dport 623 ip saddr != 10.0.5.0/28 drop",
    )


def test_jump_goto_return_and_vmaps() -> None:
    layer = nft_layer("jumps")
    # jump mgmt accepts 10.9.0.0/16 except 10.9.9.0/24, which returns and meets the reject.
    assert decide(layer, 9090, ["10.9.0.0/16"]) == (
        "restricted",
        "nftables inet filter mgmt: accept; "
        "nftables inet filter input: tcp dport 9090 reject with tcp reset",
    )
    assert decide(layer, 9090, ["10.9.0.0/24"])[1].startswith(
        "a source outside the bastions (10.9.1.1) is accepted: nftables inet filter mgmt: accept"
    )
    # goto webmin: "ip saddr != ..." cannot match IPv6, which returns to the base policy.
    assert decide(layer, 10000, address=ANY4) == (
        "restricted",
        "nftables ip early pre: policy accept; nftables inet filter input: policy accept; "
        "nftables inet filter webmin: ip saddr != 10.0.5.0/28 drop",
    )
    assert decide(layer, 10000)[1] == (
        "a source outside the bastions (2001:db8::23) is accepted: "
        "nftables inet filter input: policy accept"
    )
    # tcp dport vmap { 139 : drop, 445 : jump smb }
    assert decide(layer, 139)[0] == "restricted"
    assert decide(layer, 445, ["192.168.0.0/16"]) == (
        "restricted",
        "nftables inet filter smb: ip saddr 192.168.0.0/16 accept; drop",
    )
    # An ip-family prerouting chain drops 5985 for IPv4 only.
    assert decide(layer, 5985, address=ANY4) == (
        "restricted",
        "no source can connect: nftables ip early pre: tcp dport 5985 drop",
    )
    assert decide(layer, 5985)[0] == "open"
    # The SYN-only sanity rule does not stop a new connection.
    assert decide(layer, 5900, ["10.1.0.0/16", "10.2.0.1/32"])[0] == "restricted"


@pytest.mark.parametrize(
    ("port", "rule"),
    [(23, 'tcp dport 23 iifname "eth1" accept'), (6000, "tcp dport 6000-6063 meta mark 1 accept")],
)
def test_what_cannot_be_evaluated_is_unknown(port: int, rule: str) -> None:
    decision, evidence = decide(nft_layer("jumps"), port)
    assert decision == "unknown"
    assert evidence.endswith(rule.replace('"', ""))


def test_dynamic_sets_and_block_lists() -> None:
    layer = nft_layer("knock")
    # Anyone can knock on 7777 and be added to @knocked: 22 is not restricted.
    decision, evidence = decide(layer, 22)
    assert decision == "unknown" and evidence.endswith("tcp dport 22 ip saddr @knocked accept")
    # 198.51.100.23 is in the block list; every other source meets the policy.
    assert decide(layer, 23) == (
        "restricted",
        "no source can connect: nftables inet knock input: ip saddr @blocked drop",
    )


def test_too_many_undecidable_branches_is_unknown() -> None:
    marks = [
        {
            "rule": {
                "family": "inet",
                "table": "t",
                "chain": "in",
                "expr": [
                    {"match": {"op": "==", "left": {"meta": {"key": "mark"}}, "right": i}},
                    {"drop": None},
                ],
            }
        }
        for i in range(14)
    ]
    objects: list[dict[str, Any]] = [
        {"table": {"family": "inet", "name": "t"}},
        {
            "chain": {
                "family": "inet",
                "table": "t",
                "name": "in",
                "type": "filter",
                "hook": "input",
                "prio": 0,
                "policy": "accept",
            }
        },
        *marks,
    ]
    layer = parse_nft(json.loads(json.dumps(objects)))
    assert decide(layer, 22)[0] == "unknown"


# --- iptables ------------------------------------------------------------------------------


def ipt(name: str, family: int = 4) -> Ruleset:
    return parse_iptables_save(text(name), family).ruleset


def test_iptables_user_chains_and_multiport() -> None:
    layer = ipt("iptables-hardened.save")
    assert decide(layer, 22, address=ANY4) == (
        "restricted",
        'iptables filter ADMIN: -s 10.0.5.0/28 -m comment --comment "bastion hosts" -j ACCEPT; '
        "-p tcp -j REJECT --reject-with tcp-reset",
    )
    assert decide(layer, 5986, address=ANY4)[0] == "restricted"  # 5985:5986 range
    assert decide(layer, 3389, address=ANY4)[1].startswith(
        "a source outside the bastions (10.20.0.1) is accepted: iptables filter ADMIN: "
        "-s 10.20.0.0/16 -p tcp -m tcp --dport 3389 -j ACCEPT"
    )
    assert decide(layer, 139, address=ANY4) == (
        "restricted",
        "no source can connect: iptables filter LOGDROP: -j DROP",
    )
    # A recent-list check without a hit count: a knock could add any source.
    assert decide(layer, 5900, address=ANY4)[0] == "unknown"
    six = ipt("ip6tables-hardened.save", 6)
    assert decide(six, 22, address="2001:db8:1::1") == (
        "restricted",
        "ip6tables filter INPUT: -s 2001:db8:5::/64 -p tcp -m tcp --dport 22 -j ACCEPT; policy drop",
    )


def test_docker_chains_leave_input_open() -> None:
    save = parse_iptables_save(text("iptables-docker.save"))
    assert save.variant == "nf_tables"
    assert decide(save.ruleset, 22, address=ANY4) == (
        "open",
        "a source outside the bastions (198.51.100.23) is accepted: iptables filter INPUT: policy accept",
    )


def test_ufw_iptables_chains() -> None:
    layer = ipt("iptables-ufw.save")
    # LIMIT: --update with --hitcount 6 never matches one attempt; limit-accept accepts it.
    assert decide(layer, 22, address=ANY4)[1].endswith(
        "iptables filter ufw-user-limit-accept: -j ACCEPT"
    )
    assert decide(layer, 3389, ["10.0.5.0/24"], address=ANY4) == (
        "restricted",
        "iptables filter ufw-user-input: -s 10.0.5.0/24 -p tcp -m tcp --dport 3389 -j ACCEPT; "
        "iptables filter INPUT: policy drop",
    )
    assert decide(layer, 9090, address=ANY4)[0] == "unknown"  # -i eth1


def test_legacy_header_and_counters() -> None:
    save = parse_iptables_save(text("iptables-legacy-hardened.save"))
    assert save.variant == "legacy"
    counted = "*filter\n:INPUT DROP [5:300]\n[3:180] -A INPUT -s 10.0.5.1/32 -j ACCEPT\nCOMMIT\n"
    layer = parse_iptables_save(counted).ruleset
    assert decide(layer, 22, ["10.0.5.1/32"], address=ANY4)[0] == "restricted"


# --- ufw -----------------------------------------------------------------------------------


def test_ufw_status_parsing() -> None:
    limit = parse_ufw_status(text("ufw-limit.status"))
    assert (limit.active, limit.default_incoming, limit.rules, limit.unparsed) == (
        True,
        "deny",
        9,
        [],
    )
    assert decide(limit.ruleset, 22) == (
        "open",
        "a source outside the bastions (198.51.100.23) is accepted: "
        "ufw user input: 22/tcp LIMIT IN Anywhere",
    )
    assert decide(limit.ruleset, 5900, ["10.0.5.7/32"])[0] == "restricted"
    bastion = parse_ufw_status(text("ufw-bastion.status"))
    assert bastion.default_incoming == "reject"
    assert decide(bastion.ruleset, 22, ["10.0.5.0/24", "2001:db8:5::/64"]) == (
        "restricted",
        "ufw user input: 22/tcp (OpenSSH) ALLOW IN 10.0.5.0/24; "
        "ufw user input (v6): 22/tcp (OpenSSH (v6)) ALLOW IN 2001:db8:5::/64; "
        "ufw user input: policy drop",
    )
    # A rule for one destination address: decided for that socket, unknown for a wildcard.
    assert decide(bastion.ruleset, 5985, ["10.0.5.0/24"], address="10.0.0.5")[0] == "restricted"
    assert decide(bastion.ruleset, 5985, [], address="10.0.0.5")[0] == "open"
    assert decide(bastion.ruleset, 5985, [])[0] == "unknown"
    inactive = parse_ufw_status(text("ufw-inactive.status"))
    assert not inactive.active and not inactive.ruleset.base_chains()


# --- read_firewall: what the host offers ---------------------------------------------------


def ok(name: str) -> tuple[int, str, str]:
    return (0, text(name), "")


EMPTY_SAVE = (0, "", "")


def test_read_nftables_host() -> None:
    host = RecordedHost({NFT: ok("nft-bastions.json"), V4: EMPTY_SAVE, V6: EMPTY_SAVE})
    firewall = read_firewall(host)
    assert firewall.fact.model_dump() == {
        "tool": "nftables",
        "active": True,
        "default_inbound": "drop",
        "rules": 11,
        "reason": "nftables input policy drop, 11 rules",
    }
    assert firewall.decide("tcp", 22, BASTIONS).decision == "restricted"
    assert firewall.decide("tcp", 3389, BASTIONS).decision == "open"


def test_read_empty_host() -> None:
    host = RecordedHost({NFT: ok("nft-empty.json"), V4: EMPTY_SAVE, V6: EMPTY_SAVE})
    firewall = read_firewall(host)
    assert (firewall.fact.tool, firewall.fact.active, firewall.fact.default_inbound) == (
        "none",
        False,
        "accept",
    )
    assert firewall.decide("tcp", 22, BASTIONS).decision == "open"


def test_iptables_nft_tables_are_read_from_iptables_save() -> None:
    outputs = {
        NFT: ok("nft-hardened-iptables.json"),
        V4: ok("iptables-hardened.save"),
        V6: ok("ip6tables-hardened.save"),
    }
    firewall = read_firewall(RecordedHost(outputs))
    assert firewall.fact.tool == "iptables" and firewall.fact.default_inbound == "drop"
    decision = firewall.decide("tcp", 22, BASTIONS)
    assert decision.decision == "restricted"
    assert decision.evidence.startswith("iptables filter ADMIN:")
    # Without iptables-save the same tables come from nft, whose xt matches are opaque.
    nft_only = read_firewall(RecordedHost({NFT: ok("nft-hardened-iptables.json")}))
    assert nft_only.fact.tool == "nftables"
    assert nft_only.decide("tcp", 22, BASTIONS).decision == "unknown"
    assert "xt match multiport" in nft_only.decide("tcp", 22, BASTIONS).evidence


def test_legacy_rules_beside_nftables_are_read() -> None:
    outputs = {
        NFT: ok("nft-empty.json"),
        V4: ok("iptables-docker.save"),
        V6: EMPTY_SAVE,
        ("iptables-legacy-save",): ok("iptables-legacy-hardened.save"),
    }
    files = {"/proc/net/ip_tables_names": b"filter\n"}
    firewall = read_firewall(RecordedHost(outputs, files))
    decision = firewall.decide("tcp", 22, BASTIONS, address=ANY4)
    assert decision.decision == "restricted" and "ADMIN" in decision.evidence
    # Without legacy tables in the kernel, iptables-legacy-save is not even run.
    quiet = RecordedHost(outputs, {"/proc/net/ip_tables_names": b""})
    assert read_firewall(quiet).decide("tcp", 22, BASTIONS, ANY4).decision == "open"
    assert ("iptables-legacy-save",) not in quiet.ran


def test_ipset_members_are_read_when_rules_use_them() -> None:
    save = (
        "# Generated by iptables-save v1.8.9 (nf_tables) on Tue Nov 24 05:29:59 2026\n*filter\n"
        ":INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -m set --match-set admins src -j ACCEPT\n"
        "COMMIT\n"
    )
    ipset = (
        "create admins hash:net family inet hashsize 1024 maxelem 65536\nadd admins 10.0.5.0/28\n"
    )
    outputs = {NFT: ok("nft-empty.json"), V4: (0, save, ""), ("ipset", "save"): (0, ipset, "")}
    firewall = read_firewall(RecordedHost(outputs))
    assert firewall.decide("tcp", 22, BASTIONS, ANY4).decision == "restricted"
    assert firewall.decide("tcp", 22, ["10.0.5.0/29"], ANY4).decision == "open"


def test_not_root_is_unknown() -> None:
    outputs = {
        NFT: (
            1,
            "",
            "Operation not permitted (you must be root)\nnetlink: Error: cache initialization failed: Operation not permitted",
        ),
        V4: (
            4,
            "",
            "iptables-save v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)",
        ),
        V6: (
            4,
            "",
            "ip6tables-save v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)",
        ),
        UFW: (1, "", "ERROR: You need to be root to run this script"),
    }
    firewall = read_firewall(RecordedHost(outputs))
    assert firewall.fact.tool is None and firewall.fact.active is None
    assert "(run the agent as root)" in firewall.fact.reason
    decision = firewall.decide("tcp", 22, BASTIONS)
    assert decision.decision == "unknown" and "Operation not permitted" in decision.evidence


def test_an_image_has_no_loaded_rules(tmp_path: Path) -> None:
    firewall = read_firewall(LocalHost(tmp_path))
    assert firewall.decide("tcp", 22, BASTIONS).decision == "unknown"
    assert "live facts" in firewall.fact.reason and firewall.fact.tool is None


def test_unparseable_output_is_unknown() -> None:
    firewall = read_firewall(RecordedHost({NFT: (0, "{not json", "")}))
    assert firewall.decide("tcp", 22, BASTIONS).decision == "unknown"
    assert firewall.fact.reason.startswith("firewall rules not understood")


def test_no_firewall_tool_installed() -> None:
    firewall = read_firewall(RecordedHost({}))
    assert (firewall.fact.tool, firewall.fact.active) == ("none", False)
    decision = firewall.decide("tcp", 22, BASTIONS)
    assert decision.decision == "open" and "no firewall tool" in decision.evidence


def test_ufw_is_reported_and_is_the_fallback() -> None:
    outputs = {
        NFT: ok("nft-empty.json"),
        V4: ok("iptables-ufw.save"),
        V6: EMPTY_SAVE,
        UFW: ok("ufw-limit.status"),
    }
    firewall = read_firewall(RecordedHost(outputs))
    assert firewall.fact.model_dump() == {
        "tool": "ufw",
        "active": True,
        "default_inbound": "drop",
        "rules": 9,
        "reason": "ufw active, default deny (incoming), 9 rules",
    }
    assert firewall.decide("tcp", 22, BASTIONS, ANY4).decision == "open"
    # When kernel rules cannot be evaluated, ufw's listing decides, and the evidence says so.
    unknown_kernel = Firewall(firewall.fact, [nft_layer("knock")], firewall.ufw)
    fallback = unknown_kernel.decide("tcp", 22, BASTIONS)
    assert fallback.decision == "open"
    assert fallback.evidence.endswith(
        "(per ufw status; kernel rules: cannot tell whether 1.0.0.1 is accepted: "
        "nftables inet knock input: tcp dport 22 ip saddr @knocked accept)"
    )


# --- the address-space partition -----------------------------------------------------------


def test_representatives_cover_each_piece_once() -> None:
    import ipaddress

    ranges = [
        (4, int(ipaddress.ip_address("10.0.0.0")), int(ipaddress.ip_address("10.255.255.255")))
    ]
    excluded = [ipaddress.ip_network("10.0.5.0/28"), ipaddress.ip_network("127.0.0.0/8")]
    found = representatives(4, ranges, excluded, ipaddress.ip_address("198.51.100.23"))
    assert found[0] == ipaddress.ip_address("198.51.100.23")
    assert [str(a) for a in sorted(found)] == [
        "0.0.0.1",
        "10.0.0.1",
        "10.0.5.17",
        "11.0.0.1",
        "198.51.100.23",
    ]
