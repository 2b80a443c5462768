"""Materialise due drill runs from playbook schedules: lazily, at the start of every claim, so no
scheduler process exists and any number of replicas and workers may do it at once.

Each enabled, scheduled playbook's latest cron fire time ≤ now (in UTC, so every replica agrees
on it whatever its local zone) becomes one ``drill_runs`` row per target; the unique key
(playbook, target, due_at) and ``INSERT .. ON CONFLICT DO NOTHING`` make that idempotent. A fire
time before the playbook existed never fires. Older runs of the same schedule that nobody claimed
are closed when a newer fire time supersedes them: a host back after three weeks runs the drill
once, not three times.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from croniter import croniter
from sqlalchemy import Table, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, col, select

from rra.agent.drill.load import PlaybookError
from rra.auditor.drills.store import parsed
from rra.auditor.models import DrillRun, HostRow, PlaybookRow, as_utc
from rra.auditor.scoping import within_org
from rra.auditor.tokens import in_scope
from rra.checks.playbook import Playbook

log = structlog.get_logger(__name__)

DRILL_RUNS: Table = SQLModel.metadata.tables["drill_runs"]
# Claims call materialise_recent: each (playbook version, fire time) is materialised at most this
# often per process; a host enrolled meanwhile gets its run on a later claim of the same fire.
REMATERIALISE_AFTER_SECONDS = 60.0


@dataclass(frozen=True)
class Target:
    host_id: str | None  # None: agentless, run by the worker
    target: str  # host id when enrolled (hostnames repeat across a fleet), else the hostname
    org: str


def latest_fire(schedule: str, now: datetime) -> datetime:
    """The latest cron fire time ≤ ``now`` (UTC). croniter's get_prev is strictly before its
    start, and cron has minute resolution, so start from the next whole minute."""
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    fire: datetime = croniter(schedule, start).get_prev(datetime)
    return fire


def _label_match(host: HostRow, labels: dict[str, str]) -> bool:
    for key, wanted in labels.items():
        if key == "org":
            if not in_scope(host.org, wanted.strip("/")):
                return False
        elif key == "criticality":
            if host.criticality != wanted:
                return False
        elif host.labels.get(key) != wanted:
            return False
    return True


def resolve_targets(session: Session, row: PlaybookRow, playbook: Playbook) -> list[Target]:
    """Who runs this playbook on schedule, never outside the playbook's org.

    ``targets.hosts`` names enrolled hosts (by hostname or id); a name no enrolled host has is an
    agentless target for the worker, while a name only hosts outside the org have is skipped (a
    province's playbook never reaches another province's machine). ``targets.labels`` select
    enrolled hosts whose every label matches (``org`` a segment-aware prefix, ``criticality``,
    or any host label).
    """
    found: dict[str, Target] = {}
    names = [name.strip() for name in playbook.targets.hosts if name.strip()]
    if names:
        lowered = [name.lower() for name in names]
        hosts = session.exec(
            select(HostRow).where(
                col(HostRow.id).in_(names) | func.lower(HostRow.hostname).in_(lowered)
            )
        ).all()
        retired_ids = {h.id for h in hosts if h.retired_at is not None}
        live = [h for h in hosts if h.retired_at is None]
        for name in names:
            matches = [h for h in live if h.id == name or h.hostname.lower() == name.lower()]
            inside = [h for h in matches if in_scope(h.org, row.org)]
            for host in inside:
                found[host.id] = Target(host.id, host.id, host.org)
            if not matches and name not in retired_ids:  # a retired host's id is nobody's name
                found.setdefault(f"name:{name.lower()}", Target(None, name, row.org))
            elif not inside:
                log.warning("drill target outside the playbook's org skipped",
                            playbook=row.name, target=name)  # fmt: skip
    if playbook.targets.labels:
        hosts = session.exec(
            select(HostRow).where(
                col(HostRow.retired_at).is_(None), within_org(HostRow.org, row.org)
            )
        ).all()
        for host in hosts:
            if _label_match(host, playbook.targets.labels):
                found[host.id] = Target(host.id, host.id, host.org)
    return sorted(found.values(), key=lambda t: t.target)  # one lock order for every replica


@functools.cache
def _insert_runs(dialect: str) -> Any:
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(DRILL_RUNS)
        .on_conflict_do_nothing(index_elements=["playbook_id", "target", "due_at"])
        .returning(DRILL_RUNS.c.id)
    )


def _materialise_one(
    session: Session, row: PlaybookRow, fire: datetime, targets: Sequence[Target], now: datetime
) -> int:
    inserted = 0
    if targets:
        rows = [
            {
                "id": str(uuid.uuid4()),
                "playbook_id": row.id,
                "playbook_name": row.name,
                "org": target.org,
                "host_id": target.host_id,
                "target": target.target,
                "executor_kind": "worker" if target.host_id is None else "agent",
                "trigger": "schedule",
                "due_at": fire,
                "state": "pending",
                "created_at": now,
            }
            for target in targets
        ]
        connection = session.connection()
        inserted = len(connection.execute(_insert_runs(connection.dialect.name), rows).all())
    session.connection().execute(
        update(DrillRun)
        .where(
            col(DrillRun.playbook_id) == row.id,
            col(DrillRun.trigger) == "schedule",
            col(DrillRun.state) == "pending",
            col(DrillRun.due_at) < fire,
        )
        .values(state="done")
    )
    return inserted


Key = tuple[str, str, datetime]  # (playbook id, playbook sha256, fire time)


def _due_playbooks(session: Session, now: datetime) -> list[tuple[PlaybookRow, datetime]]:
    rows = session.exec(
        select(PlaybookRow)
        .where(col(PlaybookRow.enabled), col(PlaybookRow.schedule).is_not(None))
        .order_by(col(PlaybookRow.name))
    ).all()
    due: list[tuple[PlaybookRow, datetime]] = []
    for row in rows:
        try:
            fire = latest_fire(row.schedule or "", now)
        except (ValueError, KeyError) as error:  # croniter's errors are ValueErrors (and KeyError)
            log.warning("playbook schedule unusable", playbook=row.name, error=str(error))
            continue
        created = as_utc(row.created_at) or row.created_at
        if fire >= created:  # never fire for a time before the playbook existed
            due.append((row, fire))
    return due


class _Recent:
    """(playbook version, fire time) pairs this process materialised lately, with when."""

    def __init__(self) -> None:
        self._done: dict[Key, float] = {}
        self._lock = threading.Lock()

    def fresh(self, key: Key) -> bool:
        with self._lock:
            at = self._done.get(key)
        return at is not None and time.monotonic() - at < REMATERIALISE_AFTER_SECONDS

    def mark(self, keys: Sequence[Key]) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._done) > 10_000:
                self._done.clear()  # an optimisation only: forgetting is always safe
            self._done.update(dict.fromkeys(keys, now))

    def clear(self) -> None:
        with self._lock:
            self._done.clear()


recent = _Recent()


def _materialise(session: Session, now: datetime, memo: _Recent | None) -> tuple[int, list[Key]]:
    inserted = 0
    done: list[Key] = []
    for row, fire in _due_playbooks(session, now):
        key = (row.id, row.sha256, fire)
        if memo is not None and memo.fresh(key):
            continue
        try:
            playbook = parsed(row)
        except PlaybookError as error:  # stored by another rra version whose rules differ
            log.warning("scheduled playbook no longer loads", playbook=row.name, error=str(error))
            continue
        targets = resolve_targets(session, row, playbook)
        inserted += _materialise_one(session, row, fire, targets, now)
        done.append(key)
    return inserted, done


def materialize_due(session: Session, now: datetime) -> int:
    """Insert the due run of every scheduled playbook for every target; return how many were
    new. Idempotent. Does not commit: the caller owns the transaction."""
    return _materialise(session, now, None)[0]


def materialize_recent(session: Session, now: datetime) -> int:
    """``materialize_due`` for claims, skipping what this process materialised lately (every
    agent's claim would otherwise re-resolve every playbook's targets). Commits."""
    inserted, done = _materialise(session, now, recent)
    session.commit()
    recent.mark(done)
    return inserted
