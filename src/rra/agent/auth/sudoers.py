"""Which sudoers rules let a user run commands without authenticating (check ``auth.sudo_nopasswd``).

sudo with NOPASSWD or ``!authenticate`` never runs PAM auth (FIELD-NOTES), so a privileged account
with such a rule has no second factor on its way to root whatever the PAM stack says.

Semantics implemented (sudo 1.9.13; the tests compare them with ``cvtsudoers`` and with ``sudo -n``
run by real users):

- in user, host and runas lists the *last* matching item decides and ``!`` inverts it; aliases
  recurse. ``+netgroup``, network addresses and ``%:group`` cannot be resolved from files: they
  never match (and are listed in ``notes``);
- for one invocation (run-as target + command) the last entry of the whole policy whose users,
  hosts, runas and command match decides; a negated command there denies it;
- ``authenticate`` starts on; generic, ``@host``, ``:user`` and ``>runas`` Defaults apply in file
  order (last match wins), then ``!cmnd`` Defaults, then the deciding entry's PASSWD/NOPASSWD tag;
- statically, a command of a rule runs without authentication when, for some run-as target and
  some command, that rule decides and authentication ends up off. The targets and commands tried
  are those named anywhere in the policy plus "any other" (which only ``ALL`` matches), so a later
  ``PASSWD: /bin/ls`` narrows an earlier ``NOPASSWD: ALL`` without hiding it.
"""

from __future__ import annotations

import glob
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase

from rra.agent.auth.sudoers_parse import (
    AliasDef,
    DefaultsEntry,
    Include,
    Member,
    RunAs,
    SudoRule,
    parse_sudoers,
)
from rra.agent.host import Host, HostError

__all__ = [
    "DefaultsEntry",
    "Member",
    "RunAs",
    "SudoDecision",
    "SudoRule",
    "SudoersPolicy",
    "load_sudoers",
]

_OTHER = "\0other"  # a user, group or command that no list names: only ALL matches it
_MAX_DEPTH = 128  # sudo's MAX_SUDOERS_DEPTH
Target = tuple[str | None, str | None]  # (run-as user, None = unchanged with -g; run-as group)
Cmnd = tuple[str, str | None]  # (path, arguments; None = any arguments)
Leaf = Callable[[Member], bool]


@dataclass(frozen=True)
class _Who:
    user: str
    groups: frozenset[str]
    host: str
    fqdn: str | None
    uid: int | None
    gids: frozenset[int]


@dataclass(frozen=True)
class _Entry:
    key: tuple[int, int]  # (rule index, command index)
    rule: SudoRule
    cmd: Member


@dataclass(frozen=True)
class SudoDecision:
    allowed: bool  # the deciding entry permits the command (False: denied, or no entry matched)
    authenticate: bool  # sudo asks for authentication (runs PAM auth) before deciding
    rule: SudoRule | None  # the deciding rule


def _glob_path(pattern: str, path: str) -> bool:
    # sudo matches command paths with FNM_PATHNAME: a wildcard never crosses a "/".
    parts, names = pattern.split("/"), path.split("/")
    return len(parts) == len(names) and all(map(fnmatchcase, names, parts))


def _args_match(pattern: str | None, args: str | None) -> bool:
    if pattern is None:
        return True
    if args is None:  # "any arguments" is only covered by a rule that allows any
        return False
    if pattern == '""':
        return args in ("", '""')
    if pattern.startswith("^") and pattern.endswith("$"):
        try:
            return pattern == args or re.search(pattern, args) is not None
        except re.error:
            return False
    return fnmatchcase(args, pattern)


def _command_matches(m: Member, cmnd: Cmnd) -> bool:
    path, args = cmnd
    pattern = m.value
    if m.kind != "command" or path == _OTHER:
        return False
    if pattern.startswith("^"):
        try:
            path_ok = pattern == path or re.fullmatch(pattern, path) is not None
        except re.error:
            path_ok = False
    elif pattern.endswith("/"):  # a directory: any command directly inside it
        path_ok = path.startswith(pattern) and "/" not in path[len(pattern) :]
    elif any(c in pattern for c in "*?["):
        path_ok = _glob_path(pattern, path)
    else:
        path_ok = pattern == path
    return path_ok and _args_match(m.args, args)


@dataclass
class SudoersPolicy:
    rules: list[SudoRule]
    errors: list[str]  # unreadable/missing include files, unparseable lines (file:line: ...)
    defaults: list[DefaultsEntry] = field(default_factory=list)
    aliases: dict[tuple[str, str], tuple[Member, ...]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # members that can never be resolved here

    # -- public queries ---------------------------------------------------------------------
    def rules_for(
        self,
        user: str,
        groups: Iterable[str],
        host: str,
        *,
        uid: int | None = None,
        gids: Iterable[int] = (),
        fqdn: str | None = None,
    ) -> list[SudoRule]:
        """Rules whose user list and host list match (what ``sudo -l -U user`` would show)."""
        who = _Who(user, frozenset(groups), host, fqdn, uid, frozenset(gids))
        return [rule for rule in self.rules if self._applies(rule, who)]

    def nopasswd_rules(
        self,
        user: str,
        groups: Iterable[str],
        host: str,
        *,
        uid: int | None = None,
        gids: Iterable[int] = (),
        fqdn: str | None = None,
    ) -> list[SudoRule]:
        """Rules that let this user run commands without authentication, narrowed to those
        commands (NOPASSWD, or authenticate turned off by Defaults; later rules that take a
        command back are honoured)."""
        who = _Who(user, frozenset(groups), host, fqdn, uid, frozenset(gids))
        hits: set[tuple[int, int]] = set()
        for target, cmnd, entry in self._allowed(who):
            if not self._authenticate(who, target, cmnd, entry):
                hits.add(entry.key)
        result: list[SudoRule] = []
        for index, rule in enumerate(self.rules):
            kept = tuple(c for n, c in enumerate(rule.commands) if (index, n) in hits)
            if kept:
                result.append(
                    rule if len(kept) == len(rule.commands) else replace(rule, commands=kept)
                )
        return result

    def can_run_as_root(
        self,
        user: str,
        groups: Iterable[str],
        host: str,
        *,
        uid: int | None = None,
        gids: Iterable[int] = (),
        fqdn: str | None = None,
    ) -> bool:
        """Some command is allowed with root as the run-as user."""
        who = _Who(user, frozenset(groups), host, fqdn, uid, frozenset(gids))
        return any(target[0] == "root" for target, _, _ in self._allowed(who))

    def check(
        self,
        user: str,
        groups: Iterable[str],
        host: str,
        command: str,
        *,
        runas_user: str | None = "root",
        runas_group: str | None = None,
        uid: int | None = None,
        gids: Iterable[int] = (),
        fqdn: str | None = None,
    ) -> SudoDecision:
        """What ``sudo [-u runas_user] [-g runas_group] command`` does for this user."""
        who = _Who(user, frozenset(groups), host, fqdn, uid, frozenset(gids))
        path, _, args = command.strip().partition(" ")
        cmnd: Cmnd = (path, args.strip())
        target: Target = ("root" if runas_user == "#0" else runas_user, runas_group)
        found = self._decide(self._entries(who), who, target, cmnd)
        entry = found[0] if found else None
        return SudoDecision(
            allowed=bool(found and found[1]),
            authenticate=self._authenticate(who, target, cmnd, entry),
            rule=entry.rule if entry else None,
        )

    # -- evaluation -------------------------------------------------------------------------
    def _allowed(self, who: _Who) -> Iterable[tuple[Target, Cmnd, _Entry]]:
        entries = self._entries(who)
        commands = self._commands()
        for target in self._targets(who):
            for cmnd in commands:
                found = self._decide(entries, who, target, cmnd)
                if found is not None and found[1]:
                    yield target, cmnd, found[0]

    def _entries(self, who: _Who) -> list[_Entry]:
        return [
            _Entry((index, n), rule, cmd)
            for index, rule in enumerate(self.rules)
            if self._applies(rule, who)
            for n, cmd in enumerate(rule.commands)
        ]

    def _decide(
        self, entries: list[_Entry], who: _Who, target: Target, cmnd: Cmnd
    ) -> tuple[_Entry, bool] | None:
        for entry in reversed(entries):  # the last matching entry decides
            if not self._runas_matches(entry.rule.runas, who, target):
                continue
            verdict = self._member(entry.cmd, "Cmnd", lambda m: _command_matches(m, cmnd))
            if verdict is not None:
                return entry, verdict
        return None

    def _authenticate(self, who: _Who, target: Target, cmnd: Cmnd, entry: _Entry | None) -> bool:
        auth = True
        ordered = [d for d in self.defaults if d.binding_type != "!"]
        ordered += [d for d in self.defaults if d.binding_type == "!"]  # applied after the rest
        for d in ordered:
            values = [v for name, v in d.settings if name == "authenticate" and isinstance(v, bool)]
            if values and self._binding_matches(d, who, target, cmnd):
                auth = values[-1]
        if entry is not None and entry.rule.nopasswd is not None:
            auth = not entry.rule.nopasswd  # a tag overrides every Defaults (sudo's apply_cmndspec)
        return auth

    def _binding_matches(self, d: DefaultsEntry, who: _Who, target: Target, cmnd: Cmnd) -> bool:
        if d.binding_type == "":
            return True
        if d.binding_type == "@":
            return self._list(d.binding, "Host", self._host_leaf(who)) is True
        if d.binding_type == ":":
            return self._list(d.binding, "User", self._user_leaf(who)) is True
        if d.binding_type == ">":  # with -g alone no run-as user is named: does not apply
            user = target[0]
            return (
                user is not None
                and self._list(d.binding, "Runas", _runas_user_leaf(who, user)) is True
            )
        return self._list(d.binding, "Cmnd", lambda m: _command_matches(m, cmnd)) is True

    def _applies(self, rule: SudoRule, who: _Who) -> bool:
        return (
            self._list(rule.users, "User", self._user_leaf(who)) is True
            and self._list(rule.hosts, "Host", self._host_leaf(who)) is True
        )

    def _runas_matches(self, runas: RunAs, who: _Who, target: Target) -> bool:
        user, group = target
        if runas.users is None and runas.groups is None:
            return user == "root" and group is None  # runas_default
        if user is not None and (
            runas.users is None
            or self._list(runas.users, "Runas", _runas_user_leaf(who, user)) is not True
        ):
            return False
        return not (
            group is not None
            and (
                runas.groups is None
                or self._list(runas.groups, "Runas", _runas_group_leaf(group)) is not True
            )
        )

    def _list(
        self, members: Iterable[Member], kind: str, leaf: Leaf, seen: frozenset[str] = frozenset()
    ) -> bool | None:
        for m in reversed(tuple(members)):
            verdict = self._member(m, kind, leaf, seen)
            if verdict is not None:
                return verdict
        return None

    def _member(
        self, m: Member, kind: str, leaf: Leaf, seen: frozenset[str] = frozenset()
    ) -> bool | None:
        if m.kind == "alias":
            members = self.aliases.get((kind, m.value))
            if members is None or m.value in seen:  # undefined or cyclic: visudo rejects both
                return None
            verdict = self._list(members, kind, leaf, seen | {m.value})
        else:
            verdict = True if m.kind == "all" or leaf(m) else None
        return None if verdict is None else verdict != m.negated

    @staticmethod
    def _user_leaf(who: _Who) -> Leaf:
        def leaf(m: Member) -> bool:
            if m.kind == "name":
                return m.value == who.user
            if m.kind == "group":
                return m.value in who.groups
            if m.kind == "uid":
                return who.uid is not None and m.value == str(who.uid)
            if m.kind == "gid":
                return any(m.value == str(gid) for gid in who.gids)
            return False  # netgroup, non-Unix group: not resolvable from files

        return leaf

    @staticmethod
    def _host_leaf(who: _Who) -> Leaf:
        def leaf(m: Member) -> bool:
            if m.kind != "name":
                return False  # addresses and netgroups: not resolvable from files
            # Like sudo: a pattern with a dot is compared with the qualified name.
            name = (who.fqdn or who.host) if "." in m.value else who.host.split(".")[0]
            return fnmatchcase(name.lower(), m.value.lower())

        return leaf

    def _targets(self, who: _Who) -> list[Target]:
        users, groups = {"root", _OTHER, who.user}, {_OTHER}

        def collect(members: Iterable[Member], as_group: bool) -> None:
            for m in members:
                if as_group and m.kind in ("group", "gid", "name"):
                    groups.add(m.value if m.kind == "group" else f"#{m.value}")
                elif not as_group and m.kind in ("name", "uid", "group", "gid"):
                    users.add(_target_name(m))

        for rule in self.rules:
            collect(rule.runas.users or (), False)
            collect(rule.runas.groups or (), True)
        for (kind, _), members in self.aliases.items():
            if kind == "Runas":
                collect(members, False)
                collect(members, True)
        for d in self.defaults:
            if d.binding_type == ">":
                collect(d.binding, False)
        ordered_users, ordered_groups = sorted(users), sorted(groups)
        return [
            *((u, None) for u in ordered_users),
            *((None, g) for g in ordered_groups),
            *((u, g) for u in ordered_users for g in ordered_groups),
        ]

    def _commands(self) -> list[Cmnd]:
        found: set[Cmnd] = {(_OTHER, None)}
        lists = [rule.commands for rule in self.rules]
        lists += [members for (kind, _), members in self.aliases.items() if kind == "Cmnd"]
        lists += [d.binding for d in self.defaults if d.binding_type == "!"]
        for members in lists:
            found.update((m.value, m.args) for m in members if m.kind == "command")
        return sorted(found, key=lambda c: (c[0], c[1] or ""))


def _target_name(m: Member) -> str:
    """A run-as list item as a concrete target: a user, ``#uid`` or "some member of %group"."""
    if m.kind == "uid":
        return "root" if m.value == "0" else f"#{m.value}"
    return {"group": "%", "gid": "%#"}.get(m.kind, "") + m.value


def _runas_user_leaf(who: _Who, user: str) -> Leaf:
    def leaf(m: Member) -> bool:
        if m.kind == "myself":
            return user == who.user
        return m.kind in ("name", "uid", "group", "gid") and _target_name(m) == user

    return leaf


def _runas_group_leaf(group: str) -> Leaf:
    def leaf(m: Member) -> bool:
        # A Runas_Alias used as a group list holds plain names: they are group names there.
        if m.kind == "gid":
            return group == f"#{m.value}"
        return m.kind in ("group", "name") and m.value == group

    return leaf


class _Loader:
    def __init__(self, host: Host) -> None:
        self.host = host
        self.policy = SudoersPolicy(rules=[], errors=[])

    def parse(self, path: str, data: bytes, stack: tuple[str, ...]) -> None:
        parsed = parse_sudoers(data.decode("utf-8", "replace"), path)
        self.policy.errors.extend(parsed.errors)
        self.policy.notes.extend(parsed.notes)
        for item in parsed.items:
            if isinstance(item, Include):
                self.include(item, path, stack)
            elif isinstance(item, SudoRule):
                self.policy.rules.append(item)
            elif isinstance(item, DefaultsEntry):
                self.policy.defaults.append(item)
            elif isinstance(item, AliasDef):
                key = (item.kind, item.name)
                if key in self.policy.aliases:  # sudo refuses a duplicate; keep the first
                    self.policy.errors.append(
                        f"{item.source}: duplicate {item.kind}_Alias {item.name}"
                    )
                else:
                    self.policy.aliases[key] = item.members

    def include(self, inc: Include, current: str, stack: tuple[str, ...]) -> None:
        path = inc.path
        if "%h" in path:
            try:
                path = path.replace("%h", self.host.hostname().split(".")[0])
            except HostError as exc:
                self.policy.errors.append(f"{inc.source}: cannot expand %h in {path}: {exc}")
                return
        if not path.startswith("/"):  # relative to the including file's directory (sudo ≥ 1.9.1)
            path = posixpath.join(posixpath.dirname(current), path)
        path = posixpath.normpath(path)
        if not inc.is_dir:
            self.open(path, stack, inc.source, optional=False)
            return
        # A missing directory is no error for sudo; files ending in "~" or with a "." are skipped.
        for entry in sorted(self.host.glob(glob.escape(path) + "/*")):
            name = posixpath.basename(entry)
            if not name.endswith("~") and "." not in name:
                self.open(entry, stack, inc.source, optional=True)

    def open(self, path: str, stack: tuple[str, ...], source: str, optional: bool) -> None:
        if path in stack:
            self.policy.errors.append(f"{source}: include loop: {' -> '.join((*stack, path))}")
            return
        if len(stack) >= _MAX_DEPTH:
            self.policy.errors.append(f"{source}: {path}: too many levels of includes")
            return
        try:
            data = self.host.read_file(path)
        except PermissionError:
            self.policy.errors.append(f"{source}: {path}: permission denied")
            return
        except OSError as exc:
            self.policy.errors.append(f"{source}: {path}: {exc.strerror or exc}")
            return
        if data is None:  # in an includedir: a subdirectory or a file that vanished
            if not optional:
                self.policy.errors.append(f"{source}: {path}: not found")
            return
        self.parse(path, data, (*stack, path))


def load_sudoers(host: Host, path: str = "/etc/sudoers") -> SudoersPolicy | None:
    """The policy in ``path`` and its includes; None when the file does not exist (no sudo).

    PermissionError on ``path`` itself propagates (the caller reports "unknown"); unreadable or
    missing include files and unparseable lines are listed in ``errors``.
    """
    data = host.read_file(path)
    if data is None:
        return None
    loader = _Loader(host)
    loader.parse(path, data, (posixpath.normpath(path),))
    return loader.policy
