"""rra-score/1 by hand: weights, credits, pillars, caps and points lost (DESIGN §4)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from rra.checks.policy import Policy
from rra.checks.report import Finding, Pillar, Severity, Status
from rra.checks.scoring import (
    CAP_BACKUP_STALE,
    CAP_NO_RESTORE_DRILL,
    assign_points_lost,
    score_findings,
)

PILLAR_OF: dict[str, Pillar] = {
    "recovery": "recovery",
    "auth": "authentication",
    "exposure": "exposure",
}


def f(
    check: str,
    status: Status,
    severity: Severity = "critical",
    pillar: Pillar | None = None,
    evidence: dict[str, Any] | None = None,
) -> Finding:
    return Finding(
        check=check,
        pillar=pillar or PILLAR_OF[check.split(".")[0]],
        status=status,
        severity=severity,
        title=check,
        evidence=evidence or {},
    )


DRILL_OK = f("recovery.restore_drill", "pass")


def fresh(status: Status, **evidence: Any) -> Finding:
    base: dict[str, Any] = {"max_age_hours": 1.0, "backups_in_error": [], "backups_uncovered": []}
    return f("recovery.backup_fresh", status, evidence={**base, **evidence})


def test_empty_scores_zero_with_no_pillars() -> None:
    score = score_findings([])
    assert score.model == "rra-score/1"
    assert score.total == 0
    assert score.pillars.model_dump() == {
        "recovery": None,
        "authentication": None,
        "exposure": None,
    }
    assert score.caps_applied == []


def test_only_not_applicable_is_like_empty() -> None:
    score = score_findings(
        [f("recovery.backup_fresh", "not_applicable"), f("auth.x", "not_applicable")]
    )
    assert score.total == 0
    assert score.pillars.recovery is None
    assert score.pillars.authentication is None
    assert score.caps_applied == []


@pytest.mark.parametrize(
    ("severity", "expected"),
    # one passing finding of this severity next to a failing critical one: w / (w + 10)
    [("critical", 50.0), ("high", 33.33), ("medium", 23.08), ("low", 9.09)],
)
def test_severity_weights(severity: Severity, expected: float) -> None:
    score = score_findings([f("auth.a", "pass", severity), f("auth.b", "fail", "critical")])
    assert score.pillars.authentication == expected
    assert score.total == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [("pass", 100.0), ("warn", 50.0), ("fail", 0.0), ("unknown", 0.0)],
)
def test_status_credits(status: Status, expected: float) -> None:
    score = score_findings([f("auth.a", status, "high")])
    assert score.pillars.authentication == expected


def test_unknown_counts_zero_not_excluded() -> None:
    score = score_findings([f("auth.a", "pass", "high"), f("auth.b", "unknown", "high")])
    assert score.pillars.authentication == 50.0


def test_not_applicable_is_excluded_from_the_pillar() -> None:
    score = score_findings([f("auth.a", "pass", "high"), f("auth.b", "not_applicable", "critical")])
    assert score.pillars.authentication == 100.0


def test_pillar_weights_over_scored_pillars() -> None:
    findings = [
        DRILL_OK,  # recovery 100
        f("auth.a", "fail"),  # authentication 0
        f("exposure.a", "warn"),  # exposure 50
    ]
    score = score_findings(findings)
    assert score.pillars.model_dump() == {
        "recovery": 100.0,
        "authentication": 0.0,
        "exposure": 50.0,
    }
    assert score.total == 60.0  # (50·100 + 30·0 + 20·50) / 100


def test_pillar_without_applicable_findings_is_left_out_of_the_total() -> None:
    findings = [DRILL_OK, f("exposure.a", "fail"), f("auth.a", "not_applicable")]
    score = score_findings(findings)
    assert score.pillars.authentication is None
    assert score.total == 71.43  # 50·100 / (50 + 20)


def test_scores_are_rounded_to_two_decimals() -> None:
    score = score_findings(
        [f("auth.a", "pass", "low"), f("auth.b", "fail", "low"), f("auth.c", "fail", "low")]
    )
    assert score.pillars.authentication == 33.33
    assert score.total == 33.33


# --- caps -------------------------------------------------------------------------------------


def test_drill_cap_applies_without_a_restore_drill_finding() -> None:
    score = score_findings([f("recovery.backup_configured", "pass")])
    assert score.pillars.recovery == 50.0
    assert score.caps_applied == [CAP_NO_RESTORE_DRILL]
    assert CAP_NO_RESTORE_DRILL == "recovery<=50:no_restore_drill_90d"


@pytest.mark.parametrize("status", ["warn", "fail", "unknown", "not_applicable"])
def test_drill_cap_applies_unless_the_drill_passes(status: Status) -> None:
    findings = [
        f("recovery.backup_configured", "pass", "critical"),
        f("recovery.restore_drill", status, "low"),
    ]
    score = score_findings(findings)
    assert score.pillars.recovery is not None
    assert score.pillars.recovery <= 50.0
    assert score.caps_applied == [CAP_NO_RESTORE_DRILL]


def test_passing_drill_lifts_the_drill_cap() -> None:
    score = score_findings([f("recovery.backup_configured", "pass"), DRILL_OK])
    assert score.pillars.recovery == 100.0
    assert score.caps_applied == []


def test_stale_cap_from_max_age() -> None:
    # raw recovery: 20/30 = 66.67, capped at 30
    score = score_findings(
        [DRILL_OK, f("recovery.backup_configured", "pass"), fresh("fail", max_age_hours=168.5)]
    )
    assert score.pillars.recovery == 30.0
    assert score.caps_applied == [CAP_BACKUP_STALE]
    assert CAP_BACKUP_STALE == "recovery<=30:backup_stale_or_error"


def test_stale_cap_not_at_exactly_seven_days() -> None:
    score = score_findings(
        [DRILL_OK, f("recovery.backup_configured", "pass"), fresh("fail", max_age_hours=168.0)]
    )
    assert score.pillars.recovery == 66.67
    assert score.caps_applied == []


def test_stale_cap_from_a_backup_in_error() -> None:
    score = score_findings([DRILL_OK, fresh("fail", max_age_hours=None, backups_in_error=["fin"])])
    assert score.caps_applied == [CAP_BACKUP_STALE]
    assert score.pillars.recovery == 30.0


def test_stale_cap_from_an_uncovered_backup() -> None:
    score = score_findings([DRILL_OK, fresh("fail", backups_uncovered=["fin"])])
    assert score.caps_applied == [CAP_BACKUP_STALE]


def test_stale_cap_applies_to_a_warn_older_than_seven_days() -> None:
    # a weekly backup (rpo 7d) 8 days old is only a warn, but older than 7 days: capped
    score = score_findings([DRILL_OK, fresh("warn", max_age_hours=192.0)])
    assert score.pillars.recovery == 30.0
    assert score.caps_applied == [CAP_BACKUP_STALE]


@pytest.mark.parametrize("status", ["pass", "not_applicable"])
def test_stale_cap_never_from_a_passing_or_inapplicable_freshness(status: Status) -> None:
    score = score_findings([DRILL_OK, fresh(status, max_age_hours=500.0, backups_in_error=["x"])])
    assert score.caps_applied == []


def test_stale_cap_follows_the_policy() -> None:
    policy = Policy(stale_backup_cap_age=timedelta(days=2))
    findings = [DRILL_OK, fresh("fail", max_age_hours=49.0)]
    assert score_findings(findings, policy).caps_applied == [CAP_BACKUP_STALE]
    assert score_findings(findings).caps_applied == []


def test_both_caps_listed_and_the_lower_wins() -> None:
    findings = [
        f("recovery.backup_configured", "pass"),
        f("recovery.x", "pass"),
        fresh("fail", max_age_hours=400.0),
    ]
    score = score_findings(findings)
    assert score.caps_applied == [CAP_NO_RESTORE_DRILL, CAP_BACKUP_STALE]
    assert score.pillars.recovery == 30.0


def test_caps_listed_even_when_the_pillar_is_already_below_them() -> None:
    score = score_findings([fresh("fail", max_age_hours=400.0)])
    assert score.pillars.recovery == 0.0
    assert score.caps_applied == [CAP_NO_RESTORE_DRILL, CAP_BACKUP_STALE]


def test_caps_only_when_recovery_has_a_score() -> None:
    score = score_findings([f("auth.a", "pass"), fresh("not_applicable", max_age_hours=400.0)])
    assert score.pillars.recovery is None
    assert score.caps_applied == []
    assert score.total == 100.0


def test_capped_recovery_feeds_the_total() -> None:
    score = score_findings([f("recovery.backup_configured", "pass"), f("auth.a", "pass")])
    assert score.pillars.recovery == 50.0
    assert score.total == 68.75  # (50·50 + 30·100) / 80


# --- points lost ------------------------------------------------------------------------------


def test_points_lost_by_hand() -> None:
    findings = [
        DRILL_OK,  # recovery: critical pass
        f("recovery.backup_configured", "pass"),  # critical pass
        f("recovery.backup_offsite", "fail", "high"),  # recovery = 20/25 = 80
        f("exposure.admin_services", "fail", "critical"),
        f("exposure.legacy_protocols", "warn", "medium"),  # exposure = 1.5/13 = 11.538...
        f("auth.root_login", "not_applicable", "high"),
    ]
    # total = (50·80 + 20·11.538) / 70 = 60.4396
    assert score_findings(findings).total == 60.44
    lost = {x.check: x.points_lost for x in assign_points_lost(findings)}
    assert lost == {
        "recovery.restore_drill": 0.0,
        "recovery.backup_configured": 0.0,
        "recovery.backup_offsite": 14.29,  # recovery 100 → 74.7253
        "exposure.admin_services": 21.98,  # exposure 11.5/13 → 82.4176
        "exposure.legacy_protocols": 3.3,  # exposure 3/13 → 63.7363
        "auth.root_login": 0.0,
    }


def test_points_lost_include_a_lifted_stale_cap() -> None:
    findings = [
        DRILL_OK,
        f("recovery.backup_configured", "pass"),
        fresh("fail", max_age_hours=400.0),
    ]
    assert score_findings(findings).total == 30.0
    lost = {x.check: x.points_lost for x in assign_points_lost(findings)}
    assert lost["recovery.backup_fresh"] == 70.0


def test_points_lost_include_a_lifted_drill_cap() -> None:
    findings = [f("recovery.backup_configured", "pass"), f("recovery.restore_drill", "fail")]
    assert score_findings(findings).total == 50.0
    lost = {x.check: x.points_lost for x in assign_points_lost(findings)}
    assert lost["recovery.restore_drill"] == 50.0


def test_points_lost_zero_under_a_cap_that_passing_does_not_lift() -> None:
    # recovery raw 10/15 = 66.67 but capped at 50 (no drill): passing offsite alone changes nothing
    findings = [
        f("recovery.backup_configured", "pass"),
        f("recovery.backup_offsite", "fail", "high"),
    ]
    assert [x.points_lost for x in assign_points_lost(findings)] == [0.0, 0.0]


def test_assign_points_lost_keeps_order_and_does_not_mutate() -> None:
    findings = [f("auth.b", "fail"), f("auth.a", "pass")]
    result = assign_points_lost(findings)
    assert [x.check for x in result] == ["auth.b", "auth.a"]
    assert result[0].points_lost == 50.0
    assert findings[0].points_lost == 0.0
