"""Which sudoers rules let a user run commands without authenticating (check ``auth.sudo_nopasswd``).

sudo with NOPASSWD or ``!authenticate`` never runs PAM auth (FIELD-NOTES), so a privileged account
with such a rule has no second factor on its way to root whatever the PAM stack says.

Semantics implemented (sudo 1.9.13; the tests compare them with ``cvtsudoers`` and with ``sudo -n``
run by real users):

- in user, host and runas lists the *last* matching item decides and ``!`` inverts it; aliases
  recurse. ``+netgroup``, network addresses and ``%:group`` cannot be resolved from files: they
  never match (and are listed in ``notes``);
- for one invocation (``-u``/``-g`` + command) the last entry of the whole policy whose users,
  hosts, runas and command match decides; a negated command there denies it. Runas follows
  sudo's runaslist_matches: ``-g`` alone keeps the invoking user, a group a spec does not list is
  still admitted when the run-as user belongs to it, and a spec without lists admits ``-u root``
  with any ``-g`` (so ``NOPASSWD: ALL`` then ``(ALL) PASSWD: ALL`` still lets
  ``sudo -u root -g adm`` through without a password - checked with sudo);
- ``authenticate`` starts on; generic, ``@host``, ``:user`` and ``>runas`` Defaults apply in file
  order (last match wins), then ``!cmnd`` Defaults, then the deciding entry's PASSWD/NOPASSWD tag;
  running as yourself with your own groups never authenticates (and is no privilege: ignored);
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
Target = tuple[str | None, str | None]  # (sudo -u, sudo -g); None = option not given
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
class _Decided:
    entry: _Entry  # the deciding entry
    allowed: bool  # False: its command is negated
    runs_as: str  # the run-as user ("root", a name, or a "%group" stand-in)
    authenticate: bool


@dataclass(frozen=True)
class SudoDecision:
    """The outcome of one invocation (``SudoersPolicy.check``)."""

    allowed: bool  # the deciding entry permits the command (False: denied, or no entry matched)
    authenticate: bool  # sudo asks for authentication (runs PAM auth) before deciding
    rule: SudoRule | None  # the deciding rule
    runs_as: str  # the user the command would run as


def _fnmatch(text: str, pattern: str, pathname: bool = False) -> bool:
    """fnmatch(3) as sudo calls it: backslash escapes a character (Python's fnmatch cannot), and
    with FNM_PATHNAME (command paths) a wildcard never crosses a "/"."""
    out, i, star, one = [], 0, "[^/]*" if pathname else ".*", "[^/]" if pathname else "."
    while i < len(pattern):
        c, close = pattern[i], pattern.find("]", i + 2)
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 1
        elif c in "*?":
            out.append(star if c == "*" else one)
        elif c == "[" and close > 0:
            body = pattern[i + 1 : close]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = close
        else:
            out.append(re.escape(c))
        i += 1
    try:
        return re.fullmatch("".join(out), text, re.DOTALL) is not None
    except re.error:
        return False


def _args_match(pattern: str | None, args: str | None) -> bool:
    if pattern is None:
        return True
    if args is None:  # "any arguments" is only covered by a rule that allows any
        return False
    if pattern == '""':
        return args in ("", '""')
    if pattern == args:  # the same words in two rules
        return True
    if pattern.startswith("^") and pattern.endswith("$"):
        try:
            return re.search(pattern, args) is not None
        except re.error:
            return False
    return _fnmatch(args, pattern)


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
        path_ok = pattern == path or _fnmatch(path, pattern, pathname=True)
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
        hits = {d.entry.key for d in self._allowed(who) if not d.authenticate}
        result: list[SudoRule] = []
        for index, rule in enumerate(self.rules):
            kept = tuple(c for n, c in enumerate(rule.commands) if (index, n) in hits)
            if kept:
                whole = len(kept) == len(rule.commands)
                result.append(rule if whole else replace(rule, commands=kept))
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
        return any(d.runs_as == "root" for d in self._allowed(who))

    def check(
        self,
        user: str,
        groups: Iterable[str],
        host: str,
        command: str,
        *,
        runas_user: str | None = None,
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
        if found is None:
            runs_as = runas_user or (user if runas_group else "root")
            authenticate = self._authenticate(who, target, cmnd, None)
        else:
            runs_as, authenticate = found.runs_as, found.authenticate
        # check_user(): root, and a user who changes neither uid nor to a group it lacks,
        # are never asked to authenticate.
        if uid == 0 or (runs_as == user and (runas_group is None or runas_group in who.groups)):
            authenticate = False
        return SudoDecision(
            allowed=bool(found and found.allowed),
            authenticate=authenticate,
            rule=found.entry.rule if found else None,
            runs_as=runs_as,
        )

    # -- evaluation -------------------------------------------------------------------------
    def _allowed(self, who: _Who) -> Iterable[_Decided]:
        """Allowed invocations that change privileges, over the candidate targets and commands."""
        entries = self._entries(who)
        commands = self._commands()
        for target in self._targets(who):
            for cmnd in commands:
                found = self._decide(entries, who, target, cmnd)
                if found is None or not found.allowed:
                    continue
                if found.runs_as == who.user and (target[1] is None or target[1] in who.groups):
                    continue  # as yourself with your own groups: nothing gained, sudo never asks
                yield found

    def _entries(self, who: _Who) -> list[_Entry]:
        return [
            _Entry((index, n), rule, cmd)
            for index, rule in enumerate(self.rules)
            if self._applies(rule, who)
            for n, cmd in enumerate(rule.commands)
        ]

    def _decide(
        self, entries: list[_Entry], who: _Who, target: Target, cmnd: Cmnd
    ) -> _Decided | None:
        for entry in reversed(entries):  # the last matching entry decides
            runs_as = self._runas(entry.rule.runas, who, target)
            if runs_as is None:
                continue
            verdict = self._member(entry.cmd, "Cmnd", lambda m: _command_matches(m, cmnd))[0]
            if verdict is not None:
                auth = self._authenticate(who, target, cmnd, entry)
                return _Decided(entry, verdict, runs_as, auth)
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
        kind = {"": "", "@": "Host", ":": "User", ">": "Runas", "!": "Cmnd"}[d.binding_type]
        if kind == "Runas":
            return self._runas(RunAs(users=d.binding), who, target) is not None
        leaf = {
            "Host": self._host_leaf(who),
            "User": self._user_leaf(who),
            "Cmnd": lambda m: _command_matches(m, cmnd),
        }.get(kind)
        return leaf is None or self._list(d.binding, kind, leaf)[0] is True

    def _applies(self, rule: SudoRule, who: _Who) -> bool:
        return (
            self._list(rule.users, "User", self._user_leaf(who))[0] is True
            and self._list(rule.hosts, "Host", self._host_leaf(who))[0] is True
        )

    def _runas(self, runas: RunAs, who: _Who, target: Target) -> str | None:
        """The user a command would run as if this runas spec admits the target, else None
        (sudo's runaslist_matches: ``-g`` alone keeps the invoking user; a group not listed is
        still admitted when the run-as user is a member of it)."""
        user, group = target
        runs_as = user if user is not None else (who.user if group is not None else "root")
        user_ok = group_ok = None
        if user is not None or group is None:
            if runas.users is None and runas.groups is None:
                return runs_as if runs_as == "root" else None  # runas_default
            if runas.users is not None:
                user_ok, member = self._list(runas.users, "Runas", self._runas_leaf(who, target))
                if user_ok and member is not None and member.kind == "myself":
                    runs_as = who.user
        if group is not None:
            if user_ok is None and runs_as == who.user:
                user_ok = True  # only changing the group
            if runas.groups is not None:
                group_ok = self._list(runas.groups, "Runas", _runas_group_leaf(group))[0]
            if group_ok is None and group in self._groups_of(who, runs_as):
                group_ok = True
        if user_ok is True and (group is None or group_ok is True):
            return runs_as
        return None

    def _list(
        self, members: Iterable[Member], kind: str, leaf: Leaf, seen: frozenset[str] = frozenset()
    ) -> tuple[bool | None, Member | None]:
        """The verdict of the last matching item, and that item (inside aliases)."""
        for m in reversed(tuple(members)):
            verdict, item = self._member(m, kind, leaf, seen)
            if verdict is not None:
                return verdict, item
        return None, None

    def _member(
        self, m: Member, kind: str, leaf: Leaf, seen: frozenset[str] = frozenset()
    ) -> tuple[bool | None, Member | None]:
        if m.kind == "alias":
            members = self.aliases.get((kind, m.value))
            if members is None or m.value in seen:  # undefined or cyclic: visudo rejects both
                return None, None
            verdict, item = self._list(members, kind, leaf, seen | {m.value})
        else:
            verdict, item = (True, m) if m.kind == "all" or leaf(m) else (None, None)
        return (None if verdict is None else verdict != m.negated), item

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
            return _fnmatch(name.lower(), m.value.lower())

        return leaf

    def _runas_leaf(self, who: _Who, target: Target) -> Leaf:
        user, group = target
        runs_as = user if user is not None else (who.user if group is not None else "root")
        me = runs_as == who.user

        def leaf(m: Member) -> bool:
            if m.kind == "myself":  # "()": matches unless -u names someone else
                return user is None or me
            if m.kind == "group":
                return m.value in self._groups_of(who, runs_as)
            if m.kind == "uid" and me and who.uid is not None:
                return m.value == str(who.uid)
            if m.kind == "gid" and me:
                return any(m.value == str(gid) for gid in who.gids)
            return m.kind in ("name", "uid", "gid") and _target_name(m) == runs_as

        return leaf

    @staticmethod
    def _groups_of(who: _Who, runs_as: str) -> frozenset[str]:
        """Groups of a run-as user, as far as they are known without the group database."""
        if runs_as == who.user:
            return who.groups
        if runs_as.startswith("%") and not runs_as.startswith("%#"):
            return frozenset({runs_as[1:]})  # the stand-in "some member of %group"
        return frozenset({"root"}) if runs_as == "root" else frozenset()

    def _targets(self, who: _Who) -> list[Target]:
        users: set[str | None] = {None, "root", _OTHER, who.user}
        groups: set[str] = {_OTHER, *who.groups}

        def collect(members: Iterable[Member], as_group: bool) -> None:
            for m in members:
                if as_group and m.kind in ("group", "gid", "name"):
                    groups.add(m.value if m.kind != "gid" else f"#{m.value}")
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
        ordered_users = sorted(users, key=lambda u: u or "")
        ordered_groups: list[str | None] = [None, *sorted(groups)]
        return [(u, g) for u in ordered_users for g in ordered_groups]  # (None, None): plain sudo

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
