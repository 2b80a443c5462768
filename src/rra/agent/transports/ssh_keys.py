"""Host-key pinning for ``SSHHost``: a known_hosts file is the only trust anchor.

Only the file named for the collection is loaded (never ``~/.ssh/known_hosts``, which would make
what an inspector trusts depend on whoever ran the auditor last). An unknown key is refused
(``RejectPolicy``) unless the inventory opts into trust-on-first-use for that host, which records
the key in the file (atomically, under a lock shared by every fork) and pins it from then on. A key
that differs from the pinned one is always refused: paramiko raises ``BadHostKeyException`` before
any policy is asked.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Literal

import paramiko
import structlog

from rra.agent.host import HostError

log = structlog.get_logger(__name__)

HostKeyPolicy = Literal["reject", "trust_on_first_use"]

# One lock for every SSHHost in the process: forks that record keys must not lose each other's.
_RECORD_LOCK = threading.Lock()


class SSHError(HostError):
    """Base of the SSH transport's typed failures."""


class SSHUnreachable(SSHError):
    """No SSH session: refused, timed out, no route, or the banner never came."""


class SSHAuthError(SSHError):
    """The server refused every offered credential."""


class HostKeyUnknown(SSHError):
    """The server's key is not pinned and the policy is ``reject``."""


class HostKeyMismatch(SSHError):
    """The server presented a key other than the pinned one: possible interception."""


def known_hosts_name(address: str, port: int) -> str:
    """The name OpenSSH uses in known_hosts: bare for port 22, ``[address]:port`` otherwise."""
    return address if port == 22 else f"[{address}]:{port}"


def load_pinned(known_hosts: Path | None) -> paramiko.HostKeys:
    keys = paramiko.HostKeys()
    if known_hosts is not None and known_hosts.exists():
        try:
            keys.load(str(known_hosts))
        except (OSError, paramiko.SSHException) as exc:
            raise SSHError(f"cannot read known_hosts {known_hosts}: {exc}") from exc
    return keys


def record_key(known_hosts: Path, name: str, key: paramiko.PKey) -> None:
    """Add ``name key`` to the file: re-read under the lock, write temp, fsync, rename."""
    with _RECORD_LOCK:
        current = load_pinned(known_hosts)
        if current.lookup(name) is not None:
            return  # another fork recorded it first; the caller checks it against this key
        current.add(name, key.get_name(), key)
        known_hosts.parent.mkdir(parents=True, exist_ok=True)
        temp = known_hosts.with_name(f".{known_hosts.name}.{os.getpid()}.tmp")
        current.save(str(temp))
        with temp.open("rb") as handle:
            os.fsync(handle.fileno())
        temp.chmod(0o644)
        temp.replace(known_hosts)


class TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
    """Accept an unknown key once and record it, so every later connection is pinned."""

    def __init__(self, known_hosts: Path) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        record_key(self.known_hosts, hostname, key)
        # A racing fork may have recorded another key for this name: trust the file, not us.
        pinned = load_pinned(self.known_hosts).lookup(hostname)
        if pinned is None or pinned.get(key.get_name()) != key:
            raise HostKeyMismatch(f"{hostname}: presented key differs from the one just recorded")
        log.warning(
            "host key trusted on first use",
            host=hostname,
            key_type=key.get_name(),
            fingerprint=key.fingerprint,
            known_hosts=str(self.known_hosts),
        )


class RejectUnknown(paramiko.MissingHostKeyPolicy):
    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        raise HostKeyUnknown(
            f"{hostname}: host key {key.get_name()} {key.fingerprint} is not pinned in known_hosts;"
            " add it (ssh-keyscan, checked out of band) or set host_key_policy: trust_on_first_use"
        )


def policy_for(policy: HostKeyPolicy, known_hosts: Path | None) -> paramiko.MissingHostKeyPolicy:
    if policy == "trust_on_first_use":
        if known_hosts is None:
            raise SSHError("trust_on_first_use needs a known_hosts file to record keys in")
        return TrustOnFirstUse(known_hosts)
    return RejectUnknown()
