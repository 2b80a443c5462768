"""evaluate(): every check, metrics, score and points lost, robust to a crashing check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rra.checks.base import Check, CheckContext, Outcome
from rra.checks.evaluate import evaluate
from rra.checks.facts import BackupFact, Facts
from rra.checks.metrics import compute_metrics
from rra.checks.policy import Policy
from rra.checks.recovery import BackupConfigured, BackupFresh, BackupOffsite
from rra.checks.scoring import CAP_BACKUP_STALE, CAP_NO_RESTORE_DRILL, score_findings

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
CTX = CheckContext(now=NOW)


class Exploding(Check):
    id = "site.exploding"
    pillar = "exposure"
    severity = "high"
    title = "A check with a bug"
    rationale = "Tests crash handling."
    remediation = "n/a"

    def evaluate(self, facts: Facts, ctx: CheckContext) -> Outcome:
        raise ZeroDivisionError("division by zero")


class AlwaysPass(Check):
    id = "auth.always"
    pillar = "authentication"
    severity = "critical"
    title = "Always passes"
    rationale = "Test."
    remediation = "n/a"

    def evaluate(self, facts: Facts, ctx: CheckContext) -> Outcome:
        return Outcome("pass")


def stale_backup() -> BackupFact:
    return BackupFact(
        name="finance",
        repository="/srv/backup/finance",
        status="ok",
        age_hours=200.0,
        paths_covered=["/var/lib/finance"],
        offsite=False,
    )


def test_default_runs_the_registered_checks() -> None:
    facts = Facts(backups=[stale_backup()])
    metrics, findings, score = evaluate(facts, CTX)
    assert {f.check for f in findings} >= {
        "recovery.backup_configured",
        "recovery.backup_fresh",
        "recovery.backup_integrity",
        "recovery.backup_offsite",
        "recovery.backup_immutable",
        "recovery.mass_change",
    }
    assert metrics == compute_metrics(facts, NOW)
    assert metrics.backup_age_hours == 200.0
    assert metrics.backups_fresh is False
    assert score.caps_applied == [CAP_NO_RESTORE_DRILL, CAP_BACKUP_STALE]
    assert score == score_findings(findings)


def test_crashing_check_becomes_unknown() -> None:
    _, findings, score = evaluate(Facts(), CTX, [Exploding(), AlwaysPass()])
    crashed = next(f for f in findings if f.check == "site.exploding")
    assert crashed.status == "unknown"
    assert crashed.pillar == "exposure"
    assert crashed.severity == "high"
    assert crashed.evidence["error"] == "ZeroDivisionError: division by zero"
    assert "defect in the check" in crashed.remediation
    assert score.pillars.exposure == 0.0
    assert score.pillars.authentication == 100.0


def test_findings_sorted_by_points_lost_then_id() -> None:
    facts = Facts(backups=[stale_backup()])
    checks = [BackupOffsite(), AlwaysPass(), BackupFresh(), BackupConfigured(), Exploding()]
    _, findings, _ = evaluate(facts, CTX, checks)
    keys = [(-f.points_lost, f.check) for f in findings]
    assert keys == sorted(keys)
    assert findings[0].points_lost > 0
    # ties (no points lost) are in check-id order
    assert [f.check for f in findings if f.points_lost == 0] == sorted(
        f.check for f in findings if f.points_lost == 0
    )


def test_policy_comes_from_the_context() -> None:
    ctx = CheckContext(now=NOW, policy=Policy(stale_backup_cap_age=timedelta(days=30)))
    _, _, score = evaluate(Facts(backups=[stale_backup()]), ctx, [BackupFresh()])
    assert score.caps_applied == [CAP_NO_RESTORE_DRILL]
