"""What each PAM module can return in ``pam_sm_authenticate`` for one account.

A model lists every return code the module can produce for U, each with the authenticators U
had to present for it and the unknown facts it rests on. Codes were checked against the real
modules with ``pamtester`` (``[default=ok] MODULE`` makes libpam return the module's own code);
findings that were not obvious:

* ``pam_google_authenticator nullok`` without a secret file returns PAM_IGNORE, not
  PAM_SUCCESS: under ``sufficient`` it does not end the stack, under ``required`` it is skipped.
  With ``user=`` a ``~``/``${HOME}`` secret path is an error (fails even with nullok).
* ``pam_oath`` returns PAM_USER_UNKNOWN for a user missing from the users file *before*
  prompting; a missing users file prompts and fails; without ``usersfile=`` (2.6.7) it crashes;
  ``alwaysok`` turns every result into success.
* session-only modules (pam_limits, pam_systemd, …) have no auth function: PAM_MODULE_UNKNOWN,
  which fails under ``required``; a ``-`` prefix only silences the log, it does not skip.
* pam_rootok succeeds whenever the *caller* is root, as sshd's PAM process is; pam_succeed_if
  ``use_uid`` tests the caller (root), not U; pam_listfile ignores ``apply=`` except for
  ``item=tty``/``rhost``; pam_nologin returns PAM_IGNORE (root: ignore, others: fail with a
  nologin file) and PAM_SUCCESS only with ``successok``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from rra.agent.auth.pam_parse import (
    AUTH_ERR,
    AUTHINFO_UNAVAIL,
    AUTHTOK_ERR,
    IGNORE,
    MODULE_UNKNOWN,
    PERM_DENIED,
    SERVICE_ERR,
    SUCCESS,
    USER_UNKNOWN,
    PamLine,
)
from rra.agent.host import Host

CRASH = -1  # the module kills the process: this attempt cannot succeed at all
UNMODELLED = "is not modelled"  # marks the assumption made for a module without a model

SECOND_FACTOR = ("pam_google_authenticator", "pam_oath", "pam_u2f", "pam_yubico")
# The decision lives on a server: success is reported as "server:<module>".
SERVER = (
    "pam_radius_auth", "pam_radius", "pam_duo", "pam_sss", "pam_krb5", "pam_ldap",
    "pam_winbind", "pam_unix2_ldap", "pam_pkcs11",
)  # fmt: skip
# No pam_sm_authenticate (nm -D on Debian 12): libpam answers PAM_MODULE_UNKNOWN.
NO_AUTH = (
    "pam_limits", "pam_loginuid", "pam_mkhomedir", "pam_motd", "pam_namespace", "pam_setquota",
    "pam_systemd", "pam_time", "pam_tty_audit", "pam_umask", "pam_xauth", "pam_pwhistory",
    "pam_pwquality", "pam_cracklib", "pam_passwdqc",
)  # fmt: skip
FIXED = {
    "pam_permit": SUCCESS,
    "pam_deny": AUTH_ERR,
    "pam_env": IGNORE,
    "pam_faildelay": IGNORE,
    "pam_group": IGNORE,
    "pam_keyinit": IGNORE,
    "pam_mail": IGNORE,
    "pam_warn": IGNORE,
    "pam_selinux": AUTH_ERR,
    "pam_cap": SUCCESS,
    "pam_lastlog": SUCCESS,
    "pam_echo": SUCCESS,
    "pam_rootok": SUCCESS,  # sshd runs PAM as root
}


@dataclass(frozen=True)
class PamAccount:
    name: str
    uid: int
    gid: int
    home: str
    groups: frozenset[str]  # names, primary + supplementary
    password_state: Literal["usable", "locked", "empty"] | None  # None = shadow unreadable
    shell: str | None = None  # None: looked up in /etc/passwd through the host


@dataclass(frozen=True)
class Outcome:
    code: int
    authenticators: frozenset[str] = frozenset()
    assumptions: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ModuleModel:
    outcomes: tuple[Outcome, ...]
    enrolled: bool | None = None  # second-factor modules: U has a secret/key for it
    # Why U gets past this module without its factor ("nullok, not enrolled") and with which code.
    skip: str | None = None
    skip_code: int | None = None


def _fixed(*codes: int, assume: str | None = None) -> ModuleModel:
    extra = frozenset({assume}) if assume else frozenset()
    return ModuleModel(
        tuple(Outcome(c, assumptions=extra if c == SUCCESS else frozenset()) for c in codes)
    )


@dataclass
class Context:
    """U, the host and the service; caches file reads (PermissionError is remembered)."""

    host: Host
    account: PamAccount
    service: str
    _files: dict[str, bytes | PermissionError | None] = field(default_factory=dict)

    def read(self, path: str) -> tuple[str | None, str | None]:
        """(text or None when absent, assumption when unreadable)."""
        if path not in self._files:
            try:
                self._files[path] = self.host.read_file(path)
            except PermissionError as exc:
                self._files[path] = exc
        data = self._files[path]
        if isinstance(data, PermissionError):
            return None, f"could not read {path}: permission denied"
        return (None if data is None else data.decode("utf-8", errors="replace")), None

    def passwd(self, name: str) -> list[str] | None:
        text, _ = self.read("/etc/passwd")
        for line in (text or "").splitlines():
            fields = line.split(":")
            if len(fields) >= 7 and fields[0] == name:
                return fields
        return None

    def shell(self) -> str | None:
        if self.account.shell is not None:
            return self.account.shell
        entry = self.passwd(self.account.name)
        return entry[6] if entry else None

    def groups_of(self, name: str, gid: int) -> frozenset[str]:
        text, _ = self.read("/etc/group")
        found = set()
        for line in (text or "").splitlines():
            fields = line.split(":")
            if len(fields) >= 4 and (fields[2] == str(gid) or name in fields[3].split(",")):
                found.add(fields[0])
        return frozenset(found)

    @property
    def tty(self) -> str | None:
        return "ssh" if self.service.startswith("sshd") else None  # sshd sets PAM_TTY "ssh"


def _opts(line: PamLine) -> dict[str, str]:
    return {a.split("=", 1)[0]: a.split("=", 1)[1] for a in line.args if "=" in a}


def _home_expand(spec: str, ctx: Context, *, tilde: bool) -> str:
    out = spec.replace("${USER}", ctx.account.name).replace("${HOME}", ctx.account.home)
    if tilde and out.startswith("~"):
        out = ctx.account.home + out[1:]
    return out


def model_unix(line: PamLine, ctx: Context) -> ModuleModel:
    nullok = "nullok" in line.args
    wrong = (Outcome(AUTH_ERR), Outcome(AUTHTOK_ERR))  # a wrong password; the client hangs up
    password = frozenset({"password"})
    state = ctx.account.password_state
    if state == "usable":
        return ModuleModel((Outcome(SUCCESS, password), *wrong))
    if state == "empty" and nullok:
        return ModuleModel((Outcome(SUCCESS),))  # no prompt at all
    if state in ("empty", "locked"):
        return ModuleModel(wrong)
    why = frozenset({"could not read /etc/shadow: the password state is unknown"})
    empty = (Outcome(SUCCESS, assumptions=why),) if nullok else ()
    return ModuleModel((Outcome(SUCCESS, password, why), *empty, *wrong))


_GA_FLAGS = {
    "no_strict_owner", "debug", "try_first_pass", "use_first_pass", "forward_pass", "noskewadj",
    "no_increment_hotp", "nullok", "echo-verification-code", "echo_verification_code",
}  # fmt: skip
_GA_VALUES = ("secret", "authtok_prompt", "user", "allowed_perm", "grace_period")


def model_google_authenticator(line: PamLine, ctx: Context) -> ModuleModel:
    fail = ModuleModel((Outcome(AUTH_ERR),), enrolled=False)
    opts = _opts(line)
    for arg in line.args:
        if arg not in _GA_FLAGS and arg.split("=", 1)[0] not in _GA_VALUES:
            return fail  # an unrecognised option makes the module refuse everyone
    fixed_user = "user" in opts
    if fixed_user and not opts["user"].isdigit() and ctx.passwd(opts["user"]) is None:
        return fail
    spec = opts.get("secret", "~/.google_authenticator")
    if fixed_user and ("${HOME}" in spec or spec.startswith("~") or "/~" in spec):
        return fail  # "Home dir in 'secret' not implemented when 'user' set"
    if not ctx.account.home.startswith("/"):
        return fail
    path = _ga_expand(spec, ctx)
    text, unreadable = ctx.read(path)
    nullok = "nullok" in line.args
    otp = frozenset({"otp"})
    if unreadable:
        why = frozenset({unreadable})
        maybe_skip = (Outcome(IGNORE, assumptions=why),) if nullok else ()
        return ModuleModel((Outcome(SUCCESS, otp, why), Outcome(AUTH_ERR), *maybe_skip), None)
    if text is None:
        if nullok:
            return ModuleModel((Outcome(IGNORE),), False, "nullok, not enrolled", IGNORE)
        return fail
    if not text.strip():
        return fail  # "Invalid file size"
    outcomes = [Outcome(SUCCESS, otp), Outcome(AUTH_ERR)]
    if "grace_period" in opts:
        grace = (
            f"grace_period={opts['grace_period']}: a recent login from the same host skips the code"
        )
        outcomes.append(Outcome(SUCCESS, assumptions=frozenset({grace})))
    return ModuleModel(tuple(outcomes), True)


def _ga_expand(spec: str, ctx: Context) -> str:
    """``get_secret_filename``: ``~`` only at the start or after ``/``; ``${HOME}``, ``${USER}``."""
    out: list[str] = []
    i, allow_tilde = 0, True
    while i < len(spec):
        if allow_tilde and spec[i] == "~":
            out.append(ctx.account.home)
            i, allow_tilde = i + 1, False
        elif spec.startswith("${HOME}", i) or spec.startswith("${USER}", i):
            out.append(ctx.account.home if spec[i + 2] == "H" else ctx.account.name)
            i, allow_tilde = i + 7, False
        else:
            allow_tilde = spec[i] == "/"
            out.append(spec[i])
            i += 1
    return "".join(out)


def model_oath(line: PamLine, ctx: Context) -> ModuleModel:
    if "alwaysok" in line.args:
        return ModuleModel((Outcome(SUCCESS),), None, "alwaysok", SUCCESS)
    spec = _opts(line).get("usersfile")
    if spec is None:
        return ModuleModel((Outcome(CRASH),), False)  # pam_oath 2.6.7 dereferences NULL
    path = _home_expand(spec, ctx, tilde=False)
    text, unreadable = ctx.read(path)
    otp = frozenset({"otp"})
    if unreadable:
        why = frozenset({unreadable})
        return ModuleModel(
            (Outcome(SUCCESS, otp, why), Outcome(AUTH_ERR), Outcome(USER_UNKNOWN, assumptions=why))
        )
    if text is None:
        return ModuleModel((Outcome(AUTH_ERR),), False)  # OATH_NO_SUCH_FILE: prompts, then fails
    users = {
        f[1]
        for f in (ln.split() for ln in text.splitlines())
        if len(f) >= 2 and not f[0].startswith("#")
    }
    if ctx.account.name in users:
        return ModuleModel((Outcome(SUCCESS, otp), Outcome(AUTH_ERR)), True)
    return ModuleModel((Outcome(USER_UNKNOWN),), False, f"not listed in {path}", USER_UNKNOWN)


def model_u2f(line: PamLine, ctx: Context) -> ModuleModel:
    opts = _opts(line)
    spec = opts.get("authfile", "~/.config/Yubico/u2f_keys")
    if "expand" in line.args or "authfile" not in opts:
        spec = spec.replace("%u", ctx.account.name).replace("%h", ctx.account.home)
    path = _home_expand(spec, ctx, tilde=True)
    if not path.startswith("/"):
        path = f"{ctx.account.home}/{path}"
    nouserok = "nouserok" in line.args
    sshformat = "sshformat" in line.args
    return _keyfile(ctx, path, nouserok, sshformat, "nouserok", missing=AUTHINFO_UNAVAIL)


def model_yubico(line: PamLine, ctx: Context) -> ModuleModel:
    opts = _opts(line)
    nullok = "nullok" in line.args
    if opts.get("mode") == "challenge-response":
        base = _home_expand(opts.get("chalresp_path", "~/.yubico"), ctx, tilde=True)
        pattern = f"{base}/{ctx.account.name}*" if "chalresp_path" in opts else f"{base}/challenge*"
        if ctx.host.glob(pattern):
            return ModuleModel((Outcome(SUCCESS, frozenset({"otp"})), Outcome(AUTH_ERR)), True)
        code = IGNORE if nullok else USER_UNKNOWN
        return ModuleModel(
            (Outcome(code),), False, "nullok, not enrolled" if nullok else None, code
        )
    if "ldap_uri" in opts or "ldapserver" in opts:
        why = frozenset({"pam_yubico: the token mapping lives in LDAP"})
        return ModuleModel(
            (Outcome(SUCCESS, frozenset({"otp"}), why), Outcome(AUTH_ERR), Outcome(USER_UNKNOWN))
        )
    path = _home_expand(opts.get("authfile", "~/.yubico/authorized_yubikeys"), ctx, tilde=True)
    return _keyfile(ctx, path, nullok, False, "nullok", missing=USER_UNKNOWN)


def _keyfile(
    ctx: Context,
    path: str,
    skip_ok: bool,
    any_line: bool,
    option: str,
    *,
    missing: int,
) -> ModuleModel:
    """u2f/yubico: enrolled iff ``path`` lists ``user:...`` (or, ssh format, exists)."""
    text, unreadable = ctx.read(path)
    otp = frozenset({"otp"})
    if unreadable:
        why = frozenset({unreadable})
        skip = (Outcome(IGNORE, assumptions=why),) if skip_ok else ()
        return ModuleModel((Outcome(SUCCESS, otp, why), Outcome(AUTH_ERR), *skip))
    listed = text is not None and (
        any_line or any(ln.split(":", 1)[0] == ctx.account.name for ln in text.splitlines())
    )
    if listed:
        return ModuleModel((Outcome(SUCCESS, otp), Outcome(AUTH_ERR)), True)
    if skip_ok:
        return ModuleModel((Outcome(IGNORE),), False, f"{option}, not enrolled", IGNORE)
    return ModuleModel((Outcome(missing if text is None else USER_UNKNOWN),), False)


def model_server(line: PamLine, ctx: Context) -> ModuleModel:
    minimum = _opts(line).get("minimum_uid", "")
    if minimum.isdigit() and ctx.account.uid < int(minimum):
        return _fixed(IGNORE)  # pam_krb5/pam_ldap leave low uids (root) to the next module
    codes = [AUTH_ERR, USER_UNKNOWN, AUTHINFO_UNAVAIL]
    if "ignore_unknown_user" in line.args:
        codes[1] = IGNORE
    if "ignore_authinfo_unavail" in line.args:
        codes[2] = IGNORE
    ok = Outcome(SUCCESS, frozenset({f"server:{line.name}"}))
    return ModuleModel((ok, *(Outcome(c) for c in dict.fromkeys(codes))))


def model_nologin(line: PamLine, ctx: Context) -> ModuleModel:
    opts = _opts(line)
    files = [opts["file"]] if "file" in opts else ["/var/run/nologin", "/etc/nologin"]
    quiet = SUCCESS if "successok" in line.args else IGNORE
    if any(ctx.host.exists(f) for f in files):
        return _fixed(quiet if ctx.account.uid == 0 else AUTH_ERR)
    return _fixed(quiet)


def model_faillock(line: PamLine, ctx: Context) -> ModuleModel:
    # A locked tally only removes ways in; an unlocked account is the case that matters.
    return _fixed(IGNORE if "authfail" in line.args else SUCCESS)


def model_shells(line: PamLine, ctx: Context) -> ModuleModel:
    shell = ctx.shell()
    text, unreadable = ctx.read("/etc/shells")
    if shell is None or unreadable:
        return _fixed(
            SUCCESS,
            AUTH_ERR,
            assume=unreadable or f"the login shell of {ctx.account.name} is unknown",
        )
    listed = shell in {ln.strip() for ln in (text or "").splitlines()}
    return _fixed(SUCCESS if listed else AUTH_ERR)


def model_securetty(line: PamLine, ctx: Context) -> ModuleModel:
    if ctx.account.uid != 0:
        return _fixed(SUCCESS)
    text, unreadable = ctx.read("/etc/securetty")
    if text is None and not unreadable:
        text, unreadable = ctx.read("/usr/etc/securetty")
    if unreadable or (text is not None and ctx.tty is None):
        return _fixed(SUCCESS, AUTH_ERR, assume=unreadable or "the terminal name is unknown")
    if text is None:
        return _fixed(SUCCESS)
    return _fixed(SUCCESS if ctx.tty in {ln.strip() for ln in text.splitlines()} else AUTH_ERR)


def model_localuser(line: PamLine, ctx: Context) -> ModuleModel:
    path = _opts(line).get("file", "/etc/passwd")
    text, unreadable = ctx.read(path)
    if unreadable:
        return _fixed(SUCCESS, PERM_DENIED, assume=unreadable)
    found = any(ln.startswith(f"{ctx.account.name}:") for ln in (text or "").splitlines())
    return _fixed(SUCCESS if found else PERM_DENIED)


def model_usertype(line: PamLine, ctx: Context) -> ModuleModel:
    want = [a for a in line.args if a in ("issystem", "isregular")]
    if not want:
        return _fixed(SERVICE_ERR)
    defs, _ = ctx.read("/etc/login.defs")
    values = {f[0]: f[1] for f in (ln.split() for ln in (defs or "").splitlines()) if len(f) >= 2}

    def number(key: str, default: int) -> int:
        try:
            return int(values.get(key, default))
        except ValueError:
            return default

    uid = 0 if "use_uid" in line.args else ctx.account.uid
    uid_min = number("UID_MIN", 1000)
    system = (
        uid <= 99
        or uid == 65534
        or number("SYS_UID_MIN", 101) <= uid <= number("SYS_UID_MAX", uid_min - 1)
    )
    return _fixed(SUCCESS if system == (want[0] == "issystem") else AUTH_ERR)


def model_access(line: PamLine, ctx: Context) -> ModuleModel:
    path = _opts(line).get("accessfile", "/etc/security/access.conf")
    text, unreadable = ctx.read(path)
    rules = [
        ln for ln in (text or "").splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    rules += (
        ctx.host.glob("/etc/security/access.d/*.conf") if "accessfile" not in _opts(line) else []
    )
    # Rules usually name origins (the client address): some source can match either way.
    return _fixed(SUCCESS, PERM_DENIED) if rules or unreadable else _fixed(SUCCESS)


def model_listfile(line: PamLine, ctx: Context) -> ModuleModel:
    """``pam_listfile``: argument errors give ``onerr``; ``apply=`` only counts for tty/rhost."""
    onerr, sense, item, path, apply, bad = SERVICE_ERR, None, None, None, None, False
    for arg in (a for a in line.args if a != "quiet"):
        key, _, value = arg.partition("=")
        if not _:
            continue  # "Bad option", ignored
        if key == "onerr" and value in ("succeed", "fail"):
            onerr = SUCCESS if value == "succeed" else SERVICE_ERR
        elif key == "sense" and value in ("allow", "deny"):
            sense = value == "deny"
        elif key == "file":
            path = value
        elif key == "item":
            item = value if value in ("user", "tty", "rhost", "ruser", "group", "shell") else None
        elif key == "apply":
            apply = value
        else:
            bad = True  # unknown option or value
    if bad or item is None or path is None or sense is None or apply in ("", "@"):
        return _fixed(onerr)
    if apply and item in ("tty", "rhost"):
        applies = (
            ctx.account.name == apply
            if not apply.startswith("@")
            else apply[1:] in ctx.account.groups
        )
        if not applies:
            return _fixed(IGNORE)
    return _listfile_match(ctx, item, path, sense, onerr)


def _listfile_match(ctx: Context, item: str, path: str, deny: bool, onerr: int) -> ModuleModel:
    value: str | None
    if item in ("user", "group"):
        value = ctx.account.name
    elif item == "shell":
        value = ctx.shell() or None
        if value == "":
            value = "/bin/sh"
    else:
        value = ctx.tty if item == "tty" else ("" if item == "ruser" else None)
    if item == "shell" and value is None:
        return _fixed(SUCCESS, AUTH_ERR, assume=f"the login shell of {ctx.account.name} is unknown")
    if value is None:  # the client's host: some source address can match either way
        return _fixed(SUCCESS, AUTH_ERR)
    if value == "":
        return _fixed(SUCCESS if deny else AUTH_ERR)
    text, unreadable = ctx.read(path)
    if unreadable:
        return _fixed(SUCCESS, AUTH_ERR, assume=unreadable)
    if text is None:
        return _fixed(onerr)
    entries = [ln.rstrip("\r") for ln in text.split("\n") if ln.rstrip("\r")]
    if item == "tty":
        entries = [e.removeprefix("/dev/") for e in entries]
    matched = any(e in ctx.account.groups for e in entries) if item == "group" else value in entries
    return _fixed(SUCCESS if deny != matched else AUTH_ERR)


_SI_FLAGS = ("debug", "use_uid", "quiet", "quiet_fail", "quiet_success", "audit")


def model_succeed_if(line: PamLine, ctx: Context) -> ModuleModel:
    """``pam_succeed_if``: triples are ANDed; the first one not met decides the code."""
    use_uid = "use_uid" in line.args
    words = [a for a in line.args if a not in _SI_FLAGS]
    # Each branch: assumptions so far; a triple that depends on the client splits a branch.
    branches: list[frozenset[str]] = [frozenset()]
    ended: list[Outcome] = []
    for k in range(0, len(words) - len(words) % 3, 3):
        left, op, right = words[k : k + 3]
        results = _condition(ctx, use_uid, left, op, right)
        next_branches = []
        for why in branches:
            for code, extra in results:
                if code == SUCCESS:
                    next_branches.append(why | extra)
                else:
                    ended.append(Outcome(code, assumptions=why | extra))
        branches = next_branches
    final = SERVICE_ERR if len(words) % 3 else SUCCESS  # "incomplete condition detected"
    ended += [Outcome(final, assumptions=why) for why in branches]
    return ModuleModel(tuple(dict.fromkeys(ended)))


def _condition(
    ctx: Context, use_uid: bool, left: str, op: str, right: str
) -> list[tuple[int, frozenset[str]]]:
    acct = ctx.account
    name, uid, gid, home, groups = acct.name, acct.uid, acct.gid, acct.home, acct.groups
    shell = ctx.shell()
    if use_uid:  # the calling process: sshd (and pamtester) run PAM as root
        entry = ctx.passwd("root") or ["root", "x", "0", "0", "", "/root", "/bin/sh"]
        name, uid, gid, home, shell = entry[0], int(entry[2]), int(entry[3]), entry[5], entry[6]
        groups = ctx.groups_of(name, gid)
    attr = left.lower()
    values = {
        "login": name, "name": name, "user": name, "uid": str(uid), "gid": str(gid),
        "shell": shell, "home": home, "dir": home, "homedir": home, "service": ctx.service,
        "ruser": "", "tty": ctx.tty, "rhost": None,
    }  # fmt: skip
    if attr not in values:
        return [(SERVICE_ERR, frozenset())]
    q = op.lower()
    if q in ("ingroup", "notingroup"):
        # The group test is on the user (the remote user for "ruser"), whatever the attribute.
        member = attr != "ruser" and right in groups
        return [(SUCCESS if member == (q == "ingroup") else AUTH_ERR, frozenset())]
    if q in ("innetgr", "notinnetgr"):
        return [
            (SUCCESS, frozenset({f"netgroup {right} membership is unknown"})),
            (AUTH_ERR, frozenset()),
        ]
    value = values[attr]
    if value is None and attr in ("rhost", "tty"):
        return [(SUCCESS, frozenset()), (AUTH_ERR, frozenset())]  # the client decides
    if value is None:
        return [
            (SUCCESS, frozenset({f"the login shell of {name} is unknown"})),
            (AUTH_ERR, frozenset()),
        ]
    return [(_compare(value, q, right), frozenset())]


def _strtoll(text: str) -> int | None:
    """C ``strtoll(text, &end, 0)`` that must consume the whole string ("" is 0, as in C)."""
    body = text.lstrip(" \t\n\v\f\r")
    sign = -1 if body[:1] == "-" else 1
    rest = body[1:] if body[:1] in ("-", "+") else body
    if rest[:2].lower() == "0x" and rest[2:3] and rest[2] in "0123456789abcdefABCDEF":
        base, digits = 16, rest[2:]
    else:
        base, digits = (8 if rest[:1] == "0" else 10), rest
    if not digits:
        return 0 if not text else None  # no conversion: only an empty string is fully consumed
    try:
        number = sign * int(digits, base)
    except ValueError:
        return None
    return number if -(2**63) <= number < 2**63 else None


def _compare(value: str, op: str, right: str) -> int:
    numeric = {
        "<": "lt",
        "lt": "lt",
        "<=": "le",
        "le": "le",
        ">": "gt",
        "gt": "gt",
        ">=": "ge",
        "ge": "ge",
        "eq": "eq",
        "ne": "ne",
    }
    if op in numeric:
        a, b = _strtoll(value), _strtoll(right)
        if a is None or b is None:
            return SERVICE_ERR
        ok = {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b, "eq": a == b, "ne": a != b}[
            numeric[op]
        ]
    elif op in ("=", "!="):
        ok = (value == right) == (op == "=")
    elif op in ("=~", "glob", "!~", "noglob"):
        ok = fnmatch.fnmatchcase(value, right) == (op in ("=~", "glob"))
    elif op in ("in", "notin"):
        ok = _in_list(value, right) == (op == "in")
    else:
        return SERVICE_ERR
    return SUCCESS if ok else AUTH_ERR


def _in_list(left: str, right: str) -> bool:
    """``evaluate_inlist``: ``left`` between ``:`` separators (``left`` may itself hold ``:``)."""
    start = 0
    while (p := right.find(left, start)) != -1:
        end = p + len(left)
        if p == start or right[p - 1] == ":":
            if end == len(right) or right[end] == ":":
                return True
            p = end
        nxt = right.find(":", p)
        if nxt == -1:
            return False
        start = nxt + 1
    return False


def model_unmodelled(line: PamLine, ctx: Context) -> ModuleModel:
    why = frozenset({f"{line.name} ({line.location}) {UNMODELLED}: assumed it can succeed"})
    return ModuleModel(
        (Outcome(SUCCESS, assumptions=why), Outcome(IGNORE, assumptions=why), Outcome(AUTH_ERR))
    )


def model_module(line: PamLine, ctx: Context) -> ModuleModel:
    """Every code ``line``'s module can return for U."""
    name = line.name
    if line.installed is False or name in NO_AUTH:
        return _fixed(MODULE_UNKNOWN)
    if name in FIXED:
        return _fixed(FIXED[name])
    if name in SERVER:
        return model_server(line, ctx)
    models: dict[str, Callable[[PamLine, Context], ModuleModel]] = {
        "pam_unix": model_unix,
        "pam_unix2": model_unix,
        "pam_google_authenticator": model_google_authenticator,
        "pam_oath": model_oath,
        "pam_u2f": model_u2f,
        "pam_yubico": model_yubico,
        "pam_nologin": model_nologin,
        "pam_faillock": model_faillock,
        "pam_shells": model_shells,
        "pam_securetty": model_securetty,
        "pam_localuser": model_localuser,
        "pam_usertype": model_usertype,
        "pam_access": model_access,
        "pam_listfile": model_listfile,
        "pam_succeed_if": model_succeed_if,
    }
    return models.get(name, model_unmodelled)(line, ctx)
