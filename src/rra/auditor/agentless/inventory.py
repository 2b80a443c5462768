"""The agentless inventory's models, and Ansible-like ``--limit`` host selection.

``HostVars`` is what one level may say (a group's ``vars:`` or a host's own mapping): every key
optional, unknown keys rejected. ``ResolvedHostVars`` is one host's settings once every level is
merged and the defaults are filled in. Reading the YAML, with errors that name the line, lives in
``inventory_load``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from rra.agent.drill.load import PlaybookIssue
from rra.auditor.tokens import ORG_PATH
from rra.checks.facts import Criticality

NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,252}")
ENV_NAME_PATTERN: Final = re.compile(r"[A-Z_][A-Z0-9_]*")

# Keys that would hold a secret: refused with SECRETS_ADVICE rather than as merely unknown.
SECRET_KEYS: Final = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "become_password",
        "ansible_password",
        "ansible_ssh_pass",
        "ansible_ssh_password",
        "ansible_become_pass",
        "ansible_become_password",
        "ansible_winrm_password",
    }
)
SECRETS_ADVICE: Final = (
    "secrets never go in the inventory — use password_env with the NAME of an environment "
    "variable that holds the password"
)

Transport = Literal["ssh", "winrm", "local"]
HostKeyPolicy = Literal["reject", "trust_on_first_use"]
WinrmAuth = Literal["basic", "ntlm", "kerberos"]
WinrmScheme = Literal["https", "http"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def default_port(transport: str, winrm_scheme: str = "https") -> int | None:
    """The port a transport uses when the inventory names none (None: nothing to connect to)."""
    if transport == "ssh":
        return 22
    if transport == "winrm":
        return 5985 if winrm_scheme == "http" else 5986
    return None


def _address(value: str) -> str:
    if not value or any(char.isspace() for char in value):
        raise ValueError("expected a host name or IP address, without spaces")
    return value


def _user(value: str) -> str:
    if not value.strip():
        raise ValueError("expected a user name")
    return value


def _path_text(value: str) -> str:
    if not value.strip() or "\0" in value:
        raise ValueError("expected a file path")
    return value


def _env_name(value: str) -> str:
    if not ENV_NAME_PATTERN.fullmatch(value):
        raise ValueError(
            "expected the NAME of an environment variable (A-Z, 0-9 and _), e.g. RRA_WINRM_PASSWORD"
        )
    return value


def _org(value: str) -> str:
    if not ORG_PATH.fullmatch(value):
        raise ValueError(
            "expected an org path of lower-case segments separated by '/', e.g. mof/finance"
        )
    return value


def _network(value: object) -> IPNetwork:
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return value  # already parsed by an inventory level, now being merged
    if not isinstance(value, str):
        raise ValueError("expected an IP address or network as text, e.g. 10.0.5.0/28")
    try:
        # strict=False: "10.0.5.1/24" means the /24 it sits in, as firewall rules read it.
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError("not an IP address or network (CIDR) such as 10.0.5.0/28") from None


Address = Annotated[str, AfterValidator(_address)]
PathText = Annotated[str, AfterValidator(_path_text)]
EnvName = Annotated[str, AfterValidator(_env_name)]
OrgPath = Annotated[str, AfterValidator(_org)]
Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Network = Annotated[
    IPNetwork,
    PlainValidator(_network),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "description": "IP address or CIDR"}),
]


class HostVars(BaseModel):
    """The variables one inventory level sets; an absent key leaves the value to other levels.

    Strict types: YAML already types numbers and booleans, so a quoted ``"22"`` or ``"yes"`` is a
    slip worth showing rather than quietly coercing.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    transport: Transport | None = Field(None, description="ssh | winrm | local; default ssh")
    address: Address | None = Field(None, description="Name or IP to connect to; default the host")
    port: Port | None = Field(None, description="Default 22 (ssh), 5986 (winrm https), 5985 (http)")
    user: Annotated[str, AfterValidator(_user)] | None = Field(None, description="Login name")
    key_file: PathText | None = Field(None, description="SSH private key; relative to the file")
    known_hosts: PathText | None = Field(None, description="Pinned SSH host keys file")
    host_key_policy: HostKeyPolicy | None = Field(None, description="reject | trust_on_first_use")
    become: bool | None = Field(None, description="Privileged reads through `sudo -n`")
    password_env: EnvName | None = Field(None, description="NAME of the env var with a password")
    winrm_auth: WinrmAuth | None = Field(None, description="basic | ntlm | kerberos; default ntlm")
    winrm_scheme: WinrmScheme | None = Field(None, description="https | http; default https")
    ca_file: PathText | None = Field(None, description="CA bundle for the WinRM certificate")
    cert_validation: bool | None = Field(None, description="Check the WinRM certificate")
    org: OrgPath | None = Field(None, description="Org path such as mof/finance")
    criticality: Criticality | None = Field(None, description="high | medium | low")
    labels: dict[str, str] | None = Field(None, description="Merged across levels")
    bastions: list[Network] | None = Field(None, description="Addresses allowed to admin ports")
    timeout: Seconds | None = Field(None, description="Limit for the whole host, in seconds")
    connect_timeout: Seconds | None = Field(None, description="Limit for connecting; default 10")
    probe: bool | None = Field(None, description="Probe admin ports from the auditor")
    agent_config: PathText | None = Field(None, description="Agent TOML with collection settings")

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # `port:` with nothing after it is YAML null: an unfinished edit far more often than a
        # wish to reset a group's value to the default, so it is not read as "unset".
        if value is None:
            raise ValueError("empty value; give a value or remove the key")
        return value


class ResolvedHostVars(BaseModel):
    """One host's settings with every level merged, defaults filled and paths made absolute."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Transport = "ssh"
    address: Address
    port: Port | None = None  # filled from the transport when not given
    user: str | None = None
    key_file: Path | None = None
    host_key_policy: HostKeyPolicy = "reject"
    known_hosts: Path | None = None
    become: bool = False
    password_env: EnvName | None = None
    winrm_auth: WinrmAuth = "ntlm"
    ca_file: Path | None = None
    winrm_scheme: WinrmScheme = "https"
    cert_validation: bool = True
    org: OrgPath | None = None
    criticality: Criticality = "medium"
    labels: dict[str, str] = Field(default_factory=dict)
    bastions: tuple[Network, ...] = ()
    timeout: Seconds | None = None
    connect_timeout: Seconds = 10.0
    probe: bool = False
    agent_config: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_port(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("port") is None:
            port = default_port(str(data.get("transport", "ssh")), str(data.get("winrm_scheme")))
            data = {**data, "port": port}
        return data


@dataclass(frozen=True)
class InventoryIssue(PlaybookIssue):
    """One problem in an inventory (or a ``--limit``), shaped and printed like a playbook's:
    ``file:line:column: field: message``; ``line``/``column`` are None when not about a place."""


class InventoryError(Exception):
    """The inventory could not be used; ``issues`` lists every problem found, in file order."""

    def __init__(self, issues: list[InventoryIssue]) -> None:
        super().__init__("\n".join(str(issue) for issue in issues))
        self.issues = issues


@dataclass(frozen=True)
class InventoryHost:
    name: str
    groups: tuple[str, ...]  # every group the host is in, shallow to deep, 'all' first
    vars: ResolvedHostVars
    line: int  # where the host is first named in the file


@dataclass(frozen=True)
class Inventory:
    source: str
    hosts: dict[str, InventoryHost]  # in file order
    groups: dict[str, tuple[str, ...]]  # group -> its hosts, those of child groups included


# --- --limit ---------------------------------------------------------------------------------

_GLOB_CHARS: Final = frozenset("*?[")


def select_hosts(inventory: Inventory, pattern: str | None) -> list[InventoryHost]:
    """The hosts a ``--limit`` pattern selects, in file order (Ansible's host patterns).

    Terms are separated by ',' or ':'; each is a host name, a group name or a glob over both.
    ``!term`` removes hosts, ``&term`` keeps only hosts also in the term. As in Ansible, plain
    terms are applied first, then intersections, then exclusions, whatever their order, and a
    pattern of only ``!``/``&`` terms starts from all hosts.
    """
    if pattern is None or pattern.strip() in ("all", "*"):
        return list(inventory.hosts.values())
    terms = [term.strip() for term in re.split(r"[,:]", pattern) if term.strip()]
    if not terms:
        raise _limit_error(inventory, f"{pattern!r} names no host or group")
    plain = [term for term in terms if term[0] not in "!&"] or ["all"]
    ordered = plain + [t for t in terms if t[0] == "&"] + [t for t in terms if t[0] == "!"]
    selected: set[str] = set()
    unmatched: list[str] = []
    for term in ordered:
        operator, name = (term[0], term[1:].strip()) if term[0] in "!&" else ("", term)
        matched = _match(inventory, name)
        if matched is None:
            # A typo in an exclusion would silently include what was meant to stay out.
            unmatched.append(term)
        elif operator == "!":
            selected -= matched
        elif operator == "&":
            selected &= matched
        else:
            selected |= matched
    if unmatched:
        raise InventoryError(
            [_limit_issue(inventory, f"{term!r} matches no host or group") for term in unmatched]
        )
    hosts = [host for name, host in inventory.hosts.items() if name in selected]
    if not hosts:
        raise _limit_error(inventory, f"{pattern!r} selects no host")
    return hosts


def _match(inventory: Inventory, name: str) -> set[str] | None:
    """Host names a term stands for; None when it names neither a host nor a group."""
    if not name:
        return None
    if _GLOB_CHARS.isdisjoint(name):
        hosts, groups = [h for h in (name,) if h in inventory.hosts], [name]
    else:
        hosts = [h for h in inventory.hosts if fnmatchcase(h, name)]
        groups = [g for g in inventory.groups if fnmatchcase(g, name)]
    groups = [g for g in groups if g in inventory.groups]
    if not hosts and not groups:
        return None
    return set(hosts).union(*(inventory.groups[g] for g in groups))


def _limit_issue(inventory: Inventory, message: str) -> InventoryIssue:
    return InventoryIssue(inventory.source, None, None, "--limit", message)


def _limit_error(inventory: Inventory, message: str) -> InventoryError:
    return InventoryError([_limit_issue(inventory, message)])
