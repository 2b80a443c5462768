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

from collections.abc import Callable

from rra.agent.auth.pam_modules import (
    model_access,
    model_faillock,
    model_google_authenticator,
    model_listfile,
    model_localuser,
    model_nologin,
    model_oath,
    model_securetty,
    model_server,
    model_shells,
    model_u2f,
    model_unix,
    model_usertype,
    model_yubico,
)
from rra.agent.auth.pam_parse import AUTH_ERR, IGNORE, MODULE_UNKNOWN, SUCCESS, PamLine
from rra.agent.auth.pam_succeed_if import model_succeed_if
from rra.agent.auth.pam_types import CRASH, Context, ModuleModel, Outcome, PamAccount, fixed

__all__ = [
    "CRASH",
    "FIXED",
    "NO_AUTH",
    "SECOND_FACTOR",
    "SERVER",
    "UNMODELLED",
    "Context",
    "ModuleModel",
    "Outcome",
    "PamAccount",
    "model_module",
    "model_unmodelled",
]

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


def model_unmodelled(line: PamLine, ctx: Context) -> ModuleModel:
    why = frozenset({f"{line.name} ({line.location}) {UNMODELLED}: assumed it can succeed"})
    return ModuleModel(
        (Outcome(SUCCESS, assumptions=why), Outcome(IGNORE, assumptions=why), Outcome(AUTH_ERR))
    )


def model_module(line: PamLine, ctx: Context) -> ModuleModel:
    """Every code ``line``'s module can return for U."""
    name = line.name
    if line.installed is False or name in NO_AUTH:
        return fixed(MODULE_UNKNOWN)
    if name in FIXED:
        return fixed(FIXED[name])
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
