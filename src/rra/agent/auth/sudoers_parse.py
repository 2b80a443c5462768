"""sudoers(5) text → rules, Defaults, aliases and include directives (no I/O, no matching).

The lexer follows sudo 1.9's flex lexer (``plugins/sudoers/toke.l``) where the two could split
the same bytes differently: a ``#`` starts a comment unless it is ``#include``/``#includedir`` at
column 0 or a ``#uid``; a backslash-newline joins lines except inside a comment; a word that is
entirely ``[A-Z][A-Z0-9_]*`` is an alias reference (so ``ADMINS`` is an alias, ``Admins`` a user);
a token starting with ``/`` is a command whose arguments run to an unescaped ``, : # =`` or newline
(double quotes have no meaning there: ``"a,b"`` splits at the comma, as in sudo).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby

# Tags come in pairs (NOPASSWD/PASSWD...); a later tag of the same pair replaces the earlier one.
_PAIRS = ("PASSWD", "EXEC", "SETENV", "LOG_INPUT", "LOG_OUTPUT", "MAIL", "FOLLOW", "INTERCEPT")
_TAG_PAIR = {tag: pair for pair in _PAIRS for tag in (pair, "NO" + pair)}
_CMND_OPTIONS = {"ROLE", "TYPE", "PRIVS", "LIMITPRIVS", "NOTBEFORE", "NOTAFTER", "TIMEOUT",
                 "CWD", "CHROOT", "APPARMOR_PROFILE"}  # fmt: skip
_DIGESTS = {"sha224", "sha256", "sha384", "sha512"}

_W = r'(?:[^#>!=:,() \t\r\n\\"]|\\[^\t\n])'  # one character of a sudoers WORD
_WORD_RE = re.compile(_W + "+")
_ID_RE = re.compile(r"#-?[0-9]+")
_GROUP_RE = re.compile(rf"%:?(?:#-?[0-9]+|{_W}+)")
_NETGROUP_RE = re.compile(rf"\+{_W}+")
_IPV6_RE = re.compile(r"(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:/[0-9]{1,3})?")
_PATH_RE = re.compile(r"/(?:\\[,:= \t#]|[^,:=\\ \t\r\n#])+")
_REGEX_RE = re.compile(r"\^(?:[^#\r\n$\\]|\\.)*\$")
_TAG_RE = re.compile("(" + "|".join(sorted(_TAG_PAIR, key=len, reverse=True)) + r")[ \t]*:")
_ENVAR_RE = re.compile(r'(?:[^#!=, \t\r\n\\"]|\\.)(?:[^#=, \t\r\n\\"]|\\.)*')
_ARG_RE = re.compile(r"[^#\\:, \t\r\n]+")
_CONT_RE = re.compile(r"\\[ \t]*\r?\n")
_INCLUDE_HASH_RE = re.compile(r"#(includedir|include)[ \t]")
_KEYWORD_RE = re.compile(
    rf"[ \t]*(?:(@includedir|@include)(?!{_W})|(Defaults)(?:([:@>!])|(?!{_W}))"
    rf"|(Host|Cmnd|Cmd|User|Runas)_Alias(?!{_W}))"
)
_BANGS_RE = re.compile("!+")
_BLANKS_RE = re.compile(r"[ \t\r]*(,?)[ \t\r]*")
_SUDOEDIT_RE = re.compile(rf"sudoedit(?!{_W})")
_DIGEST_VALUE_RE = re.compile(r"[A-Za-z0-9+/=]+")
_STRING_CONT_RE = re.compile(r"\\[ \t]*\r?\n[ \t]*")
_INC_PATH_RE = re.compile(r'[^"\s](?:\\[ \t]|\S)*')
_ALIAS_NAME_RE = re.compile(r"[A-Z][A-Z0-9_]*")
_NETWORK_RE = re.compile(r"[0-9.]+(?:/[0-9.]+)?|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*(?:/[0-9]+)?")


@dataclass(frozen=True)
class Member:
    """One item of a user, host, runas or command list, as written.

    ``kind``: all, name, uid, group, gid, nonunix_group, netgroup, network, alias, myself
    (an empty runas list: "as yourself") or command. ``args`` (commands only): None = any arguments,
    ``'""'`` = none allowed.
    """

    kind: str
    value: str
    negated: bool = False
    args: str | None = None

    def __str__(self) -> str:
        bang = "!" if self.negated else ""
        prefix = {"uid": "#", "group": "%", "gid": "%#", "nonunix_group": "%:", "netgroup": "+"}
        text = prefix.get(self.kind, "") + self.value
        return bang + (text if self.args is None else f"{text} {self.args}")


@dataclass(frozen=True)
class RunAs:
    """``(users : groups)``; both None = sudo's runas_default (root)."""

    users: tuple[Member, ...] | None = None
    groups: tuple[Member, ...] | None = None


@dataclass(frozen=True)
class SudoRule:
    """One run of commands of a user spec that share runas and tags (continuations joined)."""

    source: str
    text: str
    users: tuple[Member, ...]
    hosts: tuple[Member, ...]
    runas: RunAs
    commands: tuple[Member, ...]
    tags: frozenset[str]  # in effect after carry-over, e.g. {"NOPASSWD", "NOEXEC"}

    @property
    def nopasswd(self) -> bool | None:
        """True for NOPASSWD, False for PASSWD, None when neither is in effect (Defaults decide)."""
        if "NOPASSWD" in self.tags:
            return True
        return False if "PASSWD" in self.tags else None


@dataclass(frozen=True)
class DefaultsEntry:
    """A ``Defaults`` line; ``binding_type`` is "", "@" host, ":" user, ">" runas or "!" command."""

    source: str
    text: str
    binding_type: str
    binding: tuple[Member, ...]
    settings: tuple[tuple[str, bool | str], ...]  # ("authenticate", False), ("env_keep+=", "A")


@dataclass(frozen=True)
class AliasDef:
    source: str
    kind: str  # User, Runas, Host, Cmnd
    name: str
    members: tuple[Member, ...]


@dataclass(frozen=True)
class Include:
    source: str
    path: str  # as written, quotes and escapes removed; %h and relative paths not yet resolved
    is_dir: bool


Item = SudoRule | DefaultsEntry | AliasDef | Include


@dataclass
class ParsedFile:
    items: list[Item] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Token:
    kind: str  # word cmd tag ( ) , = : ! op nl include includedir defaults alias_kw error
    value: str
    line: int
    start: int
    end: int
    literal: bool = False  # quoted or escaped: never an alias, ALL or keyword
    args: str | None = None


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text, self.pos, self.line = text, 0, 1
        self.mode = "init"  # init | binding (Defaults list) | options (Defaults settings)
        self.bol = True  # at a statement start: a line not continued from the previous one
        self.out: list[Token] = []

    def emit(self, kind: str, value: str, end: int, literal: bool = False) -> None:
        self.out.append(Token(kind, value, self.line, self.pos, end, literal))
        self.pos = end

    def run(self) -> list[Token]:
        text = self.text
        while self.pos < len(text):
            c = text[self.pos]
            if c == "\n":
                self.emit("nl", "", self.pos + 1)
                self.line += 1
                self.mode, self.bol = "init", True
                continue
            if (m := _CONT_RE.match(text, self.pos)) is not None:
                self.pos, self.bol = m.end(), False
                self.line += 1
                if self.mode == "binding" and self.out and self.out[-1].kind in ("word", "cmd"):
                    self.mode = "options"  # sudo: the blank it stands for ends the binding
                continue
            if self.bol and self._statement_start():
                continue
            self.bol = False
            if c in " \t\r":
                self._blanks()
            elif c == "#" and not _ID_RE.match(text, self.pos):
                end = text.find("\n", self.pos)  # a comment ends at the newline, never continues
                self.pos = len(text) if end < 0 else end
            elif (m := _BANGS_RE.match(text, self.pos)) is not None:
                if (m.end() - self.pos) % 2:
                    self.emit("!", "!", m.end())  # "!!" cancels out, as in sudo
                self.pos = m.end()
            elif c == '"':
                self._string()
            elif self.mode == "options":
                self._option_token()
            else:
                self._list_token()
        self.emit("nl", "", self.pos)
        return self.out

    def _statement_start(self) -> bool:
        text, pos = self.text, self.pos
        if (m := _INCLUDE_HASH_RE.match(text, pos)) is not None:
            return self._include_path(m.group(1) == "includedir", m.end())
        if (m := _KEYWORD_RE.match(text, pos)) is None:
            return False
        self.pos += len(m.group(0)) - len(m.group(0).lstrip(" \t"))
        self.bol = False
        if m.group(1):
            return self._include_path(m.group(1) == "@includedir", m.end())
        if m.group(2):
            self.emit("defaults", m.group(3) or "", m.end())
            self.mode = "binding" if m.group(3) else "options"
        else:
            self.emit("alias_kw", m.group(4).replace("Cmd", "Cmnd"), m.end())
        return True

    def _include_path(self, is_dir: bool, pos: int) -> bool:
        text = self.text
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        kind = "includedir" if is_dir else "include"
        if pos < len(text) and text[pos] == '"':
            end = text.find('"', pos + 1)
            end = len(text) if end < 0 else end + 1
            self.emit(kind, text[pos + 1 : end - 1], end)
        elif (m := _INC_PATH_RE.match(text, pos)) is not None:
            self.emit(kind, _unescape(m.group(0)), m.end())
        else:
            self.emit("error", "include without a path", pos)
        self.bol = False
        return True

    def _blanks(self) -> None:
        m = _BLANKS_RE.match(self.text, self.pos)
        if m is None:  # unreachable: the pattern matches the empty string
            return
        # In a Defaults binding, blanks after a member end the list unless a comma follows.
        if self.mode == "binding" and self.out and self.out[-1].kind in ("word", "cmd"):
            if m.group(1):
                self.emit(",", ",", m.end())
                return
            self.mode = "options"
        if m.group(1):  # outside a Defaults binding "," is its own token
            self.pos = m.start(1)
            return
        self.pos = m.end()

    def _string(self) -> None:
        text, pos, chars = self.text, self.pos + 1, []
        while pos < len(text) and text[pos] != '"':
            if (m := _STRING_CONT_RE.match(text, pos)) is not None:
                pos = m.end()
                self.line += 1
            elif text[pos] == "\n":
                self.emit("error", "unexpected line break in string", pos)
                return
            elif text.startswith('\\"', pos):
                chars.append('"')
                pos += 2
            else:
                chars.append(text[pos])
                pos += 1
        self.emit("word", "".join(chars), min(pos + 1, len(text)), literal=True)

    def _option_token(self) -> None:
        text, pos = self.text, self.pos
        for op in ("+=", "-=", "=", ","):
            if text.startswith(op, pos):
                self.emit("op" if op != "," else ",", op, pos + len(op))
                return
        if (m := _ENVAR_RE.match(text, pos)) is not None:
            self.emit("word", _unescape(m.group(0)), m.end())
        else:
            self.emit("error", text[pos], pos + 1)

    def _list_token(self) -> None:
        text, pos, last = self.text, self.pos, self.out[-2:]
        prev = [t.value for t in last]
        if len(prev) == 2 and prev[1] == "=" and prev[0] in ("CWD", "CHROOT"):
            m = _PATH_RE.match(text, pos) or _WORD_RE.match(text, pos)
            if m is not None:  # CWD=/dir is a value, not a command
                self.emit("word", _unescape(m.group(0)), m.end())
                return
        if prev[1:] == [":"] and prev[0] in _DIGESTS and (m := _DIGEST_VALUE_RE.match(text, pos)):
            self.emit("word", m.group(0), m.end(), literal=True)
            return
        if (m := _TAG_RE.match(text, pos)) is not None and self.mode == "init":
            self.emit("tag", m.group(1), m.end())
        elif text[pos] in "(),=:":
            self.emit(text[pos], text[pos], pos + 1)
        elif text[pos] in "/^" or _SUDOEDIT_RE.match(text, pos):
            self._command()
        elif (m := _GROUP_RE.match(text, pos) or _NETGROUP_RE.match(text, pos)) is not None:
            self.emit("word", _unescape(m.group(0)), m.end(), literal="\\" in m.group(0))
        elif (m := _WORD_RE.match(text, pos) or _ID_RE.match(text, pos)) is not None:
            m6 = _IPV6_RE.match(text, pos)
            if m6 is not None and m6.end() > m.end():
                m = m6
            self.emit("word", _unescape(m.group(0)), m.end(), literal="\\" in m.group(0))
        else:
            self.emit("error", text[pos], pos + 1)

    def _command(self) -> None:
        text, start = self.text, self.pos
        if text[start] == "/":
            m = _PATH_RE.match(text, start)
        elif text[start] == "^":
            m = _REGEX_RE.match(text, start)
        else:
            m = _SUDOEDIT_RE.match(text, start)
        if m is None:
            self.emit("error", "bad command", start + 1)
            return
        path = re.sub(r"\\([,:= \t#])", r"\1", m.group(0))
        self.pos = m.end()
        # Defaults!cmnd takes no arguments, and a directory ("/usr/bin/") never does.
        args = None if self.mode == "binding" or path.endswith("/") else self._args()
        self.out.append(Token("cmd", path, self.line, start, self.pos, args=args))

    def _args(self) -> str | None:
        text, args, sawspace = self.text, None, False
        while self.pos < len(text):
            pos, c = self.pos, text[self.pos]
            if (m := _CONT_RE.match(text, pos)) is not None:
                self.pos, sawspace = m.end(), True
                self.line += 1
                continue
            if c in " \t":
                self.pos, sawspace = pos + 1, True
                continue
            if c == "\\" and pos + 1 < len(text) and text[pos + 1] in "*?[]!^":
                chunk = text[pos : pos + 2]  # an escaped glob character stays escaped
            elif c == "\\" and pos + 1 < len(text) and text[pos + 1] in ":\\,= \t#":
                chunk, pos = text[pos + 1], pos + 1
            elif c == "^" and args is None and (m := _REGEX_RE.match(text, pos)) is not None:
                chunk = m.group(0)
            elif (m := _ARG_RE.match(text, pos)) is not None and not (
                c == "=" and m.end() == pos + 1
            ):
                chunk = m.group(0)  # "a=b" is an argument; a lone "=" ends the command
            else:
                break
            self.pos = pos + len(chunk)
            args = chunk if args is None else args + (" " if sawspace else "") + chunk
            sawspace = False
        return args


class _SyntaxError(Exception):
    def __init__(self, message: str, token: Token | None) -> None:
        super().__init__(message)
        self.token = token


class _Parser:
    def __init__(self, tokens: list[Token], text: str, filename: str, result: ParsedFile) -> None:
        self.toks, self.i, self.text, self.filename = tokens, 0, text, filename
        self.result = result

    def peek(self) -> Token | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, what: str) -> Token:
        tok = self.peek()
        if tok is None:
            raise _SyntaxError(f"expected {what}", None)
        self.i += 1
        return tok

    def expect(self, kind: str, what: str) -> Token:
        tok = self.take(what)
        if tok.kind != kind:
            raise _SyntaxError(f"expected {what}, got {tok.value or tok.kind!r}", tok)
        return tok

    def at(self, kind: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == kind

    def comma_list(self, item: Callable[[], Member]) -> tuple[Member, ...]:
        items = [item()]
        while self.at(","):
            self.i += 1
            items.append(item())
        return tuple(items)

    def negation(self) -> bool:
        negated = False
        while self.at("!"):
            self.i += 1
            negated = not negated
        return negated

    def member(self, context: str, source: str) -> Member:
        """A user/host/runas-user/runas-group word, classified as sudo's lexer would."""
        negated = self.negation()
        tok = self.take("a name")
        if tok.kind != "word":
            raise _SyntaxError(f"expected a {context} name, got {tok.value or tok.kind!r}", tok)
        v = tok.value
        if not tok.literal and v == "ALL":
            return Member("all", v, negated)
        if not tok.literal and _ALIAS_NAME_RE.fullmatch(v):
            return Member("alias", v, negated)
        kind, value = "name", v
        if v.startswith("+"):
            kind, value = "netgroup", v[1:]
        elif context == "host":
            kind = "network" if _NETWORK_RE.fullmatch(v) else "name"
        elif v.startswith("%:"):
            kind, value = "nonunix_group", v[2:]
        elif v.startswith("%#"):
            kind, value = "gid", v[2:]
        elif re.fullmatch(r"#-?[0-9]+", v):
            kind, value = ("gid" if context == "group" else "uid"), v[1:]
        elif v.startswith("%") or context == "group":
            kind, value = "group", v.removeprefix("%")
        if kind in ("netgroup", "network", "nonunix_group"):
            self.result.notes.append(
                f"{source}: {v} cannot be resolved here; treated as not matching"
            )
        return Member(kind, value, negated)

    def member_list(self, context: str, source: str) -> tuple[Member, ...]:
        return self.comma_list(lambda: self.member(context, source))

    def command(self) -> Member:
        negated = self.negation()
        while self.at("word") and (tok := self.peek()) and tok.value in _DIGESTS:
            self.i += 1  # sha256:HEX[, sha512:HEX] before the command: the path is what matters
            self.expect(":", "':' after a digest type")
            self.expect("word", "a digest")
            if self.at(","):
                self.i += 1
        negated ^= self.negation()  # sudo writes "sha256:HEX !/bin/ls"
        tok = self.take("a command")
        if tok.kind == "cmd":
            return Member("command", tok.value, negated, tok.args)
        if tok.kind == "word" and not tok.literal and tok.value == "ALL":
            return Member("all", "ALL", negated)
        if tok.kind == "word" and not tok.literal and _ALIAS_NAME_RE.fullmatch(tok.value):
            return Member("alias", tok.value, negated)
        raise _SyntaxError(f"expected a command, got {tok.value or tok.kind!r}", tok)

    def runas(self, source: str) -> RunAs:
        self.expect("(", "'('")
        users = groups = None
        if not self.at(":") and not self.at(")"):
            users = self.member_list("user", source)
        if self.at(":"):
            self.i += 1
            if not self.at(")"):
                groups = self.member_list("group", source)
        self.expect(")", "')'")
        if users is None and groups is None:  # "()" or "(:)": only as the invoking user
            users = (Member("myself", ""),)
        return RunAs(users, groups)

    def statement(self, first: Token, last: Token) -> None:
        source = f"{self.filename}:{first.line}"
        raw = self.text[first.start : last.end]
        text = re.sub(r"[ \t]*\\[ \t]*\r?\n[ \t]*", " ", raw).strip()
        if first.kind in ("include", "includedir"):
            self.i += 1
            self.result.items.append(Include(source, first.value, first.kind == "includedir"))
        elif first.kind == "defaults":
            self.defaults(first.value, source, text)
        elif first.kind == "alias_kw":
            self.alias(first.value, source)
        else:
            self.user_spec(source, text)
        if (extra := self.peek()) is not None:
            raise _SyntaxError(f"unexpected {extra.value or extra.kind!r}", extra)

    def defaults(self, btype: str, source: str, text: str) -> None:
        self.i += 1
        binding: tuple[Member, ...] = ()
        if btype == "!":
            binding = self.comma_list(self.command)
        elif btype:
            binding = self.member_list({"@": "host", ":": "user", ">": "user"}[btype], source)
        settings: list[tuple[str, bool | str]] = []
        while True:
            negated = self.negation()
            name = self.expect("word", "a Defaults setting").value
            if self.at("op"):
                op = self.take("an operator").value
                value = self.expect("word", f"a value for {name}").value
                settings.append((name + ("" if op == "=" else op), value))
            else:
                settings.append((name, not negated))
            if not self.at(","):
                break
            self.i += 1
        self.result.items.append(DefaultsEntry(source, text, btype, binding, tuple(settings)))

    def alias(self, kind: str, source: str) -> None:
        self.i += 1
        context = {"User": "user", "Runas": "user", "Host": "host"}.get(kind, "")
        while True:
            name = self.expect("word", f"a {kind}_Alias name")
            if name.literal or not _ALIAS_NAME_RE.fullmatch(name.value) or name.value == "ALL":
                raise _SyntaxError(f"invalid alias name {name.value!r}", name)
            self.expect("=", "'='")
            if kind == "Cmnd":
                found = self.comma_list(self.command)
            else:
                found = self.member_list(context, source)
            self.result.items.append(AliasDef(source, kind, name.value, found))
            if not self.at(":"):
                return
            self.i += 1

    def user_spec(self, source: str, text: str) -> None:
        # User_List Host_List = Cmnd_Spec_List (: Host_List = Cmnd_Spec_List)*
        users = self.member_list("user", source)
        self.privilege(users, source, text)
        while self.at(":"):
            self.i += 1
            self.privilege(users, source, text)

    def privilege(self, users: tuple[Member, ...], source: str, text: str) -> None:
        hosts = self.member_list("host", source)
        self.expect("=", "'=' after the host list")
        runas, tags = RunAs(), dict[str, str]()
        specs: list[tuple[RunAs, frozenset[str], Member]] = []
        while True:
            if self.at("("):
                runas = self.runas(source)
            while self.at("word") and (t := self.peek()) and t.value in _CMND_OPTIONS:
                self.i += 1  # ROLE=, TIMEOUT=, CWD=...: irrelevant to authentication
                self.expect("=", f"'=' after {t.value}")
                self.take(f"a value for {t.value}")
            while self.at("tag"):
                tag = self.take("a tag").value
                tags[_TAG_PAIR[tag]] = tag
            # Runas and tags carry over to the following commands until changed (sudoers(5)).
            specs.append((runas, frozenset(tags.values()), self.command()))
            if not self.at(","):
                break
            self.i += 1
        for (spec_runas, spec_tags), group in groupby(specs, key=lambda spec: spec[:2]):
            commands = tuple(cmd for _, _, cmd in group)
            rule = SudoRule(source, text, users, hosts, spec_runas, commands, spec_tags)
            self.result.items.append(rule)

    def run(self) -> None:
        start = 0
        for end, tok in enumerate(self.toks):
            if tok.kind != "nl":
                continue
            stmt, start = self.toks[start:end], end + 1
            if not stmt:
                continue
            # A statement lands in the result whole or not at all.
            parser = _Parser(stmt, self.text, self.filename, ParsedFile())
            try:
                bad = next((t for t in stmt if t.kind == "error"), None)
                if bad is not None:
                    raise _SyntaxError(f"syntax error near {bad.value!r}", bad)
                parser.statement(stmt[0], stmt[-1])
            except _SyntaxError as exc:
                line = exc.token.line if exc.token is not None else stmt[-1].line
                self.result.errors.append(f"{self.filename}:{line}: {exc}")
            else:
                self.result.items.extend(parser.result.items)
                self.result.notes.extend(parser.result.notes)


def parse_sudoers(text: str, filename: str) -> ParsedFile:
    """Parse one file's text; includes are returned as items for the caller to follow."""
    result = ParsedFile()
    _Parser(_Lexer(text).run(), text, filename, result).run()
    return result
