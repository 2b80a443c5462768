"""Resolve a PAM service's configuration exactly as libpam 1.5.2 (Debian 12) loads it.

The rules below were checked against the real library with ``pamtester`` (see
``tests/agent/auth/test_pam_oracle.py``); the surprising ones:

* a missing service file falls back to ``other``, and so does a service file with no ``auth``
  line at all (libpam keeps one handler list per type and uses ``other``'s when it is empty);
* ``@include FILE`` (a Debian addition) is textual, and a missing target makes the whole
  configuration unloadable: ``pam_start`` fails, even when an earlier ``sufficient`` line would
  have succeeded. A missing ``include``/``substack`` target only becomes one always-failing line;
* an illegal type (``bogus``, ``- auth``) becomes an always-failing *auth* line; an unknown control
  word or a bracket that does not parse makes every return code ``bad``;
* ``include``/``@include`` loops and an ``include`` without a file name crash libpam 1.5.2
  (SIGSEGV); only substack nesting is bounded (16 levels);
* ``\\`` at the end of a line joins the next one with a space; a ``#`` comment ends the logical line
  first, so ``... # note \\`` does not continue; blank and comment lines inside a continuation are
  skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rra.agent.host import Host

# Return codes (security/_pam_types.h, Linux-PAM 1.5.2), indexed as libpam indexes its actions.
RETURN_NAMES: tuple[str, ...] = (
    "success", "open_err", "symbol_err", "service_err", "system_err", "buf_err",
    "perm_denied", "auth_err", "cred_insufficient", "authinfo_unavail", "user_unknown",
    "maxtries", "new_authtok_reqd", "acct_expired", "session_err", "cred_unavail",
    "cred_expired", "cred_err", "no_module_data", "conv_err", "authtok_err",
    "authtok_recover_err", "authtok_lock_busy", "authtok_disable_aging", "try_again", "ignore",
    "abort", "authtok_expired", "module_unknown", "bad_item", "conv_again", "incomplete",
)  # fmt: skip
N_CODES = len(RETURN_NAMES)
SUCCESS = 0
SERVICE_ERR = 3
PERM_DENIED = 6
AUTH_ERR = 7
AUTHINFO_UNAVAIL = 9
USER_UNKNOWN = 10
NEW_AUTHTOK_REQD = 12
AUTHTOK_ERR = 20
IGNORE = 25
MODULE_UNKNOWN = 28

# Actions (libpam's _PAM_ACTION_*); a positive action is a jump over that many lines.
A_IGNORE, A_OK, A_DONE, A_BAD, A_DIE, A_RESET, A_UNDEF = 0, -1, -2, -3, -4, -5, -6
ACTION_NAMES = ("ignore", "ok", "done", "bad", "die", "reset")
TYPES = ("auth", "account", "session", "password")
MAX_SUBSTACK = 16  # PAM_SUBSTACK_MAX_LEVEL
MAX_NESTING = 40  # our own guard: libpam has none for include/@include and crashes on loops

MODULE_DIRS = (
    "/lib/x86_64-linux-gnu/security",
    "/usr/lib/x86_64-linux-gnu/security",
    "/lib/security",
    "/usr/lib/security",
    "/lib64/security",
    "/usr/lib64/security",
)

Actions = tuple[int, ...]
Kind = Literal["module", "substack", "fail"]


@dataclass(frozen=True)
class PamLine:
    """One handler of the resolved stack, as libpam builds it (includes flattened)."""

    type: str  # effective module type: an illegal type is loaded as "auth"
    text: str  # the logical line, whitespace collapsed, for display
    actions: Actions
    module: str | None  # module path as written
    args: tuple[str, ...]
    file: str
    lineno: int
    level: int = 0  # substack depth
    kind: Kind = "module"  # "substack": marker before a substack's lines; "fail": always fails
    installed: bool | None = None  # None: the host's module directory could not be seen
    note: str | None = None  # why a "fail" line fails

    @property
    def location(self) -> str:
        return f"{self.file}:{self.lineno}"

    @property
    def name(self) -> str:
        """Module name as libpam logs it: basename without extension (``pam_unix``)."""
        if not self.module:
            return ""
        base = self.module.rsplit("/", 1)[-1]
        return base.rsplit(".", 1)[0] if "." in base else base


@dataclass
class ParsedConfig:
    """What ``_pam_init_handlers`` ends up with for one service."""

    lines: list[PamLine]  # the auth handlers that pam_authenticate walks
    errors: list[str]
    source: str | None  # the file whose auth lines are used (service file or other)
    failure: str | None  # pam_start itself fails: nobody can authenticate through this service
    unknown: str | None  # the configuration could not be read completely


def assemble_lines(text: str) -> list[tuple[int, str]]:
    """Logical lines with the number of their first physical line (``_pam_assemble_line``)."""
    out: list[tuple[int, str]] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.lstrip(" \t")
        if not stripped or stripped.startswith("#"):
            continue  # nothing on this line; a pending continuation goes on
        if not parts:
            start = number
        if "#" in raw:
            parts.append(raw.split("#", 1)[0])
            out.append((start, "".join(parts)))
            parts = []
            continue
        body = raw.rstrip(" \t")
        if body.endswith("\\"):
            parts.append(body[:-1] + " ")
            continue
        parts.append(raw)
        out.append((start, "".join(parts)))
        parts = []
    if parts:
        out.append((start, "".join(parts)))
    return out


def tokenize(line: str) -> list[str]:
    """Split like ``_pam_StrTok``: ``[...]`` is one token (brackets dropped, ``\\]`` kept)."""
    tokens: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in " \t\n":
            i += 1
        if i >= n:
            return tokens
        if line[i] == "[":
            i += 1
            chars: list[str] = []
            while i < n and line[i] != "]":
                if line[i] == "\\" and i + 1 < n and line[i + 1] == "]":
                    i += 1
                chars.append(line[i])
                i += 1
            tokens.append("".join(chars))
            i += 1
        else:
            j = i
            while j < n and line[j] not in " \t\n":
                j += 1
            tokens.append(line[i:j])
            i = j


def parse_control(text: str) -> tuple[Actions, str | None]:
    """``_pam_parse_control`` then the ``bad`` default; any syntax error makes every code bad."""
    actions = [A_UNDEF] * N_CODES
    names = (*RETURN_NAMES, "default")
    i, n = 0, len(text)
    error: str | None = None
    while error is None:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        # libpam takes the first name that is a *prefix* of the text, in table order.
        code = next((k for k, name in enumerate(names) if text.startswith(name, i)), None)
        if code is None or i + len(names[code]) >= n:
            error = "expecting return value"
            break
        i += len(names[code])
        while i < n and text[i].isspace():
            i += 1
        if i >= n or text[i] != "=":
            error = "expecting '='"
            break
        i += 1
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            error = "expecting action"
            break
        act = next((k for k, name in enumerate(ACTION_NAMES) if text.startswith(name, i)), None)
        if act is not None:
            i += len(ACTION_NAMES[act])
            value = -act
        else:
            j = i
            while j < n and text[j].isdigit():
                j += 1
            if j == i:
                error = "expecting jump number"
            elif int(text[i:j]) == 0:
                error = "expecting non-zero"
            value = int(text[i:j] or 0)
            i = j
        if error is None:
            if code == N_CODES:
                actions = [value if a == A_UNDEF else a for a in actions]
            else:
                actions[code] = value
    if error is not None:
        return (A_BAD,) * N_CODES, error
    return tuple(A_BAD if a == A_UNDEF else a for a in actions), None


def keyword_actions(control: str) -> Actions | None:
    """The four classic controls, as ``_pam_parse_conf_file`` spells them out."""
    table = {
        "required": (A_OK, A_IGNORE, A_BAD),
        "requisite": (A_OK, A_IGNORE, A_DIE),
        "optional": (A_OK, A_UNDEF, A_IGNORE),
        "sufficient": (A_DONE, A_UNDEF, A_IGNORE),
    }
    entry = table.get(control.lower())
    if entry is None:
        return None
    ok, ignore, default = entry
    actions = [default] * N_CODES
    actions[SUCCESS] = actions[NEW_AUTHTOK_REQD] = ok
    if ignore != A_UNDEF:
        actions[IGNORE] = ignore
    return tuple(actions)


class _Loader:
    """Walks configuration files like ``_pam_load_conf_file``/``_pam_parse_conf_file``."""

    def __init__(self, host: Host, pam_dir: str, vendor_dir: str | None) -> None:
        self.host = host
        self.dirs = [pam_dir.rstrip("/")] + ([vendor_dir.rstrip("/")] if vendor_dir else [])
        self.errors: list[str] = []
        self.failure: str | None = None
        self.unknown: str | None = None
        self._module_dirs = [d for d in MODULE_DIRS if host.exists(d)]
        self._installed: dict[str, bool | None] = {}

    def open(self, name: str) -> tuple[str, str] | None:
        """Absolute path, else the first of pam_dir/NAME, vendor_dir/NAME. PermissionError passes."""
        candidates = [name] if name.startswith("/") else [f"{d}/{name}" for d in self.dirs]
        for path in candidates:
            data = self.host.read_file(path)
            if data is not None:
                return path, data.decode("utf-8", errors="replace")
        return None

    def installed(self, module: str) -> bool | None:
        if module not in self._installed:
            if not self._module_dirs:
                found: bool | None = None  # e.g. an image of /etc only: assume installed
            elif module.startswith("/"):
                found = self.host.exists(module.replace("$ISA", "."))
            else:
                found = any(self.host.exists(f"{d}/{module}") for d in self._module_dirs)
            self._installed[module] = found
        return self._installed[module]

    def set_unknown(self, reason: str) -> None:
        self.errors.append(reason)
        self.unknown = self.unknown or reason

    def load(
        self,
        name: str,
        out: list[PamLine],
        requested: str | None,
        level: int,
        chain: tuple[str, ...],
    ) -> bool:
        """Parse an included file into ``out``; False when libpam's load would fail."""
        where = f" (from {chain[-1]})" if chain else ""
        if level >= MAX_SUBSTACK:
            self.set_unknown(f"{name}: more than {MAX_SUBSTACK} nested substacks{where}")
            return False
        try:
            found = self.open(name)
        except PermissionError:
            self.set_unknown(f"could not read PAM file {name}: permission denied{where}")
            return False
        if found is None:
            self.errors.append(f"{name}: no such PAM file{where}")
            return False
        path, text = found
        if path in chain or len(chain) >= MAX_NESTING:
            loop = " → ".join((*chain[chain.index(path) :], path)) if path in chain else path
            self.set_unknown(f"include loop: {loop} (libpam 1.5.2 crashes on it)")
            return False
        return self.parse(path, text, out, requested, level, (*chain, path))

    def parse(
        self,
        path: str,
        text: str,
        out: list[PamLine],
        requested: str | None,
        level: int,
        chain: tuple[str, ...],
    ) -> bool:
        for lineno, line in assemble_lines(text):
            where = f"{path}:{lineno}"
            tokens = tokenize(line)
            shown = " ".join(line.split())
            if tokens and tokens[0] == "@include":
                if len(tokens) < 2:
                    self.failure = f"{where}: @include without a file (libpam 1.5.2 crashes)"
                    return False
                if not self.load(tokens[1], out, requested, level, chain):
                    # The including file fails to load as a whole (fatal at the top level).
                    self.errors.append(f"{where}: @include {tokens[1]} cannot be loaded")
                    return False
                continue
            if not self._line(tokens, shown, path, lineno, out, requested, level, chain):
                return False
        return True

    def _line(
        self,
        tokens: list[str],
        shown: str,
        path: str,
        lineno: int,
        out: list[PamLine],
        requested: str | None,
        level: int,
        chain: tuple[str, ...],
    ) -> bool:
        where = f"{path}:{lineno}"
        raw_type = tokens[0].removeprefix("-") if tokens else ""
        note: str | None = None
        if raw_type.lower() in TYPES:
            mtype = raw_type.lower()
        else:
            # libpam loads a line with an illegal type as the most sensitive one, failing.
            mtype, note = requested or "auth", f"illegal module type {raw_type!r}"
        if requested is not None and mtype != requested:
            return True
        if len(tokens) < 2:
            note = note or "no control flag"
            actions: Actions = (A_BAD,) * N_CODES
        else:
            control = tokens[1].lower()
            if control in ("include", "substack"):
                return self._include(tokens, shown, path, lineno, out, mtype, level, chain)
            known = keyword_actions(control)
            if known is not None:
                actions = known
            else:
                actions, error = parse_control(tokens[1])
                if error:
                    self.errors.append(
                        f"{where}: control {tokens[1]!r}: {error}; every result is bad"
                    )
        module = tokens[2] if len(tokens) > 2 else None
        if module is None:
            note = note or "no module name"
        if note:
            self.errors.append(f"{where}: {note}: this line always fails")
        out.append(
            PamLine(
                type=mtype,
                text=shown,
                actions=actions,
                module=module,
                args=tuple(tokens[3:]),
                file=path,
                lineno=lineno,
                level=level,
                kind="fail" if note else "module",
                installed=self.installed(module) if module and not note else None,
                note=note,
            )
        )
        return True

    def _include(
        self,
        tokens: list[str],
        shown: str,
        path: str,
        lineno: int,
        out: list[PamLine],
        mtype: str,
        level: int,
        chain: tuple[str, ...],
    ) -> bool:
        where = f"{path}:{lineno}"
        control = tokens[1].lower()
        if len(tokens) < 3:
            self.failure = f"{where}: {control} without a file (libpam 1.5.2 crashes)"
            return False
        target, sub = tokens[2], control == "substack"

        def marker(kind: Kind, actions: Actions, note: str | None = None) -> PamLine:
            return PamLine(mtype, shown, actions, None, (), path, lineno, level, kind, None, note)

        if sub:
            out.append(marker("substack", (A_IGNORE,) * N_CODES))
        if self.load(target, out, mtype, level + int(sub), chain):
            return True
        note = f"{control} {target} cannot be loaded"
        self.errors.append(f"{where}: {note}: this line always fails")
        out.append(marker("fail", (A_BAD,) * N_CODES, note))
        return True


def load_config(
    host: Host, service: str, pam_dir: str = "/etc/pam.d", vendor_dir: str | None = "/usr/lib/pam.d"
) -> ParsedConfig:
    """The auth handlers of ``service`` and what went wrong loading them (``_pam_init_handlers``)."""
    loader = _Loader(host, pam_dir, vendor_dir)
    conf: list[PamLine] = []
    other: list[PamLine] = []
    paths: dict[str, str] = {}
    problems: dict[str, str] = {}  # about "other": they matter only when libpam falls back to it
    for name, out in ((service, conf), ("other", other)):
        if name == "other" and service == "other":
            break
        try:
            found = loader.open(name)
        except PermissionError:
            problems[name] = f"could not read PAM file for {name}: permission denied"
            continue
        if found is None:
            problems[name] = f"no PAM file for {name!r} in {' or '.join(loader.dirs)}"
            continue
        paths[name] = found[0]
        if not loader.parse(found[0], found[1], out, None, 0, (found[0],)):
            loader.failure = loader.failure or f"{found[0]} cannot be loaded"
            break
    auth = [line for line in conf if line.type == "auth"]
    source = paths.get(service)
    if service in problems or not auth:
        # libpam keeps one list per type and uses other's when the service's is empty.
        auth = [line for line in other if line.type == "auth"]
        source = paths.get("other")
    for name, problem in problems.items():
        if name == service or not source:
            if "permission denied" in problem:
                loader.set_unknown(problem)
            else:
                loader.errors.append(problem)
    if not paths and loader.unknown is None and loader.failure is None:
        loader.failure = f"no PAM configuration for {service!r} and no 'other'"
    if loader.failure:
        loader.errors.append(f"pam_start fails: {loader.failure}")
    return ParsedConfig(auth, loader.errors, source, loader.failure, loader.unknown)
