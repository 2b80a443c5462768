"""Signed drill results waiting for the auditor, and the recent drills this host ran.

A result is written here (temp + fsync + rename) before it is sent and removed only when the
auditor acknowledged it, like a report in the spool. The recent drills also travel as
``facts.drills`` in this host's reports, so a host without an auditor still shows them.
"""

from __future__ import annotations

import json
from pathlib import Path

from rra.agent.identity import HostKey
from rra.agent.state import StateStore, atomic_write_bytes
from rra.checks.canonical import canonical_json
from rra.checks.drill import DrillResult
from rra.checks.facts import DrillFact

OUTBOX_DIR = "drill-results"
RECENT_STATE = "drills"
#: Drills remembered for reports (the check only looks back 90 days; a few a week is typical).
MAX_RECENT = 50
#: Results kept while the auditor is unreachable; the oldest go first, counted.
MAX_OUTBOX = 200


class DrillOutbox:
    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / OUTBOX_DIR
        self.dropped = 0

    def add(self, result: DrillResult, key: HostKey) -> Path:
        payload = canonical_json(result)
        document = {"payload": payload.decode("utf-8"), "signature": key.sign(payload)}
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.directory / f"{result.ended_at:%Y%m%dT%H%M%S%f}-{result.drill_id}.json"
        atomic_write_bytes(path, json.dumps(document).encode("utf-8"))
        self._enforce_cap()
        return path

    def entries(self) -> list[tuple[Path, bytes, str]]:
        """(file, payload, signature), oldest first; unreadable files are left for inspection."""
        if not self.directory.is_dir():
            return []
        found: list[tuple[Path, bytes, str]] = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                document = json.loads(path.read_text("utf-8"))
                found.append((path, document["payload"].encode("utf-8"), document["signature"]))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
        return found

    def _enforce_cap(self) -> None:
        files = sorted(self.directory.glob("*.json"))
        for path in files[: max(0, len(files) - MAX_OUTBOX)]:
            path.unlink(missing_ok=True)
            self.dropped += 1


def remember(state: StateStore, result: DrillResult) -> None:
    """Keep the drill as a fact for this host's next reports (newest last, bounded)."""
    document = state.load(RECENT_STATE)
    drills = [d for d in document.get("drills", []) if isinstance(d, dict)]
    drills.append(result.to_fact().model_dump(mode="json"))
    state.save(RECENT_STATE, {"drills": drills[-MAX_RECENT:]})


def recent_drills(state: StateStore) -> list[DrillFact]:
    facts: list[DrillFact] = []
    for item in state.load(RECENT_STATE).get("drills", []):
        try:
            facts.append(DrillFact.model_validate(item))
        except ValueError:
            continue  # a damaged entry must not stop a report
    return facts
