"""Evaluate one host's facts: run every check, compute metrics, score and points lost."""

from __future__ import annotations

from collections.abc import Sequence

from rra.checks.base import Check, CheckContext
from rra.checks.facts import Facts
from rra.checks.metrics import compute_metrics
from rra.checks.registry import load_checks
from rra.checks.report import Finding, Metrics, Score
from rra.checks.scoring import assign_points_lost, score_findings


def run_check(check: Check, facts: Facts, ctx: CheckContext) -> Finding:
    """Run one check; a check that raises yields an ``unknown`` finding naming the error."""
    try:
        return check.run(facts, ctx)
    except Exception as exc:  # a broken (site) check must not take the whole evaluation down
        return Finding(
            check=check.id,
            pillar=check.pillar,
            status="unknown",
            severity=check.severity,
            title=check.title,
            evidence={"error": f"{type(exc).__name__}: {exc}", "reason": "the check raised"},
            remediation=(
                f"The check {check.id} failed while evaluating this host's facts; this is a "
                "defect in the check, not a finding about the host. Report it with the evidence."
            ),
        )


def evaluate(
    facts: Facts, ctx: CheckContext, checks: Sequence[Check] | None = None
) -> tuple[Metrics, list[Finding], Score]:
    """Metrics, findings (most points lost first, then by check id) and the score.

    ``checks`` defaults to every check registered in the ``rra.checks`` entry-point group.
    """
    if checks is None:
        checks = load_checks()
    findings = [run_check(check, facts, ctx) for check in checks]
    score = score_findings(findings, ctx.policy)
    findings = assign_points_lost(findings, ctx.policy)
    findings.sort(key=lambda f: (-f.points_lost, f.check))
    return compute_metrics(facts, ctx.now, ctx.policy), findings, score
