"""Types shared by the PAM module models (:mod:`rra.agent.auth.pam_modules`) and their dispatcher
(:mod:`rra.agent.auth.pam_eval`): the account, a module's outcomes, and the context they read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rra.agent.auth.pam_parse import SUCCESS
from rra.agent.host import Host

CRASH = -1  # the module kills the process: this attempt cannot succeed at all


@dataclass(frozen=True)
class PamAccount:
    name: str
    uid: int
    gid: int
    home: str
    groups: frozenset[str]  # names, primary + supplementary
    password_state: Literal["usable", "locked", "empty"] | None  # None = shadow unreadable
    shell: str | None = None  # None: looked up in /etc/passwd through the host


@dataclass(frozen=True)
class Outcome:
    code: int
    authenticators: frozenset[str] = frozenset()
    assumptions: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ModuleModel:
    outcomes: tuple[Outcome, ...]
    enrolled: bool | None = None  # second-factor modules: U has a secret/key for it
    # Why U gets past this module without its factor ("nullok, not enrolled") and with which code.
    skip: str | None = None
    skip_code: int | None = None


def fixed(*codes: int, assume: str | None = None) -> ModuleModel:
    extra = frozenset({assume}) if assume else frozenset()
    return ModuleModel(
        tuple(Outcome(c, assumptions=extra if c == SUCCESS else frozenset()) for c in codes)
    )


@dataclass
class Context:
    """U, the host and the service; caches file reads (PermissionError is remembered)."""

    host: Host
    account: PamAccount
    service: str
    _files: dict[str, bytes | PermissionError | None] = field(default_factory=dict)

    def read(self, path: str) -> tuple[str | None, str | None]:
        """(text or None when absent, assumption when unreadable)."""
        if path not in self._files:
            try:
                self._files[path] = self.host.read_file(path)
            except PermissionError as exc:
                self._files[path] = exc
        data = self._files[path]
        if isinstance(data, PermissionError):
            return None, f"could not read {path}: permission denied"
        return (None if data is None else data.decode("utf-8", errors="replace")), None

    def passwd(self, name: str) -> list[str] | None:
        text, _ = self.read("/etc/passwd")
        for line in (text or "").splitlines():
            fields = line.split(":")
            if len(fields) >= 7 and fields[0] == name:
                return fields
        return None

    def shell(self) -> str | None:
        if self.account.shell is not None:
            return self.account.shell
        entry = self.passwd(self.account.name)
        return entry[6] if entry else None

    def groups_of(self, name: str, gid: int) -> frozenset[str]:
        text, _ = self.read("/etc/group")
        found = set()
        for line in (text or "").splitlines():
            fields = line.split(":")
            if len(fields) >= 4 and (fields[2] == str(gid) or name in fields[3].split(",")):
                found.add(fields[0])
        return frozenset(found)

    @property
    def tty(self) -> str | None:
        return "ssh" if self.service.startswith("sshd") else None  # sshd sets PAM_TTY "ssh"
