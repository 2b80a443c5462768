"""Scoring model ``rra-score/1`` (DESIGN §4). Pure functions of the findings (and the policy).

Pillar = 100·Σ(weight·credit)/Σweight over applicable findings; total = weighted mean of the
pillars that have a score. Caps are computed from the findings too, so making the finding behind a
cap pass lifts it, and ``points_lost`` accounts for that. Rounding happens only at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rra.checks.policy import DEFAULT_POLICY, Policy
from rra.checks.report import PILLARS, Finding, Pillar, PillarScores, Score, Severity, Status

SEVERITY_WEIGHTS: dict[Severity, float] = {"critical": 10, "high": 5, "medium": 3, "low": 1}
STATUS_CREDIT: dict[Status, float] = {"pass": 1.0, "warn": 0.5, "fail": 0.0, "unknown": 0.0}
PILLAR_WEIGHTS: dict[Pillar, float] = {"recovery": 50, "authentication": 30, "exposure": 20}

RESTORE_DRILL_CHECK = "recovery.restore_drill"
BACKUP_FRESH_CHECK = "recovery.backup_fresh"

CAP_NO_RESTORE_DRILL = "recovery<=50:no_restore_drill_90d"
CAP_BACKUP_STALE = "recovery<=30:backup_stale_or_error"
CAP_LIMITS: dict[str, float] = {CAP_NO_RESTORE_DRILL: 50.0, CAP_BACKUP_STALE: 30.0}


@dataclass(frozen=True)
class _Raw:
    """An unrounded score."""

    total: float
    pillars: dict[Pillar, float | None]
    caps: list[str]


def _no_restore_drill(findings: Sequence[Finding]) -> bool:
    """No restore drill passed within the window: unless a ``recovery.restore_drill`` passes."""
    return not any(f.check == RESTORE_DRILL_CHECK and f.status == "pass" for f in findings)


def _backup_stale_or_error(findings: Sequence[Finding], policy: Policy) -> bool:
    """A backup older than ``stale_backup_cap_age``, in error or uncovered, per the freshness check.

    Read from the ``recovery.backup_fresh`` finding's evidence; a passing (or not applicable)
    freshness finding never caps.
    """
    limit_hours = policy.stale_backup_cap_age.total_seconds() / 3600
    for finding in findings:
        if finding.check != BACKUP_FRESH_CHECK or finding.status in ("pass", "not_applicable"):
            continue
        evidence = finding.evidence
        age = evidence.get("max_age_hours")
        if isinstance(age, int | float) and not isinstance(age, bool) and age > limit_hours:
            return True
        if evidence.get("backups_in_error") or evidence.get("backups_uncovered"):
            return True
    return False


def _caps(findings: Sequence[Finding], policy: Policy) -> list[str]:
    caps: list[str] = []
    if _no_restore_drill(findings):
        caps.append(CAP_NO_RESTORE_DRILL)
    if _backup_stale_or_error(findings, policy):
        caps.append(CAP_BACKUP_STALE)
    return caps


def _raw_score(findings: Sequence[Finding], policy: Policy) -> _Raw:
    earned: dict[Pillar, float] = dict.fromkeys(PILLARS, 0.0)
    possible: dict[Pillar, float] = dict.fromkeys(PILLARS, 0.0)
    for finding in findings:
        if finding.status == "not_applicable":
            continue
        weight = SEVERITY_WEIGHTS[finding.severity]
        earned[finding.pillar] += weight * STATUS_CREDIT[finding.status]
        possible[finding.pillar] += weight
    pillars: dict[Pillar, float | None] = {
        p: (100.0 * earned[p] / possible[p] if possible[p] > 0 else None) for p in PILLARS
    }
    caps: list[str] = []
    recovery = pillars["recovery"]
    if recovery is not None:
        caps = _caps(findings, policy)
        for cap in caps:
            recovery = min(recovery, CAP_LIMITS[cap])
        pillars["recovery"] = recovery
    scored = [(PILLAR_WEIGHTS[p], s) for p, s in pillars.items() if s is not None]
    weight_sum = sum(w for w, _ in scored)
    total = sum(w * s for w, s in scored) / weight_sum if weight_sum > 0 else 0.0
    return _Raw(min(100.0, max(0.0, total)), pillars, caps)


def score_findings(findings: Sequence[Finding], policy: Policy = DEFAULT_POLICY) -> Score:
    """The ``rra-score/1`` score of one host's findings.

    ``caps_applied`` lists every cap whose condition holds while the recovery pillar has a score
    (even when the pillar is already below the cap), in a fixed order.
    """
    raw = _raw_score(findings, policy)
    rounded = {p: (None if s is None else round(s, 2)) for p, s in raw.pillars.items()}
    return Score(
        total=round(raw.total, 2),
        pillars=PillarScores(
            recovery=rounded["recovery"],
            authentication=rounded["authentication"],
            exposure=rounded["exposure"],
        ),
        caps_applied=raw.caps,
    )


def assign_points_lost(
    findings: Sequence[Finding], policy: Policy = DEFAULT_POLICY
) -> list[Finding]:
    """Copies of the findings with ``points_lost`` = total if that finding passed - actual total.

    0 for findings that pass or do not apply. Rounded to 2 decimals.
    """
    actual = _raw_score(findings, policy).total
    result: list[Finding] = []
    for index, finding in enumerate(findings):
        lost = 0.0
        if finding.status not in ("pass", "not_applicable"):
            passed = [
                f.model_copy(update={"status": "pass"}) if i == index else f
                for i, f in enumerate(findings)
            ]
            lost = max(0.0, round(_raw_score(passed, policy).total - actual, 2))
        result.append(finding.model_copy(update={"points_lost": lost}))
    return result
