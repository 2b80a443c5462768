"""Whether sshd itself keeps every source outside the bastions out (DESIGN §3 "restricted").

Three ways, any one suffices:

* every ``ListenAddress`` is an address of the management network (``management_addresses``,
  given by the caller): the other networks never reach the socket;
* for every source outside the bastions, the settings sshd would apply (Match blocks resolved
  with rra's sshd semantics, :meth:`SshdConfig.effective`) let nobody in: ``AllowUsers`` whose
  every entry is ``user@<pattern>`` not matching that source, ``DenyUsers *`` (e.g. in a
  ``Match Address *,!10.0.5.0/24`` block), or every authentication method disabled.

"Every source" is checked the way the firewall evaluator does it: the address space is cut at
each boundary any pattern or bastion mentions and one address per piece is tried. Patterns whose
boundaries cannot be known (``10.*.5.1``, host names with ``UseDNS yes``) make the answer
"not restricted by sshd" with the reason, never a guess.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rra.agent.auth.sshd_config import (
    Connection,
    Directive,
    SshdConfig,
    as_list,
    as_text,
    method_enabled,
)
from rra.agent.auth.sshd_match import (
    PatternError,
    match_host_and_ip,
    match_pattern,
    representative_address,
    representative_name,
)
from rra.agent.exposure.firewall_model import (
    SYNTHETIC_SOURCES,
    UNROUTABLE,
    AddrRange,
    IPNetwork,
    TooComplex,
    addr_range,
    representatives,
)

Network = str | ipaddress.IPv4Network | ipaddress.IPv6Network
METHODS = ("publickey", "password", "keyboard-interactive", "hostbased", "gssapi-with-mic")
PROBE_USER = "rra-probe"
MAX_SCENARIOS = 20_000


@dataclass(frozen=True)
class ServiceRestriction:
    restricted: bool
    evidence: str


def _networks(entries: Iterable[Network]) -> list[IPNetwork]:
    out: list[IPNetwork] = []
    for entry in entries:
        if isinstance(entry, str):
            if entry.strip():
                out.append(ipaddress.ip_network(entry.strip(), strict=False))
        else:
            out.append(entry)
    return out


def _listen_host(arg: str) -> str:
    if arg.startswith("["):
        return arg[1:].partition("]")[0]
    if arg.count(":") == 1:
        return arg.partition(":")[0]
    return arg


def _listen_on_management(
    config: SshdConfig, management: list[IPNetwork]
) -> ServiceRestriction | None:
    lines = [d for d in config.directives if d.keyword == "listenaddress" and d.block is None]
    if not lines or not management:
        return None
    shown: list[str] = []
    for directive in lines:
        try:
            ip = ipaddress.ip_address(_listen_host(directive.args[0]))
        except ValueError:
            return None
        if not any(ip in n for n in management):
            return None
        shown.append(f"ListenAddress {directive.args[0]} ({directive.source})")
    return ServiceRestriction(
        True, f"sshd listens only on management addresses: {', '.join(shown)}"
    )


class _Unevaluable(Exception):
    pass


def _pattern_range(entry: str, usedns: bool) -> AddrRange | None:
    """The address range one pattern-list entry covers (None: all, or none at all)."""
    body = entry[1:] if entry.startswith("!") else entry
    if body == "*":
        return None
    try:
        return addr_range(ipaddress.ip_network(body, strict=False))
    except ValueError:
        pass
    if set(body) <= set("0123456789.*") and body.endswith(".*") and "*" not in body[:-2]:
        octets = body[:-2].split(".")  # 10.0.* → 10.0.0.0/16
        if 1 <= len(octets) <= 3 and all(o.isdigit() for o in octets):
            base = ".".join(octets + ["0"] * (4 - len(octets)))
            return addr_range(ipaddress.ip_network(f"{base}/{8 * len(octets)}"))
    if not usedns and set(body.lower()) - set("0123456789abcdef:.*?"):
        # Without UseDNS sshd matches host patterns against the address text, which holds
        # only hex digits, dots and colons: "*.example.com" can never match it.
        return None
    raise _Unevaluable(f"pattern {entry!r} cannot be checked for every source")


def _address_patterns(config: SshdConfig) -> Iterable[str]:
    for block in config.blocks:
        for attr, patterns in block.criteria:
            if attr in ("address", "host"):
                yield from patterns.split(",")
    for directive in config.directives:
        if directive.keyword in ("allowusers", "denyusers"):
            for entry in directive.args:
                if "@" in entry:
                    yield from entry.partition("@")[2].split(",")


def _users(config: SshdConfig) -> list[tuple[str, frozenset[str]]]:
    names, groups = {PROBE_USER}, set()
    for block in config.blocks:
        for attr, patterns in block.criteria:
            for entry in patterns.split(","):
                name = representative_name(entry) if not entry.startswith("!") else None
                if name and attr == "user":
                    names.add(name)
                elif name and attr == "group":
                    groups.add(name)
    group_sets = [frozenset(), *(frozenset({g}) for g in sorted(groups))]
    return [(u, g) for u in sorted(names) for g in group_sets]


def _local_addresses(config: SshdConfig) -> list[str]:
    found = {"0.0.0.0"}  # noqa: S104 - a connection attribute, not a bind
    for block in config.blocks:
        for attr, patterns in block.criteria:
            if attr == "localaddress":
                found.update(a for e in patterns.split(",") if (a := representative_address(e)))
                found.add("203.0.113.254")  # one that matches none of them
    return sorted(found)


def _sources(
    config: SshdConfig, keyword: str, conn: Connection, groups: frozenset[str]
) -> list[Directive]:
    """The lines that gave ``keyword`` its value for this connection (as _merge picks them)."""
    lists = keyword in ("allowusers", "denyusers")
    mine = [d for d in config.directives if d.keyword == keyword]
    matched = [d for d in mine if d.block is not None and d.block.applies(conn, groups)]
    if matched:
        return matched if lists else matched[:1]
    plain = [d for d in mine if d.block is None]
    return plain if lists else plain[:1]


def _cite(directives: Sequence[Directive]) -> str:
    return ", ".join(f"{d.keyword} {' '.join(d.args)} ({d.source})" for d in directives)


def _who_gets_in(config: SshdConfig, conn: Connection, groups: frozenset[str]) -> str | None:
    """None when somebody could log in from conn.addr; otherwise what stops everybody."""
    settings = config.effective(conn, groups)
    ip = conn.addr
    allow = as_list(settings.get("allowusers"))
    if allow and all(
        "@" in e and match_host_and_ip(ip, ip, e.partition("@")[2]) != 1 for e in allow
    ):
        return _cite(_sources(config, "allowusers", conn, groups))
    for entry in as_list(settings.get("denyusers")):
        user, _, host = entry.partition("@")
        if (
            match_pattern(conn.user, user)
            and user.strip("*") == ""
            and (not host or match_host_and_ip(ip, ip, host) == 1)
        ):
            return _cite(_sources(config, "denyusers", conn, groups))
    chains = as_text(settings.get("authenticationmethods")).split()
    enabled = [m for m in METHODS if method_enabled(m, settings)]
    if not chains or chains == ["any"]:
        usable = bool(enabled)
    else:
        usable = any(all(method_enabled(m, settings) for m in c.split(",")) for c in chains)
    if not usable:
        keys = (
            "authenticationmethods",
            "pubkeyauthentication",
            "passwordauthentication",
            "kbdinteractiveauthentication",
        )
        lines = [d for k in keys for d in _sources(config, k, conn, groups)]
        return f"no authentication method is enabled: {_cite(lines) or 'defaults'}"
    return None


def sshd_restriction(
    config: SshdConfig,
    bastions: Sequence[Network],
    management_addresses: Iterable[Network] = (),
    local_port: int = 22,
) -> ServiceRestriction:
    """Whether this sshd configuration admits no source outside ``bastions`` (see module doc)."""
    listen = _listen_on_management(config, _networks(management_addresses))
    if listen is not None:
        return listen
    usedns = as_text(config.global_settings().get("usedns")) == "yes"
    try:
        ranges = [r for p in _address_patterns(config) if (r := _pattern_range(p, usedns))]
        excluded = [*UNROUTABLE, *_networks(bastions)]
        sources = [
            str(a)
            for family in (4, 6)
            for a in representatives(family, ranges, excluded, SYNTHETIC_SOURCES[family])
        ]
    except (_Unevaluable, TooComplex) as exc:
        return ServiceRestriction(False, f"sshd source restrictions not evaluated: {exc}")
    users = _users(config)
    laddrs = _local_addresses(config)
    if len(sources) * len(users) * len(laddrs) > MAX_SCENARIOS:
        return ServiceRestriction(False, "sshd source restrictions not evaluated: too many cases")
    first: str | None = None
    try:
        for source, (user, groups), laddr in itertools.product(sources, users, laddrs):
            conn = Connection(user=user, host=source, addr=source, laddr=laddr, lport=local_port)
            stopped = _who_gets_in(config, conn, groups)
            if stopped is None:
                who = "" if user == PROBE_USER else f" (user {user})"
                return ServiceRestriction(False, f"sshd does not keep {source} out{who}")
            first = (
                first or f"sshd admits nobody from outside the bastions (e.g. {source}): {stopped}"
            )
    except PatternError as exc:
        return ServiceRestriction(False, f"sshd source restrictions not evaluated: {exc}")
    if first is None:
        return ServiceRestriction(True, "every source is a bastion")
    return ServiceRestriction(True, first)
