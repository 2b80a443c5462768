"""Differential tests: the PAM simulator against real Linux-PAM 1.5.2, driven with pamtester.

Real service files go to ``/etc/pam.d/rra-test-<random>-*`` and real users ``rrat<random>*`` are
created once per session (removed in finalizers). pamtester's prompts are answered one by one
("Password: " gets the password or a wrong one, "Verification code: " a TOTP from ``oathtool`` or
a wrong one), so each run presents a chosen set of authenticators; the simulator must say "some
way in needs no more than that set" exactly when pamtester authenticates.

Linux-PAM behaviour these tests confirmed that differs from what one might expect:

* ``pam_google_authenticator nullok`` for a user without a secret returns PAM_IGNORE (not
  PAM_SUCCESS): ``sufficient`` does not end the stack and a stack of nothing else fails;
* ``-auth required pam_missing.so`` fails (PAM_MODULE_UNKNOWN): the dash only silences the log;
  session-only modules (pam_limits) in ``auth`` give the same code;
* a service file that does not exist, or has no auth line, uses ``/etc/pam.d/other``;
* a missing ``@include`` target makes pam_start fail for the whole service, while a missing
  ``include`` target is one always-failing line; include loops crash libpam (SIGSEGV);
* ``done``/``die`` inside a substack end only the substack; a jump past the end of a (sub)stack
  fails; ``ok`` cannot overwrite an earlier failure; with no status set the result is failure;
* pam_oath returns PAM_USER_UNKNOWN before prompting for a user missing from the users file
  (``[user_unknown=ignore]`` skips it); pam_succeed_if numbers are C ``strtoll`` base 0 (hex,
  octal) and ``use_uid`` tests the calling user (root).
"""

from __future__ import annotations

import base64
import itertools
import os
import secrets
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rra.agent.auth.pam import PamAccount, PamOutcome, evaluate_pam, load_pam_stack
from rra.agent.auth.pam_eval import Context, model_module
from rra.agent.local import LocalHost
from tests.agent.auth.test_pam import DEBIAN_COMMON_AUTH
from tests.conftest import require

PAM_D = Path("/etc/pam.d")
HOST = LocalHost("/")
WRONG_CODE = "abcdef"  # never a valid code: not digits
ROLES = ("pw", "ga", "oath", "empty", "locked", "sys")
OTP_ROLES = {"ga": "ga", "locked": "ga", "sys": "ga", "oath": "oath"}

# Stacks: {P} is the unique file prefix, {G} a group (pw and sys are members), {OATH} the users
# file (only the oath user is listed). pam_unix gets "nodelay" to keep failed runs fast, except
# in the verbatim Debian stacks.
STACKS: dict[str, str] = {
    "debian": "@include {P}-common-auth\n",
    "debian-2fa-nullok": "@include {P}-common-auth\nauth required pam_google_authenticator.so nullok\n",
    "debian-2fa": "@include {P}-common-auth\nauth required pam_google_authenticator.so\n",
    "otp-sufficient-first": "auth sufficient pam_google_authenticator.so nullok\nauth required pam_unix.so nodelay\n",
    "password-sufficient-first": "auth sufficient pam_unix.so nodelay\nauth required pam_google_authenticator.so\n",
    "group-selective": "auth required pam_unix.so nodelay\n"
    "auth [success=1 default=ignore] pam_succeed_if.so user notingroup {G} quiet\n"
    "auth required pam_google_authenticator.so\n",
    "uid-done": "auth required pam_unix.so nodelay\n"
    "auth [success=done default=ignore] pam_succeed_if.so uid < 1000 quiet_success\n"
    "auth required pam_google_authenticator.so nullok\n",
    "group-bypass": "auth sufficient pam_succeed_if.so user ingroup {G}\n"
    "auth required pam_unix.so nodelay\nauth required pam_google_authenticator.so\n",
    "oath-unknown-ignored": "auth required pam_unix.so nodelay\n"
    "auth [user_unknown=ignore success=ok default=bad] pam_oath.so usersfile={OATH} window=5\n",
    "oath-required": "auth required pam_unix.so nodelay\nauth required pam_oath.so usersfile={OATH}\n",
    "substack-done": "auth substack {P}-unix-done\nauth required pam_google_authenticator.so nullok\n",
    "include-done": "auth include {P}-unix-done\nauth required pam_google_authenticator.so nullok\n",
    "jumps-either": "auth [success=2 default=ignore] pam_unix.so nodelay\n"
    "auth [success=1 default=ignore] pam_google_authenticator.so nullok\n"
    "auth requisite pam_deny.so\nauth required pam_permit.so\n",
    "frozen-ok": "auth [default=ok] pam_google_authenticator.so nullok\nauth required pam_unix.so nodelay\n",
    "reset-for-group": "auth required pam_google_authenticator.so\n"
    "auth [success=reset default=ignore] pam_succeed_if.so user ingroup {G}\n"
    "auth required pam_unix.so nodelay\n",
    "missing-module-dash": "-auth required pam_rra_nothere.so\nauth sufficient pam_unix.so nodelay\n",
    "session-module-tolerated": "auth [module_unknown=ignore default=bad] pam_limits.so\n"
    "-auth optional pam_rra_nothere.so\nauth required pam_unix.so nodelay\n",
    "missing-include": "auth sufficient pam_unix.so nodelay\nauth include {P}-nowhere\n"
    "auth required pam_permit.so\n",
    "missing-at-include": "auth sufficient pam_unix.so nodelay\n@include {P}-nowhere\n",
    "no-auth-lines": "session required pam_permit.so\n",
    "empty-nullok": "auth required pam_unix.so nodelay nullok\nauth required pam_google_authenticator.so nullok\n",
    "bad-jump": "auth required pam_google_authenticator.so nullok\n"
    "auth [success=1 default=ignore] pam_unix.so nodelay\n",
    # A comment ends the logical line before its backslash could join the deny line; a
    # backslash elsewhere joins lines with a space, even inside a bracket and across a comment line.
    "syntax": "auth [success=1 \\\n    default=ignore] pam_unix.so nodelay # note \\\n"
    "auth \\\n# between\n   requisite pam_deny.so\nAUTH Required pam_permit.so\n",
    "requisite-in-substack": "auth substack {P}-otp-requisite\nauth sufficient pam_unix.so nodelay\n",
}
INCLUDED = {
    "common-auth": DEBIAN_COMMON_AUTH,
    "unix-done": "auth [success=done default=die] pam_unix.so nodelay\nauth required pam_deny.so\n",
    "otp-requisite": "auth requisite pam_google_authenticator.so nullok\n",
}
OTHER_SERVICE = "nosuch"  # a service without a file: libpam uses /etc/pam.d/other


@dataclass
class PamSystem:
    token: str
    prefix: str
    group: str
    users: dict[str, str]  # role -> user name
    passwords: dict[str, str]
    ga_secret: str  # base32
    oath_secret: str  # hex
    oath_dir: Path

    def service(self, stack_id: str) -> str:
        return (
            f"{self.prefix}-{OTHER_SERVICE}" if stack_id == "other" else f"{self.prefix}-{stack_id}"
        )

    def oath_file(self, service: str) -> Path:
        return self.oath_dir / f"{service}.oath"  # one per service: runs never share replay state

    def write_service(self, name: str, text: str) -> None:
        body = text.replace("{P}", self.prefix).replace("{G}", self.group)
        (PAM_D / name).write_text(body.replace("{OATH}", str(self.oath_file(name))))
        self.reset_oath(name)

    def reset_oath(self, service: str) -> None:
        """A fresh users file: pam_oath rejects a code it has already accepted (replay)."""
        tmp = self.oath_file(service).with_suffix(".tmp")
        tmp.write_text(f"HOTP/T30 {self.users['oath']} - {self.oath_secret}\n")
        tmp.chmod(0o600)
        tmp.replace(self.oath_file(service))

    def code(self, role: str) -> str:
        if OTP_ROLES[role] == "ga":
            argv = ["oathtool", "--totp", "-b", self.ga_secret]
        else:
            argv = ["oathtool", "--totp", self.oath_secret]
        return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


def _sh(*argv: str, stdin: str | None = None) -> None:
    subprocess.run(argv, input=stdin, check=True, capture_output=True, text=True)


@pytest.fixture(scope="session")
def pam_system() -> Iterator[PamSystem]:
    require("root", os.geteuid() == 0, "run as root")
    require("pamtester", shutil.which("pamtester") is not None, "apt-get install pamtester")
    require("oathtool", shutil.which("oathtool") is not None, "apt-get install oathtool")
    for module in ("pam_google_authenticator.so", "pam_oath.so"):
        present = Path(f"/lib/x86_64-linux-gnu/security/{module}").exists()
        require(module, present, "apt-get install libpam-google-authenticator libpam-oath")
    token = secrets.token_hex(3)
    oath_dir = Path(f"/tmp/rra-oath-{token}")
    system = PamSystem(
        token=token,
        prefix=f"rra-test-{token}",
        group=f"rratg{token}",
        users={role: f"rrat{token}{role}" for role in ROLES},
        passwords={role: f"Pw-{secrets.token_hex(6)}" for role in ROLES},
        ga_secret=base64.b32encode(secrets.token_bytes(10)).decode(),
        oath_secret=secrets.token_hex(20),
        oath_dir=oath_dir,
    )
    created: list[str] = []
    try:
        _sh("groupadd", system.group)
        for role, name in system.users.items():
            extra = ["-r"] if role == "sys" else []
            groups = ["-G", system.group] if role in ("pw", "sys") else []
            _sh("useradd", "-m", "-s", "/bin/bash", *extra, *groups, name)
            created.append(name)
            # A cheap hash: the suite runs hundreds of pam_unix checks on two cores (yescrypt costs).
            _sh(
                "chpasswd", "-c", "SHA512", "-s", "1000", stdin=f"{name}:{system.passwords[role]}\n"
            )
            if role == "empty":
                _sh("passwd", "-d", name)
            if role == "locked":
                _sh("usermod", "-L", name)
            if OTP_ROLES.get(role) == "ga":
                secret = Path(f"/home/{name}/.google_authenticator")
                secret.write_text(f'{system.ga_secret}\n" TOTP_AUTH\n" WINDOW_SIZE 3\n')
                shutil.chown(secret, name, name)
                secret.chmod(0o400)
        oath_dir.mkdir(mode=0o700)
        for name, text in INCLUDED.items():
            system.write_service(f"{system.prefix}-{name}", text)
        for stack_id, text in STACKS.items():
            system.write_service(system.service(stack_id), text)
        yield system
    finally:
        for path in PAM_D.glob(f"{system.prefix}*"):
            path.unlink()
        for name in created:
            subprocess.run(["userdel", "-r", name], capture_output=True, check=False)
        subprocess.run(["groupdel", system.group], capture_output=True, check=False)
        shutil.rmtree(oath_dir, ignore_errors=True)


def authenticate(service: str, user: str, answers: dict[str, str]) -> tuple[int, str]:
    """Run ``pamtester SERVICE USER authenticate``, answering each prompt as it appears."""
    proc = subprocess.Popen(
        ["pamtester", service, user, "authenticate"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdin is not None and proc.stdout is not None
    output, pending = b"", b""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        chunk = os.read(proc.stdout.fileno(), 4096) if ready else b""
        if ready and not chunk:
            break
        output, pending = output + chunk, pending + chunk
        if pending.endswith(b": "):
            if pending.endswith(b"Password: "):
                answer = answers.get("password", "wrong-password")
            elif b"One-time password (OATH)" in pending:
                answer = answers.get("oath", WRONG_CODE)
            else:  # "Verification code: " and anything unexpected
                answer = answers.get("ga", WRONG_CODE)
            pending = b""
            try:
                proc.stdin.write(answer.encode() + b"\n")
                proc.stdin.flush()
            except BrokenPipeError:
                break
    else:
        proc.kill()
    return proc.wait(), output.decode(errors="replace")


def real_account(name: str) -> PamAccount:
    """The account as the caller would collect it, straight from this machine's files."""
    entry = next(
        f
        for f in (ln.split(":") for ln in Path("/etc/passwd").read_text().splitlines())
        if f[0] == name
    )
    shadow = next(
        f
        for f in (ln.split(":") for ln in Path("/etc/shadow").read_text().splitlines())
        if f[0] == name
    )
    groups = {
        g[0]
        for g in (ln.split(":") for ln in Path("/etc/group").read_text().splitlines())
        if g[2] == entry[3] or name in g[3].split(",")
    }
    state: Literal["usable", "locked", "empty"] = "usable"
    if shadow[1] == "":
        state = "empty"
    elif shadow[1][:1] in ("!", "*"):
        state = "locked"
    return PamAccount(
        name, int(entry[2]), int(entry[3]), entry[5], frozenset(groups), state, entry[6]
    )


def scenarios(role: str) -> list[frozenset[str]]:
    base = [frozenset(), frozenset({"password"})]
    return (
        [*base, frozenset({"otp"}), frozenset({"password", "otp"})] if role in OTP_ROLES else base
    )


def _answers(system: PamSystem, role: str, presented: frozenset[str]) -> dict[str, str]:
    answers = (
        {"password": system.passwords[role] if role != "empty" else ""}
        if "password" in presented
        else {}
    )
    if "otp" in presented:
        answers[OTP_ROLES[role]] = system.code(role)
    return answers


def _run_unit(system: PamSystem, stack_id: str, role: str) -> dict[frozenset[str], tuple[int, str]]:
    results = {}
    for presented in scenarios(role):
        if role == "oath":
            system.reset_oath(system.service(stack_id))
        answers = _answers(system, role, presented)
        results[presented] = authenticate(system.service(stack_id), system.users[role], answers)
    return results


STACK_IDS = [*STACKS, "other"]


@pytest.fixture(scope="session")
def pamtester_results(
    pam_system: PamSystem,
) -> dict[tuple[str, str], dict[frozenset[str], tuple[int, str]]]:
    """Every stack × user × presented set, run concurrently (failed pam_unix runs sleep ~2 s)."""
    units = list(itertools.product(STACK_IDS, ROLES))
    with ThreadPoolExecutor(max_workers=len(units)) as pool:
        futures = {unit: pool.submit(_run_unit, pam_system, *unit) for unit in units}
        return {unit: future.result() for unit, future in futures.items()}


def simulate(system: PamSystem, stack_id: str, role: str) -> PamOutcome:
    stack = load_pam_stack(HOST, system.service(stack_id))
    return evaluate_pam(stack, real_account(system.users[role]), HOST)


@pytest.mark.parametrize(("stack_id", "role"), list(itertools.product(STACK_IDS, ROLES)))
def test_ways_in_agree_with_pamtester(
    pam_system: PamSystem,
    pamtester_results: dict[tuple[str, str], dict[frozenset[str], tuple[int, str]]],
    stack_id: str,
    role: str,
) -> None:
    outcome = simulate(pam_system, stack_id, role)
    assert all(not p.assumptions for p in outcome.paths), outcome
    runs = pamtester_results[(stack_id, role)]
    for held in runs:
        # Holding these authenticators, a user can present any part of them (and type the rest
        # wrong): presenting more can even fail (a jump past the end), so compare the closure.
        real = [(sorted(p), runs[p][0], runs[p][1].strip()) for p in runs if p <= held]
        predicted = any(p.authenticators <= held for p in outcome.paths)
        assert any(rc == 0 for _, rc, _ in real) == predicted, (
            f"{stack_id}/{role} holding {sorted(held)}: pamtester {real}, "
            f"simulated ways in {[sorted(p.authenticators) for p in outcome.paths]}"
        )


def test_the_selective_stacks_really_differ_between_users(
    pamtester_results: dict[tuple[str, str], dict[frozenset[str], tuple[int, str]]],
) -> None:
    """Guards the oracle itself: the interesting cases do accept and refuse where expected."""

    def ok(stack_id: str, role: str, *presented: str) -> bool:
        return pamtester_results[(stack_id, role)][frozenset(presented)][0] == 0

    assert ok("debian", "empty") and not ok("debian", "pw") and ok("debian", "pw", "password")
    assert ok("debian-2fa-nullok", "pw", "password") and not ok(
        "debian-2fa-nullok", "ga", "password"
    )
    assert ok("debian-2fa-nullok", "ga", "password", "otp")
    assert ok("group-bypass", "pw") and ok("group-bypass", "sys")
    assert ok("oath-unknown-ignored", "pw", "password") and ok(
        "oath-unknown-ignored", "oath", "password", "otp"
    )
    assert not ok("oath-unknown-ignored", "oath", "password")
    assert ok("uid-done", "sys", "password") and not ok("uid-done", "ga", "password")
    assert ok("syntax", "pw", "password") and not ok("syntax", "pw")


# --- return codes of single modules ----------------------------------------------------------------

MESSAGES = {
    "successfully authenticated": 0,
    "Error in service module": 3,
    "System error": 4,
    "Permission denied": 6,
    "Authentication failure": 7,
    "Authentication service cannot retrieve authentication info": 9,
    "User not known to the underlying authentication module": 10,
    "Conversation error": 19,
    "Authentication token manipulation error": 20,
    "The return value should be ignored by PAM dispatch": 25,
    "Module is unknown": 28,
}
PROBES: list[tuple[str, str]] = [
    ("pam_env.so", "pw"),
    ("pam_faildelay.so delay=1", "pw"),
    ("pam_group.so", "pw"),
    ("pam_keyinit.so", "pw"),
    ("pam_mail.so", "pw"),
    ("pam_warn.so", "pw"),
    ("pam_selinux.so", "pw"),
    ("pam_cap.so", "pw"),
    ("pam_lastlog.so", "pw"),
    ("pam_rootok.so", "pw"),
    ("pam_limits.so", "pw"),
    ("pam_systemd.so", "pw"),
    ("pam_rra_nothere.so", "pw"),
    ("pam_permit.so", "pw"),
    ("pam_deny.so", "pw"),
    ("pam_shells.so", "pw"),
    ("pam_securetty.so", "pw"),
    ("pam_localuser.so", "pw"),
    ("pam_localuser.so file={OATH}", "pw"),
    ("pam_nologin.so", "pw"),
    ("pam_nologin.so file={OATH}", "pw"),
    ("pam_nologin.so file={OATH} successok", "pw"),
    ("pam_faillock.so preauth", "pw"),
    ("pam_faillock.so authfail", "pw"),
    ("pam_faillock.so authsucc", "pw"),
    ("pam_usertype.so isregular", "pw"),
    ("pam_usertype.so isregular", "sys"),
    ("pam_usertype.so issystem", "sys"),
    ("pam_usertype.so", "pw"),
    ("pam_listfile.so item=user sense=allow file={OATH}", "oath"),
    ("pam_listfile.so item=user sense=allow file={OATH}", "pw"),
    ("pam_listfile.so item=user sense=deny file=/rra-nowhere", "pw"),
    ("pam_listfile.so item=user sense=deny file=/rra-nowhere onerr=succeed", "pw"),
    ("pam_listfile.so item=group sense=allow file=/etc/shells", "pw"),
    ("pam_listfile.so item=shell sense=allow file=/etc/shells apply=root", "pw"),
    ("pam_listfile.so item=rhost sense=deny file=/etc/shells", "pw"),
    ("pam_listfile.so item=user file=/etc/shells", "pw"),
    ("pam_succeed_if.so", "pw"),
    ("pam_succeed_if.so uid >= 1000 quiet", "pw"),
    ("pam_succeed_if.so uid >= 1000 quiet", "sys"),
    ("pam_succeed_if.so user ingroup {G}", "pw"),
    ("pam_succeed_if.so user notingroup {G}", "ga"),
    ("pam_succeed_if.so user in nobody:{G}", "pw"),
    ("pam_succeed_if.so uid eq 0x10", "pw"),
    ("pam_succeed_if.so uid ne 010", "pw"),
    ("pam_succeed_if.so home =~ /home/* shell != /bin/false", "pw"),
    ("pam_succeed_if.so use_uid uid eq 0", "pw"),
    ("pam_succeed_if.so user = nobody uid", "pw"),
    ("pam_succeed_if.so uid", "pw"),
    ("pam_succeed_if.so uid > abc", "pw"),
    ("pam_succeed_if.so colour = red", "pw"),
    ("pam_succeed_if.so gid EQ []", "pw"),
    ("pam_unix.so nodelay", "pw"),
    ("pam_unix.so nodelay nullok", "empty"),
    ("pam_unix.so nodelay", "empty"),
    ("pam_unix.so nodelay", "locked"),
    ("pam_google_authenticator.so nullok", "pw"),
    ("pam_google_authenticator.so", "pw"),
    ("pam_google_authenticator.so nullok", "ga"),
    ("pam_google_authenticator.so nullok bogus_option", "ga"),
    ("pam_google_authenticator.so user=root nullok", "ga"),
    ("pam_google_authenticator.so secret=/rra-nowhere/${USER} nullok", "ga"),
    ("pam_oath.so usersfile={OATH}", "pw"),
    ("pam_oath.so usersfile={OATH}", "oath"),
    ("pam_oath.so usersfile=/rra-nowhere", "pw"),
    ("pam_oath.so usersfile={OATH} alwaysok", "pw"),
]


def _probe_service(system: PamSystem, index: int) -> str:
    return f"{system.prefix}-probe{index}"


@pytest.fixture(scope="session")
def probe_results(pam_system: PamSystem) -> dict[int, tuple[int, str]]:
    """``auth [default=ok] MODULE``: libpam then returns the module's own code, which pamtester prints."""
    for index, (args, _) in enumerate(PROBES):
        pam_system.write_service(_probe_service(pam_system, index), f"auth [default=ok] {args}\n")

    def probe(index: int) -> tuple[int, str]:
        return authenticate(
            _probe_service(pam_system, index), pam_system.users[PROBES[index][1]], {}
        )

    with ThreadPoolExecutor(max_workers=64) as pool:
        return dict(enumerate(pool.map(probe, range(len(PROBES)))))


@pytest.mark.parametrize("index", range(len(PROBES)), ids=[f"{a}-{r}" for a, r in PROBES])
def test_module_codes_agree_with_pamtester(
    pam_system: PamSystem, probe_results: dict[int, tuple[int, str]], index: int
) -> None:
    _, output = probe_results[index]
    message = output.strip().splitlines()[-1].split("pamtester: ", 1)[-1]
    assert message in MESSAGES, output
    real = MESSAGES[message]
    role = PROBES[index][1]
    service = _probe_service(pam_system, index)
    line = load_pam_stack(HOST, service).lines[0]
    model = model_module(line, Context(HOST, real_account(pam_system.users[role]), service))
    codes = {o.code for o in model.outcomes}
    assert real in codes, (PROBES[index], real, codes)
    # Prompting modules leave choices to the client (a wrong answer, hanging up) and rhost/tty
    # belong to the connection; every other module must have exactly one code for U.
    if (
        line.name not in ("pam_unix", "pam_google_authenticator", "pam_oath")
        and "rhost" not in PROBES[index][0]
    ):
        assert codes == {real}, (PROBES[index], real, codes)


def test_include_loop_crashes_libpam_and_is_unknown(pam_system: PamSystem) -> None:
    name = f"{pam_system.prefix}-loop"
    pam_system.write_service(name, f"auth required pam_permit.so\nauth include {name}\n")
    rc, _ = authenticate(name, pam_system.users["pw"], {})
    assert rc < 0 or rc >= 128  # killed by a signal
    outcome = evaluate_pam(load_pam_stack(HOST, name), real_account(pam_system.users["pw"]), HOST)
    assert outcome.unknown_reason and "include loop" in outcome.unknown_reason


# --- random stacks: the dispatch state machine ------------------------------------------------------

# Modules with one fixed code for the "pw" user and no prompt.
FIXED_MODULES = [
    "pam_permit.so",  # success
    "pam_deny.so",  # auth_err
    "pam_env.so",  # ignore
    "pam_limits.so",  # module_unknown (no auth function)
    "pam_rra_nothere.so",  # module_unknown (missing)
    "pam_succeed_if.so user ingroup {G}",  # success
    "pam_succeed_if.so uid < 1000",  # auth_err
    "pam_succeed_if.so colour = red",  # service_err
    "pam_google_authenticator.so nullok",  # ignore (not enrolled)
    "pam_oath.so usersfile={OATH}",  # user_unknown
]
VALUES = [
    "success",
    "ignore",
    "auth_err",
    "user_unknown",
    "module_unknown",
    "service_err",
    "default",
]
ACTIONS = ["ok", "done", "bad", "die", "reset", "ignore", "1", "2", "3"]
# Weighted towards lines that let the run go on, so that a fair share of the stacks accept.
controls = st.one_of(
    st.sampled_from(["required", "requisite", "sufficient", "optional", "optional", "Sufficient"]),
    st.lists(
        st.tuples(st.sampled_from(VALUES), st.sampled_from(ACTIONS)), min_size=1, max_size=3
    ).map(lambda pairs: "[" + " ".join(f"{v}={a}" for v, a in pairs) + "]"),
    st.sampled_from(["bogus", "[success=okay]", "[success = done default=ignore]"]),
)
module_lines = st.builds(
    lambda dash, control, module: f"{'-' if dash else ''}auth {control} {module}",
    st.sampled_from([False, False, False, True]),
    controls,
    st.one_of(st.just("pam_permit.so"), st.sampled_from(FIXED_MODULES)),
)


def _lines(include: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.one_of(module_lines, module_lines, include), min_size=1, max_size=6)


stacks = st.tuples(
    _lines(
        st.sampled_from(
            [
                "auth substack {S}1",
                "auth include {S}1",
                "@include {S}1",
                "bogus required pam_permit.so",
            ]
        )
    ),
    _lines(
        st.sampled_from(["auth substack {S}2", "auth include {S}2", "auth include {S}-nowhere"])
    ),
    _lines(module_lines),
)
_counter = itertools.count()


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stack=stacks)
def test_random_stacks_agree_with_pamtester(
    pam_system: PamSystem, stack: tuple[list[str], ...]
) -> None:
    base = f"{pam_system.prefix}-h{next(_counter)}"
    names = [base, f"{base}1", f"{base}2"]
    try:
        for name, lines in zip(names, stack, strict=True):
            pam_system.write_service(name, "\n".join(lines).replace("{S}", base) + "\n")
        rc, output = authenticate(base, pam_system.users["pw"], {})
        outcome = simulate_service(base, pam_system.users["pw"])
        predicted = any(not p.authenticators for p in outcome.paths)
        event("libpam accepts" if rc == 0 else "libpam refuses")
        assert (rc == 0) == predicted, (stack, rc, output, outcome)
    finally:
        for name in names:
            (PAM_D / name).unlink(missing_ok=True)


def simulate_service(service: str, user: str) -> PamOutcome:
    return evaluate_pam(load_pam_stack(HOST, service), real_account(user), HOST)
