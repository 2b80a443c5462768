"""The inspection's numbers (DESIGN §3), computed from facts. Pure: no I/O.

A fact area that was not collected (``None`` in :class:`Facts`) leaves its metrics ``None``/empty:
an uncollected area is unknown, never rounded up to a good value.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from rra.checks.facts import AccountFact, BackupFact, DrillFact, Facts, ServiceFact
from rra.checks.policy import DEFAULT_POLICY, Policy
from rra.checks.report import Metrics

EXPOSED = frozenset({"confirmed", "inferred"})


def backup_uncovered(backup: BackupFact) -> bool:
    """No snapshot covers the backup's declared paths (or some of them)."""
    return backup.status == "ok" and (backup.age_hours is None or bool(backup.paths_missing))


def backup_in_error(backup: BackupFact) -> bool:
    """The repository could not be opened (missing, wrong password, locked...)."""
    return backup.status == "error"


def _backup_metrics(backups: list[BackupFact]) -> tuple[float | None, bool | None]:
    if not backups:
        return None, None
    if any(backup_in_error(b) or backup_uncovered(b) for b in backups):
        return None, False
    ages = [(b.age_hours, b.rpo_hours) for b in backups if b.age_hours is not None]
    age = max(a for a, _ in ages)
    fresh = all(a <= rpo for a, rpo in ages)
    return age, fresh


def _coverage(accounts: Iterable[AccountFact]) -> float | None:
    eligible = [a for a in accounts if a.ssh != "no_ssh"]
    if not eligible:
        return None
    return sum(1 for a in eligible if a.ssh == "enforced") / len(eligible)


def _account_metrics(
    accounts: list[AccountFact] | None,
) -> tuple[int | None, float | None, list[str], float | None]:
    if accounts is None:
        return None, None, [], None
    interactive = [a for a in accounts if a.interactive]
    coverage = _coverage(interactive)
    privileged = _coverage(a for a in interactive if a.privileged)
    missing = sorted({a.name for a in interactive if a.ssh == "missing"})
    return len(interactive), coverage, missing, privileged


def _exposure_metrics(services: list[ServiceFact] | None) -> tuple[int | None, bool | None]:
    if services is None:
        return None, None
    admin = [s for s in services if s.admin]
    exposed = sum(1 for s in admin if s.exposure in EXPOSED)
    if exposed > 0:
        return exposed, True
    # Nothing confirmed or inferred, but an admin socket whose exposure could not be decided
    # (privileges missing) leaves direct access undecided: unknown is never rounded to "no".
    if any(s.exposure == "unknown" for s in admin):
        return exposed, None
    return exposed, False


def last_passed_drill(drills: Iterable[DrillFact]) -> DrillFact | None:
    """The newest passing drill, by end time (start time when it has none)."""
    passed = [d for d in drills if d.verdict == "pass"]
    if not passed:
        return None
    return max(passed, key=lambda d: d.ended_at or d.started_at)


def compute_metrics(facts: Facts, now: datetime, policy: Policy = DEFAULT_POLICY) -> Metrics:
    """DESIGN §3 metrics from one host's facts.

    ``now`` and ``policy`` are accepted so every evaluation step has the same inputs; backup ages
    are taken as the collector measured them at collection time (the §3 definitions need
    neither today).
    """
    age, fresh = _backup_metrics(facts.backups)
    interactive, coverage, missing, privileged = _account_metrics(facts.accounts)
    exposed, direct = _exposure_metrics(facts.services)
    if facts.access_sources is None:
        sources: list[str] = []
        machines: int | None = None
    else:
        sources = sorted({s.address for s in facts.access_sources})
        machines = len(sources)
    drill = last_passed_drill(facts.drills)
    return Metrics(
        backup_age_hours=age,
        backups_fresh=fresh,
        second_factor_coverage=coverage,
        interactive_accounts=interactive,
        accounts_without_second_factor=missing,
        privileged_second_factor_coverage=privileged,
        admin_services_exposed=exposed,
        direct_access=direct,
        direct_access_sources=sources,
        direct_access_machine_count=machines,
        last_drill_passed_at=None if drill is None else (drill.ended_at or drill.started_at),
        last_drill_rto_seconds=None if drill is None else drill.rto_seconds,
    )
