"""OpenSSH's pattern matching (match.c, addrmatch.c), reproduced for sshd_config evaluation.

sshd decides ``Match`` blocks and ``AllowUsers``/``DenyUsers`` with these exact rules; a
look-alike (fnmatch, ipaddress membership alone) gets negation and error cases wrong, and the
differential tests against ``sshd -T`` would catch it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache


class PatternError(ValueError):
    """A pattern sshd itself rejects (an empty list entry, a network with host bits set)."""


@lru_cache(maxsize=4096)
def match_pattern(text: str, pattern: str) -> bool:
    """``*`` and ``?`` wildcards, case-sensitive, whole string (match.c match_pattern)."""
    ti, pi = 0, 0
    star_pi, star_ti = -1, 0
    while ti < len(text):
        if pi < len(pattern) and (pattern[pi] == "?" or pattern[pi] == text[ti]):
            ti += 1
            pi += 1
        elif pi < len(pattern) and pattern[pi] == "*":
            star_pi, star_ti = pi, ti
            pi += 1
        elif star_pi >= 0:
            pi = star_pi + 1
            star_ti += 1
            ti = star_ti
        else:
            return False
    while pi < len(pattern) and pattern[pi] == "*":
        pi += 1
    return pi == len(pattern)


@lru_cache(maxsize=65536)
def match_pattern_list(text: str, patterns: str, lowercase: bool = False) -> int:
    """1 when a positive entry matches, -1 when a negated one does (it wins), else 0."""
    if lowercase:
        text = text.lower()
    found = 0
    for entry in patterns.split(","):
        negated = entry.startswith("!")
        body = entry[1:] if negated else entry
        if lowercase:
            body = body.lower()
        if match_pattern(text, body):
            if negated:
                return -1
            found = 1
    return found


def match_hostname(host: str, patterns: str) -> int:
    return match_pattern_list(host, patterns, lowercase=True)


@lru_cache(maxsize=4096)
def _parse_network(
    entry: str,
) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A CIDR or a bare address as a network; None when the entry is not an address at all."""
    address, _, mask = entry.partition("/")
    try:
        base = ipaddress.ip_address(address)
    except ValueError:
        return None
    if not mask:
        return ipaddress.ip_network(base)
    if not mask.isdigit():
        return None
    try:
        return ipaddress.ip_network(f"{base}/{int(mask)}", strict=True)
    except ValueError as exc:
        # sshd: "inconsistent mask length" (host bits set or mask too long) is an error.
        raise PatternError(f"invalid network {entry!r}: {exc}") from exc


@lru_cache(maxsize=65536)
def addr_match_list(address: str | None, patterns: str) -> int:
    """addrmatch.c addr_match_list: 1 match, -1 negated match, 0 none; PatternError on bad lists."""
    parsed = None
    if address is not None:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return 0
    result = 0
    for entry in patterns.split(","):
        negated = entry.startswith("!")
        body = entry[1:] if negated else entry
        if not body:
            raise PatternError(f"empty entry in address list {patterns!r}")
        network = _parse_network(body)
        if network is not None:
            matched = parsed is not None and parsed.version == network.version and parsed in network
        else:
            matched = address is not None and match_pattern(address, body)
        if matched:
            if negated:
                return -1
            result = 1
    return result


def match_host_and_ip(host: str | None, ip: str | None, patterns: str) -> int:
    """match.c match_host_and_ip: the host part of an ``AllowUsers user@host`` entry."""
    mip = addr_match_list(ip, patterns)
    if host is None or ip is None or mip == -1:
        return 0
    mhost = match_hostname(host, patterns)
    if mhost == -1:
        return 0
    if mhost == 0 and mip == 0:
        return 0
    return 1


def match_user(user: str, host: str | None, ip: str | None, pattern: str) -> bool:
    """One ``AllowUsers``/``DenyUsers`` entry (``user`` or ``user@host``) against a login."""
    if "@" not in pattern:
        return match_pattern(user, pattern)
    user_part, _, host_part = pattern.partition("@")
    if not match_pattern(user, user_part):
        return False
    return match_host_and_ip(host, ip, host_part) == 1


def match_group_list(groups: Iterable[str], patterns: str) -> bool:
    """groupaccess.c ga_match_pattern_list: a negated match on any group vetoes."""
    found = False
    for group in groups:
        result = match_pattern_list(group, patterns)
        if result == -1:
            return False
        if result == 1:
            found = True
    return found


def representative_address(entry: str) -> str | None:
    """An address inside one address-list entry (for building a source that matches a block)."""
    body = entry[1:] if entry.startswith("!") else entry
    try:
        network = _parse_network(body)
    except PatternError:
        return None
    if network is not None:
        if network.num_addresses <= 2:
            return str(network.network_address)
        return str(network.network_address + 1)
    if "*" in body or "?" in body:
        candidate = body.replace("*", "1").replace("?", "1")
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            return None
    return None


def representative_name(entry: str) -> str | None:
    """A host name matching one hostname-pattern entry."""
    body = entry[1:] if entry.startswith("!") else entry
    if not body:
        return None
    return body.replace("*", "a").replace("?", "a").lower()
