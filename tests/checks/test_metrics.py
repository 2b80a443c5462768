"""DESIGN §3 metrics from facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rra.checks.facts import (
    AccessSourceFact,
    AccountFact,
    BackupFact,
    DrillFact,
    Facts,
    ServiceFact,
)
from rra.checks.metrics import compute_metrics

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def bk(name: str = "finance", **changes: Any) -> BackupFact:
    values: dict[str, Any] = {
        "name": name,
        "repository": f"/srv/backup/{name}",
        "status": "ok",
        "age_hours": 2.0,
        "rpo_hours": 24.0,
        "paths_covered": ["/var/lib/x"],
    }
    values.update(changes)
    return BackupFact(**values)


def account(
    name: str, ssh: str, *, interactive: bool = True, privileged: bool = False
) -> AccountFact:
    return AccountFact.model_validate(
        {
            "name": name,
            "interactive": interactive,
            "privileged": privileged,
            "ssh": ssh,
            "reason": "test",
        }
    )


def service(port: int, exposure: str, *, admin: bool = True, name: str = "ssh") -> ServiceFact:
    return ServiceFact.model_validate(
        {
            "proto": "tcp",
            "address": "192.0.2.10",
            "port": port,
            "service": name,
            "admin": admin,
            "exposure": exposure,
        }
    )


def metrics(facts: Facts) -> dict[str, Any]:
    return compute_metrics(facts, NOW).model_dump()


# --- backups ----------------------------------------------------------------------------------


def test_no_backup_configured() -> None:
    m = metrics(Facts())
    assert m["backup_age_hours"] is None
    assert m["backups_fresh"] is None


def test_all_fresh_reports_the_largest_age() -> None:
    m = metrics(Facts(backups=[bk(age_hours=3.0), bk("mail", age_hours=24.0)]))
    assert m["backup_age_hours"] == 24.0
    assert m["backups_fresh"] is True


def test_one_older_than_its_rpo_is_not_fresh() -> None:
    m = metrics(Facts(backups=[bk(age_hours=3.0), bk("mail", age_hours=24.5)]))
    assert m["backup_age_hours"] == 24.5
    assert m["backups_fresh"] is False


def test_rpo_is_per_backup() -> None:
    m = metrics(Facts(backups=[bk(age_hours=100.0, rpo_hours=168.0)]))
    assert m["backups_fresh"] is True


@pytest.mark.parametrize(
    "broken",
    [
        bk("bad", status="error", error="Fatal: repository does not exist", age_hours=None),
        bk("bad", age_hours=None),  # no covering snapshot
        bk("bad", age_hours=1.0, paths_missing=["/srv/mail"]),  # partly uncovered
    ],
)
def test_error_or_uncovered_makes_age_null_and_not_fresh(broken: BackupFact) -> None:
    m = metrics(Facts(backups=[bk(age_hours=1.0), broken]))
    assert m["backup_age_hours"] is None
    assert m["backups_fresh"] is False


# --- accounts ---------------------------------------------------------------------------------


def test_accounts_not_collected_leaves_metrics_unknown() -> None:
    m = metrics(Facts())
    assert m["interactive_accounts"] is None
    assert m["second_factor_coverage"] is None
    assert m["privileged_second_factor_coverage"] is None
    assert m["accounts_without_second_factor"] == []


def test_coverage_per_design() -> None:
    accounts = [
        account("root", "no_ssh", privileged=True),  # refused by sshd: out of coverage
        account("alice", "enforced", privileged=True),
        account("bob", "missing", privileged=True),
        account("carol", "unknown"),  # in the denominator, not the numerator
        account("zed", "missing"),
        account("dave", "enforced"),
        account("daemon", "missing", interactive=False),  # not interactive: not counted
    ]
    m = metrics(Facts(accounts=accounts))
    assert m["interactive_accounts"] == 6  # before sshd refusals
    assert m["second_factor_coverage"] == 2 / 5
    assert m["privileged_second_factor_coverage"] == 1 / 2
    assert m["accounts_without_second_factor"] == ["bob", "zed"]


def test_coverage_null_when_no_account_can_use_ssh() -> None:
    m = metrics(Facts(accounts=[account("root", "no_ssh", privileged=True)]))
    assert m["interactive_accounts"] == 1
    assert m["second_factor_coverage"] is None
    assert m["privileged_second_factor_coverage"] is None


def test_no_accounts_collected_but_empty() -> None:
    m = metrics(Facts(accounts=[]))
    assert m["interactive_accounts"] == 0
    assert m["second_factor_coverage"] is None


# --- exposure ---------------------------------------------------------------------------------


def test_services_not_collected() -> None:
    m = metrics(Facts())
    assert m["admin_services_exposed"] is None
    assert m["direct_access"] is None


def test_admin_services_exposed_counts_confirmed_and_inferred_admin_only() -> None:
    services = [
        service(22, "confirmed"),
        service(3389, "inferred", name="rdp"),
        service(5985, "restricted", name="winrm"),
        service(443, "confirmed", admin=False, name="https"),
    ]
    m = metrics(Facts(services=services))
    assert m["admin_services_exposed"] == 2
    assert m["direct_access"] is True


def test_no_exposed_admin_service() -> None:
    m = metrics(Facts(services=[service(22, "restricted")]))
    assert m["admin_services_exposed"] == 0
    assert m["direct_access"] is False


def test_undecided_exposure_leaves_direct_access_unknown() -> None:
    m = metrics(Facts(services=[service(22, "restricted"), service(3389, "unknown", name="rdp")]))
    assert m["admin_services_exposed"] == 0
    assert m["direct_access"] is None


def test_access_sources_distinct_and_sorted() -> None:
    sources = [
        AccessSourceFact(address="10.0.9.7", via="wtmp", logins=3),
        AccessSourceFact(address="10.0.1.2", via="auth.log"),
        AccessSourceFact(address="10.0.9.7", via="established"),
    ]
    m = metrics(Facts(access_sources=sources))
    assert m["direct_access_sources"] == ["10.0.1.2", "10.0.9.7"]
    assert m["direct_access_machine_count"] == 2


def test_access_sources_not_collected_vs_none_seen() -> None:
    assert metrics(Facts())["direct_access_machine_count"] is None
    assert metrics(Facts(access_sources=[]))["direct_access_machine_count"] == 0
    assert metrics(Facts())["direct_access_sources"] == []


# --- drills -----------------------------------------------------------------------------------


def drill(
    verdict: str, start_days_ago: float, *, ended: bool = True, rto: float = 60.0
) -> DrillFact:
    start = NOW - timedelta(days=start_days_ago)
    return DrillFact.model_validate(
        {
            "playbook": "finance-db",
            "verdict": verdict,
            "started_at": start,
            "ended_at": start + timedelta(minutes=5) if ended else None,
            "rto_seconds": rto,
        }
    )


def test_no_passing_drill() -> None:
    m = metrics(Facts(drills=[drill("fail", 1), drill("error", 2)]))
    assert m["last_drill_passed_at"] is None
    assert m["last_drill_rto_seconds"] is None


def test_newest_passing_drill() -> None:
    drills = [drill("pass", 10, rto=100.0), drill("pass", 3, rto=200.0), drill("fail", 1, rto=5.0)]
    m = metrics(Facts(drills=drills))
    assert m["last_drill_passed_at"] == NOW - timedelta(days=3) + timedelta(minutes=5)
    assert m["last_drill_rto_seconds"] == 200.0


def test_drill_without_end_time_uses_its_start() -> None:
    m = metrics(Facts(drills=[drill("pass", 10), drill("pass", 2, ended=False, rto=42.0)]))
    assert m["last_drill_passed_at"] == NOW - timedelta(days=2)
    assert m["last_drill_rto_seconds"] == 42.0
