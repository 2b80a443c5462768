"""One model for nftables, iptables and ufw rules, and the evaluator that walks it.

Each parser turns its tool's rules into chains of :class:`Rule` (conditions + verdict). The
evaluator sends one synthetic *new connection* through every filter chain on the input path
(ingress, prerouting, input; all tables, in priority order: a drop anywhere drops, an accept
ends only that chain) and follows jump/goto/return like the kernel does.

What cannot be evaluated is never guessed: a condition the packet may or may not meet (an
interface other than ``lo``, a mark, an ``xt`` match) forks the walk, an unknown statement ends
it as ``unknown``, and the caller reports ``unknown`` unless every branch agrees.

Source addresses are handled by partitioning the address space at every boundary any rule, the
bastion list or the never-routable ranges mention: inside one piece every rule sees the same
thing, so one representative per piece decides for all of it. That proves "only bastions are
accepted" without enumerating addresses.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Literal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Tri = bool | None  # None: the packet may or may not match
AddrRange = tuple[int, int, int]  # (family 4|6, first, last) as integers

#: Hooks a packet to a local socket crosses, in order.
HOOK_ORDER = {"ingress": 0, "prerouting": 1, "input": 2}
MAX_DEPTH = 64  # jumps deeper than this are a loop (nft refuses loops; iptables too)
MAX_BRANCHES = 4096  # forks per packet before we give up as "unknown"
MAX_REPRESENTATIVES = 100_000

#: Sources that never arrive from another machine (martians), besides the bastions.
UNROUTABLE = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "127.0.0.0/8",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "::ffff:0:0/96",
        "ff00::/8",
    )
)
#: The synthetic outside sources (documentation ranges) used when their piece has to be tried.
SYNTHETIC_SOURCES: dict[int, IPAddress] = {
    4: ipaddress.ip_address("198.51.100.23"),
    6: ipaddress.ip_address("2001:db8::23"),
}


class TooComplex(Exception):
    """The walk forked or recursed beyond the limits: the answer is ``unknown``."""


@dataclass(frozen=True)
class Packet:
    """The first packet of a new connection from another machine to one local socket."""

    family: int  # 4 | 6
    proto: str  # "tcp" | "udp"
    saddr: IPAddress
    dport: int
    daddr: IPAddress | None = None  # None: any of this host's addresses (wildcard bind)


@dataclass(frozen=True)
class Cond:
    """One condition of a rule. ``ranges``: the source addresses it looks at (for partitioning)."""

    test: Callable[[Packet], Tri]
    text: str
    ranges: tuple[AddrRange, ...] = ()


Verdict = Literal["accept", "drop", "jump", "goto", "return", "continue", "unknown"]


@dataclass(frozen=True)
class Rule:
    conds: tuple[Cond, ...]
    verdict: Verdict | None  # None: no verdict statement (counter, log): the walk continues
    text: str
    target: str | None = None  # chain name for jump/goto
    #: A verdict map: the verdict (and chain) for this packet, None when no key matches.
    dispatch: Callable[[Packet], tuple[Verdict, str | None] | None] | None = None

    def test(self, packet: Packet) -> Tri:
        result: Tri = True
        for cond in self.conds:
            value = cond.test(packet)
            if value is False:
                return False
            if value is None:
                result = None
        return result


@dataclass
class Chain:
    tool: str  # "nftables", "iptables", "ip6tables", "ufw"
    table: str  # "inet filter", "filter", ...
    name: str
    rules: list[Rule] = field(default_factory=list)
    hook: str | None = None  # base chains only
    priority: int = 0
    policy: Literal["accept", "drop"] | None = None
    families: frozenset[int] = frozenset({4, 6})
    maybe_skipped: bool = False  # e.g. a netdev ingress chain bound to one device

    @property
    def label(self) -> str:
        return f"{self.tool} {self.table} {self.name}"


@dataclass
class Ruleset:
    """Chains of one tool; jumps resolve inside the same table."""

    chains: dict[tuple[str, str], Chain] = field(default_factory=dict)

    def add(self, chain: Chain) -> None:
        self.chains[(chain.table, chain.name)] = chain

    def base_chains(self) -> list[Chain]:
        return [c for c in self.chains.values() if c.hook in HOOK_ORDER]

    def rule_count(self) -> int:
        return sum(len(c.rules) for c in self.chains.values())

    def ranges(self) -> Iterator[AddrRange]:
        for chain in self.chains.values():
            for rule in chain.rules:
                for cond in rule.conds:
                    yield from cond.ranges


@dataclass(frozen=True)
class Step:
    """Where one branch of the walk ended. ``evidence``: (chain label, rule text) pairs."""

    kind: Literal["accept", "drop", "return", "unknown"]
    evidence: tuple[tuple[str, str], ...] = ()
    doubts: tuple[tuple[str, str], ...] = ()

    def doubted(self, label: str, text: str) -> Step:
        return replace(self, doubts=(*self.doubts, (label, text)))


@dataclass(frozen=True)
class PacketVerdict:
    outcome: Literal["accept", "drop", "uncertain"]
    evidence: tuple[tuple[str, str], ...]


def addr_range(network: IPNetwork) -> AddrRange:
    return (network.version, int(network.network_address), int(network.broadcast_address))


class AddrSet:
    """Sorted, merged address ranges of one family with O(log n) membership."""

    def __init__(self, ranges: Iterable[AddrRange]) -> None:
        merged: list[list[int]] = []
        for _, first, last in sorted(ranges, key=lambda r: (r[1], r[2])):
            if merged and first <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last])
        self._starts = [m[0] for m in merged]
        self._ends = [m[1] for m in merged]

    def __contains__(self, value: int) -> bool:
        index = bisect_right(self._starts, value) - 1
        return index >= 0 and value <= self._ends[index]


class Evaluator:
    """Walks the given base chains (from one or more rulesets) for one packet at a time."""

    def __init__(self, rulesets: Sequence[Ruleset]) -> None:
        self.rulesets = list(rulesets)
        bases = [(rs, c) for rs in self.rulesets for c in rs.base_chains()]
        bases.sort(key=lambda item: (HOOK_ORDER[item[1].hook or "input"], item[1].priority))
        self.bases = bases
        self._branches = 0

    def evaluate(self, packet: Packet) -> PacketVerdict:
        self._branches = 0
        accepts: list[tuple[str, str]] = []
        uncertain: list[tuple[str, str]] = []
        for ruleset, chain in self.bases:
            if packet.family not in chain.families:
                continue
            steps = self._base(ruleset, chain, packet)
            kinds = {s.kind for s in steps}
            if kinds == {"drop"}:
                return PacketVerdict("drop", steps[0].evidence)
            if kinds == {"accept"}:
                accepts.extend(_preferred_evidence(steps))
                continue
            for step in steps:
                uncertain.extend(step.doubts)
                if step.kind == "unknown":
                    uncertain.extend(step.evidence)
        if uncertain:
            return PacketVerdict("uncertain", tuple(dict.fromkeys(uncertain)))
        return PacketVerdict("accept", _accept_evidence(accepts))

    def _base(self, ruleset: Ruleset, chain: Chain, packet: Packet) -> list[Step]:
        out: list[Step] = []
        for step in self._run(ruleset, chain, 0, packet, 0):
            if step.kind != "return":
                out.append(step)
                continue
            policy = chain.policy or "accept"
            out.append(Step(policy, ((chain.label, f"policy {policy}"),), step.doubts))
        if chain.maybe_skipped:
            out.append(
                Step(
                    "accept",
                    ((chain.label, "not traversed"),),
                    ((chain.label, "device-bound chain"),),
                )
            )
        return out

    def _run(
        self, ruleset: Ruleset, chain: Chain, start: int, packet: Packet, depth: int
    ) -> list[Step]:
        if depth > MAX_DEPTH:
            raise TooComplex(f"{chain.label}: jumps nested deeper than {MAX_DEPTH}")
        for index in range(start, len(chain.rules)):
            rule = chain.rules[index]
            matched = rule.test(packet)
            if matched is False:
                continue
            taken = self._apply(ruleset, chain, index, packet, depth)
            if matched is True:
                return taken
            self._branches += 1
            if self._branches > MAX_BRANCHES:
                raise TooComplex(f"more than {MAX_BRANCHES} undecidable branches")
            skipped = self._run(ruleset, chain, index + 1, packet, depth)
            return [s.doubted(chain.label, rule.text) for s in (*taken, *skipped)]
        return [Step("return")]

    def _apply(
        self, ruleset: Ruleset, chain: Chain, index: int, packet: Packet, depth: int
    ) -> list[Step]:
        rule = chain.rules[index]
        here = ((chain.label, rule.text),)
        verdict, target_name = rule.verdict, rule.target
        if rule.dispatch is not None:
            chosen = rule.dispatch(packet)
            verdict, target_name = chosen if chosen is not None else ("continue", None)
        if verdict in (None, "continue"):
            return self._run(ruleset, chain, index + 1, packet, depth)
        if verdict in ("accept", "drop", "return", "unknown"):
            return [Step(verdict, here)]
        target = ruleset.chains.get((chain.table, target_name or ""))
        if target is None:
            return [Step("unknown", here, here)]
        called = self._run(ruleset, target, 0, packet, depth + 1)
        if verdict == "goto":
            return called  # a return from the goto target returns from this chain
        out: list[Step] = []
        rest: list[Step] | None = None
        for step in called:
            if step.kind != "return":
                out.append(step)
                continue
            if rest is None:
                rest = self._run(ruleset, chain, index + 1, packet, depth)
            out.extend(replace(r, doubts=step.doubts + r.doubts) for r in rest)
        return out


def _preferred_evidence(steps: list[Step]) -> list[tuple[str, str]]:
    return [e for s in steps for e in s.evidence]


def _accept_evidence(accepts: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The rules that accepted; a policy accept only when no rule did."""
    ruled = [e for e in accepts if not e[1].startswith("policy ")]
    return tuple(dict.fromkeys(ruled or accepts))


def format_evidence(items: Iterable[tuple[str, str]]) -> str:
    """``label: a; b`` for consecutive items of one chain, ``; `` between chains."""
    parts: list[str] = []
    last: str | None = None
    for label, text in items:
        if label == last:
            parts[-1] += f"; {text}"
        else:
            parts.append(f"{label}: {text}")
            last = label
    return "; ".join(parts)


def representatives(
    family: int,
    ranges: Iterable[AddrRange],
    excluded: Sequence[IPNetwork],
    preferred: IPAddress | None = None,
) -> list[IPAddress]:
    """One address per piece of the family's address space outside ``excluded``.

    The pieces are cut at every boundary in ``ranges`` and ``excluded``, so each piece lies
    wholly inside or outside every range: any address of a piece behaves like every other.
    ``preferred`` (a documentation address) stands for its own piece, for readable evidence.
    """
    top = (1 << (32 if family == 4 else 128)) - 1
    excluded_ranges = [addr_range(n) for n in excluded if n.version == family]
    points = {0, top + 1}
    for fam, first, last in (*ranges, *excluded_ranges):
        if fam == family:
            points.add(first)
            points.add(last + 1)
    cuts = sorted(points)
    if len(cuts) > MAX_REPRESENTATIVES:
        raise TooComplex(f"{len(cuts)} address ranges in the rules")
    skip = AddrSet(excluded_ranges)
    want = int(preferred) if preferred is not None and preferred.version == family else None
    found: list[IPAddress] = []
    for first, nxt in pairwise(cuts):
        if first in skip:
            continue
        # Not the network address of a piece (10.0.0.0 reads like a typo in evidence).
        pick = first + 1 if nxt - first > 2 else first
        if want is not None and first <= want < nxt:
            pick = want
        found.append(ipaddress.ip_address(pick) if family == 4 else ipaddress.IPv6Address(pick))
    if want is not None:
        # Try the documentation address first, so evidence names it when it decides.
        found.sort(key=lambda a: int(a) != want)
    return found
