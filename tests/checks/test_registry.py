"""Checks load through the ``rra.checks`` entry points; broken registrations are rejected."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from rra.checks import recovery, registry
from rra.checks.base import Check, CheckContext, Outcome
from rra.checks.facts import Facts
from rra.checks.registry import ENTRY_POINT_GROUP, CheckRegistryError, load_check, load_checks
from rra.checks.scoring import SEVERITY_WEIGHTS

BUILTIN = {
    "recovery.backup_configured": recovery.BackupConfigured,
    "recovery.backup_fresh": recovery.BackupFresh,
    "recovery.backup_integrity": recovery.BackupIntegrity,
    "recovery.backup_offsite": recovery.BackupOffsite,
    "recovery.backup_immutable": recovery.BackupImmutable,
    "recovery.mass_change": recovery.MassChange,
}


class SiteCheck(Check):
    id = "site.example"
    pillar = "exposure"
    severity = "low"
    title = "An example site check"
    rationale = "Tests the registry."
    remediation = "Nothing to do."

    def evaluate(self, facts: Facts, ctx: CheckContext) -> Outcome:
        return Outcome("pass")


class NotACheck:
    id = "site.not_a_check"


def site_function() -> None:
    """Not a class at all."""


def ep(name: str, target: str) -> EntryPoint:
    return EntryPoint(name, f"{__name__}:{target}", ENTRY_POINT_GROUP)


def test_builtins_load_through_entry_points() -> None:
    checks = load_checks()
    ids = [c.id for c in checks]
    assert ids == sorted(ids)
    assert set(BUILTIN) <= set(ids)
    by_id = {c.id: c for c in checks}
    for check_id, cls in BUILTIN.items():
        check = by_id[check_id]
        assert type(check) is cls
        assert check.pillar == "recovery"
        assert check.severity in SEVERITY_WEIGHTS
        assert check.title
        assert check.rationale
        assert check.remediation


def test_builtin_severities() -> None:
    assert {cid: cls.severity for cid, cls in BUILTIN.items()} == {
        "recovery.backup_configured": "critical",
        "recovery.backup_fresh": "critical",
        "recovery.backup_integrity": "high",
        "recovery.backup_offsite": "high",
        "recovery.backup_immutable": "medium",
        "recovery.mass_change": "high",
    }


def test_load_check_accepts_a_site_check() -> None:
    check = load_check(ep("site.example", "SiteCheck"))
    assert isinstance(check, SiteCheck)


def test_wrong_type_is_rejected() -> None:
    with pytest.raises(CheckRegistryError, match="not a Check subclass"):
        load_check(ep("site.not_a_check", "NotACheck"))
    with pytest.raises(CheckRegistryError, match="not a Check subclass"):
        load_check(ep("site.function", "site_function"))


def test_mismatched_id_is_rejected() -> None:
    with pytest.raises(CheckRegistryError, match="must agree"):
        load_check(ep("site.other_name", "SiteCheck"))


def test_duplicate_id_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [ep("site.example", "SiteCheck"), ep("site.example", "SiteCheck")]
    monkeypatch.setattr(registry, "entry_points", lambda group: entries)
    with pytest.raises(CheckRegistryError, match="registered twice"):
        load_checks()


def test_load_checks_uses_the_group_and_sorts(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def fake_entry_points(group: str) -> list[EntryPoint]:
        seen.append(group)
        return [
            EntryPoint("recovery.mass_change", "rra.checks.recovery:MassChange", group),
            ep("site.example", "SiteCheck"),
        ]

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    assert [c.id for c in load_checks()] == ["recovery.mass_change", "site.example"]
    assert seen == [ENTRY_POINT_GROUP]
