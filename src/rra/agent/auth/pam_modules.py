"""The return-code models of the PAM modules that have one (see :mod:`rra.agent.auth.pam_eval`)."""

from __future__ import annotations

from rra.agent.auth.pam_parse import (
    AUTH_ERR,
    AUTHINFO_UNAVAIL,
    AUTHTOK_ERR,
    IGNORE,
    PERM_DENIED,
    SERVICE_ERR,
    SUCCESS,
    USER_UNKNOWN,
    PamLine,
)
from rra.agent.auth.pam_types import CRASH, Context, ModuleModel, Outcome, fixed


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
        return fixed(IGNORE)  # pam_krb5/pam_ldap leave low uids (root) to the next module
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
        return fixed(quiet if ctx.account.uid == 0 else AUTH_ERR)
    return fixed(quiet)


def model_faillock(line: PamLine, ctx: Context) -> ModuleModel:
    # A locked tally only removes ways in; an unlocked account is the case that matters.
    return fixed(IGNORE if "authfail" in line.args else SUCCESS)


def model_shells(line: PamLine, ctx: Context) -> ModuleModel:
    shell = ctx.shell()
    text, unreadable = ctx.read("/etc/shells")
    if shell is None or unreadable:
        return fixed(
            SUCCESS,
            AUTH_ERR,
            assume=unreadable or f"the login shell of {ctx.account.name} is unknown",
        )
    listed = shell in {ln.strip() for ln in (text or "").splitlines()}
    return fixed(SUCCESS if listed else AUTH_ERR)


def model_securetty(line: PamLine, ctx: Context) -> ModuleModel:
    if ctx.account.uid != 0:
        return fixed(SUCCESS)
    text, unreadable = ctx.read("/etc/securetty")
    if text is None and not unreadable:
        text, unreadable = ctx.read("/usr/etc/securetty")
    if unreadable or (text is not None and ctx.tty is None):
        return fixed(SUCCESS, AUTH_ERR, assume=unreadable or "the terminal name is unknown")
    if text is None:
        return fixed(SUCCESS)
    return fixed(SUCCESS if ctx.tty in {ln.strip() for ln in text.splitlines()} else AUTH_ERR)


def model_localuser(line: PamLine, ctx: Context) -> ModuleModel:
    path = _opts(line).get("file", "/etc/passwd")
    text, unreadable = ctx.read(path)
    if unreadable:
        return fixed(SUCCESS, PERM_DENIED, assume=unreadable)
    found = any(ln.startswith(f"{ctx.account.name}:") for ln in (text or "").splitlines())
    return fixed(SUCCESS if found else PERM_DENIED)


def model_usertype(line: PamLine, ctx: Context) -> ModuleModel:
    want = [a for a in line.args if a in ("issystem", "isregular")]
    if not want:
        return fixed(SERVICE_ERR)
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
    return fixed(SUCCESS if system == (want[0] == "issystem") else AUTH_ERR)


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
    return fixed(SUCCESS, PERM_DENIED) if rules or unreadable else fixed(SUCCESS)


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
        return fixed(onerr)
    if apply and item in ("tty", "rhost"):
        applies = (
            ctx.account.name == apply
            if not apply.startswith("@")
            else apply[1:] in ctx.account.groups
        )
        if not applies:
            return fixed(IGNORE)
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
        return fixed(SUCCESS, AUTH_ERR, assume=f"the login shell of {ctx.account.name} is unknown")
    if value is None:  # the client's host: some source address can match either way
        return fixed(SUCCESS, AUTH_ERR)
    if value == "":
        return fixed(SUCCESS if deny else AUTH_ERR)
    text, unreadable = ctx.read(path)
    if unreadable:
        return fixed(SUCCESS, AUTH_ERR, assume=unreadable)
    if text is None:
        return fixed(onerr)
    entries = [ln.rstrip("\r") for ln in text.split("\n") if ln.rstrip("\r")]
    if item == "tty":
        entries = [e.removeprefix("/dev/") for e in entries]
    matched = any(e in ctx.account.groups for e in entries) if item == "group" else value in entries
    return fixed(SUCCESS if deny != matched else AUTH_ERR)
