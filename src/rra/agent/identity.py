"""The host's identity: an Ed25519 key (mode 0600) and the host id the auditor assigned.

Signing and verification live together so the agent and the auditor (which imports this module)
can never disagree about what a signature covers: the exact bytes given, nothing more.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from rra.agent.state import atomic_write_bytes

KEY_FILE = "host.key"
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


class IdentityError(Exception):
    """The host key is missing, unreadable or too permissive."""


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode_exact(text: str, length: int) -> bytes | None:
    """Strict base64 of exactly ``length`` bytes, else None (never raises on hostile input)."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    return raw if len(raw) == length else None


def public_key_fingerprint(public_key_b64: str) -> str:
    raw = base64.b64decode(public_key_b64)
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")


def verify_signature(public_key_b64: str, payload: bytes, signature_b64: str) -> bool:
    """True only for a valid Ed25519 signature by that key over exactly ``payload``."""
    raw_key = b64decode_exact(public_key_b64, PUBLIC_KEY_BYTES)
    signature = b64decode_exact(signature_b64, SIGNATURE_BYTES)
    if raw_key is None or signature is None:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(raw_key).verify(signature, payload)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class HostKey:
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> HostKey:
        return cls(Ed25519PrivateKey.generate())

    @property
    def public_key_b64(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return b64encode(raw)

    def sign(self, payload: bytes) -> str:
        return b64encode(self.private_key.sign(payload))

    def save(self, path: Path) -> None:
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        atomic_write_bytes(path, pem, mode=0o600)

    @classmethod
    def load(cls, path: Path) -> HostKey:
        try:
            mode = path.stat().st_mode & 0o777
            data = path.read_bytes()
        except FileNotFoundError:
            raise IdentityError(f"{path}: no host key; run 'rra agent enroll' first") from None
        except OSError as exc:
            raise IdentityError(f"{path}: cannot read the host key: {exc.strerror}") from None
        if mode & 0o077:
            # Like ssh: a key others can read is not this host's secret any more.
            raise IdentityError(f"{path}: host key is mode {mode:o}; it must be 0600")
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except ValueError as exc:
            raise IdentityError(f"{path}: not a PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise IdentityError(f"{path}: not an Ed25519 key")
        return cls(key)


def key_path(state_dir: Path) -> Path:
    return state_dir / KEY_FILE
