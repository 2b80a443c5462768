"""``recovery.restore_drill`` (DESIGN §4, §8): a restore drill passed recently, within its RTO.

Only a drill proves that a backup restores; freshness and ``restic check`` do not. The facts are
the drills an agent ran itself plus, on the auditor, the signed drill results it stored for the
host (scheduled, agentless or ad hoc).
"""

from __future__ import annotations

from typing import Any, ClassVar

from rra.checks.base import Check, CheckContext, Outcome
from rra.checks.facts import DrillFact, Facts
from rra.checks.recovery import NO_BACKUP
from rra.checks.report import Pillar
from rra.checks.units import format_duration


def _summary(drill: DrillFact) -> dict[str, Any]:
    return {
        "playbook": drill.playbook,
        "verdict": drill.verdict,
        "started_at": drill.started_at.isoformat(),
        "rto_seconds": drill.rto_seconds,
        "rto_target_seconds": drill.rto_target_seconds,
        "rpo_seconds": drill.rpo_seconds,
        "snapshot_id": drill.snapshot_id,
    }


def _within_rto(drill: DrillFact) -> bool:
    if drill.rto_seconds is None or drill.rto_target_seconds is None:
        return drill.rto_target_seconds is None and drill.rto_seconds is not None
    return drill.rto_seconds <= drill.rto_target_seconds


class RestoreDrill(Check):
    id = "recovery.restore_drill"
    pillar: ClassVar[Pillar] = "recovery"
    severity = "critical"
    title = "A restore drill passed recently, within its RTO"
    rationale = (
        "A backup is only proven by restoring it: a drill restores a real snapshot into a sandbox, "
        "verifies the data and measures the time to recover against the target."
    )
    remediation = (
        "Write a playbook (see playbooks/ for templates), check it with `rra drill validate`, run "
        "it with `rra drill run PLAYBOOK` and schedule it on the auditor (`rra auditor drill add`)."
    )

    def applicable(self, facts: Facts, ctx: CheckContext) -> str | None:
        return None if facts.backups or facts.drills else NO_BACKUP

    def evaluate(self, facts: Facts, ctx: CheckContext) -> Outcome:
        window = ctx.policy.drill_max_age
        since = ctx.now - window
        recent = sorted(
            (d for d in facts.drills if d.started_at >= since),
            key=lambda d: d.ended_at or d.started_at,
        )
        good = [d for d in recent if d.verdict == "pass" and _within_rto(d)]
        evidence: dict[str, Any] = {
            "window": format_duration(window),
            "drills_in_window": len(recent),
            "passed_in_window": len(good),
            "latest": _summary(recent[-1]) if recent else None,
            "last_passed": _summary(good[-1]) if good else None,
        }
        if not recent:
            older = max(facts.drills, key=lambda d: d.started_at, default=None)
            evidence["last_drill_ever"] = None if older is None else _summary(older)
            return Outcome(
                "fail",
                evidence,
                f"No restore drill ran in the last {format_duration(window)}. " + self.remediation,
            )
        if not good:
            latest = recent[-1]
            return Outcome(
                "fail",
                evidence,
                f"No restore drill passed in the last {format_duration(window)}; the latest "
                f"('{latest.playbook}', {latest.started_at:%Y-%m-%d}) ended '{latest.verdict}'. "
                "Read its evidence (`rra drill run PLAYBOOK --json`), fix the backup or the "
                "restore path, and run it again.",
            )
        latest = recent[-1]
        if latest.verdict != "pass" or not _within_rto(latest):
            return Outcome(
                "warn",
                evidence,
                f"The latest restore drill ('{latest.playbook}', {latest.started_at:%Y-%m-%d}) "
                f"ended '{latest.verdict}' although an earlier one passed: find out what changed "
                "and run it again.",
            )
        return Outcome("pass", evidence)
