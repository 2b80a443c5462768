"""Materialising due drill runs from playbook schedules, on SQLite and PostgreSQL: targets by
name, id and labels within the playbook's org, agentless names for the worker, never a fire time
before the playbook existed, idempotent even from two engines at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from rra.auditor.db import make_engine, session_scope
from rra.auditor.drills import store
from rra.auditor.drills.schedule import latest_fire, materialize_due
from rra.auditor.models import DrillRun, PlaybookRow
from tests.auditor.drill_support import (
    add_host,
    playbook_yaml,
    unique_name,
)

SATURDAY_2AM = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # a Saturday


def test_latest_fire_is_the_last_one_at_or_before_now() -> None:
    weekly = "0 2 * * 6"
    assert latest_fire(weekly, SATURDAY_2AM) == SATURDAY_2AM
    assert latest_fire(weekly, SATURDAY_2AM + timedelta(seconds=59)) == SATURDAY_2AM
    assert latest_fire(weekly, SATURDAY_2AM - timedelta(seconds=1)) == SATURDAY_2AM - timedelta(
        days=7
    )


def add_playbook(engine: Engine, text: str, org: str, *, created: datetime) -> PlaybookRow:
    with session_scope(engine) as session:
        row, _ = store.add_playbook(session, text, org=org)
    with session_scope(engine) as session:  # as if added long ago
        session.execute(
            update(PlaybookRow).where(col(PlaybookRow.id) == row.id).values(created_at=created)
        )
    return row


def runs_of(engine: Engine, playbook_id: str) -> list[DrillRun]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(DrillRun)
                .where(DrillRun.playbook_id == playbook_id)
                .order_by(col(DrillRun.due_at), col(DrillRun.target))
            )
        )


def materialise(engine: Engine, now: datetime) -> int:
    with session_scope(engine) as session:
        return materialize_due(session, now)


def test_targets_are_resolved_within_the_playbooks_org(drill_engine: Engine) -> None:
    named = add_host(drill_engine, "prov-a/finance", "db1.example")
    by_id = add_host(drill_engine, "prov-a", "web1")
    critical = add_host(
        drill_engine, "prov-a/ops", "ops1", criticality="high", labels={"role": "db"}
    )
    add_host(drill_engine, "prov-a/ops", "ops2", criticality="high", labels={"role": "web"})
    retired = add_host(
        drill_engine, "prov-a/ops", "ops3", criticality="high", labels={"role": "db"}, retired=True
    )
    add_host(
        drill_engine, "prov-b", "db9.example"
    )  # another province's host, named in the playbook
    add_host(drill_engine, "prov-b/ops", "ops4", criticality="high", labels={"role": "db"})
    text = playbook_yaml(
        unique_name(), schedule_="0 2 * * 6",
        hosts=["DB1.example", by_id, "nas.example", "db9.example", retired],
        labels={"criticality": "high", "role": "db"},
    )  # fmt: skip
    row = add_playbook(drill_engine, text, "prov-a", created=SATURDAY_2AM - timedelta(days=30))

    assert materialise(drill_engine, SATURDAY_2AM + timedelta(hours=1)) == 4
    runs = runs_of(drill_engine, row.id)
    by_target = {run.target: run for run in runs}
    assert set(by_target) == {named, by_id, critical, "nas.example"}
    assert all(run.due_at.replace(tzinfo=UTC) == SATURDAY_2AM for run in runs)
    assert all(run.state == "pending" and run.trigger == "schedule" for run in runs)
    agentless = by_target["nas.example"]
    assert agentless.executor_kind == "worker" and agentless.host_id is None
    assert agentless.org == "prov-a"
    assert by_target[named].executor_kind == "agent" and by_target[named].host_id == named
    assert by_target[named].org == "prov-a/finance"


def test_label_org_is_a_segment_aware_prefix(drill_engine: Engine) -> None:
    inside = add_host(drill_engine, "mic/ais", "a1")
    add_host(drill_engine, "mica", "a2")
    text = playbook_yaml(unique_name(), schedule_="0 2 * * 6", labels={"org": "mic"})
    row = add_playbook(drill_engine, text, "", created=SATURDAY_2AM - timedelta(days=1))
    materialise(drill_engine, SATURDAY_2AM)
    assert [run.target for run in runs_of(drill_engine, row.id)] == [inside]


def test_never_fires_for_a_time_before_the_playbook_existed(drill_engine: Engine) -> None:
    host = add_host(drill_engine, "o", "h1")
    text = playbook_yaml(unique_name(), schedule_="0 2 * * 6", hosts=[host])
    row = add_playbook(drill_engine, text, "o", created=SATURDAY_2AM + timedelta(minutes=5))
    assert materialise(drill_engine, SATURDAY_2AM + timedelta(hours=3)) == 0
    assert runs_of(drill_engine, row.id) == []
    # The next fire after it was created does fire.
    assert materialise(drill_engine, SATURDAY_2AM + timedelta(days=7)) == 1


def test_materialising_twice_and_from_two_engines_at_once_makes_one_run_per_target(
    drill_engine: Engine, drill_db: str
) -> None:
    hosts = [add_host(drill_engine, "o", f"h{i}") for i in range(5)]
    text = playbook_yaml(unique_name(), schedule_="*/5 * * * *", hosts=hosts)
    row = add_playbook(drill_engine, text, "o", created=SATURDAY_2AM - timedelta(days=1))
    now = SATURDAY_2AM + timedelta(minutes=7)
    assert materialise(drill_engine, now) == 5
    assert materialise(drill_engine, now) == 0

    later = now + timedelta(minutes=5)
    barrier = threading.Barrier(2)
    inserted: list[int] = []
    errors: list[BaseException] = []

    def racer() -> None:
        own = make_engine(drill_db)  # its own drill_engine, connections and transactions
        try:
            barrier.wait()
            inserted.append(materialise(own, later))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=racer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and sorted(inserted) in ([0, 5], [5, 0])
    runs = runs_of(drill_engine, row.id)
    fires = {run.due_at.replace(tzinfo=UTC) for run in runs}
    assert len(runs) == 10 and len(fires) == 2
    assert {(run.target, run.due_at) for run in runs}.__len__() == 10


def test_a_newer_fire_time_closes_the_runs_nobody_claimed(drill_engine: Engine) -> None:
    host = add_host(drill_engine, "o", "h1")
    text = playbook_yaml(unique_name(), schedule_="0 2 * * 6", hosts=[host])
    row = add_playbook(drill_engine, text, "o", created=SATURDAY_2AM - timedelta(days=30))
    materialise(drill_engine, SATURDAY_2AM)
    materialise(drill_engine, SATURDAY_2AM + timedelta(days=7))
    old, new = runs_of(drill_engine, row.id)
    assert (old.state, new.state) == ("done", "pending")
    assert old.result_id is None  # closed unanswered: superseded, visible in the run list


def test_disabled_and_unscheduled_playbooks_do_not_fire(drill_engine: Engine) -> None:
    host = add_host(drill_engine, "o", "h1")
    manual = add_playbook(
        drill_engine,
        playbook_yaml(unique_name(), hosts=[host]),
        "o",
        created=SATURDAY_2AM - timedelta(days=1),
    )
    disabled = add_playbook(
        drill_engine, playbook_yaml(unique_name(), schedule_="* * * * *", hosts=[host]), "o",
        created=SATURDAY_2AM - timedelta(days=1),
    )  # fmt: skip
    with session_scope(drill_engine) as session:
        session.execute(
            update(PlaybookRow).where(col(PlaybookRow.id) == disabled.id).values(enabled=False)
        )
    assert materialise(drill_engine, SATURDAY_2AM) == 0
    assert runs_of(drill_engine, manual.id) == [] and runs_of(drill_engine, disabled.id) == []
