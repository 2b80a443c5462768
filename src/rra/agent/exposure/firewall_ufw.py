"""``ufw status verbose`` → :mod:`firewall_model` chains.

ufw prints each rule as ``"%-26s %-12s%-26s%s%s"`` (To, "ACTION DIR", From, `` (log)``,
`` # comment``; ufw's backend_iptables.get_status). To is ``[ADDR ][PORTS[/PROTO]][ (APP)]
[ (v6)][ on IFACE]`` or ``Anywhere``; From likewise. IPv6 rules carry ``(v6)`` or an IPv6
address; the rest are IPv4 rules. ``LIMIT`` accepts a first connection (it only drops a source
after six in 30 s). Outgoing and routed (FWD) rules do not decide inbound access.

The kernel rules (nft/iptables-save) are the authority; this view is used when they cannot be
evaluated and to report which tool manages the firewall.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Literal

from rra.agent.exposure.firewall_model import (
    AddrRange,
    Chain,
    Cond,
    Packet,
    Rule,
    Ruleset,
    Tri,
    Verdict,
)

_RULE = re.compile(
    r"^(?P<to>.+?)\s+(?P<action>ALLOW|DENY|REJECT|LIMIT)(?: (?P<dir>IN|OUT|FWD))?\s+(?P<src>.*)$"
)
_DEFAULT = re.compile(r"^Default:\s*(\w+) \(incoming\)", re.MULTILINE)
_ACTIONS: dict[str, Verdict] = {
    "ALLOW": "accept",
    "LIMIT": "accept",
    "DENY": "drop",
    "REJECT": "drop",
}


@dataclass
class UfwStatus:
    active: bool
    default_incoming: str | None  # "deny" | "reject" | "allow"
    ruleset: Ruleset = field(default_factory=Ruleset)
    rules: int = 0
    unparsed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Endpoint:
    ranges: tuple[AddrRange, ...] | None  # None: anywhere
    ports: tuple[tuple[int, int], ...] | None  # None: any port
    proto: str | None
    iface: str | None
    v6: bool
    understood: bool


def _endpoint(text: str) -> _Endpoint:
    text = text.strip()
    iface = None
    if " on " in text:
        text, _, iface = text.rpartition(" on ")
    v6 = "(v6)" in text
    text = re.sub(r"\s*\((?:[^()]|\([^()]*\))*\)", "", text).strip()  # (v6), (App (v6))
    ranges: tuple[AddrRange, ...] | None = None
    ports: tuple[tuple[int, int], ...] | None = None
    proto: str | None = None
    understood = True
    for word in text.split():
        if word.startswith("Anywhere"):
            proto = word.partition("/")[2] or None
            continue
        body, slash, suffix = word.partition("/")
        try:
            network = ipaddress.ip_network(
                word if suffix.isdigit() or not slash else body, strict=False
            )
        except ValueError:
            network = None
        if network is not None and (":" in body or "." in body):
            ranges = (
                (network.version, int(network.network_address), int(network.broadcast_address)),
            )
            v6 = v6 or network.version == 6
            if slash and not suffix.isdigit():
                proto = suffix
            continue
        parsed = _ports(body)
        if parsed is None:
            understood = False  # an application name without its ports
            continue
        ports, proto = parsed, (suffix or None)
    return _Endpoint(ranges, ports, proto, iface, v6, understood)


def _ports(text: str) -> tuple[tuple[int, int], ...] | None:
    out: list[tuple[int, int]] = []
    for part in text.split(","):
        low, _, high = part.partition(":")
        if not low.isdigit() or (high and not high.isdigit()):
            return None
        out.append((int(low), int(high or low)))
    return tuple(out)


def _conds(to: _Endpoint, src: _Endpoint, shown: str) -> tuple[Cond, ...]:
    def test(packet: Packet) -> Tri:
        proto = to.proto or src.proto
        if proto is not None and packet.proto != proto:
            return False
        if src.ranges is not None and not any(
            f == packet.saddr.version and lo <= int(packet.saddr) <= hi for f, lo, hi in src.ranges
        ):
            return False
        if to.ports is not None and not any(lo <= packet.dport <= hi for lo, hi in to.ports):
            return False
        uncertain = not (to.understood and src.understood) or src.ports is not None
        if to.ranges is not None:
            if packet.daddr is None:
                uncertain = True
            elif not any(
                f == packet.daddr.version and lo <= int(packet.daddr) <= hi
                for f, lo, hi in to.ranges
            ):
                return False
        if to.iface is not None:
            if to.iface == "lo":
                return False
            uncertain = True
        return None if uncertain else True

    return (Cond(test, shown, src.ranges or ()),)


def parse_ufw_status(text: str) -> UfwStatus:
    lines = text.splitlines()
    active = any(line.strip() == "Status: active" for line in lines)
    found = _DEFAULT.search(text)
    status = UfwStatus(active, found.group(1) if found else None)
    policy: Literal["accept", "drop"] = "accept" if status.default_incoming == "allow" else "drop"
    chains = {
        4: Chain("ufw", "user", "input", hook="input", policy=policy, families=frozenset({4})),
        6: Chain("ufw", "user", "input (v6)", hook="input", policy=policy, families=frozenset({6})),
    }
    in_rules = False
    for raw in lines:
        line = raw.rstrip()
        if line.startswith("--"):
            in_rules = True
            continue
        if not in_rules or not line.strip():
            continue
        body = line.split(" # ", 1)[0].rstrip()
        body = re.sub(r"\s+\((?:log|log-all)(?:, \w+)?\)$", "", body)
        match = _RULE.match(body)
        if match is None:
            status.unparsed.append(line)
            continue
        status.rules += 1
        if match.group("dir") in ("OUT", "FWD"):
            continue
        to, src = _endpoint(match.group("to")), _endpoint(match.group("src"))
        shown = " ".join(line.split())
        verdict = _ACTIONS[match.group("action")]
        rule = Rule(_conds(to, src, shown), verdict, shown)
        chains[6 if (to.v6 or src.v6) else 4].rules.append(rule)
    if active:  # an inactive ufw loads no rules at all
        for chain in chains.values():
            status.ruleset.add(chain)
    return status
