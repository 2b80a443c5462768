"""Collects a drill's evidence as it runs and decides the verdict (DESIGN §8).

``pass`` only if the restore and every verify step passed, RTO ≤ target and RPO ≤ target; each
unmet condition is named in ``reasons``. ``error`` when the drill could not run at all.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rra import __version__
from rra.agent.host import Host, HostError
from rra.checks.drill import DrillResult, DrillStep, ErrorKind, Executor, StepStatus
from rra.checks.playbook import Playbook


@dataclass
class StepHandle:
    name: str
    status: StepStatus | None = None
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def ok(self, message: str, **details: Any) -> None:
        self.status, self.message, self.details = "pass", message, details

    def fail(self, message: str, **details: Any) -> None:
        self.status, self.message, self.details = "fail", message, details

    def error(self, message: str, **details: Any) -> None:
        self.status, self.message, self.details = "error", message, details


def _hostname(host: Host) -> str:
    try:
        return host.hostname()
    except HostError:
        return "unknown"


def format_duration_seconds(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class DrillRecorder:
    def __init__(self, result: DrillResult) -> None:
        self.result = result
        self.error_kind: ErrorKind | None = None

    @classmethod
    def _blank(
        cls,
        playbook: Playbook,
        host: Host,
        playbook_sha256: str,
        executor: Executor,
        run_id: str | None,
    ) -> DrillResult:
        now = datetime.now(UTC)
        return DrillResult(
            run_id=run_id,
            playbook=playbook.name,
            playbook_sha256=playbook_sha256,
            hostname=_hostname(host),
            executor=executor,
            agent_version=__version__,
            started_at=now,
            ended_at=now,
            rto_target_seconds=playbook.rto.total_seconds(),
            rpo_target_seconds=playbook.rpo.total_seconds(),
            verdict="error",
        )

    @classmethod
    def start(
        cls,
        playbook: Playbook,
        host: Host,
        playbook_sha256: str,
        executor: Executor,
        run_id: str | None,
    ) -> DrillRecorder:
        return cls(cls._blank(playbook, host, playbook_sha256, executor, run_id))

    @classmethod
    def could_not_start(
        cls,
        playbook: Playbook,
        host: Host,
        playbook_sha256: str,
        executor: Executor,
        run_id: str | None,
        reason: str,
    ) -> DrillResult:
        return unrunnable_result(
            run_id=run_id,
            playbook=playbook.name,
            playbook_sha256=playbook_sha256,
            hostname=_hostname(host),
            executor=executor,
            reason=reason,
            error_kind="operational",
            started_at=datetime.now(UTC),
            targets=playbook,
        )

    @contextmanager
    def timed(self, name: str) -> Iterator[StepHandle]:
        handle = StepHandle(name)
        started = time.monotonic()
        try:
            yield handle
        finally:
            if handle.status is not None:
                self.add(
                    DrillStep(
                        name=name,
                        status=handle.status,
                        message=handle.message,
                        duration_seconds=round(time.monotonic() - started, 3),
                        details=handle.details,
                    )
                )

    def add(self, step: DrillStep) -> None:
        self.result.steps.append(step)

    def step(self, name: str, status: StepStatus, message: str) -> None:
        self.add(DrillStep(name=name, status=status, message=message))

    def fail(self, reason: str) -> None:
        if reason not in self.result.reasons:
            self.result.reasons.append(reason)

    def error(self, kind: ErrorKind, reason: str) -> None:
        self.error_kind = self.error_kind or kind
        self.fail(reason)

    @property
    def passing(self) -> bool:
        return self.error_kind is None and not self.result.reasons

    def judge(self) -> None:
        """Measure RTO and RPO against their targets (before cleanup, which is not recovery)."""
        result = self.result
        if result.verified_at is not None:
            result.rto_seconds = round((result.verified_at - result.started_at).total_seconds(), 3)
            if result.rto_seconds > result.rto_target_seconds:
                self.fail(
                    f"RTO {format_duration_seconds(result.rto_seconds)} exceeds the target "
                    f"{format_duration_seconds(result.rto_target_seconds)}"
                )
        if result.rpo_seconds is not None and result.rpo_seconds > result.rpo_target_seconds:
            self.fail(
                f"RPO {format_duration_seconds(result.rpo_seconds)}: the snapshot is older than the target "
                f"{format_duration_seconds(result.rpo_target_seconds)}"
            )
        if self.error_kind is not None:
            result.verdict, result.error_kind = "error", self.error_kind
        else:
            result.verdict = "pass" if self.passing and result.verified_at else "fail"
            if result.verdict == "fail" and not result.reasons:
                self.fail("the drill did not reach verification")

    def finish(self) -> DrillResult:
        self.result.ended_at = datetime.now(UTC)
        return self.result


def unrunnable_result(
    *,
    run_id: str | None,
    playbook: str,
    playbook_sha256: str,
    hostname: str,
    executor: Executor,
    reason: str,
    error_kind: ErrorKind,
    started_at: datetime,
    targets: Playbook | None = None,
) -> DrillResult:
    """The evidence of a claimed drill that could not run (unreadable playbook, no transport,
    an executor that crashed); ``targets`` supplies RTO/RPO targets when the playbook was read."""
    return DrillResult(
        run_id=run_id,
        playbook=playbook,
        playbook_sha256=playbook_sha256,
        hostname=hostname,
        executor=executor,
        agent_version=__version__,
        started_at=started_at,
        ended_at=datetime.now(UTC),
        rto_target_seconds=0.0 if targets is None else targets.rto.total_seconds(),
        rpo_target_seconds=0.0 if targets is None else targets.rpo.total_seconds(),
        steps=[DrillStep(name="start", status="error", message=reason[:2000])],
        verdict="error",
        reasons=[reason[:2000]],
        error_kind=error_kind,
    )
