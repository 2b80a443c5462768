"""The Windows second-factor rule: per account and channel, from the logon rights and settings.

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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from rra.agent.auth.windows_parse import (
    ADMINISTRATORS,
    GROUP_NAMES,
    REMOTE_DESKTOP_USERS,
    REMOTE_MANAGEMENT_USERS,
)
from rra.checks.facts import SecondFactorVerdict, WindowsAuthFact

__all__ = [
    "NO_RIGHT_REASON",
    "RDP_ONE_FACTOR",
    "RDP_ONE_FACTOR_NO_NLA",
    "WINRM_ONE_FACTOR",
    "WINRM_ONE_FACTOR_SMARTCARD",
    "ChannelState",
    "ChannelVerdict",
    "account_verdict",
    "channel_state",
    "second_factor_modules",
]

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


def channel_state(settings: WindowsAuthFact, unknown: Mapping[str, str]) -> ChannelState:
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


def second_factor_modules(settings: WindowsAuthFact) -> list[str]:
    detected = {
        "duo": settings.duo_installed,
        "smartcard": settings.smartcard_forced,
        "whfb": settings.hello_for_business,
    }
    return [name for name, present in detected.items() if present]
