"""Store verified, re-evaluated reports: history row, host bookkeeping and current state.

A call is one transaction of at most five statements whatever the number of reports (a batch is
one host's reports): lock the host row while checking it is not retired, insert every report with
``ON CONFLICT DO NOTHING RETURNING`` (so a replay, or two replicas racing on one report_id, is
decided by the primary key, not by a read that could be stale), look up the ones that already
existed, and upsert the host's current state from the newest report stored. Nothing after
validation can fail for one report alone, so the reports of a batch share the transaction; if the
database still refuses one (a value out of range), each report is retried in its own transaction
so that one report can never poison the others.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import structlog
from sqlalchemy import (
    Connection,
    Executable,
    Integer,
    Table,
    and_,
    bindparam,
    case,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError
from sqlmodel import SQLModel

from rra.checks.report import Finding, Metrics, Report, Score

log = structlog.get_logger(__name__)

HOSTS: Table = SQLModel.metadata.tables["hosts"]
REPORTS: Table = SQLModel.metadata.tables["reports"]
HOST_STATE: Table = SQLModel.metadata.tables["host_state"]


StoreStatus = Literal["stored", "duplicate", "conflict", "refused"]


class HostRetired(Exception):
    """The host was retired (possibly by another replica after its key was cached)."""


class StoreRace(Exception):
    """A report_id conflicted with a row that then vanished (a racing insert rolled back)."""


@dataclass(frozen=True)
class AcceptedReport:
    """A report that passed every check, with the auditor's own evaluation of its facts."""

    report: Report
    payload: str  # the body exactly as signed
    signature: str
    sha256: str
    collected_at: datetime  # report.collected_at in UTC
    metrics: Metrics
    findings: list[Finding]
    score: Score


@dataclass(frozen=True)
class _Existing:
    host_id: str
    content_sha256: str


def store_reports(
    engine: Engine,
    host_id: str,
    reports: Sequence[AcceptedReport],
    *,
    policy_id: str,
    received_at: datetime,
) -> list[StoreStatus]:
    """One status per report, in order. Raises ``HostRetired`` and ``StoreRace``."""
    try:
        with engine.connect() as connection, connection.begin() as transaction:
            statuses = _store_together(connection, host_id, reports, policy_id, received_at)
            if "stored" not in statuses:
                transaction.rollback()  # only replays: a replay is a no-op, host bookkeeping too
            return statuses
    except DataError as exc:
        if len(reports) == 1:
            log.warning("report refused by the database", host_id=host_id, error=str(exc.orig))
            return ["refused"]
    # Some report holds a value the database refuses: find it by storing each one on its own.
    return [
        status
        for one in reports
        for status in store_reports(
            engine, host_id, [one], policy_id=policy_id, received_at=received_at
        )
    ]


def _store_together(
    connection: Connection,
    host_id: str,
    reports: Sequence[AcceptedReport],
    policy_id: str,
    received_at: datetime,
) -> list[StoreStatus]:
    _touch_host(connection, host_id, reports, received_at)
    inserted = _insert_history(connection, host_id, reports, received_at)
    leftovers = [r.report.report_id for r in reports if r.report.report_id not in inserted]
    existing = _existing(connection, leftovers) if leftovers else {}
    statuses: list[StoreStatus] = []
    claimed: set[str] = set()
    for accepted in reports:
        report_id = accepted.report.report_id
        if report_id in inserted and report_id not in claimed:
            claimed.add(report_id)
            statuses.append("stored")
            continue
        before = existing.get(report_id)
        if report_id in claimed:  # the same id twice in one batch: judged against the first
            first = next(r for r in reports if r.report.report_id == report_id)
            before = _Existing(host_id=host_id, content_sha256=first.sha256)
        if before is None:
            raise StoreRace(report_id)
        same = before.host_id == host_id and before.content_sha256 == accepted.sha256
        statuses.append("duplicate" if same else "conflict")
    newest = [r for r, status in zip(reports, statuses, strict=True) if status == "stored"]
    if newest:
        latest = max(newest, key=lambda r: (r.collected_at, r.report.seq))
        _upsert_state(connection, host_id, latest, policy_id, received_at)
    return statuses


def _touch_host(
    connection: Connection,
    host_id: str,
    reports: Sequence[AcceptedReport],
    received_at: datetime,
) -> None:
    """Refuse a retired host and record that it was seen — one statement that also takes the
    host's row lock, so concurrent reports of one host apply in a consistent order."""
    params = {
        "b_host_id": host_id,
        "b_seen": received_at,
        "b_seq": max(r.report.seq for r in reports),
        "b_dropped": max(r.report.delivery.dropped_total for r in reports),
    }
    result = connection.execute(_statements(connection.dialect.name).touch_host, params)
    if result.rowcount == 0:
        raise HostRetired(host_id)


@dataclass(frozen=True)
class _Statements:
    """Built once per dialect and run with bound parameters: SQLAlchemy then compiles each only
    once, which is most of the Python cost of a small statement."""

    touch_host: Executable
    insert_history: Executable
    existing: Executable
    upsert_state: Executable


@functools.cache
def _statements(dialect: str) -> _Statements:
    # Both dialects spell ON CONFLICT the same way; the generic insert() cannot express it.
    if dialect == "postgresql":
        insert: Any = postgresql.insert
    elif dialect == "sqlite":
        insert = sqlite.insert
    else:
        raise NotImplementedError(f"unsupported database dialect {dialect!r}")
    hosts, reports, current = HOSTS.c, REPORTS.c, HOST_STATE.c
    seq, dropped = bindparam("b_seq", type_=Integer), bindparam("b_dropped", type_=Integer)
    touch_host = (
        update(HOSTS)
        .where(hosts.id == bindparam("b_host_id"), hosts.retired_at.is_(None))
        .values(
            last_seen_at=bindparam("b_seen"),
            last_seq=case(
                (or_(hosts.last_seq.is_(None), hosts.last_seq < seq), seq), else_=hosts.last_seq
            ),
            dropped_reports=case(
                (hosts.dropped_reports < dropped, dropped), else_=hosts.dropped_reports
            ),
        )
    )
    insert_history = (
        insert(REPORTS)
        .on_conflict_do_nothing(index_elements=["report_id"])
        .returning(reports.report_id)
    )
    existing = select(reports.report_id, reports.host_id, reports.content_sha256).where(
        reports.report_id.in_(bindparam("b_ids", expanding=True))
    )
    state = insert(HOST_STATE)
    # Replace the current state only with a newer report (collected_at, then seq): a report that
    # waited in a spool must not overwrite what a later one already established.
    newer = or_(
        current.collected_at < state.excluded.collected_at,
        and_(current.collected_at == state.excluded.collected_at, current.seq < state.excluded.seq),
    )
    upsert_state = state.on_conflict_do_update(
        index_elements=["host_id"],
        set_={
            column.name: state.excluded[column.name]
            for column in current
            if column.name != "host_id"
        },
        where=newer,
    )
    return _Statements(touch_host, insert_history, existing, upsert_state)


def _insert_history(
    connection: Connection,
    host_id: str,
    reports: Sequence[AcceptedReport],
    received_at: datetime,
) -> set[str]:
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    for accepted in reports:
        report_id = accepted.report.report_id
        if report_id in seen:  # the same id twice in one batch: the second is judged as a replay
            continue
        seen.add(report_id)
        rows.append(
            {
                "report_id": report_id,
                "host_id": host_id,
                "seq": accepted.report.seq,
                "collected_at": accepted.collected_at,
                "received_at": received_at,
                "content_sha256": accepted.sha256,
                "payload": accepted.payload,
                "signature": accepted.signature,
                "score_total": accepted.score.total,
                "metrics": accepted.metrics.model_dump(mode="json"),
            }
        )
    # A list of rows with RETURNING: one multi-row INSERT ("insertmanyvalues"), one round trip.
    result = connection.execute(_statements(connection.dialect.name).insert_history, rows)
    return {row[0] for row in result}


def _existing(connection: Connection, report_ids: list[str]) -> dict[str, _Existing]:
    rows = connection.execute(_statements(connection.dialect.name).existing, {"b_ids": report_ids})
    return {row[0]: _Existing(host_id=row[1], content_sha256=row[2]) for row in rows}


def _upsert_state(
    connection: Connection,
    host_id: str,
    accepted: AcceptedReport,
    policy_id: str,
    received_at: datetime,
) -> None:
    report = accepted.report
    values: dict[str, Any] = {
        "host_id": host_id,
        "report_id": report.report_id,
        "seq": report.seq,
        "collected_at": accepted.collected_at,
        "received_at": received_at,
        "score_total": accepted.score.total,
        "score": accepted.score.model_dump(mode="json"),
        "metrics": accepted.metrics.model_dump(mode="json"),
        "findings": [finding.model_dump(mode="json") for finding in accepted.findings],
        "facts": report.facts.model_dump(mode="json"),
        "host_info": report.host.model_dump(mode="json"),
        "delivery": report.delivery.model_dump(mode="json"),
        "policy_id": policy_id,
        "evaluated_at": received_at,
    }
    connection.execute(_statements(connection.dialect.name).upsert_state, values)
