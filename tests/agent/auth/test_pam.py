"""PAM auth stack resolution and simulation on fake file trees (``LocalHost(tmp_path)``).

The semantics pinned here were first measured on real Linux-PAM 1.5.2 with pamtester; the
differential tests in ``test_pam_oracle.py`` keep them honest.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rra.agent.auth.pam import PamAccount, PamOutcome, PamStack, evaluate_pam, load_pam_stack
from rra.agent.auth.pam_eval import Context, model_module
from rra.agent.auth.pam_parse import (
    A_BAD,
    A_DIE,
    A_DONE,
    A_IGNORE,
    A_OK,
    AUTH_ERR,
    IGNORE,
    MODULE_UNKNOWN,
    N_CODES,
    SERVICE_ERR,
    SUCCESS,
    USER_UNKNOWN,
    assemble_lines,
    parse_control,
    tokenize,
)
from rra.agent.local import LocalHost

# Debian 12: /etc/pam.d/sshd (openssh-server) and common-auth as pam-auth-update writes it with
# libpam-cap installed.
DEBIAN_SSHD = """\
# PAM configuration for the Secure Shell service

# Standard Un*x authentication.
@include common-auth

# Disallow non-root logins when /etc/nologin exists.
account    required     pam_nologin.so

# Standard Un*x authorization.
@include common-account

session [success=ok ignore=ignore module_unknown=ignore default=bad]        pam_selinux.so close
session    required     pam_loginuid.so
session    optional     pam_keyinit.so force revoke
@include common-session
session    optional     pam_motd.so  motd=/run/motd.dynamic
session    optional     pam_motd.so noupdate
session    optional     pam_mail.so standard noenv # [1]
session    required     pam_limits.so
session    required     pam_env.so # [1]
session    required     pam_env.so user_readenv=1 envfile=/etc/default/locale
session [success=ok ignore=ignore module_unknown=ignore default=bad]        pam_selinux.so open

# Standard Un*x password updating.
@include common-password
"""
DEBIAN_COMMON_AUTH = """\
#
# /etc/pam.d/common-auth - authentication settings common to all services
#
# here are the per-package modules (the "Primary" block)
auth	[success=1 default=ignore]	pam_unix.so nullok
# here's the fallback if no module succeeds
auth	requisite			pam_deny.so
# prime the stack with a positive return value if there isn't one already;
# this avoids us returning an error just because nothing sets a success code
# since the modules above will each just jump around
auth	required			pam_permit.so
# and here are more per-package modules (the "Additional" block)
auth	optional			pam_cap.so 
# end of pam-auth-update config
"""  # noqa: W291 - the trailing blank after pam_cap.so is Debian's
DEBIAN_OTHER = """\
@include common-auth
@include common-account
@include common-password
@include common-session
"""
DEBIAN_REST = {
    "common-account": "account [success=1 new_authtok_reqd=done default=ignore] pam_unix.so\n"
    "account requisite pam_deny.so\naccount required pam_permit.so\n",
    "common-session": "session required pam_unix.so\n",
    "common-password": "password [success=1 default=ignore] pam_unix.so obscure yescrypt\n"
    "password requisite pam_deny.so\npassword required pam_permit.so\n",
}

PW = frozenset({"password"})
OTP = frozenset({"otp"})
BOTH = PW | OTP
NONE: frozenset[str] = frozenset()


def make_tree(root: Path, files: dict[str, str], modules: tuple[str, ...] = ()) -> LocalHost:
    """Files keyed by host path (a bare name goes to /etc/pam.d); ``modules`` get installed."""
    for name, text in files.items():
        path = root / (name.lstrip("/") if name.startswith("/") else f"etc/pam.d/{name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if modules:
        security = root / "lib/x86_64-linux-gnu/security"
        security.mkdir(parents=True, exist_ok=True)
        for module in modules:
            (security / module).write_bytes(b"")
    return LocalHost(root)


def debian(**extra: str) -> dict[str, str]:
    files = {"sshd": DEBIAN_SSHD, "common-auth": DEBIAN_COMMON_AUTH, "other": DEBIAN_OTHER}
    return {**files, **DEBIAN_REST, **extra}


def account(
    name: str = "alice",
    uid: int = 1000,
    state: str | None = "usable",
    groups: frozenset[str] = frozenset(),
    shell: str | None = "/bin/bash",
) -> PamAccount:
    return PamAccount(name, uid, uid, f"/home/{name}", groups | {name}, state, shell)  # type: ignore[arg-type]


def ways(outcome: PamOutcome) -> set[frozenset[str]]:
    """The authenticator sets of the assumption-free ways in."""
    return {p.authenticators for p in outcome.paths if not p.assumptions}


def run(host: LocalHost, who: PamAccount | None = None, service: str = "sshd") -> PamOutcome:
    return evaluate_pam(load_pam_stack(host, service), who or account(), host)


GA_SECRET = 'JBSWY3DPEHPK3PXP\n" TOTP_AUTH\n'


# --- parsing ------------------------------------------------------------------------------------


def test_logical_lines_follow_libpam_comments_and_continuations() -> None:
    text = "auth requ\\\nired pam_permit.so\nauth [x] a.so # c\\\nauth b.so\n  \nauth c \\\n# note\n\nd.so\n"
    assert assemble_lines(text) == [
        (1, "auth requ ired pam_permit.so"),
        (3, "auth [x] a.so "),  # the comment ends the line before the backslash can continue it
        (4, "auth b.so"),
        (6, "auth c  d.so"),  # blank and comment lines inside a continuation are skipped
    ]


def test_tokens_keep_brackets_whole_and_unescape_closing_bracket() -> None:
    assert tokenize("auth  [success=1 default=ignore]pam_x.so [a=b\\]c d] x=[y z]") == [
        "auth",
        "success=1 default=ignore",
        "pam_x.so",
        "a=b]c d",
        "x=[y",  # "[" is special only at the start of a token
        "z]",
    ]


def test_bracket_control_defaults_and_errors() -> None:
    actions, error = parse_control(" success = ok  default=die ")
    assert error is None and actions[SUCCESS] == A_OK and actions[AUTH_ERR] == A_DIE
    # "default" fills only the codes still undefined at that point; the rest become "bad".
    actions, _ = parse_control("default=ignore success=done default=die")
    assert actions[SUCCESS] == A_DONE and actions[IGNORE] == A_IGNORE
    actions, _ = parse_control("user_unknown=2")
    assert actions[USER_UNKNOWN] == 2 and actions[SUCCESS] == A_BAD
    for broken in ("success=okay", "succes=ok", "success=0", "success", "success=", "bogus"):
        actions, error = parse_control(broken)
        assert error and actions == (A_BAD,) * N_CODES, broken


def test_debian_sshd_resolves_through_at_include(tmp_path: Path) -> None:
    stack = load_pam_stack(make_tree(tmp_path, debian()), "sshd")
    assert stack.describe() == [
        "auth [success=1 default=ignore] pam_unix.so nullok (/etc/pam.d/common-auth:5)",
        "auth requisite pam_deny.so (/etc/pam.d/common-auth:7)",
        "auth required pam_permit.so (/etc/pam.d/common-auth:11)",
        "auth optional pam_cap.so (/etc/pam.d/common-auth:13)",
    ]
    assert stack.source == "/etc/pam.d/sshd" and stack.errors == [] and stack.failure is None
    assert stack.second_factor_modules == []
    # "other" is read only when libpam needs it: its absence is no error for sshd.
    alone = {"sshd": DEBIAN_SSHD, "common-auth": DEBIAN_COMMON_AUTH, **DEBIAN_REST}
    assert load_pam_stack(make_tree(tmp_path / "alone", alone)).errors == []


def test_debian_stack_per_password_state(tmp_path: Path) -> None:
    host = make_tree(tmp_path, debian())
    assert ways(run(host, account(state="usable"))) == {PW}
    assert ways(run(host, account(state="empty"))) == {NONE}  # nullok: no prompt at all
    assert run(host, account(state="locked")).paths == ()
    unknown = run(host, account(state=None))
    assert ways(unknown) == set()
    # An empty password (nullok) would need nothing, which makes the password way redundant.
    assert [(p.authenticators, p.assumptions) for p in unknown.paths] == [
        (NONE, ("could not read /etc/shadow: the password state is unknown",))
    ]


def test_second_factor_after_common_auth(tmp_path: Path) -> None:
    sshd = DEBIAN_SSHD.replace(
        "@include common-auth\n",
        "@include common-auth\nauth required pam_google_authenticator.so nullok\n",
    )
    files = debian(sshd=sshd, **{"/home/bob/.google_authenticator": GA_SECRET})
    host = make_tree(tmp_path, files)
    enrolled = run(host, account("bob"))
    assert ways(enrolled) == {BOTH}
    assert (enrolled.modules, enrolled.enrolled, enrolled.skippable) == (
        ["pam_google_authenticator"],
        True,
        [],
    )
    skipped = run(host, account("alice"))
    assert ways(skipped) == {PW}
    assert skipped.enrolled is False
    assert skipped.skippable == ["pam_google_authenticator (nullok, not enrolled)"]


def test_second_factor_without_nullok_locks_out_the_unenrolled(tmp_path: Path) -> None:
    host = make_tree(
        tmp_path, {"sshd": "auth required pam_unix.so\nauth required pam_google_authenticator.so\n"}
    )
    outcome = run(host)
    assert outcome.paths == () and outcome.enrolled is False and outcome.skippable == []


def test_nullok_is_ignore_so_sufficient_does_not_end_the_stack(tmp_path: Path) -> None:
    files = {
        "sshd": "auth sufficient pam_google_authenticator.so nullok\nauth required pam_unix.so\n",
        "/home/bob/.google_authenticator": GA_SECRET,
    }
    host = make_tree(tmp_path, files)
    assert ways(run(host, account("bob"))) == {OTP, PW}  # either factor alone
    assert ways(run(host, account("alice"))) == {PW}


def test_sufficient_password_before_the_second_factor_bypasses_it(tmp_path: Path) -> None:
    files = {
        "sshd": "auth sufficient pam_unix.so\nauth required pam_google_authenticator.so\n",
        "/home/bob/.google_authenticator": GA_SECRET,
    }
    outcome = run(make_tree(tmp_path, files), account("bob"))
    assert ways(outcome) == {PW, OTP}  # a failed "sufficient" is ignored: the code alone also works
    assert outcome.skippable == ["pam_google_authenticator (not required on every way in)"]


def test_secret_path_expansion_and_user_option(tmp_path: Path) -> None:
    files = {
        "sshd": "auth required pam_google_authenticator.so secret=/var/ga/${USER}/key nullok\n",
        "/var/ga/bob/key": GA_SECRET,
    }
    host = make_tree(tmp_path, files)
    assert ways(run(host, account("bob"))) == {OTP}
    assert run(host, account("alice")).paths == ()  # IGNORE alone sets no status: failure
    tilde = make_tree(
        tmp_path / "t", {"sshd": "auth required pam_google_authenticator.so user=0 nullok\n"}
    )
    assert run(tilde).skippable == []  # "~" with user= is an error, not a skip


class DenyingHost(LocalHost):
    """A host where some paths exist but cannot be read (as for a non-root collector)."""

    def __init__(self, root: Path, denied: tuple[str, ...]) -> None:
        super().__init__(root)
        self.denied = denied

    def read_file(self, path: str) -> bytes | None:
        if path in self.denied:
            raise PermissionError(path)
        return super().read_file(path)


def test_unreadable_secret_is_an_assumption(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {"sshd": "auth required pam_unix.so\nauth required pam_google_authenticator.so nullok\n"},
    )
    host = DenyingHost(tmp_path, ("/home/alice/.google_authenticator",))
    outcome = evaluate_pam(load_pam_stack(host), account(), host)
    assert ways(outcome) == set()
    assert {p.authenticators for p in outcome.paths} == {PW}  # BOTH is a superset: dropped
    assert outcome.paths[0].assumptions == (
        "could not read /home/alice/.google_authenticator: permission denied",
    )
    assert outcome.enrolled is None


def test_unreadable_service_file_is_unknown(tmp_path: Path) -> None:
    make_tree(tmp_path, debian())
    host = DenyingHost(tmp_path, ("/etc/pam.d/sshd",))
    stack = load_pam_stack(host)
    outcome = evaluate_pam(stack, account(), host)
    assert stack.unknown and outcome.unknown_reason == stack.unknown


# --- includes, fallbacks and failures ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["auth include", "auth substack", "@include"])
def test_include_loops_are_errors_not_recursion(tmp_path: Path, kind: str) -> None:
    files = {
        "sshd": f"auth required pam_permit.so\n{kind} a\n",
        "a": f"{kind} b\n",
        "b": f"{kind} a\n",
    }
    stack = load_pam_stack(make_tree(tmp_path, files))
    assert stack.unknown and "include loop" in stack.unknown
    assert any("a → /etc/pam.d/b → /etc/pam.d/a" in e for e in stack.errors)
    assert evaluate_pam(stack, account(), LocalHost(tmp_path)).unknown_reason == stack.unknown


def test_missing_include_is_one_failing_line(tmp_path: Path) -> None:
    files = {
        "sshd": "auth sufficient pam_unix.so\nauth include nowhere\nauth required pam_permit.so\n"
    }
    stack = load_pam_stack(make_tree(tmp_path, files))
    assert [line.kind for line in stack.lines] == ["module", "fail", "module"]
    assert "include nowhere cannot be loaded" in stack.describe()[1]
    assert ways(evaluate_pam(stack, account(), LocalHost(tmp_path))) == {PW}


def test_missing_at_include_breaks_the_whole_service(tmp_path: Path) -> None:
    files = {
        "sshd": "auth sufficient pam_permit.so\n@include nowhere\n",
        "other": "auth required pam_permit.so\n",
    }
    stack = load_pam_stack(make_tree(tmp_path, files))
    assert stack.failure and "cannot be loaded" in stack.failure
    assert evaluate_pam(stack, account(), LocalHost(tmp_path)).paths == ()


def test_session_include_without_file_breaks_auth_too(tmp_path: Path) -> None:
    files = {"sshd": "auth required pam_permit.so\nsession include\n"}
    stack = load_pam_stack(make_tree(tmp_path, files))
    assert stack.failure and "crashes" in stack.failure


def test_missing_service_and_service_without_auth_use_other(tmp_path: Path) -> None:
    host = make_tree(tmp_path, {**debian(), "cron": "session required pam_limits.so\n"})
    for service in ("nosuch", "cron"):
        stack = load_pam_stack(host, service)
        assert stack.source == "/etc/pam.d/other" and len(stack.lines) == 4
        assert ways(evaluate_pam(stack, account(), host)) == {PW}
    bare = load_pam_stack(
        make_tree(tmp_path / "bare", {"sshd_old": "auth required pam_permit.so\n"})
    )
    assert bare.failure == "no PAM configuration for 'sshd' and no 'other'"


def test_vendor_directory_is_searched_after_etc(tmp_path: Path) -> None:
    host = make_tree(tmp_path, {"/usr/lib/pam.d/sshd": "auth required pam_permit.so\n"})
    assert load_pam_stack(host).source == "/usr/lib/pam.d/sshd"


def test_illegal_type_and_missing_control_always_fail(tmp_path: Path) -> None:
    files = {"sshd": "bogus optional pam_permit.so\nauth\nauth required pam_permit.so\n"}
    stack = load_pam_stack(make_tree(tmp_path, files))
    assert [line.kind for line in stack.lines] == ["fail", "fail", "module"]
    # The illegal line keeps its "optional" control: its failure is ignored; the bare "auth" is bad.
    assert run(LocalHost(tmp_path)).paths == ()


# --- the dispatch state machine --------------------------------------------------------------------


def test_done_ends_only_the_substack(tmp_path: Path) -> None:
    inner = "auth [success=done default=die] pam_unix.so\nauth required pam_deny.so\n"
    tail = "auth required pam_google_authenticator.so\n"
    files = {"/home/alice/.google_authenticator": GA_SECRET, "inner": inner}
    sub = make_tree(tmp_path / "s", {**files, "sshd": f"auth substack inner\n{tail}"})
    inc = make_tree(tmp_path / "i", {**files, "sshd": f"auth include inner\n{tail}"})
    assert ways(run(sub)) == {BOTH}
    assert ways(run(inc)) == {PW}


def test_jumps_count_lines_of_the_same_substack(tmp_path: Path) -> None:
    stack = (
        "auth [success=2 default=ignore] pam_unix.so\n"
        "auth [success=1 default=ignore] pam_google_authenticator.so\n"
        "auth requisite pam_deny.so\n"
        "auth required pam_permit.so\n"
    )
    host = make_tree(tmp_path, {"sshd": stack, "/home/alice/.google_authenticator": GA_SECRET})
    assert ways(run(host)) == {PW, OTP}
    over_substack = "auth [success=1 default=ignore] pam_permit.so\nauth substack deny\nauth required pam_permit.so\n"
    host = make_tree(
        tmp_path / "x",
        {"sshd": over_substack, "deny": "auth requisite pam_deny.so\nauth required pam_deny.so\n"},
    )
    assert ways(run(host)) == {NONE}


def test_jump_past_the_end_fails(tmp_path: Path) -> None:
    host = make_tree(
        tmp_path,
        {"sshd": "auth required pam_permit.so\nauth [success=1 default=ignore] pam_permit.so\n"},
    )
    assert run(host).paths == ()
    inner = make_tree(
        tmp_path / "s",
        {
            "sshd": "auth substack s\nauth required pam_permit.so\n",
            "s": "auth [success=1 default=ignore] pam_permit.so\n",
        },
    )
    assert run(inner).paths == ()


def test_reset_and_frozen_ok(tmp_path: Path) -> None:
    reset = (
        "auth required pam_deny.so\nauth [default=reset] pam_permit.so\nauth required pam_unix.so\n"
    )
    assert ways(run(make_tree(tmp_path / "r", {"sshd": reset}))) == {PW}
    # "ok" with a failure code freezes the failure: the later success cannot overwrite it.
    frozen = "auth [default=ok] pam_deny.so\nauth required pam_unix.so\n"
    assert run(make_tree(tmp_path / "f", {"sshd": frozen})).paths == ()
    # A stack in which nobody sets a status fails (PAM_PERM_DENIED).
    assert run(make_tree(tmp_path / "o", {"sshd": "auth optional pam_deny.so\n"})).paths == ()


def test_missing_module_is_module_unknown_even_with_dash(tmp_path: Path) -> None:
    installed = ("pam_unix.so", "pam_permit.so", "pam_limits.so")
    required = "-auth required pam_nothere.so\nauth sufficient pam_unix.so\n"
    assert run(make_tree(tmp_path / "a", {"sshd": required}, installed)).paths == ()
    optional = "-auth optional pam_nothere.so\nauth required pam_unix.so\n"
    assert ways(run(make_tree(tmp_path / "b", {"sshd": optional}, installed))) == {PW}
    # A session-only module has no auth function: the same PAM_MODULE_UNKNOWN.
    tolerant = "auth [module_unknown=ignore default=bad] pam_limits.so\nauth required pam_unix.so\n"
    assert ways(run(make_tree(tmp_path / "c", {"sshd": tolerant}, installed))) == {PW}
    stack = load_pam_stack(make_tree(tmp_path / "a", {}, installed))
    assert stack.lines[0].installed is False and "[module not installed]" in stack.describe()[0]


def test_without_a_module_directory_modules_are_assumed_installed(tmp_path: Path) -> None:
    stack = load_pam_stack(make_tree(tmp_path, {"sshd": "auth required pam_unix.so\n"}))
    assert stack.lines[0].installed is None


# --- modules --------------------------------------------------------------------------------------


def test_oath_unknown_user_is_skippable_only_when_ignored(tmp_path: Path) -> None:
    users = "HOTP/T30 bob - 3132333435363738393031323334353637383930\n# alice - 00\n"
    ignore = "auth required pam_unix.so\nauth [user_unknown=ignore success=ok default=bad] pam_oath.so usersfile=/etc/users.oath\n"
    host = make_tree(tmp_path, {"sshd": ignore, "/etc/users.oath": users})
    assert ways(run(host, account("bob"))) == {BOTH}
    alice = run(host, account("alice"))
    assert ways(alice) == {PW}
    assert alice.skippable == ["pam_oath (not listed in /etc/users.oath)"]
    strict = make_tree(
        tmp_path / "s",
        {
            "sshd": ignore.replace("[user_unknown=ignore success=ok default=bad]", "required"),
            "/etc/users.oath": users,
        },
    )
    assert run(strict, account("alice")).paths == ()


def test_oath_without_usersfile_crashes_and_alwaysok_always_succeeds(tmp_path: Path) -> None:
    assert (
        run(
            make_tree(
                tmp_path / "a",
                {"sshd": "auth sufficient pam_oath.so\nauth required pam_permit.so\n"},
            )
        ).paths
        == ()
    )
    always = "auth required pam_unix.so\nauth required pam_oath.so usersfile=/x alwaysok\n"
    assert ways(run(make_tree(tmp_path / "b", {"sshd": always}))) == {PW}


@pytest.mark.parametrize(
    ("condition", "for_alice", "for_carol"),
    [
        ("user ingroup admins", BOTH, PW),
        ("user notingroup admins", PW, BOTH),
        ("uid >= 1001", PW, BOTH),
        ("user in carol:bob", PW, BOTH),
        ("uid eq 0x3e8", BOTH, PW),  # strtoll base 0: hex
        ("uid eq 01750", BOTH, PW),  # and octal
        ("home =~ /home/c*", PW, BOTH),
        ("use_uid user = root", BOTH, BOTH),  # use_uid tests the caller: sshd runs as root
        ("use_uid user = alice", PW, PW),
    ],
)
def test_succeed_if_makes_the_second_factor_selective(
    tmp_path: Path, condition: str, for_alice: frozenset[str], for_carol: frozenset[str]
) -> None:
    stack = (
        "auth required pam_unix.so\n"
        f"auth [success=ok default=1] pam_succeed_if.so {condition} quiet\n"
        "auth required pam_google_authenticator.so\n"
    )
    files = {
        "sshd": stack,
        "/home/alice/.google_authenticator": GA_SECRET,
        "/home/carol/.google_authenticator": GA_SECRET,
        "/etc/passwd": "root:x:0:0:root:/root:/bin/bash\n",
    }
    host = make_tree(tmp_path, files)
    assert ways(run(host, account("alice", groups=frozenset({"admins"})))) == {for_alice}
    assert ways(run(host, account("carol", 1001))) == {for_carol}


def test_succeed_if_errors(tmp_path: Path) -> None:
    ctx = Context(make_tree(tmp_path, {}), account(), "sshd")

    def codes(args: str) -> set[int]:
        stack = load_pam_stack(
            make_tree(tmp_path, {"sshd": f"auth required pam_succeed_if.so {args}\n"})
        )
        return {o.code for o in model_module(stack.lines[0], ctx).outcomes}

    assert codes("") == {SUCCESS}
    assert codes("uid") == {SERVICE_ERR}  # incomplete condition
    assert codes("uid > abc") == {SERVICE_ERR}
    assert codes("colour = red") == {SERVICE_ERR}
    assert codes("user = bob uid eq") == {AUTH_ERR}  # the first unmet condition decides
    assert codes("uid eq []") == {AUTH_ERR}  # strtoll("") is 0
    assert codes("rhost = 10.0.0.1") == {SUCCESS, AUTH_ERR}  # the client decides


def test_server_modules_report_the_server(tmp_path: Path) -> None:
    stack = "auth required pam_unix.so\nauth required pam_radius_auth.so\n"
    outcome = run(make_tree(tmp_path, {"sshd": stack}))
    assert ways(outcome) == {PW | {"server:pam_radius_auth"}}
    sss = "auth [success=1 default=ignore] pam_sss.so ignore_unknown_user\nauth required pam_deny.so\nauth required pam_permit.so\n"
    assert ways(run(make_tree(tmp_path / "s", {"sshd": sss}))) == {frozenset({"server:pam_sss"})}


def test_server_module_leaves_low_uids_to_pam_unix(tmp_path: Path) -> None:
    stack = (
        "auth [success=2 default=ignore] pam_krb5.so minimum_uid=1000\n"
        "auth [success=1 default=ignore] pam_unix.so try_first_pass\n"
        "auth requisite pam_deny.so\nauth required pam_permit.so\n"
    )
    host = make_tree(tmp_path, {"sshd": stack})
    root = PamAccount("root", 0, 0, "/root", frozenset({"root"}), "usable")
    assert ways(run(host, root)) == {PW}
    assert ways(run(host)) == {PW, frozenset({"server:pam_krb5"})}


def test_u2f_nouserok_and_authfile(tmp_path: Path) -> None:
    stack = (
        "auth required pam_unix.so\nauth required pam_u2f.so authfile=/etc/u2f_mappings nouserok\n"
    )
    host = make_tree(
        tmp_path, {"sshd": stack, "/etc/u2f_mappings": "bob:kh1,pk1,es256,+presence\n"}
    )
    assert ways(run(host, account("bob"))) == {BOTH}
    alice = run(host, account("alice"))
    assert ways(alice) == {PW} and alice.skippable == ["pam_u2f (nouserok, not enrolled)"]
    per_user = make_tree(
        tmp_path / "u",
        {
            "sshd": "auth required pam_u2f.so\n",
            "/home/alice/.config/Yubico/u2f_keys": "alice:kh,pk\n",
        },
    )
    assert ways(run(per_user)) == {OTP}


def test_unmodelled_module_is_an_assumption(tmp_path: Path) -> None:
    stack = "auth sufficient pam_custom.so\nauth required pam_unix.so\nauth required pam_google_authenticator.so nullok\n"
    outcome = run(make_tree(tmp_path, {"sshd": stack}))
    assert ways(outcome) == {PW}
    assert outcome.unknown_reason and "pam_custom" in outcome.unknown_reason
    assert {p.authenticators for p in outcome.paths if p.assumptions} == {NONE}


def test_paths_are_minimal(tmp_path: Path) -> None:
    stack = "auth optional pam_google_authenticator.so\nauth optional pam_unix.so\nauth required pam_permit.so\n"
    host = make_tree(tmp_path, {"sshd": stack, "/home/alice/.google_authenticator": GA_SECRET})
    assert [p.authenticators for p in run(host).paths] == [NONE]


def test_long_stacks_are_memoised(tmp_path: Path) -> None:
    # 60 lines that each may succeed or fail (and jump): naive enumeration would be 2^60 runs.
    body = "".join(
        f"auth [success={1 + i % 2} default=ignore] pam_custom{i}.so\nauth optional pam_unix.so\n"
        for i in range(30)
    )
    host = make_tree(
        tmp_path, {"sshd": body + "auth required pam_permit.so\nauth required pam_permit.so\n"}
    )
    start = time.monotonic()
    outcome = run(host)
    assert time.monotonic() - start < 5
    assert NONE in {p.authenticators for p in outcome.paths}


def test_stack_type_records_structure(tmp_path: Path) -> None:
    files = {
        "sshd": "auth substack two\n",
        "two": "auth required pam_unix.so\nauth required pam_google_authenticator.so\n",
    }
    stack: PamStack = load_pam_stack(make_tree(tmp_path, files))
    assert [(line.kind, line.level) for line in stack.lines] == [
        ("substack", 0),
        ("module", 1),
        ("module", 1),
    ]
    assert stack.describe()[1] == "  auth required pam_unix.so (/etc/pam.d/two:1)"
    assert stack.second_factor_modules == ["pam_google_authenticator"]


def test_fixed_and_conditional_module_codes(tmp_path: Path) -> None:
    files = {
        "/etc/shells": "/bin/bash\n",
        "/etc/nologin": "down\n",
        "/etc/list": "alice\n",
    }
    host = make_tree(
        tmp_path,
        files,
        (
            "pam_env.so",
            "pam_limits.so",
            "pam_shells.so",
            "pam_nologin.so",
            "pam_listfile.so",
            "pam_faillock.so",
        ),
    )
    cases = {
        "pam_env.so": {IGNORE},
        "pam_limits.so": {MODULE_UNKNOWN},
        "pam_shells.so": {SUCCESS},
        "pam_nologin.so": {AUTH_ERR},
        "pam_listfile.so item=user sense=deny file=/etc/list": {AUTH_ERR},
        "pam_listfile.so item=user sense=allow file=/etc/none": {SERVICE_ERR},
        "pam_listfile.so item=user sense=allow file=/etc/none onerr=succeed": {SUCCESS},
        "pam_faillock.so authfail": {IGNORE},
    }
    ctx = Context(host, account(), "sshd")
    for args, expected in cases.items():
        stack = load_pam_stack(make_tree(tmp_path, {"sshd": f"auth required {args}\n"}))
        assert {o.code for o in model_module(stack.lines[0], ctx).outcomes} == expected, args
    root = Context(host, PamAccount("root", 0, 0, "/root", frozenset(), "usable"), "sshd")
    stack = load_pam_stack(make_tree(tmp_path, {"sshd": "auth required pam_nologin.so\n"}))
    assert {o.code for o in model_module(stack.lines[0], root).outcomes} == {IGNORE}
