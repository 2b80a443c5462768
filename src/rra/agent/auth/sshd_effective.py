"""Effective sshd settings per account and source: ``sshd -T -C`` when live, else the parser.

A connection's settings depend on who logs in (Match User/Group) and from where (Match Address,
Host, LocalAddress, LocalPort, RDomain). rra evaluates:

* one **scenario** per distinct address-bearing Match block (a synthesised source that block
  applies to) and per ``user@host`` entry of AllowUsers/DenyUsers, plus one for any other source;
  scenarios that no block or entry tells apart are merged;
* one **user class** per distinct answer of the Match User/Group criteria: accounts that no
  criterion tells apart share every ``sshd -T`` call.

So 2,000 accounts and 50 Match blocks cost (classes × scenarios) evaluations, not 100,000.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, replace

from rra.agent.auth.sshd_config import (
    ADDRESS_ATTRIBUTES,
    Connection,
    MatchBlock,
    SshdConfig,
    as_list,
    criterion_holds,
    parse_sshd_t,
)
from rra.agent.auth.sshd_match import (
    PatternError,
    match_user,
    representative_address,
    representative_name,
)
from rra.agent.host import Host, HostError

Settings = dict[str, str | list[str]]

#: Documentation addresses (RFC 5737/3849) first: a source that matches no site network.
FALLBACK_ADDRESSES = ("198.51.100.23", "203.0.113.45", "192.0.2.67", "2001:db8::45", "10.255.254.9")
ANY_SOURCE = "any other source"


@dataclass(frozen=True)
class Scenario:
    label: str
    host: str
    addr: str
    laddr: str
    lport: int
    rdomain: str | None = None

    def connection(self, user: str) -> Connection:
        return Connection(user, self.host, self.addr, self.laddr, self.lport, self.rdomain)


def _ports(config: SshdConfig) -> list[int]:
    ports = as_list(config.global_settings().get("port")) or ["22"]
    return [int(p) for p in ports if p.isdigit()] or [22]


def _pool(config: SshdConfig) -> tuple[list[str], list[str]]:
    """Candidate source addresses and host names taken from every pattern in the config."""
    addresses: list[str] = []
    names: list[str] = []
    entries: list[str] = []
    for block in config.blocks:
        for attr, patterns in block.criteria:
            if attr in ("address", "localaddress", "host"):
                entries.extend(patterns.split(","))
    for directive in config.directives:
        if directive.keyword in ("allowusers", "denyusers"):
            entries.extend(a.partition("@")[2] for a in directive.args if "@" in a)
    for entry in entries:
        for part in entry.split(","):
            address = representative_address(part)
            if address is not None:
                addresses.append(address)
            else:
                name = representative_name(part)
                if name:
                    names.append(name)
    addresses.extend(FALLBACK_ADDRESSES)
    return list(dict.fromkeys(addresses)), list(dict.fromkeys(names))


def _options(attr: str, patterns: str, addresses: list[str], names: list[str]) -> list[str | int]:
    """Values to try for one criterion: its own entries' representatives first."""
    entries = patterns.split(",")
    if attr in ("address", "localaddress"):
        own = [a for a in (representative_address(e) for e in entries) if a]
        return [*own, *addresses]
    if attr == "host":
        own_names = [n for n in (representative_name(e) for e in entries) if n]
        return [*own_names, *names, *addresses]
    if attr == "localport":
        return [int(patterns)] if patterns.isdigit() else []
    return [n for n in (representative_name(e) for e in entries) if n]  # rdomain


_FIELD = {
    "address": "addr",
    "localaddress": "laddr",
    "host": "host",
    "localport": "lport",
    "rdomain": "rdomain",
}


def _with(scenario: Scenario, field_name: str, value: str | int) -> Scenario:
    if field_name == "lport":
        return replace(scenario, lport=int(value))
    if field_name == "addr":
        # Without a Host criterion the remote "host" is the address (sshd's UseDNS no).
        host = str(value) if scenario.host == scenario.addr else scenario.host
        return replace(scenario, addr=str(value), host=host)
    if field_name == "laddr":
        return replace(scenario, laddr=str(value))
    if field_name == "host":
        return replace(scenario, host=str(value))
    return replace(scenario, rdomain=str(value))


def _satisfy(
    block: MatchBlock, base: Scenario, addresses: list[str], names: list[str]
) -> Scenario | None:
    """A source that every address-bearing criterion of ``block`` accepts, or None."""
    scenario = base
    try:
        for attr, patterns in block.criteria:
            if attr not in ADDRESS_ATTRIBUTES:
                continue
            for option in _options(attr, patterns, addresses, names):
                trial = _with(scenario, _FIELD[attr], option)
                if criterion_holds(attr, patterns, trial.connection("x")):
                    scenario = trial
                    break
        return scenario if block.source_applies(scenario.connection("x")) else None
    except PatternError:
        return None


def _signature(config: SshdConfig, scenario: Scenario, hosts: list[str]) -> tuple[bool, ...]:
    conn = scenario.connection("x")
    marks: list[bool] = []
    for block in config.blocks:
        if block.address_bearing:
            try:
                marks.append(block.source_applies(conn))
            except PatternError:
                marks.append(False)
    for host_part in hosts:
        try:
            marks.append(match_user("x", scenario.host, scenario.addr, f"x@{host_part}"))
        except PatternError:
            marks.append(False)
    return tuple(marks)


def build_scenarios(config: SshdConfig) -> tuple[list[Scenario], list[str]]:
    """The distinct sources to evaluate, and notes on blocks no synthesised source reaches."""
    addresses, names = _pool(config)
    port = _ports(config)[0]
    default_addr = next((a for a in FALLBACK_ADDRESSES if a in addresses), FALLBACK_ADDRESSES[0])
    base = Scenario(ANY_SOURCE, default_addr, default_addr, "0.0.0.0", port)  # noqa: S104
    hosts = [
        a.partition("@")[2]
        for d in config.directives
        if d.keyword in ("allowusers", "denyusers")
        for a in d.args
        if "@" in a
    ]
    candidates: list[Scenario] = [base]
    notes: list[str] = []
    for block in config.blocks:
        if not block.address_bearing:
            continue
        found = _satisfy(block, base, addresses, names)
        if found is None:
            notes.append(f"no source address satisfies the Match block at {block.source}")
            continue
        criteria = " ".join(f"{a} {p}" for a, p in block.criteria)
        candidates.append(
            replace(found, label=f"source matching 'Match {criteria}' ({block.source})")
        )
    for host_part in dict.fromkeys(hosts):
        address = representative_address(host_part.split(",")[0])
        name = representative_name(host_part.split(",")[0]) or default_addr
        if address is None:
            address = default_addr
            host = name
        else:
            host = address
        candidates.append(
            Scenario(f"source {host_part} (AllowUsers/DenyUsers)", host, address, base.laddr, port)
        )
    seen: dict[tuple[bool, ...], Scenario] = {}
    for scenario in candidates:
        seen.setdefault(_signature(config, scenario, hosts), scenario)
    return list(seen.values()), notes


def user_class(config: SshdConfig, user: str, groups: Iterable[str]) -> tuple[bool, ...]:
    """Accounts with the same key get the same settings from every source."""
    group_set = frozenset(groups)
    return tuple(b.user_applies(user, group_set) for b in config.blocks if b.user_bearing)


class SettingsSource:
    """Effective settings per (account, scenario), cached per user class."""

    name = "parsed"

    def __init__(self, config: SshdConfig) -> None:
        self.config = config
        self._cache: dict[tuple[tuple[bool, ...], Scenario], Settings] = {}
        self.calls = 0

    def settings(self, user: str, groups: frozenset[str], scenario: Scenario) -> Settings:
        key = (user_class(self.config, user, groups), scenario)
        if key not in self._cache:
            self.calls += 1
            self._cache[key] = self._evaluate(user, groups, scenario)
        return self._cache[key]

    def _evaluate(self, user: str, groups: frozenset[str], scenario: Scenario) -> Settings:
        return self.config.effective(scenario.connection(user), groups)


class SshdTestError(HostError):
    """``sshd -T`` could not evaluate the configuration (not root, missing /run/sshd, bad config)."""


class LiveSettings(SettingsSource):
    """Asks the installed sshd itself: ``sshd -T -C user=U,host=H,addr=A,...``."""

    name = "sshd -T"

    def __init__(
        self, config: SshdConfig, host: Host, sshd: str = "sshd", timeout: float = 20.0
    ) -> None:
        super().__init__(config)
        self.host = host
        self.sshd = sshd
        self.timeout = timeout

    def probe(self) -> Settings:
        """The global settings; raises SshdTestError when sshd -T does not work here."""
        return self._run(["-T", "-f", self.config.path])

    def _run(self, args: list[str]) -> Settings:
        result = self.host.run([self.sshd, *args], timeout=self.timeout)
        if result.rc != 0:
            first = (result.stderr_text.strip() or f"exit status {result.rc}").splitlines()[0]
            raise SshdTestError(f"sshd -T failed: {first}")
        return parse_sshd_t(result.stdout_text)

    def _evaluate(self, user: str, groups: frozenset[str], scenario: Scenario) -> Settings:
        spec = scenario.connection(user).spec()
        return self._run(["-T", "-f", self.config.path, "-C", spec])


def is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
