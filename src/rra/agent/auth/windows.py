"""Windows remote-logon second factor: who can log on over RDP or WinRM, and with what.

Collection runs five independent PowerShell sections (``windows_scripts/*.ps1``; PowerShell 5.1,
each under 3,000 characters as sent because WinRM's ``run_ps`` fails above ~3,060). Each prints
one compressed JSON document, or ``{"error": ...}`` when it failed on the host; a section that
failed, could not run or printed garbage makes its area ``unknown`` with the reason — never a crash,
and never a passing value.

The rule (documented in ``docs/windows-auth.md``; implemented by :func:`account_verdict`):

* **Remote logon right** = *direct* membership of Administrators (S-1-5-32-544: RDP and WinRM),
  Remote Desktop Users (S-1-5-32-555: RDP) or Remote Management Users (S-1-5-32-580: WinRM), the
  groups Windows grants those rights to by default, read by SID (names are localized). A broad
  principal in a group (Everyone, Authenticated Users, Users, INTERACTIVE, ...) makes every account
  a member. Domain users that are direct members are accounts of their own (enabled state: the
  directory's, so counted as enabled). Domain groups (``CORP\\Domain Admins``) and nested local
  groups cannot be expanded on the host: ``notes`` and ``unknown`` ("domain_members",
  "nested_groups") name them. Orphaned SIDs grant nothing and are noted.
* **interactive** = enabled and a remote logon right (or unreadable membership that could give one).
  Disabled accounts (often the built-in Administrator, Guest, DefaultAccount) are ``no_ssh``.
  **privileged** = member of Administrators; the built-in Administrator (RID 500) always is.
* **Channel present** when the channel is on (RDP: ``fDenyTSConnections`` = 0, Group Policy value
  winning; WinRM: service running with an enabled listener) or unreadable, and the account may use
  it. Per channel, into ``AccountFact.channels``:

  - ``rdp``: ``enforced`` if smart cards are required (``scforceoption`` = 1); ``unknown`` if
    Duo for Windows Logon is installed (its server decides, as for pam_duo in DESIGN §3: a user
    may be set to bypass; with ``FailOpen`` = 1 or unset a password alone also gets in whenever
    Duo's service is unreachable) or a needed setting is unreadable; otherwise ``missing``: NLA is not a second
    factor, and Windows Hello for Business (even with ``RequireSecurityDevice``) does not stop a
    password logon over RDP.
  - ``winrm``: ``missing`` — WinRM takes network logons (Kerberos, NTLM, Basic) with a password
    alone; Duo for Windows Logon does not cover PowerShell remoting and ``scforceoption`` covers
    interactive logons only. ``unknown`` only when WinRM's state is unreadable.

  Unreadable channel state or membership makes the channel ``unknown`` — unless it would be
  ``enforced`` anyway (then the account either cannot use it or needs two factors).
* **ssh** (the aggregate) = the worst channel (missing > unknown > enforced); no channel →
  ``no_ssh`` ("account disabled", "no remote logon right (...)", or "no remote logon channel
  open (...)"). ``reason`` = the worst channels' reasons, each naming the fix.
* ``second_factor_modules`` = what the host has: ``duo``, ``smartcard`` (forced), ``whfb``;
  ``enrolled`` is None (enrolment lives on Duo's server or the device).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal, TypeVar

from rra.agent.auth.windows_parse import (
    ADMINISTRATORS,
    GROUP_NAMES,
    REMOTE_DESKTOP_USERS,
    REMOTE_MANAGEMENT_USERS,
    AccountsSection,
    DuoSection,
    Group,
    GroupsSection,
    HelloSection,
    Member,
    RdpSection,
    SectionError,
    WinrmSection,
    decode_output,
    excerpt,
    extract_document,
    machine_prefix,
    parse_accounts,
    parse_duo,
    parse_groups,
    parse_hello,
    parse_rdp,
    parse_winrm,
    rid,
)
from rra.agent.host import Host, HostError
from rra.checks.facts import AccountFact, SecondFactorVerdict, WindowsAuthFact

__all__ = [
    "MAX_SCRIPT_CHARS",
    "WINDOWS_SECTIONS",
    "ChannelState",
    "WindowsAuthResult",
    "account_verdict",
    "collect_windows_auth",
    "parse_windows_auth",
    "powershell_argv",
]

#: WinRM's ``run_ps`` fails above ~3,060 characters (command line limit after UTF-16 + base64).
MAX_SCRIPT_CHARS = 3000

_SECTION_ORDER = ("accounts", "groups", "remote", "duo", "hello")

ChannelVerdict = Literal["enforced", "missing", "unknown"]
_SEVERITY: dict[str, int] = {"enforced": 0, "unknown": 1, "missing": 2}

NO_RIGHT_REASON = (
    "no remote logon right (not in Administrators/Remote Desktop Users/Remote Management Users)"
)
RDP_ONE_FACTOR = (
    "RDP accepts a password alone: NLA is not a second factor; "
    "install Duo for Windows Logon with FailOpen=0 or force smart cards"
)
RDP_ONE_FACTOR_NO_NLA = (
    "RDP accepts a password alone (NLA is off, and NLA is not a second factor either); "
    "install Duo for Windows Logon with FailOpen=0 or force smart cards"
)
WINRM_ONE_FACTOR = (
    "WinRM accepts a password alone: Duo for Windows Logon does not cover PowerShell remoting; "
    "disable WinRM or allow it only from a bastion"
)
WINRM_ONE_FACTOR_SMARTCARD = (
    "WinRM accepts a password alone: scforceoption covers interactive logons only, not "
    "NTLM/Kerberos network logons; disable WinRM or allow it only from a bastion"
)


def _compact(script: str) -> str:
    """Drop full-line comments and indentation: the files stay readable, what is sent stays short.

    Safe because the scripts use no here-strings and no ``<# #>`` block comments.
    """
    lines = [line.strip() for line in script.splitlines()]
    return "\n".join(line for line in lines if line and not line.startswith("#")) + "\n"


def _load_sections() -> dict[str, str]:
    folder = resources.files("rra.agent.auth").joinpath("windows_scripts")
    return {
        name: _compact(folder.joinpath(f"{name}.ps1").read_text(encoding="utf-8"))
        for name in _SECTION_ORDER
    }


#: Section name → the PowerShell script as sent (each ≤ MAX_SCRIPT_CHARS).
WINDOWS_SECTIONS: dict[str, str] = _load_sections()


def powershell_argv(script: str) -> list[str]:
    """Windows PowerShell 5.1 running one section (a WinRM transport maps this to ``run_ps``)."""
    return [
        "powershell.exe",
        "-NoProfile",
        "-NonInteractive",
        "-ExecutionPolicy",
        "Bypass",
        "-Command",
        script,
    ]


@dataclass
class WindowsAuthResult:
    accounts: list[AccountFact]
    settings: WindowsAuthFact
    unknown: dict[str, str] = field(default_factory=dict)  # area -> reason


# --- collection -------------------------------------------------------------------------------


def _stderr_summary(text: str) -> str:
    """PowerShell over WinRM writes errors as CLIXML; keep the human part."""
    if text.lstrip().startswith("#< CLIXML"):
        parts = re.findall(r'<S S="Error">(.*?)</S>', text, flags=re.DOTALL)
        text = "".join(parts).replace("_x000D__x000A_", " ") if parts else text
    return excerpt(text)


def collect_windows_auth(host: Host, timeout: float = 60.0) -> WindowsAuthResult:
    """Run every section on ``host`` and judge the accounts. Transport failures become unknown."""
    outputs: dict[str, str | None] = {}
    failures: dict[str, str] = {}
    for name in _SECTION_ORDER:
        try:
            result = host.run(powershell_argv(WINDOWS_SECTIONS[name]), timeout=timeout)
        except HostError as error:
            outputs[name] = None
            failures[name] = f"could not run the {name} section: {type(error).__name__}: {error}"
            continue
        stdout = decode_output(result.stdout)
        outputs[name] = stdout
        if result.rc != 0 and "{" not in stdout:
            # No document to read: the rc and stderr are the only reason there is.
            outputs[name] = None
            stderr = _stderr_summary(decode_output(result.stderr)) or "no output"
            failures[name] = f"the {name} section exited {result.rc}: {stderr}"
    return _judge(outputs, failures)


def parse_windows_auth(outputs: Mapping[str, str | None]) -> WindowsAuthResult:
    """Section name → its stdout (None: the section failed to run) → accounts and settings."""
    return _judge(outputs, {})


# --- parsing of every section ---------------------------------------------------------------

_T = TypeVar("_T")


def _section(
    name: str,
    outputs: Mapping[str, str | None],
    failures: Mapping[str, str],
    parse: Callable[[dict[str, Any]], _T],
    unknown: dict[str, str],
    areas: tuple[str, ...],
) -> _T | None:
    """Parse one section; on failure record the reason under each of its areas."""
    if name in failures:
        reason = failures[name]
    elif outputs.get(name) is None:
        reason = f"the {name} section " + (
            "failed to run" if name in outputs else "was not collected"
        )
    else:
        try:
            return parse(extract_document(outputs[name]))
        except SectionError as error:
            reason = f"{name} section: {error}"
    for area in areas:
        unknown[area] = reason
    return None


@dataclass
class _Sections:
    accounts: AccountsSection | None
    groups: GroupsSection | None
    rdp: RdpSection | None
    winrm: WinrmSection | None
    duo: DuoSection | None
    hello: HelloSection | None


def _parse_sections(
    outputs: Mapping[str, str | None], failures: Mapping[str, str], unknown: dict[str, str]
) -> _Sections:
    accounts = _section("accounts", outputs, failures, parse_accounts, unknown, ("accounts",))
    prefixes = {
        p for p in (machine_prefix(u.sid) for u in (accounts.users if accounts else [])) if p
    }
    groups = _section(
        "groups", outputs, failures, lambda d: parse_groups(d, prefixes), unknown, ("groups",)
    )
    remote = _section("remote", outputs, failures, lambda d: d, unknown, ("rdp", "winrm"))
    rdp: RdpSection | None = None
    winrm: WinrmSection | None = None
    if remote is not None:
        # RDP and WinRM are read separately: one unreadable half leaves the other usable.
        try:
            rdp = parse_rdp(remote.get("rdp"))
        except SectionError as error:
            unknown["rdp"] = f"remote section: {error}"
        try:
            winrm = parse_winrm(remote.get("winrm"))
        except SectionError as error:
            unknown["winrm"] = f"remote section: {error}"
    duo = _section("duo", outputs, failures, parse_duo, unknown, ("duo",))
    hello = _section("hello", outputs, failures, parse_hello, unknown, ("hello", "smartcard"))
    return _Sections(accounts, groups, rdp, winrm, duo, hello)


# --- principals and membership --------------------------------------------------------------


@dataclass
class _Principal:
    name: str
    sid: str | None
    enabled: bool | None  # None: unknown (domain account, or local accounts unreadable)
    local: bool
    membership: dict[str, bool | None] = field(default_factory=dict)  # group SID -> member?
    group_names: list[str] = field(default_factory=list)


def _principals(sections: _Sections, unknown: dict[str, str], notes: list[str]) -> list[_Principal]:
    users = sections.accounts.users if sections.accounts else []
    groups: dict[str, Group] = sections.groups.groups if sections.groups else {}
    principals: list[_Principal] = []
    index: dict[str, _Principal] = {}  # "sid:<SID>" and "local:<name>" / "domain:<DOM\\name>"

    def remember(principal: _Principal) -> _Principal:
        principals.append(principal)
        if principal.sid:
            index.setdefault(f"sid:{principal.sid.upper()}", principal)
        scope = "local" if principal.local else "domain"
        index.setdefault(f"{scope}:{principal.name.lower()}", principal)
        return principal

    for user in users:
        remember(_Principal(user.name, user.sid, user.enabled, local=True))

    def principal_for(member: Member) -> _Principal:
        """The account a user member stands for; created when the accounts section lacks it
        (it failed, or the account was added since) and for domain users."""
        local = member.kind == "local_user"
        name = (member.short_name or member.label) if local else member.label
        keys = [f"sid:{member.sid.upper()}"] if member.sid else []
        keys.append(f"{'local' if local else 'domain'}:{name.lower()}")
        for key in keys:
            if key in index:
                return index[key]
        return remember(_Principal(name, member.sid, None, local=local))

    # Pass 1: every account that can appear, and the groups it is directly in.
    direct: dict[int, set[str]] = {}  # id(principal) -> group SIDs
    domain_groups: list[str] = []
    nested_groups: list[str] = []
    broad_seen = False
    for sid, group in groups.items():
        if group.members is None:
            if sections.groups is not None:
                unknown["groups"] = _append(
                    unknown.get("groups"), f"{group.name} ({sid}): {group.error}"
                )
            continue
        for member in group.members:
            if member.kind in ("local_user", "domain_user"):
                direct.setdefault(id(principal_for(member)), set()).add(sid)
            elif member.kind == "domain_group":
                domain_groups.append(f"{member.label} ({group.name})")
            elif member.kind == "local_group":
                nested_groups.append(f"{member.label} ({group.name})")
            elif member.kind == "orphaned":
                notes.append(
                    f"{group.name} holds an orphaned SID {member.sid or '(unreadable)'} "
                    "(its account was deleted): remove it"
                )
            elif member.kind == "broad":
                broad_seen = True
                notes.append(
                    f"{group.name} contains {member.label}: every account counts as a member"
                )
            else:
                notes.append(f"{group.name} contains the built-in principal {member.label}")
        if group.source == "ADSI" and group.fallback_reason:
            notes.append(
                f"{group.name} read through ADSI (Get-LocalGroupMember: {group.fallback_reason})"
            )
        if group.missing:
            notes.append(f"group {GROUP_NAMES[sid]} ({sid}) does not exist on this host")
    # Pass 2: membership per group — unreadable group: None; a broad principal: everyone.
    for principal in principals:
        for sid in GROUP_NAMES:
            read = groups.get(sid)
            if read is None or read.members is None:
                principal.membership[sid] = None
            else:
                principal.membership[sid] = sid in direct.get(id(principal), set()) or any(
                    m.kind == "broad" for m in read.members
                )
        principal.group_names = [
            groups[sid].name for sid in GROUP_NAMES if principal.membership.get(sid)
        ]
    if domain_groups:
        notes.append(
            "domain groups cannot be expanded on the host, their members can log on: "
            + ", ".join(domain_groups)
        )
        unknown["domain_members"] = (
            "members of domain groups are not assessed (expand them in the directory): "
            + ", ".join(domain_groups)
        )
    if broad_seen and sections.groups is not None and sections.groups.part_of_domain is not False:
        unknown["domain_members"] = _append(
            unknown.get("domain_members"),
            "a broad principal (Everyone/Authenticated Users/Users) lets domain accounts log on",
        )
    if nested_groups:
        notes.append("nested local groups are not expanded: " + ", ".join(nested_groups))
        unknown["nested_groups"] = "members of nested local groups are not assessed: " + ", ".join(
            nested_groups
        )
    return principals


def _append(existing: str | None, reason: str) -> str:
    return reason if not existing else f"{existing}; {reason}"


# --- the verdict ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelState:
    """Everything the per-channel verdict depends on (host-wide)."""

    rdp_enabled: bool | None
    nla_required: bool | None
    winrm_enabled: bool | None
    smartcard_forced: bool | None  # None: unreadable
    duo_installed: bool | None  # None: unreadable
    duo_fail_open: bool | None  # None: unset (when installed)
    rdp_unknown_reason: str | None = None
    winrm_unknown_reason: str | None = None
    duo_unknown_reason: str | None = None
    smartcard_unknown_reason: str | None = None


# A channel's verdict: (verdict, what an admin reads, the underlying read failure if any).
_Judged = tuple[ChannelVerdict, str, str | None]


def _rdp_verdict(state: ChannelState) -> _Judged:
    if state.smartcard_forced:
        return "enforced", "RDP requires a smart card (scforceoption=1)", None
    if state.duo_installed and state.duo_fail_open is False:
        # DESIGN §3: a second factor decided on a server (pam_duo, RADIUS) is unknown, never
        # enforced: Duo's server may mark this user "bypass", which the host cannot see.
        return (
            "unknown",
            "RDP: Duo for Windows Logon decides on Duo's server (a user may be set to bypass); "
            "FailOpen=0 fails closed; force smart cards for a verdict the host can prove",
            None,
        )
    if state.duo_installed is None:
        return "unknown", "RDP: could not read the Duo settings", state.duo_unknown_reason
    if state.smartcard_forced is None:
        return "unknown", "RDP: could not read scforceoption", state.smartcard_unknown_reason
    if state.duo_installed:
        if state.duo_fail_open:
            return (
                "unknown",
                "RDP: Duo for Windows Logon fails open (FailOpen=1): a password alone gets in "
                "whenever Duo's service is unreachable; set FailOpen=0",
                None,
            )
        return (
            "unknown",
            "RDP: Duo for Windows Logon is installed but FailOpen is not set, so it may fail "
            "open; set FailOpen=0",
            None,
        )
    if state.nla_required is False:
        return "missing", RDP_ONE_FACTOR_NO_NLA, None
    return "missing", RDP_ONE_FACTOR, None


def _winrm_verdict(state: ChannelState) -> _Judged:
    if state.smartcard_forced:
        return "missing", WINRM_ONE_FACTOR_SMARTCARD, None
    return "missing", WINRM_ONE_FACTOR, None


_CHANNELS: dict[str, tuple[str, tuple[str, ...], Callable[[ChannelState], _Judged]]] = {
    # channel: (label, groups granting it, verdict when the account may use it)
    "rdp": ("RDP", (ADMINISTRATORS, REMOTE_DESKTOP_USERS), _rdp_verdict),
    "winrm": ("WinRM", (ADMINISTRATORS, REMOTE_MANAGEMENT_USERS), _winrm_verdict),
}


def _channel_enabled(state: ChannelState, channel: str) -> tuple[bool | None, str | None]:
    if channel == "rdp":
        return state.rdp_enabled, state.rdp_unknown_reason
    return state.winrm_enabled, state.winrm_unknown_reason


def account_verdict(
    enabled: bool | None, membership: Mapping[str, bool | None], state: ChannelState
) -> tuple[bool, dict[str, SecondFactorVerdict], SecondFactorVerdict, str]:
    """The rule of the module docstring: (interactive, channels, aggregate, reason).

    ``membership`` maps group SID → direct member (None: unreadable). ``enabled`` None (a domain
    account, or local accounts unreadable) counts as enabled: an account is never dropped from
    the inspection for lack of data.
    """
    rights = {
        channel: _any_member(membership, groups) for channel, (_l, groups, _v) in _CHANNELS.items()
    }
    if enabled is False:
        return False, {}, "no_ssh", "account disabled"
    interactive = any(right is not False for right in rights.values())
    if not interactive:
        return False, {}, "no_ssh", NO_RIGHT_REASON
    channels: dict[str, SecondFactorVerdict] = {}
    judged: dict[str, _Judged] = {}
    closed: list[str] = []
    for channel, (label, groups, verdict_of) in _CHANNELS.items():
        on, why_unreadable = _channel_enabled(state, channel)
        if rights[channel] is False:
            closed.append(f"{label}: no right")
            continue
        if on is False:
            closed.append(f"{label}: off")
            continue
        verdict, reason, cause = verdict_of(state)
        # Enforced stays enforced whatever is unreadable: either the account cannot use the
        # channel at all, or it can only with two factors.
        if on is None and verdict != "enforced":
            verdict, reason, cause = (
                "unknown",
                f"could not read whether {label} is on",
                why_unreadable,
            )
        elif rights[channel] is None and verdict != "enforced":
            names = "/".join(GROUP_NAMES[g] for g in groups)
            verdict, reason = "unknown", f"could not read membership of {names} ({label})"
        channels[channel] = verdict
        judged[channel] = (verdict, reason, cause)
    if not channels:
        return True, {}, "no_ssh", "no remote logon channel open (" + "; ".join(closed) + ")"
    worst = max(channels.values(), key=lambda v: _SEVERITY[v])
    picked = [j for j in judged.values() if j[0] == worst]
    reason = ". ".join(j[1] for j in picked)
    causes = list(dict.fromkeys(j[2] for j in picked if j[2]))
    if causes:
        reason += " (" + "; ".join(causes) + ")"
    return True, channels, worst, reason


def _any_member(membership: Mapping[str, bool | None], groups: tuple[str, ...]) -> bool | None:
    values = [membership.get(g) for g in groups]
    if any(v is True for v in values):
        return True
    if any(v is None for v in values):
        return None
    return False


# --- assembly -------------------------------------------------------------------------------


def _settings(sections: _Sections, notes: list[str]) -> WindowsAuthFact:
    rdp, winrm, duo, hello = sections.rdp, sections.winrm, sections.duo, sections.hello
    if rdp is not None:
        if rdp.enabled:
            notes.append(
                f"RDP is on, port {rdp.port if rdp.port is not None else 'unreadable'}, NLA "
                + {True: "on", False: "off", None: "unreadable"}[rdp.nla_required]
            )
        if rdp.by_policy:
            notes.append("set by Group Policy: " + ", ".join(rdp.by_policy))
    if winrm is not None:
        if winrm.listeners:
            notes.append("WinRM listeners: " + ", ".join(str(x) for x in winrm.listeners))
        if winrm.enabled is False and (winrm.start_type or "").lower().startswith("auto"):
            notes.append(f"WinRM is {winrm.service} but starts automatically")
        if winrm.enabled and winrm.token_filter != 1:
            notes.append(
                "LocalAccountTokenFilterPolicy is not 1: local administrators other than RID 500 "
                "get a filtered token over WinRM (still counted: they can log on)"
            )
        notes.extend(f"WinRM: {e}" for e in winrm.errors)
    if duo is not None:
        if duo.installed and duo.rdp_only:
            notes.append("Duo RdpOnly=1: the console logon has no Duo prompt")
        if duo.by_policy:
            notes.append("Duo settings set by Group Policy: " + ", ".join(duo.by_policy))
        if duo.policy_without_install:
            notes.append("Duo policy values exist but Duo for Windows Logon is not installed")
    if hello is not None and hello.whfb_enabled:
        notes.append(
            "Windows Hello for Business is on: it protects the console sign-in, "
            "RDP still accepts a password"
        )
    if sections.accounts is not None and sections.accounts.source == "ADSI":
        notes.append(
            "local accounts read through ADSI"
            + (
                f" (Get-LocalUser: {sections.accounts.fallback_reason})"
                if sections.accounts.fallback_reason
                else ""
            )
        )
    if sections.accounts is not None:
        no_password = [
            u.name for u in sections.accounts.users if u.enabled and u.password_required is False
        ]
        if no_password:
            notes.append(
                "enabled accounts that need no password (PASSWD_NOTREQD): " + ", ".join(no_password)
            )
    return WindowsAuthFact(
        rdp_enabled=rdp.enabled if rdp else None,
        nla_required=rdp.nla_required if rdp else None,
        winrm_enabled=winrm.enabled if winrm else None,
        duo_installed=duo.installed if duo else None,
        duo_rdp_only=duo.rdp_only if duo else None,
        duo_fail_open=duo.fail_open if duo else None,
        hello_for_business=hello.whfb_enabled if hello else None,
        hello_requires_security_device=hello.whfb_requires_security_device if hello else None,
        smartcard_forced=hello.smartcard_forced if hello else None,
        notes=notes,
    )


def _channel_state(settings: WindowsAuthFact, unknown: Mapping[str, str]) -> ChannelState:
    return ChannelState(
        rdp_enabled=settings.rdp_enabled,
        nla_required=settings.nla_required,
        winrm_enabled=settings.winrm_enabled,
        smartcard_forced=settings.smartcard_forced,
        duo_installed=settings.duo_installed,
        duo_fail_open=settings.duo_fail_open,
        rdp_unknown_reason=unknown.get("rdp") or "fDenyTSConnections is not set",
        winrm_unknown_reason=unknown.get("winrm") or "its service or listeners are unreadable",
        duo_unknown_reason=unknown.get("duo"),
        smartcard_unknown_reason=unknown.get("smartcard"),
    )


def _modules(settings: WindowsAuthFact) -> list[str]:
    detected = {
        "duo": settings.duo_installed,
        "smartcard": settings.smartcard_forced,
        "whfb": settings.hello_for_business,
    }
    return [name for name, present in detected.items() if present]


def _judge(outputs: Mapping[str, str | None], failures: Mapping[str, str]) -> WindowsAuthResult:
    unknown: dict[str, str] = {}
    notes: list[str] = []
    sections = _parse_sections(outputs, failures, unknown)
    principals = _principals(sections, unknown, notes)
    settings = _settings(sections, notes)
    state = _channel_state(settings, unknown)
    modules = _modules(settings)
    accounts: list[AccountFact] = []
    for principal in principals:
        membership = dict(principal.membership)
        if membership.get(ADMINISTRATORS) is None and principal.local and rid(principal.sid) == 500:
            # The built-in Administrator cannot leave Administrators: no need to read it.
            membership[ADMINISTRATORS] = True
        interactive, channels, verdict, reason = account_verdict(
            principal.enabled, membership, state
        )
        if principal.enabled is None and principal.local and interactive:
            reason += " (enabled state unreadable: counted as enabled)"
        accounts.append(
            AccountFact(
                name=principal.name,
                uid=rid(principal.sid) if principal.local else None,
                interactive=interactive,
                privileged=membership.get(ADMINISTRATORS) is True,
                ssh=verdict,
                reason=reason,
                second_factor_modules=list(modules),
                enrolled=None,
                groups=list(principal.group_names),
                channels=channels,
            )
        )
    return WindowsAuthResult(accounts=accounts, settings=settings, unknown=unknown)
