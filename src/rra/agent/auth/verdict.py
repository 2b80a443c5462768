"""DESIGN §3 "SSH second factor for one account", for one account and one source scenario.

``enforced`` iff every way sshd would let the account in needs two *different* authenticators.
A way in is one alternative of AuthenticationMethods (a comma chain whose methods must all
succeed; absent or ``any`` = each enabled method alone). Authenticators per method:

* ``publickey`` → key (a FIDO ``sk-*`` key that needs a PIN → key + pin: two);
* ``password`` → password (nothing at all for an empty password with PermitEmptyPasswords); with
  UsePAM the PAM stack checks it, every prompt answered with the password, so only ways through
  the stack that need no one-time code count;
* ``keyboard-interactive`` → what the PAM auth stack demands of this account (see pam.py);
* ``hostbased`` → the client host's key; ``gssapi-with-mic`` → a Kerberos server decides.

A chain that cannot succeed (a method disabled, an authenticator the account can never present)
grants nothing and cannot make the account ``missing``. A single-factor way in that exists only
under an unread fact, or where a server decides, makes the account ``unknown`` — never enforced.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

from rra.agent.auth.keys import KeysRead
from rra.agent.auth.pam import PamOutcome
from rra.agent.auth.passwd import Account
from rra.agent.auth.sshd_config import INVALID, as_list, as_text, method_enabled
from rra.agent.auth.sshd_effective import ANY_SOURCE, Scenario, Settings
from rra.agent.auth.sshd_match import PatternError, match_pattern, match_user

Status = Literal["enforced", "missing", "unknown", "no_ssh"]
_RANK = {"enforced": 0, "unknown": 1, "missing": 2}
#: sshd's auth_root_allowed(): which methods each PermitRootLogin value lets root use.
_ROOT_METHODS = {
    "yes": None,  # every method
    "without-password": {"publickey", "hostbased", "gssapi-with-mic"},
    "forced-commands-only": {"publickey", "hostbased"},
    "no": set(),
}
_NAMES = {"key": "key", "pin": "security-key PIN", "password": "password", "otp": "one-time code"}


@dataclass(frozen=True)
class Option:
    """One way a method can succeed: the authenticators it consumed and any assumption."""

    authenticators: frozenset[str]
    assumptions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    status: Status
    reason: str


@dataclass(frozen=True)
class AccountInputs:
    """What the verdict needs about one account, gathered once for all scenarios."""

    account: Account
    keys: KeysRead
    pam: PamOutcome | None  # None: UsePAM no
    pam_problem: str | None = None  # the PAM stack itself could not be judged


def refusal(settings: Settings, account: Account, scenario: Scenario) -> str | None:
    """Why sshd refuses this account from this source before any authentication (auth.c)."""
    if account.uid == 0 and as_text(settings["permitrootlogin"]) == "no":
        return "sshd refuses root: PermitRootLogin no"
    try:
        for pattern in as_list(settings["denyusers"]):
            if match_user(account.name, scenario.host, scenario.addr, pattern):
                return f"sshd refuses it: DenyUsers {pattern}"
        allow = as_list(settings["allowusers"])
        if allow and not any(
            match_user(account.name, scenario.host, scenario.addr, p) for p in allow
        ):
            return "sshd refuses it: not in AllowUsers"
    except PatternError as exc:
        return f"sshd refuses every login: {exc}"
    for pattern in as_list(settings["denygroups"]):
        if any(match_pattern(group, pattern) for group in account.groups):
            return f"sshd refuses it: DenyGroups {pattern}"
    allow_groups = as_list(settings["allowgroups"])
    if allow_groups and not any(
        match_pattern(group, p) for p in allow_groups for group in account.groups
    ):
        return "sshd refuses it: not in AllowGroups"
    return None


def _publickey(settings: Settings, inputs: AccountInputs) -> list[Option]:
    algorithms = as_text(settings.get("pubkeyacceptedalgorithms")).split(",")
    sk_only = bool(algorithms) and all(a.startswith("sk-") for a in algorithms if a)
    verify_everywhere = "verify-required" in as_text(settings.get("pubkeyauthoptions"))
    keys = inputs.keys
    if sk_only and verify_everywhere:
        return [Option(frozenset({"key", "pin"}))]
    if (
        keys.admin_managed
        and keys.keys
        and all(k.security_key and (k.verify_required or verify_everywhere) for k in keys.keys)
    ):
        # The user cannot add a key to a file they do not own: only these PIN-gated keys work.
        return [Option(frozenset({"key", "pin"}))]
    # Otherwise a user can always add a plain key to an authorized_keys file they own.
    return [Option(frozenset({"key"}))]


def _password(settings: Settings, inputs: AccountInputs) -> list[Option]:
    if as_text(settings["usepam"]) == "yes":
        return _password_through_pam(settings, inputs)
    state = inputs.account.password_state
    if state == "usable":
        return [Option(frozenset({"password"}))]
    if state == "empty":
        if as_text(settings["permitemptypasswords"]) == "yes":
            return [Option(frozenset())]
        return []
    if state is None:
        return [
            Option(frozenset({"password"}), ("/etc/shadow unreadable: password state unknown",))
        ]
    return []  # locked: no password can match


def _password_through_pam(settings: Settings, inputs: AccountInputs) -> list[Option]:
    """With UsePAM, the password method runs the PAM auth stack and answers every prompt with
    the typed password: only ways through the stack that need nothing but a password (or
    nothing at all) can succeed; a one-time-code prompt cannot be answered this way."""
    if inputs.pam is None or inputs.pam_problem:
        reason = inputs.pam_problem or "PAM stack not read"
        return [Option(frozenset({"password"}), (reason,))]
    return [
        Option(p.authenticators, tuple(p.assumptions))
        for p in inputs.pam.paths
        if not {"otp"} & p.authenticators
    ]


def _keyboard_interactive(settings: Settings, inputs: AccountInputs) -> list[Option]:
    if as_text(settings["usepam"]) != "yes":
        return []  # without PAM, Linux sshd has no keyboard-interactive device
    if inputs.pam is None or inputs.pam_problem:
        reason = inputs.pam_problem or "PAM stack not read"
        return [Option(frozenset(), (reason,))]
    return [Option(p.authenticators, tuple(p.assumptions)) for p in inputs.pam.paths]


def method_options(method: str, settings: Settings, inputs: AccountInputs) -> list[Option]:
    """Every way ``method`` can succeed for this account ([] = it cannot)."""
    name = method.partition(":")[0]
    if not method_enabled(name, settings):
        return []
    if inputs.account.uid == 0:
        allowed = _ROOT_METHODS.get(as_text(settings["permitrootlogin"]), set())
        if allowed is not None and name not in allowed:
            return []
    if name == "publickey":
        return _publickey(settings, inputs)
    if name == "password":
        return _password(settings, inputs)
    if name == "keyboard-interactive":
        return _keyboard_interactive(settings, inputs)
    if name == "hostbased":
        return [Option(frozenset({"hostkey"}))]
    if name == "gssapi-with-mic":
        return [Option(frozenset({"server:kerberos"}))]
    return []


def _chains(settings: Settings) -> tuple[list[list[str]], bool]:
    listed = as_text(settings["authenticationmethods"]).split()
    if not listed or listed == ["any"]:
        methods = ["publickey", "password", "keyboard-interactive", "hostbased", "gssapi-with-mic"]
        return [[m] for m in methods], False
    return [chain.split(",") for chain in listed], True


def _describe(authenticators: frozenset[str]) -> str:
    known = sorted(a for a in authenticators if not a.startswith("server:"))
    return " + ".join(_NAMES.get(a, a) for a in known) or "no credential at all"


def _verdict_for(chain: list[str], option: Option, listed: bool, where: str) -> Verdict:
    factors = {a for a in option.authenticators if not a.startswith("server:")}
    servers = sorted(a[7:] for a in option.authenticators if a.startswith("server:"))
    if len(factors) >= 2:
        desc = _describe(option.authenticators)
        return Verdict("enforced", f"two factors on every way in ({','.join(chain)}: {desc})")
    if servers:
        return Verdict("unknown", f"{','.join(servers)} decides on a server{where}")
    if option.assumptions:
        return Verdict("unknown", f"{option.assumptions[0]}{where}")
    alone = _describe(option.authenticators)
    hint = "" if listed else ": AuthenticationMethods not set"
    via = "" if chain == [chain[0]] and not listed else f" via {','.join(chain)}"
    return Verdict("missing", f"{alone} alone accepted{via}{hint}{where}")


def source_note(scenario: Scenario) -> str:
    """How a reason names the source scenario ('' for any ordinary source)."""
    return "" if scenario.label == ANY_SOURCE else f" (from {scenario.label})"


def scenario_verdict(settings: Settings, inputs: AccountInputs, scenario: Scenario) -> Verdict:
    where = source_note(scenario)
    if INVALID in settings:
        return Verdict("unknown", f"sshd would refuse its configuration: {settings[INVALID]}")
    refused = refusal(settings, inputs.account, scenario)
    if refused:
        return Verdict("no_ssh", refused + where)
    return access_verdict(settings, inputs, where)


def profile(inputs: AccountInputs) -> tuple[object, ...]:
    """Everything ``access_verdict`` reads about an account (not its name): a cache key."""
    keys = inputs.keys
    pam = inputs.pam
    return (
        inputs.account.uid == 0,
        inputs.account.password_state,
        keys.admin_managed,
        tuple(sorted({(k.security_key, k.verify_required) for k in keys.keys})),
        None if pam is None else pam.paths,
        inputs.pam_problem,
    )


def access_verdict(settings: Settings, inputs: AccountInputs, where: str = "") -> Verdict:
    """The verdict over every alternative sshd offers, once the account is not refused."""
    chains, listed = _chains(settings)
    worst: Verdict | None = None
    for chain in chains:
        per_method = [method_options(m, settings, inputs) for m in chain]
        if any(not options for options in per_method):
            continue  # this alternative cannot succeed: no access through it
        for combo in itertools.product(*per_method):
            merged = Option(
                frozenset().union(*(o.authenticators for o in combo)),
                tuple(dict.fromkeys(a for o in combo for a in o.assumptions)),
            )
            verdict = _verdict_for(chain, merged, listed, where)
            if verdict.status == "missing":
                verdict = _explain_skip(verdict, chain, inputs)
            if worst is None or _RANK[verdict.status] > _RANK[worst.status]:
                worst = verdict
            if worst.status == "missing":
                return worst
    if worst is None:
        return Verdict("enforced", f"no method can log it in{where}")
    return worst


def _explain_skip(verdict: Verdict, chain: list[str], inputs: AccountInputs) -> Verdict:
    """Name the skipped module when keyboard-interactive let the account through without it."""
    kbd = any(m.partition(":")[0] == "keyboard-interactive" for m in chain)
    if kbd and inputs.pam is not None and inputs.pam.skippable:
        return Verdict(verdict.status, f"{verdict.reason}; skips {', '.join(inputs.pam.skippable)}")
    return verdict


def combine(verdicts: list[Verdict]) -> Verdict:
    """Worst over scenarios; no_ssh only when every scenario refuses the account."""
    open_ = [v for v in verdicts if v.status != "no_ssh"]
    if not open_:
        return verdicts[0]
    return max(open_, key=lambda v: _RANK[v.status])
