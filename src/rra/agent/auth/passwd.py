"""Accounts from /etc/passwd, /etc/shadow and /etc/group, read through ``Host``.

DESIGN §3 "Interactive account": a login shell (not nologin/false/sync/shutdown/halt by basename)
and a usable credential (a shadow hash not starting with ``!`` or ``*`` and not empty-locked, or
a non-empty authorized_keys file). **Privileged**: uid 0, or in sudo/wheel/admin (primary or
supplementary).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Literal

from rra.agent.host import Host

NO_LOGIN_SHELLS = frozenset({"nologin", "false", "sync", "shutdown", "halt"})
PRIVILEGED_GROUPS = frozenset({"sudo", "wheel", "admin"})
DEFAULT_SHELL = "/bin/sh"  # an empty shell field means /bin/sh to login and sshd

PasswordState = Literal["usable", "locked", "empty"]


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str
    shell: str
    groups: frozenset[str]
    password_state: PasswordState | None  # None: shadow unreadable
    gids: frozenset[int] = frozenset()  # primary and supplementary group ids

    @property
    def login_shell(self) -> bool:
        return posixpath.basename(self.shell) not in NO_LOGIN_SHELLS

    @property
    def privileged(self) -> bool:
        return self.uid == 0 or bool(self.groups & PRIVILEGED_GROUPS)

    @property
    def privileged_via(self) -> list[str]:
        reasons = ["uid 0"] if self.uid == 0 else []
        return reasons + sorted(self.groups & PRIVILEGED_GROUPS)


@dataclass
class AccountsRead:
    accounts: list[Account] = field(default_factory=list)
    #: Why credential state is unknown (shadow unreadable), or None.
    shadow_problem: str | None = None
    errors: list[str] = field(default_factory=list)


class AccountsError(Exception):
    """/etc/passwd itself could not be read: there is no account list at all."""


def password_state(hash_field: str) -> PasswordState:
    """Shadow hash field → usable / locked (``!``, ``*``, ``!!``, ``*LK*``) / empty."""
    if hash_field == "":
        return "empty"
    if hash_field.startswith(("!", "*")):
        return "locked"
    return "usable"


def _lines(raw: bytes) -> list[list[str]]:
    rows = []
    for line in raw.decode("utf-8", "replace").splitlines():
        if not line.strip() or line.startswith(("#", "+", "-")):  # NIS compat lines are not local
            continue
        rows.append(line.split(":"))
    return rows


def _read(host: Host, path: str) -> tuple[bytes | None, str | None]:
    try:
        raw = host.read_file(path)
    except PermissionError:
        return None, f"{path}: permission denied ({host.permission_hint()})"
    except OSError as exc:
        return None, f"{path}: {exc.strerror or exc}"
    if raw is None:
        return None, f"{path}: no such file"
    return raw, None


def read_accounts(host: Host) -> AccountsRead:
    """Every passwd entry with its groups and password state. AccountsError without passwd."""
    passwd, problem = _read(host, "/etc/passwd")
    if passwd is None:
        raise AccountsError(problem or "/etc/passwd unreadable")
    result = AccountsRead()
    shadow_raw, shadow_problem = _read(host, "/etc/shadow")
    hashes: dict[str, str] = {}
    if shadow_raw is None:
        result.shadow_problem = shadow_problem
    else:
        for row in _lines(shadow_raw):
            if len(row) >= 2:
                hashes[row[0]] = row[1]
    group_raw, group_problem = _read(host, "/etc/group")
    if group_raw is None:
        result.errors.append(group_problem or "/etc/group unreadable")
    gid_names: dict[int, str] = {}
    name_gids: dict[str, int] = {}
    members: dict[str, set[str]] = {}
    for row in _lines(group_raw or b""):
        if len(row) < 4 or not row[2].isdigit():
            continue
        gid_names[int(row[2])] = row[0]
        name_gids[row[0]] = int(row[2])
        for member in filter(None, (m.strip() for m in row[3].split(","))):
            members.setdefault(member, set()).add(row[0])
    for number, row in enumerate(_lines(passwd), start=1):
        if len(row) < 7 or not row[2].isdigit() or not row[3].isdigit():
            result.errors.append(f"/etc/passwd: entry {number} is malformed")
            continue
        name, pw_field, uid, gid, _gecos, home, shell = row[:7]
        groups = set(members.get(name, set()))
        if int(gid) in gid_names:
            groups.add(gid_names[int(gid)])
        state: PasswordState | None
        if pw_field not in ("x", "*"):
            state = password_state(pw_field)  # a hash kept in passwd itself (no shadow)
        elif pw_field == "*":
            state = "locked"
        elif name in hashes:
            state = password_state(hashes[name])
        elif shadow_raw is not None:
            state = "locked"  # "x" with no shadow entry: no password can match
        else:
            state = None
        result.accounts.append(
            Account(
                name=name,
                uid=int(uid),
                gid=int(gid),
                # sshd and PAM run from "/", so a relative home directory is relative to "/".
                home=posixpath.normpath(posixpath.join("/", home)) if home else "/",
                shell=shell or DEFAULT_SHELL,
                groups=frozenset(groups),
                password_state=state,
                gids=frozenset({int(gid), *(name_gids[g] for g in groups if g in name_gids)}),
            )
        )
    return result
