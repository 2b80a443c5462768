"""The bounded on-disk spool of signed reports waiting for the auditor (docs/protocol.md).

Each report is one file ``<seq:012d>-<report_id>.json`` holding ``{"payload", "signature"}``,
written temp + fsync + rename, so a crash leaves either the whole entry or a hidden temp file that
the next listing removes. Loss is never silent: every entry dropped by the cap, rejected by the
auditor or found corrupt is counted in ``<state_dir>/delivery.json`` and carried by the next report.
One process owns the spool at a time (``Spool.exclusive``), which is what makes every temp file in
it stale by definition.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import structlog

from rra.agent.state import StateStore, atomic_write_bytes
from rra.checks.protocol import BatchItem
from rra.checks.report import Delivery

log = structlog.get_logger(__name__)

SPOOL_DIR = "spool"
DELIVERY_DOCUMENT = "delivery"
DROPPED_SEQS_KEPT = 100
QUARANTINE_KEPT = 100  # corrupt/ and rejected/ keep this many files for diagnosis, not forever
LOCK_FILE = ".lock"
_ENTRY_NAME = re.compile(r"^(?P<seq>\d{12,})-(?P<report_id>[A-Za-z0-9][A-Za-z0-9_-]{0,127})\.json$")

DropReason = Literal["cap", "rejected", "corrupt"]


class SpoolBusy(Exception):
    """Another agent process holds the spool."""


@dataclass(frozen=True)
class SpoolEntry:
    path: Path
    seq: int
    report_id: str
    payload: str  # canonical JSON of the report, exactly as signed
    signature: str

    def as_batch_item(self) -> BatchItem:
        return BatchItem(payload=self.payload, signature=self.signature)

    @property
    def size(self) -> int:
        return len(self.payload.encode("utf-8")) + len(self.signature)


def entry_name(seq: int, report_id: str) -> str:
    name = f"{seq:012d}-{report_id}.json"
    if seq < 0 or not _ENTRY_NAME.match(name):
        raise ValueError(f"cannot spool report {report_id!r} with seq {seq}")
    return name


def _parse_entry(path: Path, seq: int, report_id: str) -> SpoolEntry | None:
    try:
        document: Any = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or set(document) != {"payload", "signature"}:
        return None
    payload, signature = document["payload"], document["signature"]
    if not isinstance(payload, str) or not isinstance(signature, str):
        return None
    return SpoolEntry(path, seq, report_id, payload, signature)


class Spool:
    def __init__(self, state_dir: Path, max_reports: int = 1000) -> None:
        if max_reports < 1:
            raise ValueError("the spool must hold at least one report")
        self.directory = state_dir / SPOOL_DIR
        self.max_reports = max_reports
        self._state = StateStore(state_dir)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the spool for this process: a timer run and a manual run must not interleave."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            import fcntl
        except ImportError:  # Windows: the scheduled task runs one instance at a time
            yield
            return
        descriptor = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SpoolBusy(
                    f"{self.directory}: another rra agent run holds the spool"
                ) from None
            yield
        finally:
            os.close(descriptor)  # releases the lock, also when the process dies

    def add(self, seq: int, report_id: str, payload: bytes, signature: str) -> SpoolEntry:
        """Spool one signed report durably, then drop the oldest entries beyond the cap."""
        path = self.directory / entry_name(seq, report_id)
        text = payload.decode("utf-8")
        document = json.dumps({"payload": text, "signature": signature}, ensure_ascii=False)
        atomic_write_bytes(path, document.encode("utf-8"))
        self._enforce_cap()
        return SpoolEntry(path, seq, report_id, text, signature)

    def _entry_paths(self) -> list[tuple[int, str, Path]]:
        """(seq, report_id, path) oldest first; removes stale temp files, quarantines strays."""
        found: list[tuple[int, str, Path]] = []
        try:
            children = list(self.directory.iterdir())
        except FileNotFoundError:
            return []
        for path in children:
            name = path.name
            if name == LOCK_FILE or path.is_dir():
                continue
            if name.startswith(".") and name.endswith(".tmp"):
                # A write interrupted by a crash: never renamed, so never a report.
                path.unlink(missing_ok=True)
                continue
            match = _ENTRY_NAME.match(name)
            if match is None:
                self._drop([path], "corrupt", seqs=[])
                continue
            found.append((int(match["seq"]), match["report_id"], path))
        found.sort(key=lambda item: (item[0], item[2].name))
        return found

    def entries(self, limit: int | None = None) -> list[SpoolEntry]:
        """Readable entries, oldest first (up to ``limit``); unreadable ones are quarantined."""
        result: list[SpoolEntry] = []
        for seq, report_id, path in self._entry_paths():
            if limit is not None and len(result) >= limit:
                break
            entry = _parse_entry(path, seq, report_id)
            if entry is None:
                self._drop([path], "corrupt", seqs=[seq])
                continue
            result.append(entry)
        return result

    def count(self) -> int:
        return len(self._entry_paths())

    def remove(self, entry: SpoolEntry) -> None:
        """The auditor acknowledged it (stored or duplicate)."""
        entry.path.unlink(missing_ok=True)

    def reject(self, entry: SpoolEntry, error: str | None = None) -> None:
        """The auditor refused it for good: keep it aside for diagnosis and count it as dropped."""
        log.warning(
            "report rejected by the auditor", seq=entry.seq, report_id=entry.report_id, error=error
        )
        self._drop([entry.path], "rejected", seqs=[entry.seq])

    def _enforce_cap(self) -> None:
        paths = self._entry_paths()
        excess = paths[: max(0, len(paths) - self.max_reports)]
        if excess:
            log.warning("spool full: dropping the oldest reports", dropped=len(excess))
            self._drop([path for _, _, path in excess], "cap", seqs=[seq for seq, _, _ in excess])

    def _drop(self, paths: list[Path], reason: DropReason, seqs: list[int]) -> None:
        # Count first, delete second: a crash in between over-counts, it never loses silently.
        self._record_drops(len(paths), seqs, reason)
        if reason == "cap":
            for path in paths:
                path.unlink(missing_ok=True)
            return
        aside = self.directory / reason
        aside.mkdir(exist_ok=True, mode=0o700)
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                path.replace(aside / path.name)
        _prune(aside, QUARANTINE_KEPT)

    def _record_drops(self, count: int, seqs: list[int], reason: DropReason) -> None:
        document = self._state.load(DELIVERY_DOCUMENT)
        delivery = _delivery_from(document)
        by_reason = document.get("dropped_by_reason")
        by_reason = dict(by_reason) if isinstance(by_reason, dict) else {}
        by_reason[reason] = _count(by_reason.get(reason)) + count
        self._state.save(
            DELIVERY_DOCUMENT,
            {
                "dropped_total": delivery.dropped_total + count,
                "dropped_seqs": (delivery.dropped_seqs + seqs)[-DROPPED_SEQS_KEPT:],
                "dropped_by_reason": by_reason,
            },
        )

    def delivery_snapshot(self) -> Delivery:
        """What the next report says about this spool: drops so far and what is still waiting."""
        spooled = self.count()
        delivery = _delivery_from(self._state.load(DELIVERY_DOCUMENT))
        return delivery.model_copy(update={"spooled": spooled})


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _count(value: Any) -> int:
    return value if _is_count(value) else 0


def _delivery_from(document: dict[str, Any]) -> Delivery:
    """delivery.json as written by ``_record_drops``; anything malformed reads as zero."""
    seqs = document.get("dropped_seqs")
    valid_seqs = [s for s in seqs if _is_count(s)] if isinstance(seqs, list) else []
    return Delivery(
        dropped_total=_count(document.get("dropped_total")),
        dropped_seqs=valid_seqs[-DROPPED_SEQS_KEPT:],
    )


def _prune(directory: Path, keep: int) -> None:
    files = sorted((p for p in directory.iterdir() if p.is_file()), key=lambda p: p.name)
    for path in files[: max(0, len(files) - keep)]:
        path.unlink(missing_ok=True)
