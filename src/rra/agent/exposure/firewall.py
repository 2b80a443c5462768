"""The host firewall, read through ``Host.run``, and what it means for each admin socket.

Sources, all read-only: ``nft -j list ruleset`` (every nftables table, including those
iptables-nft writes), ``iptables-save``/``ip6tables-save`` (clearer than nft's opaque ``xt``
expressions for iptables-nft tables, and the only view of iptables-legacy), ``ipset save`` when
rules use ipsets, and ``ufw status verbose``. Kernel rules decide; ufw's own listing is the
fallback when they cannot be evaluated.

Per socket the answer is ``restricted`` (every source outside the bastions is dropped: the
evidence names the rules), ``open`` (a source outside the bastions is accepted: the evidence
names the source and the rule) or ``unknown`` (rules unreadable, not permitted, or a rule on the
path that cannot be evaluated). ``unknown`` is never rounded to ``restricted``.

One choice to know: a host with none of nft, iptables or ufw installed is read as having no
firewall (``open``); the rules could only have been loaded by a program linking libnftables
directly, which is rare enough that reporting exposure is the safer error.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from rra.agent.exposure.firewall_iptables import (
    IpsetInfo,
    IptablesParseError,
    has_effect,
    parse_ipset_save,
    parse_iptables_save,
)
from rra.agent.exposure.firewall_model import (
    SYNTHETIC_SOURCES,
    UNROUTABLE,
    Evaluator,
    IPAddress,
    IPNetwork,
    Packet,
    PacketVerdict,
    Ruleset,
    TooComplex,
    format_evidence,
    representatives,
)
from rra.agent.exposure.firewall_nft import (
    NftParseError,
    load_objects,
    managed_by_iptables,
    parse_nft,
)
from rra.agent.exposure.firewall_ufw import UfwStatus, parse_ufw_status
from rra.agent.exposure.services import split_scope
from rra.agent.host import CommandNotFound, Host, HostError, ListeningSocket
from rra.checks.facts import FirewallFact

Decision = Literal["restricted", "open", "unknown"]
Bastion = str | ipaddress.IPv4Network | ipaddress.IPv6Network
_UFW_DEFAULTS: dict[str, Literal["drop", "reject", "accept"]] = {
    "deny": "drop",
    "reject": "reject",
    "allow": "accept",
}
_DENIED = ("not permitted", "permission denied", "must be root", "need to be root")


@dataclass(frozen=True)
class FirewallDecision:
    decision: Decision
    evidence: str


@dataclass
class _Output:
    status: Literal["ok", "missing", "denied", "failed"]
    stdout: str = ""
    stderr: str = ""


def _run(host: Host, argv: list[str], timeout: float) -> _Output:
    try:
        result = host.run(argv, timeout=timeout)
    except CommandNotFound:
        return _Output("missing")
    except HostError as exc:
        return _Output("failed", stderr=str(exc))
    err = result.stderr_text.strip()
    if result.rc != 0:
        denied = any(d in err.lower() for d in _DENIED)
        return _Output("denied" if denied else "failed", result.stdout_text, err)
    return _Output("ok", result.stdout_text, err)


@dataclass
class Firewall:
    """What was read. ``layers`` are independent rule sets a packet must pass (AND)."""

    fact: FirewallFact
    layers: list[Ruleset] = field(default_factory=list)
    ufw: UfwStatus | None = None
    problem: str | None = None  # why the kernel rules could not be read
    no_tools: bool = False

    def decide(
        self, proto: str, port: int, bastions: Sequence[Bastion] = (), address: str = "*"
    ) -> FirewallDecision:
        """Whether sources outside ``bastions`` can open a connection to ``proto``/``port``.

        ``address`` is the socket's bind address (decides IPv4/IPv6 and ``daddr`` matches); the
        default, any address of either family, is the conservative reading.
        """
        socket = ListeningSocket(proto, address, port, None, None)
        if self.no_tools:
            return FirewallDecision("open", "no firewall tool (nft, iptables, ufw) on the host")
        if self.problem is not None:
            return FirewallDecision("unknown", self.problem)
        decision = decide_socket(self.layers, socket, bastions)
        if decision.decision == "unknown" and self.ufw is not None and self.ufw.active:
            fallback = decide_socket([self.ufw.ruleset], socket, bastions)
            if fallback.decision != "unknown":
                return FirewallDecision(
                    fallback.decision,
                    f"{fallback.evidence} (per ufw status; kernel rules: {decision.evidence})",
                )
        return decision


def _families(address: str) -> tuple[set[int], IPAddress | None]:
    host, _ = split_scope(address)
    if host in ("*", "::", ""):
        return {4, 6}, None  # psutil and ss cannot tell a v6-only "::" from a dual-stack one
    if host == "0.0.0.0":  # noqa: S104 - a comparison
        return {4}, None
    ip = ipaddress.ip_address(host)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return {ip.version}, ip


def _networks(bastions: Sequence[Bastion]) -> list[IPNetwork]:
    out: list[IPNetwork] = []
    for entry in bastions:
        if isinstance(entry, str):
            if entry.strip():
                out.append(ipaddress.ip_network(entry.strip(), strict=False))
        else:
            out.append(entry)
    return out


def decide_socket(
    layers: Sequence[Ruleset], socket: ListeningSocket, bastions: Sequence[Bastion] = ()
) -> FirewallDecision:
    """Evaluate the rules for every piece of the non-bastion address space (see firewall_model)."""
    if socket.proto not in ("tcp", "udp"):
        return FirewallDecision("unknown", f"protocol {socket.proto} is not evaluated")
    try:
        families, daddr = _families(socket.address)
        networks = _networks(bastions)
    except ValueError as exc:
        return FirewallDecision("unknown", f"cannot evaluate: {exc}")
    evaluator = Evaluator(layers)
    ranges = [r for layer in layers for r in layer.ranges()]
    excluded = [*UNROUTABLE, *networks]
    doubt: tuple[IPAddress, PacketVerdict] | None = None
    first_drop: tuple[IPAddress, PacketVerdict] | None = None
    try:
        for family in sorted(families):
            for source in representatives(family, ranges, excluded, SYNTHETIC_SOURCES[family]):
                verdict = evaluator.evaluate(
                    Packet(family, socket.proto, source, socket.port, daddr)
                )
                if verdict.outcome == "accept":
                    where = format_evidence(verdict.evidence) or "no filter rules"
                    return FirewallDecision(
                        "open", f"a source outside the bastions ({source}) is accepted: {where}"
                    )
                if verdict.outcome == "uncertain" and doubt is None:
                    doubt = (source, verdict)
                if verdict.outcome == "drop" and first_drop is None:
                    first_drop = (source, verdict)
        if doubt is not None:
            source, verdict = doubt
            return FirewallDecision(
                "unknown",
                f"cannot tell whether {source} is accepted: {format_evidence(verdict.evidence)}",
            )
        allowed = _bastion_evidence(evaluator, socket, families, daddr, networks)
    except TooComplex as exc:
        return FirewallDecision("unknown", f"rules too complex to evaluate: {exc}")
    if first_drop is None:
        return FirewallDecision("restricted", "every source is a bastion")
    dropped = first_drop[1].evidence
    if not allowed:
        return FirewallDecision("restricted", f"no source can connect: {format_evidence(dropped)}")
    return FirewallDecision("restricted", format_evidence((*allowed, *dropped)))


def _bastion_evidence(
    evaluator: Evaluator,
    socket: ListeningSocket,
    families: set[int],
    daddr: IPAddress | None,
    networks: list[IPNetwork],
) -> tuple[tuple[str, str], ...]:
    """The rules that let bastions in (empty when none of them is accepted either)."""
    found: list[tuple[str, str]] = []
    for network in networks:
        if network.version not in families:
            continue
        source = network.network_address + (1 if network.num_addresses > 2 else 0)
        verdict = evaluator.evaluate(
            Packet(network.version, socket.proto, source, socket.port, daddr)
        )
        if verdict.outcome == "accept":
            found.extend(verdict.evidence)
    return tuple(dict.fromkeys(found))


def read_firewall(host: Host, timeout: float = 30.0) -> Firewall:
    """Read every firewall view the host offers (needs root for all of them)."""
    if not host.live:
        # Commands would describe the machine running rra, not the mounted image.
        problem = "the loaded firewall rules are live facts; not readable from an image"
        return Firewall(FirewallFact(reason=problem), problem=problem)
    nft = _run(host, ["nft", "-j", "list", "ruleset"], timeout)
    saves = {4: _run(host, ["iptables-save"], timeout), 6: _run(host, ["ip6tables-save"], timeout)}
    ufw_out = _run(host, ["ufw", "status", "verbose"], timeout)
    ufw = parse_ufw_status(ufw_out.stdout) if ufw_out.status == "ok" else None
    outputs = [nft, *saves.values()]
    if all(o.status == "missing" for o in (*outputs, ufw_out)):
        fact = FirewallFact(
            tool="none",
            active=False,
            rules=0,
            reason="no firewall tool (nft, iptables, ufw) installed",
        )
        return Firewall(fact, no_tools=True)
    if not any(o.status == "ok" for o in outputs):
        worst = next((o for o in outputs if o.status == "denied"), None)
        detail = (worst or next(o for o in outputs if o.status != "missing")).stderr
        hint = f" ({host.permission_hint()})" if worst is not None else ""
        problem = (
            f"firewall rules not readable{hint}: {detail.splitlines()[-1] if detail else 'failed'}"
        )
        return Firewall(FirewallFact(reason=problem), ufw=ufw, problem=problem)
    try:
        return _assemble(host, nft, saves, ufw, timeout)
    except (NftParseError, IptablesParseError, ValueError) as exc:
        problem = f"firewall rules not understood: {exc}"
        return Firewall(FirewallFact(reason=problem), ufw=ufw, problem=problem)


def _assemble(
    host: Host, nft: _Output, saves: dict[int, _Output], ufw: UfwStatus | None, timeout: float
) -> Firewall:
    layers: list[Ruleset] = []
    notes: list[str] = []
    iptables_layers: list[Ruleset] = []
    skip: set[str] = set()
    parsed = {}
    for family, out in saves.items():
        if out.status != "ok":
            continue
        save = parse_iptables_save(out.stdout, family)
        if save.match_sets:
            ipset = _run(host, ["ipset", "save"], timeout)
            sets = parse_ipset_save(ipset.stdout) if ipset.status == "ok" else IpsetInfo()
            save = parse_iptables_save(out.stdout, family, sets)
        parsed[family] = save
        iptables_layers.append(save.ruleset)
        if save.variant == "nf_tables":
            skip.update(
                f"{'ip' if family == 4 else 'ip6'} {t}"
                for t in ("filter", "mangle", "raw", "security", "nat")
            )
            legacy = _legacy(host, family, timeout)
            if legacy is not None:
                iptables_layers.append(legacy)
    nft_layer: Ruleset | None = None
    if nft.status == "ok":
        objects = load_objects(nft.stdout)
        managed = managed_by_iptables(nft.stderr, objects)
        nft_layer = parse_nft(objects, skip_tables=managed & skip)
        layers.append(nft_layer)
    else:
        notes.append(f"nft {nft.status}: native nftables tables not visible")
    layers.extend(iptables_layers)
    fact = _fact(nft_layer, iptables_layers, ufw, notes)
    return Firewall(fact, layers, ufw)


def _legacy(host: Host, family: int, timeout: float) -> Ruleset | None:
    """iptables-legacy rules run beside nftables; only look when the kernel has such tables."""
    names = "/proc/net/ip_tables_names" if family == 4 else "/proc/net/ip6_tables_names"
    try:
        loaded = (host.read_file(names) or b"").strip()
    except OSError:
        return None
    if not loaded:
        return None
    out = _run(host, ["iptables-legacy-save" if family == 4 else "ip6tables-legacy-save"], timeout)
    return parse_iptables_save(out.stdout, family).ruleset if out.status == "ok" else None


def _input_policy(rulesets: Sequence[Ruleset]) -> Literal["drop", "accept"]:
    chains = [c for rs in rulesets for c in rs.base_chains()]
    return "drop" if any(c.policy == "drop" for c in chains) else "accept"


def _fact(
    nft: Ruleset | None, iptables: list[Ruleset], ufw: UfwStatus | None, notes: list[str]
) -> FirewallFact:
    native = nft is not None and any(
        c.hook and (c.rules or c.policy == "drop") for c in nft.base_chains()
    )
    tail = f" ({'; '.join(notes)})" if notes else ""
    if ufw is not None and ufw.active:
        default = {"deny": "drop", "reject": "reject", "allow": "accept"}.get(
            ufw.default_incoming or ""
        )
        return FirewallFact(
            tool="ufw",
            active=True,
            default_inbound=default,
            rules=ufw.rules,
            reason=f"ufw active, default {ufw.default_incoming} (incoming), {ufw.rules} rules{tail}",
        )
    if native and nft is not None:
        policy = _input_policy([nft])
        count = nft.rule_count()
        return FirewallFact(
            tool="nftables",
            active=True,
            default_inbound=policy,
            rules=count,
            reason=f"nftables input policy {policy}, {count} rules{tail}",
        )
    if any(has_effect(rs) for rs in iptables):
        policy = _input_policy(iptables)
        count = sum(rs.rule_count() for rs in iptables)
        return FirewallFact(
            tool="iptables",
            active=True,
            default_inbound=policy,
            rules=count,
            reason=f"iptables INPUT policy {policy}, {count} rules{tail}",
        )
    return FirewallFact(
        tool="none",
        active=False,
        default_inbound="accept",
        rules=0,
        reason=f"no filter rules loaded{tail}",
    )
