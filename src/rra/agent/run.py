"""``rra agent run``: collect, sign, spool, then drain the spool to the auditor — once or in a loop.

The report is spooled before anything is sent, so a crash or an unreachable auditor delays it but
never loses it; what the spool had to drop so far travels in the report's ``delivery`` block.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from types import FrameType

import structlog

from rra.agent.collect import Progress, collect_report, open_state
from rra.agent.config import AgentConfig
from rra.agent.drill.pull import drill_cycle
from rra.agent.enroll import Enrollment, load_identity
from rra.agent.host import Host
from rra.agent.sender import (
    AuditorSettingsError,
    DeliveryError,
    DrainTally,
    RetryPolicy,
    Sender,
    open_client,
)
from rra.agent.spool import Spool, SpoolBusy
from rra.agent.state import StateStore
from rra.checks.canonical import canonical_json
from rra.checks.drill import DrillResult
from rra.checks.report import Report

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RunSummary:
    report_id: str
    seq: int
    sent: int  # reports the auditor acknowledged in this run (stored or duplicate)
    rejected: int  # reports the auditor refused for good in this run (set aside, counted)
    spooled: int  # reports still waiting
    dropped_total: int
    error: str | None = None
    drills_run: int = 0  # restore drills claimed from the auditor and run in this cycle
    drill_results_waiting: int = 0  # signed drill results not yet acknowledged

    @property
    def delivered(self) -> bool:
        """Everything collected so far reached the auditor."""
        return self.error is None and self.spooled == 0 and self.rejected == 0

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "delivered": self.delivered}


def retry_policy(config: AgentConfig) -> RetryPolicy:
    return RetryPolicy(
        attempts=config.delivery.retry_attempts,
        max_wait=config.delivery.retry_max_wait.total_seconds(),
    )


def run_once(
    config: AgentConfig,
    host: Host,
    *,
    state: StateStore | None = None,
    retry: RetryPolicy | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Progress | None = None,
    on_report: Callable[[Report], None] | None = None,
    on_drill: Callable[[DrillResult], None] | None = None,
) -> RunSummary:
    """One cycle. Raises EnrollError when not enrolled and SpoolBusy when another run is active;
    an undeliverable spool is not an exception but ``summary.error``. ``on_report`` sees the
    report once it is signed and spooled (the demo shows it)."""
    state = state or open_state(config)
    enrollment, key = load_identity(state.directory)
    spool = Spool(state.directory, config.delivery.spool_max_reports)
    # Drills first, so this cycle's report already carries their results as facts.
    drills = drill_cycle(
        config, host, state, enrollment, key, retry=retry or retry_policy(config), progress=progress
    )
    if on_drill is not None:
        for result in drills.ran:
            on_drill(result)
    with spool.exclusive():
        report = collect_report(config, host, state=state, progress=progress)
        # The auditor decides org and criticality (from the token); the report says the same.
        report.host.org, report.host.criticality = enrollment.org, enrollment.criticality
        # Before signing: what the spool dropped so far travels in this report.
        report.delivery = spool.delivery_snapshot()
        payload = canonical_json(report)
        spool.add(report.seq, report.report_id, payload, key.sign(payload))
        if on_report is not None:
            on_report(report)
        if progress is not None:
            progress("sending to the auditor")
        tally, error = drain(
            config, enrollment, spool, retry=retry or retry_policy(config), should_stop=should_stop
        )
        after = spool.delivery_snapshot()
    summary = RunSummary(
        report_id=report.report_id,
        seq=report.seq,
        sent=tally.acknowledged,
        rejected=tally.rejected,
        spooled=after.spooled,
        dropped_total=after.dropped_total,
        error=error or drills.error,
        drills_run=len(drills.ran),
        drill_results_waiting=drills.waiting,
    )
    log.info("run finished", **summary.as_dict())
    return summary


def drain(
    config: AgentConfig,
    enrollment: Enrollment,
    spool: Spool,
    *,
    retry: RetryPolicy,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[DrainTally, str | None]:
    """Send what the spool holds; the error (if any) says why something is still waiting."""
    tally = DrainTally()
    timeout = config.delivery.timeout.total_seconds()
    try:
        client = open_client(enrollment.auditor_url, enrollment.ca_cert, timeout)
    except AuditorSettingsError as exc:
        return tally, f"enrollment.json: {exc}"
    sender = Sender(client, enrollment.host_id, retry)
    try:
        sender.drain(spool, config.delivery.batch_size, tally=tally, should_stop=should_stop)
    except DeliveryError as exc:
        log.error("delivery stopped", error=str(exc), kind=type(exc).__name__)
        return tally, str(exc)
    finally:
        sender.close()
    return tally, None


def next_delay(interval: float, jitter: float) -> float:
    """``interval`` ± up to ``jitter`` of it, so a fleet started together spreads out."""
    return max(0.0, interval * (1 + secrets.SystemRandom().uniform(-jitter, jitter)))


def run_loop(
    config: AgentConfig,
    host: Host,
    stop: threading.Event,
    on_cycle: Callable[[RunSummary], None],
    *,
    state: StateStore | None = None,
    retry: RetryPolicy | None = None,
) -> None:
    """Run cycles until ``stop`` is set; it is checked between cycles and between batches."""
    interval = config.delivery.interval.total_seconds()
    while not stop.is_set():
        try:
            summary = run_once(config, host, state=state, retry=retry, should_stop=stop.is_set)
        except (OSError, SpoolBusy) as exc:  # a full disk or a manual run may pass: retry later
            log.error("run failed", error=str(exc))
        else:
            on_cycle(summary)
        stop.wait(next_delay(interval, config.delivery.jitter))


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` instead of killing the run mid-cycle (main thread only)."""

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.warning("stopping after this cycle", signal=signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
