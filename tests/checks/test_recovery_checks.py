"""The built-in recovery checks: every status boundary, with the exact evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rra.checks.base import Check, CheckContext
from rra.checks.facts import BackupFact, Facts
from rra.checks.policy import Policy
from rra.checks.recovery import (
    BackupConfigured,
    BackupFresh,
    BackupImmutable,
    BackupIntegrity,
    BackupOffsite,
    MassChange,
    worst,
)
from rra.checks.report import Finding

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
CTX = CheckContext(now=NOW)
REPO = "/srv/backup/finance"


def bk(**changes: Any) -> BackupFact:
    """A healthy backup; override what the test is about."""
    values: dict[str, Any] = {
        "name": "finance",
        "repository": REPO,
        "status": "ok",
        "rpo_hours": 24.0,
        "snapshot_count": 10,
        "latest_snapshot_at": NOW - timedelta(hours=2),
        "latest_snapshot_id": "4f2a9c1e",
        "age_hours": 2.0,
        "paths_covered": ["/var/lib/finance"],
        "last_check_at": NOW - timedelta(days=1),
        "last_check_ok": True,
        "last_check_message": "no errors were found",
        "last_check_read_data": "1/12",
        "offsite": True,
        "append_only": True,
        "change_ratio": 0.01,
    }
    values.update(changes)
    return BackupFact(**values)


def facts(*backups: BackupFact) -> Facts:
    return Facts(backups=list(backups))


def error_backup(name: str = "finance") -> BackupFact:
    return bk(
        name=name,
        status="error",
        error="Fatal: wrong password or no key found",
        snapshot_count=None,
        latest_snapshot_at=None,
        latest_snapshot_id=None,
        age_hours=None,
        paths_covered=[],
        last_check_at=None,
        last_check_ok=None,
        last_check_message=None,
        last_check_read_data=None,
        change_ratio=None,
    )


def test_worst_orders_pass_warn_unknown_fail() -> None:
    assert worst([]) == "pass"
    assert worst(["pass", "warn"]) == "warn"
    assert worst(["warn", "unknown"]) == "unknown"
    assert worst(["unknown", "fail", "warn"]) == "fail"


# --- recovery.backup_configured ---------------------------------------------------------------


def test_configured_fails_without_backups() -> None:
    finding = BackupConfigured().run(Facts(), CTX)
    assert finding.check == "recovery.backup_configured"
    assert (finding.pillar, finding.severity) == ("recovery", "critical")
    assert finding.status == "fail"
    assert finding.evidence == {"backups": [], "count": 0}
    assert "restic -r REPO init" in finding.remediation


def test_configured_passes_with_names() -> None:
    finding = BackupConfigured().run(facts(bk(), bk(name="mail")), CTX)
    assert finding.status == "pass"
    assert finding.evidence == {"backups": ["finance", "mail"], "count": 2}
    assert finding.remediation == ""


def test_configured_unknown_when_the_config_could_not_be_read() -> None:
    finding = BackupConfigured().run(Facts(unknown={"backups": "agent.toml unreadable"}), CTX)
    assert finding.status == "unknown"
    assert finding.evidence == {"backups": [], "count": 0, "reason": "agent.toml unreadable"}


# --- recovery.backup_fresh --------------------------------------------------------------------


def fresh_run(*backups: BackupFact) -> Finding:
    return BackupFresh().run(facts(*backups), CTX)


def test_fresh_not_applicable_without_backups() -> None:
    finding = BackupFresh().run(Facts(), CTX)
    assert finding.status == "not_applicable"
    assert finding.evidence == {
        "reason": "no backup is configured (see recovery.backup_configured)"
    }


def test_fresh_pass_exact_evidence() -> None:
    finding = fresh_run(bk(age_hours=24.0))
    assert (finding.pillar, finding.severity) == ("recovery", "critical")
    assert finding.status == "pass"
    assert finding.evidence == {
        "backups": [
            {
                "name": "finance",
                "status": "pass",
                "age_hours": 24.0,
                "rpo_hours": 24.0,
                "latest_snapshot_id": "4f2a9c1e",
                "latest_snapshot_at": "2024-06-01T10:00:00+00:00",
                "error": None,
                "paths_missing": [],
            }
        ],
        "max_age_hours": 24.0,
        "backups_in_error": [],
        "backups_uncovered": [],
    }
    assert finding.remediation == ""


@pytest.mark.parametrize(
    ("age", "status"),
    [
        (0.0, "pass"),
        (24.0, "pass"),
        (24.01, "warn"),
        (48.0, "warn"),
        (48.01, "fail"),
        (500, "fail"),
    ],
)
def test_fresh_age_boundaries(age: float, status: str) -> None:
    finding = fresh_run(bk(age_hours=age))
    assert finding.status == status
    assert finding.evidence["backups"][0]["status"] == status
    assert finding.evidence["max_age_hours"] == age


def test_fresh_uses_each_backups_rpo() -> None:
    finding = fresh_run(bk(age_hours=30.0), bk(name="weekly", rpo_hours=168.0, age_hours=100.0))
    assert finding.status == "warn"
    assert [b["status"] for b in finding.evidence["backups"]] == ["warn", "pass"]
    assert finding.evidence["max_age_hours"] == 100.0


def test_fresh_stale_remediation_names_backup_and_schedule() -> None:
    finding = fresh_run(bk(age_hours=72.0))
    assert finding.status == "fail"
    assert "Backup 'finance'" in finding.remediation
    assert "72.0 h old" in finding.remediation
    assert f"restic -r {REPO} backup /var/lib/finance" in finding.remediation
    assert "schedule the backup job (systemd timer) at least every 24 h" in finding.remediation


def test_fresh_error_fails_with_restics_message() -> None:
    finding = fresh_run(error_backup())
    assert finding.status == "fail"
    assert finding.evidence == {
        "backups": [
            {
                "name": "finance",
                "status": "fail",
                "age_hours": None,
                "rpo_hours": 24.0,
                "latest_snapshot_id": None,
                "latest_snapshot_at": None,
                "error": "Fatal: wrong password or no key found",
                "paths_missing": [],
            }
        ],
        "max_age_hours": None,
        "backups_in_error": ["finance"],
        "backups_uncovered": [],
    }
    assert "wrong password" in finding.remediation
    assert f"restic -r {REPO} unlock" in finding.remediation


def test_fresh_uncovered_paths_fail() -> None:
    finding = fresh_run(bk(age_hours=1.0, paths_missing=["/srv/mail"]))
    assert finding.status == "fail"
    entry = finding.evidence["backups"][0]
    assert entry["paths_missing"] == ["/srv/mail"]
    assert entry["status"] == "fail"
    assert finding.evidence["backups_uncovered"] == ["finance"]
    assert finding.evidence["max_age_hours"] == 1.0
    assert "no snapshot in /srv/backup/finance covers /srv/mail" in finding.remediation


def test_fresh_without_any_snapshot_fails() -> None:
    finding = fresh_run(
        bk(age_hours=None, latest_snapshot_at=None, latest_snapshot_id=None, snapshot_count=0)
    )
    assert finding.status == "fail"
    assert finding.evidence["backups_uncovered"] == ["finance"]
    assert finding.evidence["max_age_hours"] is None
    assert "Run the first backup now" in finding.remediation


def test_fresh_worst_over_backups_and_remediation_only_for_failing_ones() -> None:
    finding = fresh_run(bk(), bk(name="mail", age_hours=30.0), error_backup("hr"))
    assert finding.status == "fail"
    assert finding.evidence["backups_in_error"] == ["hr"]
    assert finding.evidence["max_age_hours"] == 30.0
    assert "Backup 'finance'" not in finding.remediation
    assert "Backup 'mail'" in finding.remediation
    assert "Backup 'hr'" in finding.remediation


# --- recovery.backup_integrity ----------------------------------------------------------------


def integrity_entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": "finance",
        "status": "pass",
        "last_check_at": "2024-05-31T12:00:00+00:00",
        "ok": True,
        "message": "no errors were found",
        "read_data": "1/12",
        "check_age_hours": 24.0,
    }
    entry.update(changes)
    return entry


def integrity_run(*backups: BackupFact, policy: Policy | None = None) -> Finding:
    ctx = CheckContext(now=NOW, policy=policy) if policy else CTX
    return BackupIntegrity().run(facts(*backups), ctx)


def test_integrity_pass_exact_evidence() -> None:
    finding = integrity_run(bk())
    assert (finding.pillar, finding.severity) == ("recovery", "high")
    assert finding.status == "pass"
    assert finding.evidence == {"backups": [integrity_entry()], "max_age": "1w"}


def test_integrity_pass_exactly_at_the_limit() -> None:
    finding = integrity_run(bk(last_check_at=NOW - timedelta(days=7)))
    assert finding.status == "pass"
    assert finding.evidence["backups"][0]["check_age_hours"] == 168.0


def test_integrity_warns_just_past_the_limit() -> None:
    finding = integrity_run(bk(last_check_at=NOW - timedelta(days=7, seconds=1)))
    assert finding.status == "warn"
    assert finding.evidence["backups"][0] == integrity_entry(
        status="warn", last_check_at="2024-05-25T11:59:59+00:00", check_age_hours=168.0
    )
    assert f"restic -r {REPO} check --read-data-subset=1/12" in finding.remediation
    assert "at least every 1w" in finding.remediation


def test_integrity_window_follows_the_policy() -> None:
    policy = Policy(integrity_max_age=timedelta(hours=12))
    finding = integrity_run(bk(), policy=policy)
    assert finding.status == "warn"
    assert finding.evidence["max_age"] == "12h"


def test_integrity_failed_check_fails() -> None:
    finding = integrity_run(bk(last_check_ok=False, last_check_message="pack 3f2a: not found"))
    assert finding.status == "fail"
    assert finding.evidence["backups"][0] == integrity_entry(
        status="fail", ok=False, message="pack 3f2a: not found"
    )
    assert "pack 3f2a: not found" in finding.remediation
    assert f"restic -r {REPO} repair index" in finding.remediation


def test_integrity_never_checked_fails() -> None:
    finding = integrity_run(
        bk(
            last_check_at=None,
            last_check_ok=None,
            last_check_message=None,
            last_check_read_data=None,
        )
    )
    assert finding.status == "fail"
    assert finding.evidence["backups"][0] == {
        "name": "finance",
        "status": "fail",
        "last_check_at": None,
        "ok": None,
        "message": None,
        "read_data": None,
        "check_age_hours": None,
    }
    assert "has never been checked" in finding.remediation
    assert f"restic -r {REPO} check --read-data-subset=1/12" in finding.remediation


def test_integrity_repository_in_error_fails() -> None:
    finding = integrity_run(error_backup())
    assert finding.status == "fail"
    entry = finding.evidence["backups"][0]
    assert entry["error"] == "Fatal: wrong password or no key found"
    assert entry["status"] == "fail"
    assert "cannot be opened" in finding.remediation


def test_integrity_unreadable_result_is_unknown() -> None:
    finding = integrity_run(bk(last_check_ok=None, last_check_message=None))
    assert finding.status == "unknown"
    assert finding.evidence["backups"][0]["ok"] is None


def test_integrity_passed_at_unknown_time_warns() -> None:
    finding = integrity_run(bk(last_check_at=None))
    assert finding.status == "warn"
    assert finding.evidence["backups"][0]["check_age_hours"] is None


def test_integrity_worst_over_backups() -> None:
    finding = integrity_run(bk(), bk(name="mail", last_check_ok=False))
    assert finding.status == "fail"
    assert [b["status"] for b in finding.evidence["backups"]] == ["pass", "fail"]
    assert "Backup 'mail'" in finding.remediation
    assert "Backup 'finance'" not in finding.remediation


def test_integrity_not_applicable_without_backups() -> None:
    assert BackupIntegrity().run(Facts(), CTX).status == "not_applicable"


# --- recovery.backup_offsite / recovery.backup_immutable --------------------------------------


@pytest.mark.parametrize(("value", "status"), [(True, "pass"), (False, "fail"), (None, "unknown")])
def test_offsite(value: bool | None, status: str) -> None:
    finding = BackupOffsite().run(facts(bk(offsite=value)), CTX)
    assert (finding.pillar, finding.severity) == ("recovery", "high")
    assert finding.status == status
    assert finding.evidence == {
        "backups": [{"name": "finance", "repository": REPO, "offsite": value, "status": status}]
    }
    if status == "fail":
        assert f"restic -r OFFSITE_REPO copy --from-repo {REPO}" in finding.remediation
        assert "Backup 'finance'" in finding.remediation
    if status == "unknown":
        assert "`offsite = true` or `offsite = false`" in finding.remediation


def test_offsite_fail_beats_unknown() -> None:
    finding = BackupOffsite().run(facts(bk(offsite=None), bk(name="mail", offsite=False)), CTX)
    assert finding.status == "fail"


@pytest.mark.parametrize(("value", "status"), [(True, "pass"), (False, "fail"), (None, "unknown")])
def test_immutable(value: bool | None, status: str) -> None:
    finding = BackupImmutable().run(facts(bk(append_only=value)), CTX)
    assert (finding.pillar, finding.severity) == ("recovery", "medium")
    assert finding.status == status
    assert finding.evidence == {
        "backups": [{"name": "finance", "repository": REPO, "append_only": value, "status": status}]
    }
    if status == "fail":
        assert "rest-server --append-only" in finding.remediation
        assert "Backup 'finance'" in finding.remediation


def test_immutable_unknown_beats_pass() -> None:
    finding = BackupImmutable().run(facts(bk(), bk(name="mail", append_only=None)), CTX)
    assert finding.status == "unknown"


@pytest.mark.parametrize("check", [BackupOffsite(), BackupImmutable(), MassChange()])
def test_not_applicable_without_backups(check: Check) -> None:
    assert check.run(Facts(), CTX).status == "not_applicable"


# --- recovery.mass_change ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratio", "status"),
    [
        (0.0, "pass"),
        (0.2, "pass"),
        (0.2001, "warn"),
        (0.5, "warn"),
        (0.5001, "fail"),
        (1.0, "fail"),
    ],
)
def test_mass_change_boundaries(ratio: float, status: str) -> None:
    detail = {"changed": 10, "removed": 2, "files": 100}
    finding = MassChange().run(facts(bk(change_ratio=ratio, change_detail=detail)), CTX)
    assert (finding.pillar, finding.severity) == ("recovery", "high")
    assert finding.status == status
    assert finding.evidence == {
        "backups": [
            {
                "name": "finance",
                "status": status,
                "change_ratio": ratio,
                "change_detail": detail,
                "snapshot_count": 10,
            }
        ],
        "warn_above": 0.2,
        "fail_above": 0.5,
    }
    if status != "pass":
        assert f"restic -r {REPO} diff PREVIOUS 4f2a9c1e" in finding.remediation


def test_mass_change_thresholds_follow_the_policy() -> None:
    ctx = CheckContext(now=NOW, policy=Policy(mass_change_warn=0.05, mass_change_fail=0.1))
    assert MassChange().run(facts(bk(change_ratio=0.06)), ctx).status == "warn"
    assert MassChange().run(facts(bk(change_ratio=0.11)), ctx).status == "fail"


def test_mass_change_not_applicable_with_fewer_than_two_snapshots() -> None:
    finding = MassChange().run(
        facts(
            bk(change_ratio=None, snapshot_count=1),
            bk(name="mail", change_ratio=None, snapshot_count=0),
        ),
        CTX,
    )
    assert finding.status == "not_applicable"
    assert finding.evidence == {
        "reason": "fewer than two snapshots in every backup ('finance', 'mail'): "
        "nothing to compare yet"
    }


def test_mass_change_ignores_backups_with_one_snapshot_next_to_measured_ones() -> None:
    finding = MassChange().run(
        facts(bk(change_ratio=None, snapshot_count=1), bk(name="mail", change_ratio=0.3)), CTX
    )
    assert finding.status == "warn"
    first = finding.evidence["backups"][0]
    assert first == {
        "name": "finance",
        "status": "not_applicable",
        "reason": "fewer than two snapshots",
        "change_ratio": None,
        "change_detail": None,
        "snapshot_count": 1,
    }
    assert "Backup 'mail'" in finding.remediation


def test_mass_change_unknown_when_repository_in_error() -> None:
    finding = MassChange().run(facts(error_backup()), CTX)
    assert finding.status == "unknown"
    assert finding.evidence["backups"][0]["reason"] == "the repository cannot be opened"


def test_mass_change_unknown_when_not_measured() -> None:
    finding = MassChange().run(facts(bk(change_ratio=None, snapshot_count=5)), CTX)
    assert finding.status == "unknown"
    assert "was not measured" in finding.evidence["backups"][0]["reason"]
