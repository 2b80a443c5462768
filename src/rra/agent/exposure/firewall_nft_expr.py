"""nftables JSON match expressions, evaluated for one new connection (see firewall_nft).

A left-hand expression becomes a field of the packet (``ip saddr``, ``th dport``, ``ct state``,
``tcp flags & mask``...); the right-hand side becomes elements (values, prefixes, ranges, sets
anonymous or named). Fields a client controls or that are unknown in advance (source port,
interface other than ``lo``, marks, fib lookups) make the match "may match". A field the packet
does not have (``ip saddr`` for IPv6, ``udp dport`` for TCP) fails the match, as nft's implicit
protocol dependency does.
"""

from __future__ import annotations

import ipaddress
import socket as socketmod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rra.agent.exposure.firewall_model import AddrRange, AddrSet, Cond, Packet, Tri, Verdict

PROTOCOLS = {"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51}
PROTOCOLS |= {"ipv6-icmp": 58, "icmpv6": 58, "sctp": 132, "udplite": 136}
TCP_FLAGS = {"fin": 1, "syn": 2, "rst": 4, "psh": 8, "ack": 16, "urg": 32, "ecn": 64, "cwr": 128}
TRANSPORT = frozenset({"tcp", "udp", "th", "sctp", "dccp", "udplite"})

ABSENT = object()  # the packet has no such field: the match fails (nft's implicit dependency)
UNKNOWN = object()  # the field exists but its value is not known in advance
SYN_PACKET_FLAGS = TCP_FLAGS["syn"]


@dataclass(frozen=True)
class _Field:
    kind: str  # saddr daddr dport sport proto nfproto iface ctstate flags unknown
    text: str
    family: int | None = None
    protos: frozenset[str] | None = None
    mask: int | None = None


def field_of(left: Any) -> _Field:
    if not isinstance(left, dict) or len(left) != 1:
        return _Field("unknown", render(left))
    key, body = next(iter(left.items()))
    if key == "payload" and isinstance(body, dict) and "protocol" in body:
        proto, name = str(body["protocol"]), str(body.get("field"))
        text = f"{proto} {name}"
        if proto in ("ip", "ip6"):
            family = 4 if proto == "ip" else 6
            if name in ("saddr", "daddr"):
                return _Field(name, text, family=family)
            if name in ("protocol", "nexthdr"):
                return _Field("proto", text, family=family)
            return _Field("unknown", text, family=family)
        if proto in TRANSPORT:
            protos = frozenset({"tcp", "udp"}) if proto == "th" else frozenset({proto})
            if name in ("dport", "sport"):
                return _Field(name, text, protos=protos)
            if proto == "tcp" and name == "flags":
                return _Field("flags", text, protos=protos)
            return _Field("unknown", text, protos=protos)
        # icmp, icmpv6, esp...: a header our TCP/UDP packet does not have.
        return _Field("unknown", text, protos=frozenset({proto}))
    if key == "meta" and isinstance(body, dict):
        name = str(body.get("key"))
        kinds = {"l4proto": "proto", "nfproto": "nfproto", "iif": "iface", "iifname": "iface"}
        text = name if name.startswith(("iif", "oif")) else f"meta {name}"
        return _Field(kinds.get(name, "unknown"), text)
    if key == "ct" and isinstance(body, dict) and "dir" not in body:
        name = str(body.get("key"))
        return _Field("ctstate" if name == "state" else "unknown", f"ct {name}")
    if key == "&" and isinstance(body, list) and len(body) == 2:
        inner = field_of(body[0])
        if inner.kind == "flags":
            return _Field(
                "flags",
                f"{inner.text} & ({render(body[1])})",
                protos=inner.protos,
                mask=_flags(body[1]),
            )
        return _Field("unknown", f"{inner.text} & {render(body[1])}")
    return _Field("unknown", render(left))


def _value(field: _Field, packet: Packet) -> object:
    if field.family is not None and packet.family != field.family:
        return ABSENT
    if field.protos is not None and packet.proto not in field.protos:
        return ABSENT
    if field.kind == "saddr":
        return packet.saddr
    if field.kind == "daddr":
        return packet.daddr if packet.daddr is not None else UNKNOWN
    if field.kind == "dport":
        return packet.dport
    if field.kind == "proto":
        return PROTOCOLS[packet.proto]
    if field.kind == "nfproto":
        return "ipv4" if packet.family == 4 else "ipv6"
    if field.kind == "ctstate":
        return "new"  # the first packet of a connection
    if field.kind == "flags":
        return SYN_PACKET_FLAGS & (field.mask if field.mask is not None else 0xFF)
    return UNKNOWN  # sport, iface, marks, fib...: not known for an arbitrary client


def _flags(spec: Any) -> int:
    if isinstance(spec, int):
        return spec
    names = spec if isinstance(spec, list) else [spec]
    return sum(TCP_FLAGS.get(str(n), 0) for n in names)


def _scalar(field: _Field, raw: Any) -> object:
    """A right-hand element as a comparable value (None when it cannot be understood)."""
    if field.kind in ("saddr", "daddr"):
        try:
            return ipaddress.ip_address(str(raw))
        except ValueError:
            return None
    if field.kind in ("dport", "sport"):
        if isinstance(raw, int):
            return raw
        try:
            return int(raw) if str(raw).isdigit() else socketmod.getservbyname(str(raw))
        except OSError:
            return None
    if field.kind == "proto":
        return raw if isinstance(raw, int) else PROTOCOLS.get(str(raw))
    if field.kind == "nfproto":
        return {2: "ipv4", 10: "ipv6"}.get(raw, raw) if isinstance(raw, int) else str(raw)
    if field.kind == "flags":
        return _flags(raw)
    return raw


@dataclass(frozen=True)
class _Element:
    low: object
    high: object  # == low for a single value


class SetInfo:
    def __init__(self, elements: list[Any], dynamic: bool) -> None:
        self.elements = elements
        self.dynamic = dynamic


def _elements(
    field: _Field, right: Any, sets: dict[str, SetInfo]
) -> tuple[list[_Element], bool] | None:
    """The right-hand side as elements, and whether more may be added at run time."""
    dynamic = False
    if isinstance(right, str) and right.startswith("@"):
        info = sets.get(right[1:])
        if info is None:
            return None
        raw_items, dynamic = info.elements, info.dynamic
    elif isinstance(right, dict) and "set" in right:
        raw_items = right["set"] if isinstance(right["set"], list) else [right["set"]]
    elif isinstance(right, list) and field.kind in ("ctstate", "flags"):
        raw_items = [right]
    else:
        raw_items = [right]
    out: list[_Element] = []
    for item in raw_items:
        element = _element(field, item)
        if element is None:
            return None
        out.append(element)
    return out, dynamic


def _element(field: _Field, item: Any) -> _Element | None:
    if isinstance(item, dict) and "elem" in item:
        item = item["elem"].get("val") if isinstance(item["elem"], dict) else item["elem"]
    if isinstance(item, dict) and "prefix" in item:
        try:
            network = ipaddress.ip_network(
                f"{item['prefix']['addr']}/{item['prefix']['len']}", strict=False
            )
        except (ValueError, KeyError, TypeError):
            return None
        return _Element(network.network_address, network.broadcast_address)
    if isinstance(item, dict) and "range" in item:
        low, high = (_scalar(field, v) for v in item["range"])
        return None if low is None or high is None else _Element(low, high)
    if isinstance(item, list) and field.kind in ("ctstate", "flags"):
        group: object = _flags(item) if field.kind == "flags" else frozenset(map(str, item))
        return _Element(group, group)
    if isinstance(item, dict):
        return None  # concatenations and expressions we do not evaluate
    value = _scalar(field, item)
    return None if value is None else _Element(value, value)


def _contains(field: _Field, elements: list[_Element], value: object) -> bool:
    for element in elements:
        if field.kind == "ctstate":
            states = element.low if isinstance(element.low, frozenset) else frozenset({element.low})
            if value in states:
                return True
        elif field.kind == "iface":
            continue
        elif element.low == value or _between(element, value):
            return True
    return False


def _between(element: _Element, value: object) -> bool:
    try:
        return bool(element.low <= value <= element.high)  # type: ignore[operator]
    except TypeError:
        return False  # an IPv4 bound against an IPv6 value


def _ranges(field: _Field, elements: list[_Element]) -> tuple[AddrRange, ...]:
    if field.kind != "saddr":
        return ()
    out: list[AddrRange] = []
    for element in elements:
        low, high = element.low, element.high
        if isinstance(low, ipaddress.IPv4Address | ipaddress.IPv6Address) and isinstance(
            high, ipaddress.IPv4Address | ipaddress.IPv6Address
        ):
            out.append((low.version, int(low), int(high)))
    return tuple(out)


def match_cond(body: dict[str, Any], sets: dict[str, SetInfo]) -> Cond:
    op = str(body.get("op", "=="))
    field = field_of(body.get("left"))
    right = body.get("right")
    shown = f"{field.text} {'' if op in ('==', 'in') else op + ' '}{render(right)}"
    parsed = _elements(field, right, sets)
    if parsed is None or field.kind == "unknown":
        return Cond(_maybe_unless_absent(field), shown)
    elements, dynamic = parsed
    ranges = _ranges(field, elements)
    # Large sets (block lists) are looked up by bisection, one sorted table per family.
    fast = (
        {f: AddrSet(r for r in ranges if r[0] == f) for f in (4, 6)} if len(ranges) > 16 else None
    )

    def test(packet: Packet) -> Tri:
        value = _value(field, packet)
        if value is ABSENT:
            return False
        if field.kind == "iface":
            only_lo = all(e.low == "lo" for e in elements)
            return (op == "!=") if only_lo else None
        if value is UNKNOWN:
            return None
        if op in ("<", ">", "<=", ">="):
            return _order(op, value, elements)
        if field.kind == "flags" and op == "in":
            hit = any(isinstance(e.low, int) and value & e.low for e in elements)  # type: ignore[operator]
        elif fast is not None and isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
            hit = int(value) in fast[value.version]
        else:
            hit = _contains(field, elements, value)
        if dynamic and not hit:
            return None  # a rule may add this source to the set at run time
        return (not hit) if op == "!=" else hit

    return Cond(test, shown, ranges)


def _order(op: str, value: object, elements: list[_Element]) -> Tri:
    if len(elements) != 1 or not isinstance(value, int) or not isinstance(elements[0].low, int):
        return None
    bound = elements[0].low
    return {"<": value < bound, ">": value > bound, "<=": value <= bound, ">=": value >= bound}[op]


def _maybe_unless_absent(field: _Field) -> Callable[[Packet], Tri]:
    def test(packet: Packet) -> Tri:
        return False if _value(field, packet) is ABSENT else None

    return test


def vmap_dispatch(
    body: dict[str, Any], maps: dict[str, list[Any]], sets: dict[str, SetInfo]
) -> Callable[[Packet], tuple[Verdict, str | None] | None]:
    field = field_of(body.get("key"))
    data = body.get("data")
    pairs: list[Any] | None = None
    if isinstance(data, dict) and isinstance(data.get("set"), list):
        pairs = data["set"]
    elif isinstance(data, str) and data.startswith("@"):
        pairs = maps.get(data[1:])
    table: list[tuple[list[_Element], Verdict, str | None]] = []
    for pair in pairs or []:
        element = _element(field, pair[0]) if isinstance(pair, list) and len(pair) == 2 else None
        verdict = verdict_of(pair[1]) if element is not None else None
        if element is None or verdict is None:
            table = []
            pairs = None
            break
        table.append(([element], verdict[0], verdict[1]))

    def dispatch(packet: Packet) -> tuple[Verdict, str | None] | None:
        value = _value(field, packet)
        if value is ABSENT:
            return None
        if pairs is None or value is UNKNOWN or field.kind in ("unknown", "iface"):
            return ("unknown", None)
        for elements, verdict, target in table:
            if _contains(field, elements, value):
                return (verdict, target)
        return None

    return dispatch


def verdict_of(stmt: Any) -> tuple[Verdict, str | None] | None:
    if not isinstance(stmt, dict) or len(stmt) != 1:
        return None
    key, body = next(iter(stmt.items()))
    simple: dict[str, Verdict] = {"accept": "accept", "drop": "drop", "reject": "drop"}
    simple |= {"return": "return", "continue": "continue"}
    if key in simple:
        return (simple[key], None)
    if key in ("jump", "goto") and isinstance(body, dict):
        return ("jump" if key == "jump" else "goto", str(body.get("target")))
    return None


def render(value: Any) -> str:
    if isinstance(value, dict) and len(value) == 1:
        key, body = next(iter(value.items()))
        if key == "prefix" and isinstance(body, dict):
            return f"{body.get('addr')}/{body.get('len')}"
        if key == "range" and isinstance(body, list):
            return "-".join(render(v) for v in body)
        if key == "set":
            items = body if isinstance(body, list) else [body]
            return "{ " + ", ".join(render(i) for i in items) + " }"
        if key == "payload" and isinstance(body, dict):
            return f"{body.get('protocol')} {body.get('field')}"
        if key in ("meta", "ct") and isinstance(body, dict):
            return f"{key} {body.get('key')}"
        if key == "concat" and isinstance(body, list):
            return " . ".join(render(v) for v in body)
        return str(key)
    if isinstance(value, list):
        verdict = verdict_of(value[1]) if len(value) == 2 else None
        if verdict is not None:
            shown = verdict[0] if verdict[1] is None else f"{verdict[0]} {verdict[1]}"
            return f"{render(value[0])} : {shown}"
        return ",".join(render(v) for v in value)
    return str(value)
