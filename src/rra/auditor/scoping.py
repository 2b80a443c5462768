"""Org-path scoping in SQL, with the same segment-aware rule as ``tokens.in_scope``.

``mic`` covers ``mic`` and ``mic/ais`` but never ``mica``; the prefix match escapes LIKE wildcards
because org paths may contain ``_``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_, true

from rra.auditor.tokens import in_scope


def within_org(column: Any, org: str) -> ColumnElement[bool]:
    """``column`` is ``org`` or lies below it; the empty org is the whole agency."""
    if org == "":
        return true()
    return or_(column == org, column.startswith(org + "/", autoescape=True))


def narrow_scope(scope: str, requested: str | None) -> str | None:
    """The org a caller with ``scope`` may read when it asks for ``requested``.

    Asking for an org above one's scope narrows to the scope (the caller only ever sees its own
    part); an org beside it gives ``None``, which callers turn into an empty answer that reveals
    nothing about whether the org exists.
    """
    if requested is None or in_scope(requested, scope):
        return scope if requested is None else requested
    if in_scope(scope, requested):
        return scope
    return None


def org_prefixes(org: str, scope: str) -> list[str]:
    """Every org path from ``scope`` (inclusive, unless agency-wide) down to ``org``.

    ``org_prefixes("mic/ais/x", "mic")`` is ``["mic", "mic/ais", "mic/ais/x"]``.
    """
    segments = org.split("/")
    prefixes = ["/".join(segments[:depth]) for depth in range(1, len(segments) + 1)]
    return [prefix for prefix in prefixes if in_scope(prefix, scope)]
