"""The auditor's drill worker (``rra auditor worker``): claims agentless drill runs, executes
them, signs each result with the auditor key and stores it like any other result.

Every claimed run ends in a stored result — a drill that cannot run (no transport for the target
yet, a playbook that no longer loads, the executor raising) is an ``error`` result saying why,
never a silently dropped run. Runs are claimed one at a time, so a lease starts when its drill
does. The transport is a small replaceable function: with an inventory (``--inventory``) a
target is the inventory host of that name (or address), reached over SSH like agentless
collection; without one, only this machine itself is reachable (``LocalHost``).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session

from rra.agent.drill.load import PlaybookError, parse_playbook
from rra.agent.drill.outcome import unrunnable_result
from rra.agent.host import Host
from rra.agent.identity import HostKey
from rra.auditor.agentless.inventory import Inventory
from rra.auditor.drills.claims import ClaimedRun, claim_runs
from rra.auditor.drills.results import StoreStatus, store_result
from rra.auditor.ingest import IngestRejected
from rra.checks.canonical import canonical_json
from rra.checks.drill import DrillResult, ErrorKind, Executor
from rra.checks.playbook import Playbook

log = structlog.get_logger(__name__)


class Execute(Protocol):
    def __call__(
        self,
        playbook: Playbook,
        host: Host,
        *,
        playbook_sha256: str,
        executor: Executor,
        run_id: str | None,
    ) -> DrillResult: ...


Transport = Callable[[str], Host | None]


def run_with_runner(
    playbook: Playbook, host: Host, *, playbook_sha256: str, executor: Executor, run_id: str | None
) -> DrillResult:
    """The real drill runner (imported here: the worker module loads without it)."""
    from rra.agent.drill.runner import run_drill

    return run_drill(
        playbook,
        host,
        playbook_sha256=playbook_sha256,
        executor=executor,
        run_id=run_id,
    )


def local_transport(target: str) -> Host | None:
    """``LocalHost`` when ``target`` is this machine, else None (not in any inventory)."""
    from rra.agent.local import LocalHost

    names = {"localhost", socket.gethostname().lower(), socket.getfqdn().lower()}
    return LocalHost() if target.lower() in names else None


def inventory_transport(inventory: Inventory, known_hosts: Path) -> Transport:
    """Targets resolved through an inventory (by host name, else by address), this machine last.

    The connection has no deadline of its own: the playbook's ``timeout`` bounds the drill."""
    from rra.auditor.agentless.connect import open_host

    def resolve(target: str) -> Host | None:
        host = inventory.hosts.get(target) or next(
            (h for h in inventory.hosts.values() if h.vars.address == target), None
        )
        if host is None:
            return local_transport(target)
        return open_host(host, known_hosts=known_hosts, deadline=None)

    return resolve


def error_result(
    run: ClaimedRun,
    playbook: Playbook | None,
    reason: str,
    error_kind: ErrorKind,
    started_at: datetime,
) -> DrillResult:
    """The evidence of a drill that could not run."""
    return unrunnable_result(
        run_id=run.run_id,
        playbook=run.playbook,
        playbook_sha256=run.playbook_sha256,
        hostname=run.target,
        executor="worker",
        reason=reason,
        error_kind=error_kind,
        started_at=started_at,
        targets=playbook,
    )


def execute_run(run: ClaimedRun, execute: Execute, transport: Transport) -> DrillResult:
    started = datetime.now(UTC)
    try:
        playbook = parse_playbook(run.playbook_yaml, f"playbook {run.playbook}")
    except PlaybookError as error:
        return error_result(
            run, None, f"the stored playbook does not load: {error}", "invalid", started
        )
    try:
        host = transport(run.target)
    except Exception as exc:  # an inventory or SSH failure is this run's evidence, not a crash
        log.exception("drill transport failed", run_id=run.run_id)
        return error_result(
            run, playbook, f"cannot reach {run.target!r}: {exc}", "operational", started
        )
    if host is None:
        reason = (
            f"no transport for host {run.target!r}: it is not in the worker's inventory "
            "(rra auditor worker --inventory FILE) and not this machine; or enroll an agent there"
        )
        return error_result(run, playbook, reason, "operational", started)
    try:
        result = execute(
            playbook,
            host,
            playbook_sha256=run.playbook_sha256,
            executor="worker",
            run_id=run.run_id,
        )
        # The evidence names the target as the auditor knows it (the inventory name), so it
        # meets the run and the host's reports; the machine may call itself something else.
        return result.model_copy(update={"hostname": run.target})
    except Exception as exc:  # the run must still end in evidence, whatever went wrong
        log.exception("drill execution failed", run_id=run.run_id)
        return error_result(
            run, playbook, f"the drill runner failed: {exc}", "operational", started
        )
    finally:
        host.close()  # a remote session ends with its drill


@dataclass(frozen=True)
class WorkOutcome:
    run_id: str
    playbook: str
    target: str
    drill_id: str
    verdict: str
    status: StoreStatus | str  # stored, duplicate, or "rejected: <why>"


def _store(engine: Engine, key: HostKey, result: DrillResult) -> StoreStatus | str:
    payload = canonical_json(result)
    with Session(engine, expire_on_commit=False) as session:
        try:
            status = store_result(
                session, result, payload, key.sign(payload), "auditor", None, datetime.now(UTC),
                signer_key=key.public_key_b64,
            )  # fmt: skip
        except IngestRejected as error:
            session.rollback()
            log.warning("worker result refused", run_id=result.run_id, error=error.detail)
            return f"rejected: {error.detail}"
        session.commit()
        return status


def work_once(
    engine: Engine,
    key: HostKey,
    *,
    worker_id: str,
    execute: Execute = run_with_runner,
    transport: Transport = local_transport,
    lease: timedelta | None = None,
    max_runs: int = 1000,
) -> list[WorkOutcome]:
    """Claim and execute due agentless runs one at a time until none is left (or ``max_runs``)."""
    outcomes: list[WorkOutcome] = []
    while len(outcomes) < max_runs:
        with Session(engine, expire_on_commit=False) as session:
            claimed = claim_runs(session, "worker", None, worker_id, datetime.now(UTC), 1, lease)
        if not claimed:
            break
        run = claimed[0]
        log.info("drill run claimed", run_id=run.run_id, playbook=run.playbook, target=run.target)
        result = execute_run(run, execute, transport)
        status = _store(engine, key, result)
        outcomes.append(
            WorkOutcome(
                run.run_id, run.playbook, run.target, result.drill_id, result.verdict, status
            )
        )
    return outcomes


def run_worker(
    engine: Engine,
    key: HostKey,
    *,
    worker_id: str,
    interval: timedelta,
    stop: threading.Event,
    on_outcome: Callable[[WorkOutcome], None] = lambda _outcome: None,
    execute: Execute = run_with_runner,
    transport: Transport = local_transport,
) -> None:
    """Poll every ``interval`` until ``stop`` is set."""
    while not stop.is_set():
        for outcome in work_once(
            engine, key, worker_id=worker_id, execute=execute, transport=transport
        ):
            on_outcome(outcome)
        stop.wait(interval.total_seconds())
