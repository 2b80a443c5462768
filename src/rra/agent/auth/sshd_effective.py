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

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from rra.agent.auth.sshd_config import (
    ADDRESS_ATTRIBUTES,
    INVALID,
    MATCH_LISTS,
    VERDICT_KEYWORDS,
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


ClassKey = tuple[bool, ...]
#: Per verdict keyword, the Match blocks that decide its value (() = the global value).
Signature = tuple[tuple[str, tuple[int, ...]], ...]


class SettingsSource:
    """Effective settings per (account, scenario), evaluated once per distinct *signature*.

    A connection's verdict-relevant settings are fixed by which Match block wins each keyword
    (the first applying block that sets it; for AllowUsers and the like, every applying block
    that sets it). Cells of (user class × source scenario) with the same winners get the same
    settings, so each signature is evaluated once — by ``sshd -T -C`` on a live host. Classes
    and scenarios come from the verdict view: blocks that set nothing rra judges never count.
    """

    name = "parsed"

    def __init__(self, config: SshdConfig) -> None:
        self.config = config
        self.view = config.verdict_view()
        self._by_signature: dict[Signature, Settings] = {}
        self._signatures: dict[tuple[ClassKey, Scenario], Signature] = {}
        self._classes: dict[tuple[str, frozenset[str]], ClassKey] = {}
        self._user_ok: dict[ClassKey, frozenset[MatchBlock]] = {}
        self._source_ok: dict[Scenario, frozenset[MatchBlock]] = {}
        self._setters: dict[str, list[MatchBlock]] = {}
        for directive in self.view.directives:
            if directive.block is not None:
                setters = self._setters.setdefault(directive.keyword, [])
                if directive.block not in setters:
                    setters.append(directive.block)
        self.calls = 0

    def class_of(self, user: str, groups: frozenset[str]) -> ClassKey:
        key = (user, groups)
        if key not in self._classes:
            found = user_class(self.view, user, groups)
            self._classes[key] = found
            if found not in self._user_ok:
                self._user_ok[found] = frozenset(
                    b for b in self.view.blocks if b.user_applies(user, groups)
                )
        return self._classes[key]

    def signature(self, user: str, groups: frozenset[str], scenario: Scenario) -> Signature:
        cell = (self.class_of(user, groups), scenario)
        if cell not in self._signatures:
            if scenario not in self._source_ok:
                self._source_ok[scenario] = frozenset(
                    b for b in self.view.blocks if _source_ok(b, scenario)
                )
            applying = self._user_ok[cell[0]] & self._source_ok[scenario]
            parts: list[tuple[str, tuple[int, ...]]] = []
            for keyword in sorted(VERDICT_KEYWORDS):
                winners = [b.index for b in self._setters.get(keyword, []) if b in applying]
                parts.append((keyword, tuple(winners if keyword in MATCH_LISTS else winners[:1])))
            self._signatures[cell] = tuple(parts)
        return self._signatures[cell]

    def settings(self, user: str, groups: frozenset[str], scenario: Scenario) -> Settings:
        key = self.signature(user, groups, scenario)
        if key not in self._by_signature:
            self.calls += 1
            self._by_signature[key] = self._evaluate(user, groups, scenario)
        return self._by_signature[key]

    def prefetch(self, requests: Iterable[tuple[str, frozenset[str], Scenario]]) -> None:
        """Evaluate what ``settings`` will be asked for (the live source does it in parallel)."""
        for user, groups, scenario in requests:
            self.settings(user, groups, scenario)

    def _pending(
        self, requests: Iterable[tuple[str, frozenset[str], Scenario]]
    ) -> dict[Signature, tuple[str, frozenset[str], Scenario]]:
        todo: dict[Signature, tuple[str, frozenset[str], Scenario]] = {}
        for user, groups, scenario in requests:
            key = self.signature(user, groups, scenario)
            if key not in self._by_signature:
                todo.setdefault(key, (user, groups, scenario))
        return todo

    def _evaluate(self, user: str, groups: frozenset[str], scenario: Scenario) -> Settings:
        return self.view.effective(scenario.connection(user), groups)


def _source_ok(block: MatchBlock, scenario: Scenario) -> bool:
    try:
        return block.source_applies(scenario.connection("x"))
    except PatternError:
        return False


class SshdTestError(HostError):
    """``sshd -T`` could not evaluate the configuration (not root, missing /run/sshd, bad config)."""


class LiveSettings(SettingsSource):
    """Asks the installed sshd itself: ``sshd -T -C user=U,host=H,addr=A,...``."""

    name = "sshd -T"

    def __init__(
        self,
        config: SshdConfig,
        host: Host,
        sshd: str = "sshd",
        timeout: float = 20.0,
        workers: int = 4,
    ) -> None:
        super().__init__(config)
        self._values: dict[tuple[str, tuple[int, ...]], str | list[str]] = {}
        self.host = host
        self.sshd = sshd
        self.timeout = timeout
        self.workers = workers

    def probe(self) -> Settings:
        """The global settings; raises SshdTestError when sshd -T does not work here."""
        return self._run(["-T", "-f", self.config.path])

    def _run(self, args: list[str]) -> Settings:
        result = self.host.run([self.sshd, *args], timeout=self.timeout)
        if result.rc != 0:
            first = (result.stderr_text.strip() or f"exit status {result.rc}").splitlines()[0]
            raise SshdTestError(f"sshd -T failed: {first}")
        return parse_sshd_t(result.stdout_text)

    # A keyword's value is the value of the block that wins it: once any sshd -T call has shown
    # the value of (keyword, winners), every other cell with that winner reuses it. Calls are
    # made one per user class (from the ordinary source), then one per source scenario, and
    # only the cells that still miss a value get their own call: classes + scenarios, not
    # classes x scenarios.

    def settings(self, user: str, groups: frozenset[str], scenario: Scenario) -> Settings:
        key = self.signature(user, groups, scenario)
        if key not in self._by_signature:
            assembled = self._assemble(key)
            if assembled is None:
                self.calls += 1
                assembled = self._record(key, self._evaluate(user, groups, scenario))
            self._by_signature[key] = assembled
        return self._by_signature[key]

    def prefetch(self, requests: Iterable[tuple[str, frozenset[str], Scenario]]) -> None:
        pending = self._pending(requests)
        base = [item for item in pending.values() if item[2].label == ANY_SOURCE]
        per_scenario: dict[Scenario, tuple[str, frozenset[str], Scenario]] = {}
        for item in pending.values():
            if item[2].label != ANY_SOURCE:
                per_scenario.setdefault(item[2], item)
        self._call_all([*base, *per_scenario.values()])
        self._call_all([item for key, item in pending.items() if self._assemble(key) is None])
        for user, groups, scenario in pending.values():
            self.settings(user, groups, scenario)

    def _call_all(self, items: list[tuple[str, frozenset[str], Scenario]]) -> None:
        """sshd -T for each item, several at once (each call is a process start, ~7-9 ms)."""
        todo = {self.signature(*item): item for item in items}
        todo = {k: v for k, v in todo.items() if k not in self._by_signature}
        if not todo:
            return
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            results = pool.map(lambda item: self._evaluate(*item), todo.values())
            for key, settings in zip(todo, results, strict=True):
                self.calls += 1
                self._by_signature[key] = self._record(key, settings)

    def _record(self, key: Signature, settings: Settings) -> Settings:
        if INVALID not in settings:
            for keyword, winners in key:
                if keyword in settings:
                    self._values[(keyword, winners)] = settings[keyword]
        return settings

    def _assemble(self, key: Signature) -> Settings | None:
        values: Settings = {}
        for keyword, winners in key:
            value = self._values.get((keyword, winners))
            if value is None:
                return None
            values[keyword] = value
        return values

    def _evaluate(self, user: str, groups: frozenset[str], scenario: Scenario) -> Settings:
        spec = scenario.connection(user).spec()
        try:
            return self._run(["-T", "-f", self.config.path, "-C", spec])
        except SshdTestError as exc:
            # sshd refuses this connection's configuration ('"any" must appear alone'...).
            return {INVALID: str(exc)}
