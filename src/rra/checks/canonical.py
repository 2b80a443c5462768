"""Canonical JSON: the exact bytes a host signs and the auditor verifies.

Keys sorted, no insignificant whitespace, UTF-8 without escaping non-ASCII. The agent signs
``canonical_json(report)``; the auditor verifies those bytes *before* parsing them, so the two
sides never have to agree on anything but these bytes.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel


def canonical_json(document: Any) -> bytes:
    if isinstance(document, BaseModel):
        document = document.model_dump(mode="json", by_alias=True)
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
