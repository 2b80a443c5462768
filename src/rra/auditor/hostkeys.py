"""Per-process cache of host public keys, so verifying a report costs no database round trip.

A host id's key never changes (re-enrollment is a new host id), so the key itself could be cached
forever; only retirement changes, and ingest re-checks that inside its transaction anyway. The TTL
bounds how long a retirement made on another replica goes unnoticed *before* that re-check (the
report is then refused at the transaction instead of before parsing). Unknown ids are not cached:
a flood of made-up ids must not evict real hosts, and an id enrolled a moment ago must work.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import col

from rra.auditor.models import HostRow

DEFAULT_TTL_SECONDS = 60.0
MAX_ENTRIES = 200_000


@dataclass(frozen=True)
class KnownHost:
    host_id: str
    public_key: str | None  # None: an agentless host, which nothing but the auditor signs for
    retired: bool


class HostKeyCache:
    def __init__(self, ttl_seconds: float = DEFAULT_TTL_SECONDS) -> None:
        self._ttl = ttl_seconds
        self._entries: dict[str, tuple[float, KnownHost]] = {}
        self._lock = threading.Lock()

    def lookup(self, engine: Engine, host_id: str) -> KnownHost | None:
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(host_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        known = self._load(engine, host_id)
        if known is not None:
            self._store(known, now)
        return known

    def mark_retired(self, host_id: str) -> None:
        with self._lock:
            cached = self._entries.get(host_id)
            if cached is not None:
                host = cached[1]
                self._entries[host_id] = (
                    cached[0],
                    KnownHost(host.host_id, host.public_key, retired=True),
                )

    def _store(self, known: KnownHost, now: float) -> None:
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                # Simpler than an LRU and just as correct: the cache is only ever an optimisation.
                self._entries.clear()
            self._entries[known.host_id] = (now + self._ttl, known)

    @staticmethod
    def _load(engine: Engine, host_id: str) -> KnownHost | None:
        if not host_id or len(host_id) > 36:  # hosts.id is a uuid; anything longer is not a host
            return None
        statement = select(col(HostRow.public_key), col(HostRow.retired_at)).where(
            col(HostRow.id) == host_id
        )
        with engine.connect() as connection:
            row = connection.execute(statement).first()
        if row is None:
            return None
        return KnownHost(host_id=host_id, public_key=row[0], retired=row[1] is not None)
