"""``nft -j list ruleset`` → :mod:`firewall_model` chains.

The JSON schema is libnftables-json(5); forms seen with nftables 1.0.6 (Debian 12) are covered
by the recordings in tests/agent/exposure/data. Only ``filter`` base chains on ingress,
prerouting and input decide whether a new connection reaches a local socket; nat and route
chains do not filter it (a ``redirect`` to the socket's port still passes the input hook with
the translated port). Tables written by iptables-nft can be skipped: their ``xt`` expressions
are opaque here, and ``iptables-save`` prints the same rules readably.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Sequence
from typing import Any

from rra.agent.exposure.firewall_model import Chain, Cond, Packet, Rule, Ruleset, Tri, Verdict
from rra.agent.exposure.firewall_nft_expr import (
    SetInfo,
    field_of,
    match_cond,
    render,
    verdict_of,
    vmap_dispatch,
)

FAMILIES = {
    "ip": frozenset({4}),
    "ip6": frozenset({6}),
    "inet": frozenset({4, 6}),
    "netdev": frozenset({4, 6}),
}
PRIORITIES = {
    "raw": -300,
    "mangle": -150,
    "dstnat": -100,
    "filter": 0,
    "security": 50,
    "srcnat": 100,
}
#: Statements that neither filter nor end the walk.
PASSIVE = frozenset(
    {"counter", "log", "mangle", "set", "notrack", "dup", "flow", "meter", "comment"}
)
#: iptables-nft's own tables (``# Warning: table ip filter is managed by iptables-nft``).
_MANAGED = re.compile(r"table (\w+) (\S+) is managed by iptables-nft")
_IPTABLES_TABLES = frozenset({"filter", "nat", "mangle", "raw", "security"})
_IPTABLES_CHAINS = frozenset({"INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"})


class NftParseError(ValueError):
    """Not the JSON ``nft -j list ruleset`` prints."""


def _rule(
    exprs: list[Any], sets: dict[str, SetInfo], maps: dict[str, list[Any]], comment: str | None
) -> Rule:
    conds: list[Cond] = []
    texts: list[str] = []
    verdict: Verdict | None = None
    target: str | None = None
    dispatch = None
    for stmt in exprs:
        if not isinstance(stmt, dict) or len(stmt) != 1:
            conds.append(Cond(lambda _p: None, "?"))
            verdict = verdict or "unknown"
            continue
        key, body = next(iter(stmt.items()))
        if key == "match" and isinstance(body, dict):
            cond = match_cond(body, sets)
            conds.append(cond)
            texts.append(cond.text)
        elif (simple := verdict_of(stmt)) is not None:
            verdict, target = simple
            texts.append(key if target is None else f"{key} {target}")
            if key == "reject" and isinstance(body, dict) and body.get("type"):
                texts[-1] = " ".join(["reject with", str(body["type"]), str(body.get("expr", ""))])
                texts[-1] = texts[-1].strip()
        elif key in ("limit", "quota", "ct count"):
            # One new connection is under any rate, quota or count: "over" forms do not match it.
            inverted = isinstance(body, dict) and bool(body.get("inv"))
            conds.append(Cond(_constant(not inverted), key))
            texts.append(f"{key} over" if inverted else key)
        elif key == "vmap" and isinstance(body, dict):
            dispatch = vmap_dispatch(body, maps, sets)
            texts.append(f"{field_of(body.get('key')).text} vmap {render(body.get('data'))}")
        elif key in PASSIVE:
            if key == "log":
                texts.append("log")
        elif key == "xt" and isinstance(body, dict) and body.get("type") != "target":
            conds.append(Cond(lambda _p: None, f"xt match {body.get('name')}"))
            texts.append(f"xt match {body.get('name')}")
        else:
            # xt targets, queue, nat, synproxy, tproxy...: may end the walk; we cannot say how.
            name = (
                f"xt target {body.get('name')}" if key == "xt" and isinstance(body, dict) else key
            )
            texts.append(name)
            verdict = "unknown"
    text = " ".join(t for t in texts if t)
    if comment:
        text += f' comment "{comment}"'
    return Rule(tuple(conds), verdict, text or "(empty rule)", target, dispatch)


def _constant(value: Tri) -> Callable[[Packet], Tri]:
    return lambda _packet: value


def managed_by_iptables(stderr: str, objects: Sequence[dict[str, Any]]) -> set[str]:
    """Tables iptables-nft owns: named in nft's warning, or looking exactly like them."""
    managed = {f"{m.group(1)} {m.group(2)}" for m in _MANAGED.finditer(stderr)}
    for obj in objects:
        chain = obj.get("chain")
        if (
            isinstance(chain, dict)
            and chain.get("family") in ("ip", "ip6")
            and chain.get("table") in _IPTABLES_TABLES
            and chain.get("name") in _IPTABLES_CHAINS
        ):
            managed.add(f"{chain['family']} {chain['table']}")
    return managed


def load_objects(text: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NftParseError(f"not JSON: {exc}") from exc
    objects = data.get("nftables") if isinstance(data, dict) else None
    if not isinstance(objects, list):
        raise NftParseError('no "nftables" array')
    return [o for o in objects if isinstance(o, dict)]


def _priority(raw: Any) -> int:
    if isinstance(raw, int):
        return raw
    text = str(raw).replace(" ", "")
    found = re.fullmatch(r"([a-z]+)?([+-]\d+)?", text)
    if found is None:
        return 0
    return PRIORITIES.get(found.group(1) or "filter", 0) + int(found.group(2) or 0)


def parse_nft(objects: Sequence[dict[str, Any]], skip_tables: Collection[str] = ()) -> Ruleset:
    """The filter chains of every table except ``skip_tables`` (``"ip filter"`` labels)."""
    sets: dict[tuple[str, str], dict[str, SetInfo]] = {}
    maps: dict[tuple[str, str], dict[str, list[Any]]] = {}
    dynamic_names: set[str] = set()
    for obj in objects:
        for statement in _walk_statements(obj.get("rule")):
            if "set" in statement and isinstance(statement["set"], dict):
                dynamic_names.add(str(statement["set"].get("set", "")).lstrip("@"))
    for obj in objects:
        for kind in ("set", "map"):
            body = obj.get(kind)
            if not isinstance(body, dict):
                continue
            key = (str(body.get("family")), str(body.get("table")))
            elements = body.get("elem", [])
            elements = elements if isinstance(elements, list) else [elements]
            if kind == "set":
                flags = body.get("flags", [])
                dynamic = "dynamic" in flags or str(body.get("name")) in dynamic_names
                sets.setdefault(key, {})[str(body.get("name"))] = SetInfo(elements, dynamic)
            else:
                maps.setdefault(key, {})[str(body.get("name"))] = elements
    ruleset = Ruleset()
    for obj in objects:
        body = obj.get("chain")
        if not isinstance(body, dict):
            continue
        family, table = str(body.get("family")), str(body.get("table"))
        label = f"{family} {table}"
        if family not in FAMILIES or label in skip_tables:
            continue
        hook = body.get("hook") if body.get("type", "filter") == "filter" else None
        devices = body.get("dev", [])
        devices = devices if isinstance(devices, list) else [devices]
        if hook == "ingress" and devices and all(d == "lo" for d in devices):
            hook = None  # only loopback traffic enters there
        policy = body.get("policy")
        ruleset.add(
            Chain(
                "nftables",
                label,
                str(body.get("name")),
                hook=str(hook) if hook else None,
                priority=_priority(body.get("prio", 0)),
                policy="drop" if policy == "drop" else ("accept" if hook else None),
                families=FAMILIES[family],
                maybe_skipped=hook == "ingress",
            )
        )
    for obj in objects:
        body = obj.get("rule")
        if not isinstance(body, dict):
            continue
        key = (str(body.get("family")), str(body.get("table")))
        chain = ruleset.chains.get((f"{key[0]} {key[1]}", str(body.get("chain"))))
        if chain is None:
            continue
        exprs = body.get("expr", [])
        comment = body.get("comment")
        chain.rules.append(
            _rule(
                exprs if isinstance(exprs, list) else [],
                sets.get(key, {}),
                maps.get(key, {}),
                comment,
            )
        )
    return ruleset


def _walk_statements(rule: Any) -> list[dict[str, Any]]:
    if not isinstance(rule, dict) or not isinstance(rule.get("expr"), list):
        return []
    return [s for s in rule["expr"] if isinstance(s, dict)]
