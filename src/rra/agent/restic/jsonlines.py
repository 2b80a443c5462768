"""restic's JSON-lines output (``--json``): status and result messages, one object per line."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


def last_message(lines: Iterable[str], message_type: str) -> dict[str, Any] | None:
    """The last JSON object whose ``message_type`` is ``message_type``; text lines are skipped."""
    for line in reversed(list(lines)):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and obj.get("message_type") == message_type:
            return obj
    return None
