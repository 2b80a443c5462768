"""Windows remote-logon second factor: who can log on over RDP or WinRM, and with what.

Collection runs five independent PowerShell sections (``windows_scripts/*.ps1``; PowerShell 5.1,
each under 3,000 characters as sent because WinRM's ``run_ps`` fails above ~3,060). Each prints
one compressed JSON document, or ``{"error": ...}`` when it failed on the host; a section that
failed, could not run or printed garbage makes its area ``unknown`` with the reason — never a crash,
and never a passing value.

The rule that turns what is read into a verdict per account is in
:mod:`rra.agent.auth.windows_verdict` (its docstring documents it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, TypeVar

from rra.agent.auth.windows_parse import (
    ADMINISTRATORS,
    GROUP_NAMES,
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
from rra.agent.auth.windows_verdict import (
    NO_RIGHT_REASON,
    RDP_ONE_FACTOR,
    RDP_ONE_FACTOR_NO_NLA,
    WINRM_ONE_FACTOR,
    WINRM_ONE_FACTOR_SMARTCARD,
    ChannelState,
    account_verdict,
    channel_state,
    second_factor_modules,
)
from rra.agent.host import Host, HostError
from rra.checks.facts import AccountFact, WindowsAuthFact

__all__ = [
    "MAX_SCRIPT_CHARS",
    "NO_RIGHT_REASON",
    "RDP_ONE_FACTOR",
    "RDP_ONE_FACTOR_NO_NLA",
    "WINDOWS_SECTIONS",
    "WINRM_ONE_FACTOR",
    "WINRM_ONE_FACTOR_SMARTCARD",
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


def _judge(outputs: Mapping[str, str | None], failures: Mapping[str, str]) -> WindowsAuthResult:
    unknown: dict[str, str] = {}
    notes: list[str] = []
    sections = _parse_sections(outputs, failures, unknown)
    principals = _principals(sections, unknown, notes)
    settings = _settings(sections, notes)
    state = channel_state(settings, unknown)
    modules = second_factor_modules(settings)
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
