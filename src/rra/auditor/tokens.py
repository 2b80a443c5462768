"""API and enrollment tokens: 256-bit random, shown once, stored as SHA-256.

A slow password hash buys nothing for 256-bit random secrets and would cost every API call.
Org scopes are path prefixes on whole segments: ``mic`` covers ``mic`` and ``mic/ais``, never
``mica``; the empty scope (shown as ``/``) is the whole agency.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Literal

Role = Literal["inspector", "admin"]
ROLES: tuple[Role, ...] = ("inspector", "admin")
API_TOKEN_PREFIX = "rra_api_"  # noqa: S105 - a public prefix, not a secret
ENROLL_TOKEN_PREFIX = "rra_enr_"  # noqa: S105 - a public prefix
ORG_PATH = re.compile(r"[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*")


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalise_scope(scope: str) -> str:
    """'/' or '' → '' (agency-wide); 'mic/ais/' → 'mic/ais'. Raises ValueError when malformed."""
    stripped = scope.strip().strip("/")
    if stripped == "":
        return ""
    if not ORG_PATH.fullmatch(stripped):
        raise ValueError(
            f"invalid org path {scope!r}: expected lower-case segments separated by '/', e.g. mic/ais"
        )
    return stripped


def in_scope(org: str, scope: str) -> bool:
    return scope == "" or org == scope or org.startswith(scope + "/")


def display_scope(scope: str) -> str:
    return scope or "/"
