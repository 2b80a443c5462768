"""Claiming drill runs and storing results at the database level, on SQLite and PostgreSQL:
concurrent claimers (threads with their own engines) each get disjoint runs, an expired lease is
claimable again, and the worker turns every claimed run into a stored, auditor-signed result."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from rra.agent.host import Host
from rra.agent.identity import verify_signature
from rra.agent.local import LocalHost
from rra.auditor.db import make_engine, session_scope
from rra.auditor.drills import store
from rra.auditor.drills.claims import ClaimedRun, ExecutorKind, claim_runs
from rra.auditor.drills.results import store_result
from rra.auditor.drills.worker import WorkOutcome, work_once
from rra.auditor.ingest import IngestRejected
from rra.auditor.models import DrillResultRow, DrillRun, utcnow
from rra.auditor.signing import auditor_key_path, load_or_create_auditor_key
from rra.checks.canonical import canonical_json
from rra.checks.drill import DrillResult
from rra.checks.playbook import Playbook
from tests.auditor.drill_support import (
    add_host,
    drill_result,
    playbook_yaml,
    unique_name,
)


def new_playbook(engine: Engine, org: str = "o", timeout: str = "1h") -> str:
    name = unique_name()
    with session_scope(engine) as session:
        store.add_playbook(session, playbook_yaml(name, timeout=timeout), org=org)
    return name


def manual_runs(engine: Engine, playbook: str, hosts: list[str]) -> list[str]:
    with session_scope(engine) as session:
        return [store.trigger_run(session, playbook, host).id for host in hosts]


def claim(
    engine: Engine,
    kind: ExecutorKind,
    host_id: str | None,
    claimer: str,
    *,
    now: datetime | None = None,
    limit: int = 5,
) -> list[ClaimedRun]:
    with Session(engine, expire_on_commit=False) as session:
        return claim_runs(session, kind, host_id, claimer, now or utcnow(), limit)


def race(drill_db: str, workers: int, work: Callable[[Engine, int], list[str]]) -> list[str]:
    """Run ``work`` in threads that start together, each on its own engine; all ids returned."""
    barrier = threading.Barrier(workers)
    found: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def body(index: int) -> None:
        own = make_engine(drill_db)
        try:
            barrier.wait()
            ids = work(own, index)
            with lock:
                found.extend(ids)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=body, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    return found


def test_concurrent_worker_claims_take_each_run_exactly_once(
    drill_engine: Engine, drill_db: str
) -> None:
    playbook = new_playbook(drill_engine)
    expected = manual_runs(drill_engine, playbook, [f"nas{i}.example" for i in range(12)])

    def drain(own: Engine, index: int) -> list[str]:
        mine: list[str] = []
        while batch := claim(own, "worker", None, f"worker-{index}", limit=2):
            mine.extend(run.run_id for run in batch)
        return mine

    claimed = race(drill_db, 3, drain)
    assert Counter(claimed) == Counter(expected)  # every run once, none twice


def test_concurrent_claims_of_one_host_take_each_run_exactly_once(
    drill_engine: Engine, drill_db: str
) -> None:
    host = add_host(drill_engine, "o", "db1")
    other = add_host(drill_engine, "o", "db2")
    playbook = new_playbook(drill_engine)
    expected = manual_runs(drill_engine, playbook, [host] * 6)
    manual_runs(drill_engine, playbook, [other, "nas.example"])  # not this host's

    def once(own: Engine, index: int) -> list[str]:
        return [run.run_id for run in claim(own, "agent", host, host, limit=20)]

    claimed = race(drill_db, 2, once)
    assert Counter(claimed) == Counter(expected)


def test_the_default_lease_is_the_playbook_timeout_plus_ten_minutes(drill_engine: Engine) -> None:
    playbook = new_playbook(drill_engine, timeout="30m")
    manual_runs(drill_engine, playbook, ["nas.example"])
    now = utcnow()
    (run,) = claim(drill_engine, "worker", None, "w", now=now)
    assert run.lease_until == now + timedelta(minutes=40)


def test_an_expired_lease_is_claimable_again(drill_engine: Engine) -> None:
    playbook = new_playbook(drill_engine)
    (run_id,) = manual_runs(drill_engine, playbook, ["nas.example"])
    now = utcnow()
    assert [r.run_id for r in claim(drill_engine, "worker", None, "w1", now=now)] == [run_id]
    assert claim(drill_engine, "worker", None, "w2", now=now + timedelta(minutes=69)) == []
    again = claim(drill_engine, "worker", None, "w2", now=now + timedelta(minutes=71))
    assert [r.run_id for r in again] == [run_id]
    with Session(drill_engine) as session:
        row = session.get(DrillRun, run_id)
        assert row is not None and row.claimed_by == "w2" and row.state == "claimed"


def store_as(engine: Engine, result: DrillResult, host_id: str | None) -> str:
    payload = canonical_json(result)
    with session_scope(engine) as session:
        return store_result(session, result, payload, "sig", "host" if host_id else "auditor",
                            host_id, utcnow(), signer_key="key")  # fmt: skip


def test_results_must_answer_a_run_this_executor_claimed(drill_engine: Engine) -> None:
    mine, theirs = add_host(drill_engine, "o", "db1"), add_host(drill_engine, "o", "db2")
    playbook = new_playbook(drill_engine)
    run_mine, run_theirs, run_agentless = manual_runs(drill_engine, playbook, [mine, theirs, "nas"])
    claim(drill_engine, "agent", theirs, theirs)
    # Another host's claimed run, an unclaimed run, an agentless run: all refused alike.
    for run_id, code in ((run_theirs, 403), (run_mine, 403), (run_agentless, 403)):
        with pytest.raises(IngestRejected) as refused:
            store_as(drill_engine, drill_result(playbook=playbook, run_id=run_id), mine)
        assert refused.value.status_code == code
    claim(drill_engine, "agent", mine, mine)
    with pytest.raises(IngestRejected) as wrong_playbook:
        store_as(drill_engine, drill_result(playbook="another", run_id=run_mine), mine)
    assert wrong_playbook.value.status_code == 422

    first = drill_result(playbook=playbook, run_id=run_mine)
    assert store_as(drill_engine, first, mine) == "stored"
    assert store_as(drill_engine, first, mine) == "duplicate"  # a replay is a no-op
    changed = first.model_copy(update={"verdict": "fail"})
    with pytest.raises(IngestRejected) as conflict:
        store_as(drill_engine, changed, mine)
    assert conflict.value.status_code == 409
    with pytest.raises(IngestRejected) as answered:  # a second result for the same run
        store_as(drill_engine, drill_result(playbook=playbook, run_id=run_mine), mine)
    assert answered.value.status_code == 409
    with Session(drill_engine) as session:
        run = session.get(DrillRun, run_mine)
        assert run is not None and run.state == "done" and run.result_id == first.drill_id
    with pytest.raises(IngestRejected) as no_run:  # the worker always answers a run
        store_as(drill_engine, drill_result(playbook=playbook, executor="worker"), None)
    assert no_run.value.status_code == 422


def fake_execute(
    seen: list[str], verdict: str = "pass", delay: float = 0.0
) -> Callable[..., DrillResult]:
    def execute(
        playbook: Playbook, host: Host, *, playbook_sha256: str, executor: str, run_id: str | None
    ) -> DrillResult:
        assert executor == "worker" and run_id is not None
        seen.append(run_id)
        time.sleep(delay)
        return drill_result(playbook=playbook.name, hostname="nas", run_id=run_id,
                            verdict=verdict, executor="worker")  # fmt: skip

    return execute


def everywhere(_target: str) -> Host:
    return LocalHost()


def test_two_workers_execute_each_due_run_exactly_once(
    drill_engine: Engine, drill_db: str, tmp_path: Path
) -> None:
    playbook = new_playbook(drill_engine)
    expected = manual_runs(drill_engine, playbook, [f"nas{i}" for i in range(6)])
    key = load_or_create_auditor_key(tmp_path)
    executed: list[str] = []

    def work(own: Engine, index: int) -> list[str]:
        outcomes = work_once(own, key, worker_id=f"w{index}", transport=everywhere,
                             execute=fake_execute(executed, delay=0.01))  # fmt: skip
        assert all(o.status == "stored" for o in outcomes)
        return [o.run_id for o in outcomes]

    assert Counter(race(drill_db, 2, work)) == Counter(expected)
    assert Counter(executed) == Counter(expected)
    with Session(drill_engine) as session:
        results = session.exec(select(DrillResultRow)).all()
        runs = session.exec(select(DrillRun)).all()
    assert {r.run_id for r in results} == set(expected)
    assert all(run.state == "done" and run.result_id for run in runs)
    for result in results:  # signed by the auditor key, over the stored bytes
        assert result.signer == "auditor" and result.signer_key == key.public_key_b64
        assert verify_signature(key.public_key_b64, result.payload.encode(), result.signature)


def test_a_target_without_transport_gets_an_error_result_not_silence(
    drill_engine: Engine, tmp_path: Path
) -> None:
    playbook = new_playbook(drill_engine)
    (run_id,) = manual_runs(drill_engine, playbook, ["far-away.example"])
    executed: list[str] = []
    outcomes = work_once(drill_engine, load_or_create_auditor_key(tmp_path), worker_id="w",
                         execute=fake_execute(executed))  # fmt: skip
    assert executed == []
    assert [(o.run_id, o.verdict, o.status) for o in outcomes] == [(run_id, "error", "stored")]
    with Session(drill_engine) as session:
        row = session.exec(select(DrillResultRow)).one()
    evidence = DrillResult.model_validate_json(row.payload)
    assert evidence.error_kind == "operational" and evidence.executor == "worker"
    assert "no transport for host 'far-away.example'" in evidence.reasons[0]


def test_a_failing_executor_still_ends_in_an_error_result(
    drill_engine: Engine, tmp_path: Path
) -> None:
    playbook = new_playbook(drill_engine)
    (run_id,) = manual_runs(drill_engine, playbook, ["localhost"])

    def explode(*_args: object, **_kwargs: object) -> DrillResult:
        raise RuntimeError("restic vanished")

    outcomes: list[WorkOutcome] = work_once(
        drill_engine, load_or_create_auditor_key(tmp_path), worker_id="w", execute=explode
    )
    assert [(o.run_id, o.verdict) for o in outcomes] == [(run_id, "error")]
    with Session(drill_engine) as session:
        evidence = DrillResult.model_validate_json(
            session.exec(select(DrillResultRow)).one().payload
        )
    assert "restic vanished" in evidence.reasons[0]


def test_the_auditor_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_or_create_auditor_key(tmp_path)
    assert auditor_key_path(tmp_path).stat().st_mode & 0o777 == 0o600
    assert load_or_create_auditor_key(tmp_path).public_key_b64 == first.public_key_b64
