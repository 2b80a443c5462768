"""Parsing of the Windows logon sections' output (see :mod:`rra.agent.auth.windows`).

Each PowerShell section prints one JSON document. What arrives is rarely that clean: a UTF-8 BOM,
CRLF, a warning printed before the document or a prompt after it, arrays that PowerShell unwrapped
to a bare object (or wrapped as ``{"value": [...], "Count": n}``), ``null`` where a list was meant,
and numbers, booleans and strings used interchangeably for registry values. Every function here
copes with those shapes and raises :class:`SectionError` (never anything else) when a section's
output cannot be understood, so the caller can mark that area ``unknown`` with the reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

#: The groups that grant remote logon by default, by well-known SID (names are localized).
ADMINISTRATORS = "S-1-5-32-544"
REMOTE_DESKTOP_USERS = "S-1-5-32-555"
REMOTE_MANAGEMENT_USERS = "S-1-5-32-580"
GROUP_NAMES = {
    ADMINISTRATORS: "Administrators",
    REMOTE_DESKTOP_USERS: "Remote Desktop Users",
    REMOTE_MANAGEMENT_USERS: "Remote Management Users",
}

#: Well-known principals that stand for "every account" when placed in a group: Everyone,
#: NETWORK, INTERACTIVE, Authenticated Users, REMOTE INTERACTIVE LOGON, BUILTIN\Users.
BROAD_SIDS = {
    "S-1-1-0": "Everyone",
    "S-1-5-2": "NETWORK",
    "S-1-5-4": "INTERACTIVE",
    "S-1-5-11": "Authenticated Users",
    "S-1-5-14": "REMOTE INTERACTIVE LOGON",
    "S-1-5-32-545": "Users",
}

MemberKind = Literal[
    "local_user", "local_group", "domain_user", "domain_group", "orphaned", "broad", "well_known"
]

_SID = re.compile(r"^S-1-\d+(-\d+)+$", re.IGNORECASE)
_EXCERPT = 80


class SectionError(Exception):
    """A section's output could not be used; ``str(error)`` is the reason, for ``unknown``."""


# --- raw output -------------------------------------------------------------------------------


def decode_output(data: bytes) -> str:
    """Bytes from PowerShell's stdout as text. UTF-16 appears when the console encoding is Unicode."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8-sig", errors="replace")


def excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _EXCERPT else flat[: _EXCERPT - 1] + "…"


def extract_document(text: str | None) -> dict[str, Any]:
    """The section's JSON object. Text around it (warnings, BOM, prompts) is ignored.

    A section whose document is ``{"error": ...}`` failed on the host: that is a SectionError too.
    """
    if text is None:
        raise SectionError("the section did not run")
    # A BOM can also sit mid-text, where two writers' outputs were joined.
    cleaned = text.replace("\ufeff", "")
    if not cleaned.strip():
        raise SectionError("the section printed nothing")
    decoder = json.JSONDecoder()
    position = cleaned.find("{")
    tries = 0
    # Try each "{" in turn: a warning line before the document may itself contain braces.
    while position != -1 and tries < 50:
        tries += 1
        try:
            value, _end = decoder.raw_decode(cleaned, position)
        except json.JSONDecodeError:
            position = cleaned.find("{", position + 1)
            continue
        if isinstance(value, dict):
            error = value.get("error")
            if error is not None and len(value) == 1:
                raise SectionError(f"failed on the host: {error}")
            return value
        position = cleaned.find("{", position + 1)
    raise SectionError(f"no JSON document in the output: {excerpt(cleaned)!r}")


def as_list(value: Any) -> list[Any]:
    """A JSON array however PowerShell shaped it: null → [], bare object → [object]."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    # PS 5.1 with System.Array type data serializes a wrapped array as {"value": [...], "Count": n}.
    if isinstance(value, dict) and set(value) == {"value", "Count"}:
        return as_list(value["value"])
    return [value]


def as_dict(value: Any) -> dict[str, Any]:
    """A JSON object, or {} for null (a registry key that does not exist) and anything else."""
    return value if isinstance(value, dict) else {}


def as_bool(value: Any) -> bool | None:
    """Booleans, DWORD 0/1 and "true"/"false" strings; anything else is unknown (None)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"true", "1", "yes"}:
            return True
        if lowered in {"false", "0", "no"}:
            return False
    return None


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text, 16) if text.lower().startswith("0x") else int(text)
        except ValueError:
            return None
    return None


def as_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def as_datetime(value: Any) -> datetime | None:
    """``.ToString('o')`` output. Old ``/Date(ms)/`` strings and junk give None (informational)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        return None


def is_sid(text: str | None) -> bool:
    return text is not None and bool(_SID.match(text.strip()))


def rid(sid: str | None) -> int | None:
    """The relative identifier (last SID component): 500 is the built-in Administrator."""
    if sid is None or not is_sid(sid):
        return None
    return int(sid.rsplit("-", 1)[1])


def machine_prefix(sid: str | None) -> str | None:
    """``S-1-5-21-a-b-c`` of a local account's SID: members with this prefix are local."""
    if sid is None or not sid.upper().startswith("S-1-5-21-") or not is_sid(sid):
        return None
    return sid.rsplit("-", 1)[0].upper()


# --- section "accounts" ---------------------------------------------------------------------


@dataclass(frozen=True)
class LocalUser:
    name: str
    sid: str | None
    enabled: bool | None
    password_required: bool | None
    password_last_set: datetime | None
    last_logon: datetime | None


@dataclass(frozen=True)
class AccountsSection:
    source: str | None
    computer: str | None
    users: list[LocalUser]
    fallback_reason: str | None


def parse_accounts(document: dict[str, Any]) -> AccountsSection:
    if "users" not in document:
        raise SectionError("no 'users' in the accounts document")
    users: list[LocalUser] = []
    for raw in as_list(document.get("users")):
        if not isinstance(raw, dict):
            continue
        name = as_str(raw.get("name"))
        if name is None:
            continue
        users.append(
            LocalUser(
                name=name,
                sid=as_str(raw.get("sid")),
                enabled=as_bool(raw.get("enabled")),
                password_required=as_bool(raw.get("password_required")),
                password_last_set=as_datetime(raw.get("password_last_set")),
                last_logon=as_datetime(raw.get("last_logon")),
            )
        )
    return AccountsSection(
        source=as_str(document.get("source")),
        computer=as_str(document.get("computer")),
        users=users,
        fallback_reason=as_str(document.get("fallback_reason")),
    )


# --- section "groups" -----------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    name: str | None  # "DOMAIN\\user" as the host reports it; None for an orphaned SID
    sid: str | None
    kind: MemberKind
    object_class: str | None
    source: str | None

    @property
    def label(self) -> str:
        return self.name or self.sid or "(unresolvable member)"

    @property
    def short_name(self) -> str | None:
        return self.name.rsplit("\\", 1)[-1] if self.name else None


@dataclass(frozen=True)
class Group:
    sid: str
    name: str  # as the host calls it (localized), else the English name
    members: list[Member] | None  # None: membership could not be read (see error)
    error: str | None = None
    missing: bool = False
    source: str | None = None
    fallback_reason: str | None = None


@dataclass(frozen=True)
class GroupsSection:
    computer: str | None
    part_of_domain: bool | None
    domain: str | None
    groups: dict[str, Group] = field(default_factory=dict)  # by SID


def _name_from_adspath(path: str) -> str | None:
    """``WinNT://CORP/WS01/alice`` → ``WS01\\alice``; ``WinNT://S-1-5-21-…`` → the SID."""
    rest = re.sub(r"^WinNT://", "", path.strip(), flags=re.IGNORECASE).strip("/")
    parts = [p for p in rest.split("/") if p]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return f"{parts[-2]}\\{parts[-1]}"


def classify_member(raw: dict[str, Any], computer: str | None, local_prefixes: set[str]) -> Member:
    sid = as_str(raw.get("sid"))
    name = as_str(raw.get("name"))
    path = as_str(raw.get("path"))
    if name is None and path is not None:
        name = _name_from_adspath(path)
    object_class = as_str(raw.get("class"))
    source = as_str(raw.get("source"))
    if sid is None and is_sid(name):
        sid = name
    short = name.rsplit("\\", 1)[-1] if name else None
    kind: MemberKind
    # An orphaned SID (its account was deleted) resolves to no name: the host shows the SID itself.
    if name is None or is_sid(short):
        kind = "orphaned"
        name = None
    elif sid is not None and sid.upper() in BROAD_SIDS:
        kind = "broad"
    elif sid is not None and sid.upper().startswith("S-1-5-32-"):
        kind = "local_group"  # BUILTIN\... groups nested in another group
    elif sid is not None and not sid.upper().startswith(("S-1-5-21-", "S-1-12-1-")):
        kind = "well_known"  # NT AUTHORITY\SYSTEM, NT SERVICE\..., and the like
    else:
        domain_part = name.rsplit("\\", 1)[0] if "\\" in name else None
        is_group = (object_class or "").lower() == "group"
        local = (
            (source or "").lower() in {"local", "microsoftaccount"}
            or (
                domain_part is not None
                and computer is not None
                and domain_part.lower() == computer.lower()
            )
            or (sid is not None and machine_prefix(sid) in local_prefixes)
        )
        if local:
            kind = "local_group" if is_group else "local_user"
        else:
            # An unknown class stays a group: a group cannot be expanded, so it is never
            # mistaken for one account whose verdict would then look settled.
            kind = "domain_user" if (object_class or "").lower() == "user" else "domain_group"
    return Member(name=name, sid=sid, kind=kind, object_class=object_class, source=source)


def parse_groups(document: dict[str, Any], local_prefixes: set[str]) -> GroupsSection:
    if "groups" not in document:
        raise SectionError("no 'groups' in the groups document")
    computer = as_str(document.get("computer"))
    groups: dict[str, Group] = {}
    for raw in as_list(document.get("groups")):
        if not isinstance(raw, dict):
            continue
        sid = (as_str(raw.get("sid")) or "").upper()
        if sid not in GROUP_NAMES:
            continue
        name = as_str(raw.get("name")) or GROUP_NAMES[sid]
        error = as_str(raw.get("error"))
        missing = as_bool(raw.get("missing")) is True
        members: list[Member] | None
        if error is not None:
            members = None
        elif missing:
            members = []
        elif "members" not in raw:
            members = None
            error = "no member list in the output"
        else:
            members = [
                classify_member(m, computer, local_prefixes)
                for m in as_list(raw.get("members"))
                if isinstance(m, dict)
            ]
        groups[sid] = Group(
            sid=sid,
            name=name,
            members=members,
            error=error,
            missing=missing,
            source=as_str(raw.get("source")),
            fallback_reason=as_str(raw.get("fallback_reason")),
        )
    for sid, english in GROUP_NAMES.items():
        if sid not in groups:
            groups[sid] = Group(
                sid=sid, name=english, members=None, error="the group is absent from the output"
            )
    return GroupsSection(
        computer=computer,
        part_of_domain=as_bool(document.get("part_of_domain")),
        domain=as_str(document.get("domain")),
        groups=groups,
    )


# --- section "remote" -----------------------------------------------------------------------


@dataclass(frozen=True)
class Listener:
    transport: str | None
    address: str | None
    port: int | None
    enabled: bool | None

    def __str__(self) -> str:
        state = "" if self.enabled is not False else " (disabled)"
        return f"{self.transport or '?'} {self.address or '*'}:{self.port or '?'}{state}"


@dataclass(frozen=True)
class RdpSection:
    enabled: bool | None
    nla_required: bool | None
    port: int | None
    security_layer: int | None
    by_policy: list[str]  # settings that Group Policy decides


@dataclass(frozen=True)
class WinrmSection:
    service: str | None
    start_type: str | None
    listeners: list[Listener] | None  # None: could not be enumerated
    enabled: bool | None
    token_filter: int | None
    errors: list[str]


def parse_winrm_enumerate(text: str) -> list[Listener] | None:
    """``winrm enumerate winrm/config/listener`` text: blocks of ``Key = value`` under "Listener".

    None when the text holds no listener block and is not empty: that is an error message
    (``WSManFault ...``), not an empty configuration.
    """
    listeners: list[Listener] = []
    current: dict[str, str] | None = None

    def flush() -> None:
        if current is not None:
            listeners.append(
                Listener(
                    transport=current.get("transport"),
                    address=current.get("address"),
                    port=as_int(current.get("port")),
                    enabled=as_bool(current.get("enabled")),
                )
            )

    for line in text.splitlines():
        stripped = line.strip()
        # "Listener" or "Listener [Source="GPO"]" opens a block; keys are indented below it.
        if re.match(r"^Listener(\s*\[.*\])?$", stripped):
            flush()
            current = {}
        elif current is not None and "=" in stripped:
            key, _, value = stripped.partition("=")
            current[key.strip().lower()] = value.strip()
    flush()
    if not listeners and text.strip():
        return None
    return listeners


def _effective(local: Any, policy: Any) -> tuple[int | None, bool]:
    """A setting's value with Group Policy winning; also whether policy decided it."""
    policy_value = as_int(policy)
    if policy_value is not None:
        return policy_value, True
    return as_int(local), False


def parse_rdp(raw: Any) -> RdpSection:
    if not isinstance(raw, dict):
        raise SectionError("no 'rdp' object in the remote document")
    deny, deny_by_policy = _effective(raw.get("deny"), raw.get("policy_deny"))
    nla, nla_by_policy = _effective(raw.get("nla"), raw.get("policy_nla"))
    by_policy = [
        n for n, p in (("fDenyTSConnections", deny_by_policy), ("NLA", nla_by_policy)) if p
    ]
    return RdpSection(
        enabled=None if deny is None else deny == 0,
        nla_required=None if nla is None else nla != 0,
        port=as_int(raw.get("port")),
        security_layer=as_int(raw.get("security_layer")),
        by_policy=by_policy,
    )


def parse_winrm(raw: Any) -> WinrmSection:
    if not isinstance(raw, dict):
        raise SectionError("no 'winrm' object in the remote document")
    errors: list[str] = []
    service = as_str(raw.get("service"))
    if service is None:
        errors.append(f"service state unreadable: {as_str(raw.get('service_error')) or 'no value'}")
    listeners: list[Listener] | None = None
    if raw.get("listeners") is not None:
        listeners = [
            Listener(
                transport=as_str(item.get("transport")),
                address=as_str(item.get("address")),
                port=as_int(item.get("port")),
                enabled=as_bool(item.get("enabled")),
            )
            for item in as_list(raw.get("listeners"))
            if isinstance(item, dict)
        ]
    elif isinstance(raw.get("enumerate"), str) and raw["enumerate"].strip():
        listeners = parse_winrm_enumerate(raw["enumerate"])
    running = service is None or service.lower() == "running"
    # A stopped service has no WSMan: drive to read: that failure is expected, not news.
    if listeners is None and running and raw.get("listener_error") is not None:
        errors.append(f"listeners unreadable: {as_str(raw.get('listener_error'))}")
    enabled: bool | None
    if service is None:
        enabled = None
    elif service.lower() != "running":
        enabled = False  # nothing listens while the service is stopped
    elif listeners is None:
        enabled = None
    else:
        # A listener whose Enabled is unreadable counts as enabled: never round up.
        enabled = any(listener.enabled is not False for listener in listeners)
    return WinrmSection(
        service=service,
        start_type=as_str(raw.get("start_type")),
        listeners=listeners,
        enabled=enabled,
        token_filter=as_int(raw.get("token_filter")),
        errors=errors,
    )


# --- section "duo" --------------------------------------------------------------------------


@dataclass(frozen=True)
class DuoSection:
    installed: bool | None
    fail_open: bool | None  # None: installed but FailOpen is not set
    rdp_only: bool | None
    by_policy: list[str]
    policy_without_install: bool


def parse_duo(document: dict[str, Any]) -> DuoSection:
    if "installed" not in document:
        raise SectionError("no 'installed' in the duo document")
    installed = as_bool(document.get("installed"))
    settings = as_dict(document.get("settings"))
    policy = as_dict(document.get("policy"))

    def effective(name: str) -> bool | None:
        # Policy values override the installer's (Duo's GPO template writes under Policies).
        value = as_bool(policy.get(name))
        return value if value is not None else as_bool(settings.get(name))

    return DuoSection(
        installed=installed,
        fail_open=effective("FailOpen") if installed else None,
        rdp_only=effective("RdpOnly") if installed else None,
        by_policy=sorted(k for k in policy if k in {"FailOpen", "RdpOnly"}),
        policy_without_install=installed is False and bool(policy),
    )


# --- section "hello" ------------------------------------------------------------------------


@dataclass(frozen=True)
class HelloSection:
    whfb_enabled: bool | None  # None: not configured by policy
    whfb_requires_security_device: bool | None
    smartcard_forced: bool


def parse_hello(document: dict[str, Any]) -> HelloSection:
    if "scforceoption" not in document and "whfb" not in document:
        raise SectionError("no 'whfb' or 'scforceoption' in the hello document")
    whfb = as_dict(document.get("whfb"))
    return HelloSection(
        whfb_enabled=as_bool(whfb.get("enabled")),
        whfb_requires_security_device=as_bool(whfb.get("require_security_device")),
        # Absent means the policy is not set, and its default is "not required".
        smartcard_forced=as_int(document.get("scforceoption")) == 1,
    )
