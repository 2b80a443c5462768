"""``iptables-save`` / ``ip6tables-save`` (and ``ipset save``) → :mod:`firewall_model` chains.

Filter-capable base chains on the way in: raw PREROUTING, mangle PREROUTING/INPUT, filter INPUT
and security INPUT, with the kernel's priorities. Matches this module cannot evaluate for one new
connection (marks, recent lists without state, geoip...) become "may match", so they can never
make a socket look restricted. Checked against iptables 1.8.9 (both nf_tables and legacy).
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass, field
from typing import Literal

from rra.agent.exposure.firewall_model import (
    AddrRange,
    AddrSet,
    Chain,
    Cond,
    Packet,
    Rule,
    Ruleset,
    Tri,
    Verdict,
)

#: (table, chain) → (hook, priority) for the chains a new inbound connection crosses.
BASE_CHAINS = {
    ("raw", "PREROUTING"): ("prerouting", -300),
    ("mangle", "PREROUTING"): ("prerouting", -150),
    ("mangle", "INPUT"): ("input", -150),
    ("filter", "INPUT"): ("input", 0),
    ("security", "INPUT"): ("input", 50),
}
TERMINAL: dict[str, Verdict] = {
    "ACCEPT": "accept",
    "DROP": "drop",
    "REJECT": "drop",
    "RETURN": "return",
}
#: Targets that do something and let the packet go on to the next rule.
PASSIVE_TARGETS = frozenset(
    {
        *("LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "CT", "NOTRACK", "TCPMSS", "SET", "TRACE"),
        *("AUDIT", "CLASSIFY", "DSCP", "TOS", "TTL", "HL", "CHECKSUM", "SECMARK", "CONNSECMARK"),
        *("IDLETIMER", "LED", "RATEEST", "TEE"),
    }
)
PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp"}
FLAG_BITS = {"FIN": 1, "SYN": 2, "RST": 4, "PSH": 8, "ACK": 16, "URG": 32, "ALL": 63, "NONE": 0}


_POLICIES: dict[str, Literal["accept", "drop"]] = {"ACCEPT": "accept", "DROP": "drop"}


class IptablesParseError(ValueError):
    """Not iptables-save output."""


@dataclass
class IpsetInfo:
    """``ipset save``: member ranges per set; None for set types we do not read (hash:ip,port)."""

    sets: dict[str, list[AddrRange] | None] = field(default_factory=dict)


def parse_ipset_save(text: str) -> IpsetInfo:
    info = IpsetInfo()
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == "create":
            readable = words[2] in ("hash:ip", "hash:net", "bitmap:ip")
            info.sets[words[1]] = [] if readable else None
        elif len(words) >= 3 and words[0] == "add":
            members = info.sets.get(words[1])
            if members is None:
                continue
            parsed = _address_range(words[2])
            if parsed is None:
                info.sets[words[1]] = None
            else:
                members.append(parsed)
    return info


def _address_range(text: str) -> AddrRange | None:
    try:
        if "-" in text:
            low_text, high_text = text.split("-", 1)
            low, high = ipaddress.ip_address(low_text), ipaddress.ip_address(high_text)
            return (low.version, int(low), int(high))
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    return (network.version, int(network.network_address), int(network.broadcast_address))


def _const(value: Tri, text: str) -> Cond:
    return Cond(lambda _p: value, text)


def _negated(cond: Cond, negate: bool) -> Cond:
    if not negate:
        return cond

    def test(packet: Packet) -> Tri:
        value = cond.test(packet)
        return None if value is None else not value

    return Cond(test, f"! {cond.text}", cond.ranges)


def _address_cond(family: int, text: str, shown: str, source: bool) -> Cond:
    ranges = [r for r in (_address_range(p) for p in text.split(",")) if r is not None]
    if len(ranges) != len(text.split(",")):
        return _const(None, shown)
    table = AddrSet(ranges)

    def test(packet: Packet) -> Tri:
        address = packet.saddr if source else packet.daddr
        if address is None:
            return None
        return address.version == family and int(address) in table

    return Cond(test, shown, tuple(ranges) if source else ())


def _ports(text: str) -> list[tuple[int, int]] | None:
    out: list[tuple[int, int]] = []
    for part in text.split(","):
        low, _, high = part.partition(":")
        if not low.isdigit() or (high and not high.isdigit()):
            return None
        out.append((int(low), int(high or low)))
    return out


def _dport_cond(spec: str, shown: str, protos: frozenset[str]) -> Cond:
    ranges = _ports(spec)

    def test(packet: Packet) -> Tri:
        if packet.proto not in protos:
            return False
        if ranges is None:
            return None
        return any(low <= packet.dport <= high for low, high in ranges)

    return Cond(test, shown)


def _hitcount(words: list[str]) -> int:
    if "--hitcount" in words:
        index = words.index("--hitcount") + 1
        if index < len(words) and words[index].isdigit():
            return int(words[index])
    return 0


class _RuleBuilder:
    def __init__(self, family: int, chains: set[str], ipsets: IpsetInfo | None) -> None:
        self.family = family
        self.chains = chains
        self.ipsets = ipsets
        self.hitcount = 0

    def build(self, words: list[str], text: str) -> Rule:
        conds: list[Cond] = []
        protos = frozenset({"tcp", "udp"})  # until -p narrows it
        verdict: Verdict | None = None
        target: str | None = None
        negate = False
        self.hitcount = _hitcount(words)
        i = 0
        while i < len(words):
            word = words[i]
            if word == "!":
                negate = True
                i += 1
                continue
            values: list[str] = []
            j = i + 1
            while (
                j < len(words)
                and not (words[j].startswith("-") and len(words[j]) > 1)
                and words[j] != "!"
            ):
                values.append(words[j])
                j += 1
            if word in ("-j", "--jump", "-g", "--goto"):
                name = values[0] if values else ""
                verdict, target = self._target(name, goto=word in ("-g", "--goto"))
                break  # the rest are the target's own options
            cond, protos = self._option(word, values, negate, protos)
            if cond is not None:
                conds.append(cond)
            negate = False
            i = j
        return Rule(tuple(conds), verdict, text, target)

    def _target(self, name: str, goto: bool) -> tuple[Verdict | None, str | None]:
        if name in self.chains:
            return ("goto" if goto else "jump"), name
        if name in TERMINAL:
            return TERMINAL[name], None
        if name in PASSIVE_TARGETS:
            return None, None
        return "unknown", None  # NFQUEUE, DNAT, SYNPROXY, a chain that is not there...

    def _option(
        self, word: str, values: list[str], negate: bool, protos: frozenset[str]
    ) -> tuple[Cond | None, frozenset[str]]:
        value = values[0] if values else ""
        shown = " ".join(["!"] * negate + [word, *values])
        if word in ("-s", "--source", "-d", "--destination", "--src-range", "--dst-range"):
            source = word in ("-s", "--source", "--src-range")
            return _negated(_address_cond(self.family, value, shown, source), negate), protos
        if word in ("-p", "--protocol"):
            proto = PROTOCOLS.get(value.lower())
            if value.lower() in ("all", "0"):
                return None, protos
            narrowed = frozenset({proto}) if proto else frozenset()
            cond = Cond(lambda p: p.proto in narrowed, shown)
            return _negated(cond, negate), (protos if negate else narrowed)
        if word in ("--dport", "--destination-port", "--dports", "--destination-ports"):
            return _negated(_dport_cond(value, shown, protos), negate), protos
        if word == "--ports":  # either port: the destination decides when it is listed
            dport = _dport_cond(value, shown, protos)
            cond = Cond(lambda p: True if dport.test(p) else None, shown)
            return _negated(cond, negate), protos
        if word in ("-i", "--in-interface"):
            return _negated(_const(False if value == "lo" else None, shown), negate), protos
        if word in ("-f", "--fragment"):
            return _negated(_const(False, shown), negate), protos  # a SYN is never a fragment
        if word in ("--ctstate", "--state"):
            return _negated(_const("NEW" in value.upper().split(","), shown), negate), protos
        if word == "--syn":
            return _negated(Cond(lambda p: p.proto == "tcp", shown), negate), protos
        if word == "--tcp-flags" and len(values) == 2:
            mask = sum(FLAG_BITS.get(f, 0) for f in values[0].split(","))
            comp = sum(FLAG_BITS.get(f, 0) for f in values[1].split(","))
            cond = Cond(lambda p: p.proto == "tcp" and (FLAG_BITS["SYN"] & mask) == comp, shown)
            return _negated(cond, negate), protos
        if word in ("-m", "--match", "--comment", "--limit", "--limit-burst", "--hashlimit-upto"):
            return None, protos  # a module name, a comment, or a rate the first packet is under
        if word in ("--connlimit-above", "--hashlimit-above"):
            return _negated(_const(False, shown), negate), protos
        if word == "--dst-type":
            # A connection to a local socket is addressed to a local unicast address; only
            # UDP can also arrive as broadcast or multicast.
            local = Cond(
                lambda p: (
                    True if value in ("LOCAL", "UNICAST") else (None if p.proto == "udp" else False)
                ),
                shown,
            )
            return _negated(local, negate), protos
        if word == "--src-type":
            return _negated(_const(False if value == "LOCAL" else None, shown), negate), protos
        if word == "--match-set" and len(values) == 2:
            return _negated(self._ipset(values[0], values[1], shown), negate), protos
        if word in ("--rcheck", "--update"):
            # A source that tries once is never at a hit count of two or more.
            return _negated(_const(False if self.hitcount >= 2 else None, shown), negate), protos
        if (
            word.startswith("--hashlimit-")
            or word.startswith("--connlimit-")
            or word
            in (
                "--set",
                "--name",
                "--rsource",
                "--rdest",
                "--mask",
                "--seconds",
                "--hitcount",
                "--rttl",
                "--reap",
            )
        ):
            return None, protos  # options of the modules above, or a recent --set (no filter)
        return _negated(_const(None, shown), negate), protos

    def _ipset(self, name: str, flags: str, shown: str) -> Cond:
        members = self.ipsets.sets.get(name) if self.ipsets is not None else None
        if members is None or flags.split(",")[0] != "src":
            return _const(None, shown)
        table = AddrSet(members)
        return Cond(
            lambda p: p.saddr.version == self.family and int(p.saddr) in table,
            shown,
            tuple(members),
        )


@dataclass
class IptablesSave:
    variant: str | None  # "nf_tables" | "legacy" | None (no header)
    ruleset: Ruleset
    match_sets: bool  # the rules look up ipsets


def parse_iptables_save(
    text: str, family: int = 4, ipsets: IpsetInfo | None = None
) -> IptablesSave:
    """One ``iptables-save`` (family 4) or ``ip6tables-save`` (family 6) dump."""
    tool = "iptables" if family == 4 else "ip6tables"
    variant: str | None = None
    tables: dict[str, tuple[dict[str, str], list[tuple[str, list[str], str]]]] = {}
    current: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            # iptables-legacy-save names no variant: "# Generated by iptables-save v1.8.9 on ..."
            if line.startswith("# Generated by") and variant is None:
                variant = "nf_tables" if "(nf_tables)" in line else "legacy"
            continue
        if line.startswith("*"):
            current = line[1:]
            tables[current] = ({}, [])
        elif line == "COMMIT":
            current = None
        elif current is None:
            raise IptablesParseError(f"line {number}: {line!r} outside a table")
        elif line.startswith(":"):
            name, policy = [*line[1:].split(), "-"][:2]
            tables[current][0][name] = policy
        else:
            if line.startswith("["):
                line = line.split("]", 1)[1].strip()  # -c packet:byte counters
            try:
                words = shlex.split(line)
            except ValueError as exc:
                raise IptablesParseError(f"line {number}: {exc}") from exc
            if len(words) < 2 or words[0] not in ("-A", "--append"):
                raise IptablesParseError(f"line {number}: not a rule: {line!r}")
            tables[current][1].append((words[1], words[2:], " ".join(line.split()[2:])))
    ruleset = Ruleset()
    uses_sets = False
    for table, (policies, rules) in tables.items():
        builder = _RuleBuilder(family, set(policies), ipsets)
        for name, policy in policies.items():
            hook, priority = BASE_CHAINS.get((table, name), (None, 0))
            chain_policy = _POLICIES.get(policy) if hook else None
            ruleset.add(
                Chain(
                    tool,
                    table,
                    name,
                    hook=hook,
                    priority=priority,
                    policy=chain_policy,
                    families=frozenset({family}),
                )
            )
        for name, words, shown in rules:
            chain = ruleset.chains.get((table, name))
            if chain is None:
                raise IptablesParseError(f"rule for undeclared chain {table} {name}")
            uses_sets = uses_sets or "--match-set" in words
            chain.rules.append(builder.build(words, shown))
    return IptablesSave(variant, ruleset, uses_sets)


def has_effect(ruleset: Ruleset) -> bool:
    """Any rule, or a base chain that does not accept by default."""
    return ruleset.rule_count() > 0 or any(c.policy == "drop" for c in ruleset.base_chains())
