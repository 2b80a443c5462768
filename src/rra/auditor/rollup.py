"""Org rollups (DESIGN §3, §4): the inspection's numbers for an org and every org below it.

Counts are summed over the underlying items, never averaged over hosts: second-factor coverage is
Σ enforced accounts ÷ Σ eligible accounts across hosts (a host with 40 accounts weighs 40 times a
host with one), and direct-access machines are distinct addresses across hosts (one jump box
seen by ten hosts is one machine). A stale host can only count against its org: it scores 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import case, func, true
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from rra.auditor.jsonsql import json_array_rows
from rra.auditor.lifecycle import status_filter
from rra.auditor.models import HostRow, HostState
from rra.auditor.schemas import DirectAccessSources, HostStatusCounts, OrgSummary
from rra.auditor.scoping import org_prefixes, within_org
from rra.auditor.settings import AuditorSettings

CRITICALITY_WEIGHT = {"high": 3, "medium": 2, "low": 1}
SOURCES_SHOWN = 100


@dataclass(frozen=True)
class AccountCounts:
    """One host's interactive accounts that sshd accepts (ssh ≠ no_ssh), by verdict."""

    eligible: int = 0
    enforced: int = 0
    privileged_eligible: int = 0
    privileged_enforced: int = 0
    missing: int = 0


NO_ACCOUNTS = AccountCounts()


@dataclass(frozen=True)
class HostContribution:
    """What one host adds to the rollup of every org above it."""

    org: str
    status: str
    weight: int
    score: float | None  # None: never reported
    counts_zero: bool
    clone: bool
    accounts: AccountCounts = NO_ACCOUNTS
    backups_fresh: bool | None = None
    direct_access: bool = False
    sources: frozenset[str] = frozenset()


@dataclass
class OrgTally:
    """Running sums for one org; ``summary`` turns them into the published ratios."""

    weighted_score: float = 0.0
    weight: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    stale: int = 0
    without_report: int = 0
    clones: int = 0
    accounts: Counter[str] = field(default_factory=Counter)
    backup_verdicts: int = 0
    backups_fresh: int = 0
    direct_access_hosts: int = 0
    sources: set[str] = field(default_factory=set)

    def add(self, host: HostContribution) -> None:
        self.by_status[host.status] += 1
        if host.status == "retired":
            return
        self.weight += host.weight
        self.weighted_score += (
            0.0 if host.counts_zero or host.score is None else host.weight * host.score
        )
        self.stale += host.counts_zero
        self.without_report += host.score is None
        self.clones += host.clone
        self.accounts.update(asdict(host.accounts))
        if host.backups_fresh is not None:
            self.backup_verdicts += 1
            self.backups_fresh += host.backups_fresh
        self.direct_access_hosts += host.direct_access
        self.sources.update(host.sources)

    def score(self) -> float:
        return self.weighted_score / self.weight

    def summary(self, org: str) -> OrgSummary:
        sources = sorted(self.sources)
        accounts = self.accounts
        return OrgSummary(
            org=org,
            org_score=self.score() if self.weight else None,
            hosts=sum(n for status, n in self.by_status.items() if status != "retired"),
            hosts_by_status=HostStatusCounts.model_validate(dict(self.by_status)),
            stale_hosts=self.stale,
            hosts_without_report=self.without_report,
            clones=self.clones,
            second_factor_coverage=_ratio(accounts["enforced"], accounts["eligible"]),
            privileged_second_factor_coverage=_ratio(
                accounts["privileged_enforced"], accounts["privileged_eligible"]
            ),
            second_factor_accounts=accounts["eligible"],
            second_factor_enforced=accounts["enforced"],
            privileged_second_factor_accounts=accounts["privileged_eligible"],
            privileged_second_factor_enforced=accounts["privileged_enforced"],
            accounts_without_second_factor=accounts["missing"],
            direct_access_machine_count=len(sources),
            direct_access_sources=DirectAccessSources(
                total=len(sources),
                addresses=sources[:SOURCES_SHOWN],
                truncated=len(sources) > SOURCES_SHOWN,
            ),
            hosts_with_direct_access=self.direct_access_hosts,
            backup_compliance=_ratio(self.backups_fresh, self.backup_verdicts),
            hosts_with_fresh_backups=self.backups_fresh,
            hosts_with_backup_verdict=self.backup_verdicts,
        )


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


class RollupRow(NamedTuple):
    """One host as the rollup query returns it (the lifecycle status is decided in SQL)."""

    host_id: str
    org: str
    criticality: str
    clone_of: str | None
    status: str
    score: float | None  # None: never reported
    backups_fresh: bool | None
    direct_access: bool | None
    direct_access_sources: list[str] | None


def contribution(row: RollupRow, accounts: AccountCounts) -> HostContribution:
    base: dict[str, Any] = {
        "org": row.org,
        "status": row.status,
        "weight": CRITICALITY_WEIGHT.get(row.criticality, CRITICALITY_WEIGHT["medium"]),
        "clone": row.clone_of is not None,
    }
    if row.score is None:
        return HostContribution(score=None, counts_zero=True, **base)
    stale = row.status == "stale"
    if stale:  # stale facts never count *for* the org: unverified 2FA and backups get no credit
        accounts = replace(accounts, enforced=0, privileged_enforced=0)
    return HostContribution(
        score=row.score,
        counts_zero=stale,
        accounts=accounts,
        backups_fresh=None if row.backups_fresh is None else bool(row.backups_fresh) and not stale,
        direct_access=bool(row.direct_access),
        sources=frozenset(row.direct_access_sources or ()),
        **base,
    )


def _account_counts(session: Session, org: str) -> dict[str, AccountCounts]:
    """Accounts counted in SQL over each host's facts.accounts, so no facts travel.

    Grouping by the three fields reads each once per account; the database hands back a few
    rows per host (one per kind of account) that are summed here.
    """
    rows, _position = json_array_rows(session, HostState.facts, "accounts")
    account = rows.c.value
    kind = (
        account["interactive"].as_boolean(),
        account["privileged"].as_boolean(),
        account["ssh"].as_string(),
    )
    statement = (
        sa_select(col(HostState.host_id), *kind, func.count())
        .select_from(HostState)
        .join(HostRow, col(HostRow.id) == col(HostState.host_id))
        .join(rows, true())
        .where(within_org(HostRow.org, org), col(HostRow.retired_at).is_(None))
        .group_by(col(HostState.host_id), *kind)
    )
    counts: dict[str, Counter[str]] = {}
    for host_id, interactive, privileged, ssh, number in session.execute(statement):
        if not interactive or ssh in (None, "no_ssh"):
            continue
        tally = counts.setdefault(host_id, Counter())
        tally["eligible"] += number
        tally["enforced"] += number * (ssh == "enforced")
        tally["missing"] += number * (ssh == "missing")
        if privileged:
            tally["privileged_eligible"] += number
            tally["privileged_enforced"] += number * (ssh == "enforced")
    return {host_id: AccountCounts(**tally) for host_id, tally in counts.items()}


def _contributions(
    session: Session,
    org: str,
    now: datetime,
    settings: AuditorSettings,
    *,
    count_accounts: bool = True,
) -> Iterator[HostContribution]:
    # The same rule as lifecycle.host_status, as a CASE over lifecycle's own clauses.
    status = case(
        *((status_filter(name, now, settings), name) for name in ("retired", "stale", "late")),
        else_="active",
    )
    metrics = HostState.metrics
    statement = (
        sa_select(
            col(HostRow.id),
            col(HostRow.org),
            col(HostRow.criticality),
            col(HostRow.clone_of),
            status,
            col(HostState.score_total),
            metrics["backups_fresh"].as_boolean(),
            metrics["direct_access"].as_boolean(),
            metrics["direct_access_sources"],
        )
        .outerjoin(HostState, col(HostState.host_id) == col(HostRow.id))
        .where(within_org(HostRow.org, org))
    )
    accounts = _account_counts(session, org) if count_accounts else {}
    for values in session.execute(statement):
        row = RollupRow(*values)
        yield contribution(row, accounts.get(row.host_id, NO_ACCOUNTS))


def org_summary(session: Session, org: str, now: datetime, settings: AuditorSettings) -> OrgSummary:
    """The rollup of ``org`` and everything below it (an org with no hosts has all zeros)."""
    tally = OrgTally()
    for host in _contributions(session, org, now, settings):
        tally.add(host)
    return tally.summary(org)


def _tallies(
    session: Session,
    scope: str,
    now: datetime,
    settings: AuditorSettings,
    depth: int | None,
    *,
    count_accounts: bool = True,
) -> dict[str, OrgTally]:
    tallies: dict[str, OrgTally] = {}
    hosts = _contributions(session, scope, now, settings, count_accounts=count_accounts)
    for host in hosts:
        for prefix in org_prefixes(host.org, scope):
            if depth is None or prefix.count("/") < depth:
                tallies.setdefault(prefix, OrgTally()).add(host)
    return tallies


def org_summaries(
    session: Session, scope: str, now: datetime, settings: AuditorSettings, depth: int | None
) -> list[OrgSummary]:
    """One summary per org path at or under ``scope`` that holds hosts (or has orgs below that
    do), sorted by path; ``depth`` keeps orgs of at most that many path segments."""
    tallies = _tallies(session, scope, now, settings, depth)
    # Tree order: a parent comes right before its children ('mic', 'mic/ais', 'mic-x').
    return [tallies[org].summary(org) for org in sorted(tallies, key=lambda o: o.split("/"))]


def org_scores(session: Session, now: datetime, settings: AuditorSettings) -> dict[str, float]:
    """Org score per org path across the agency, for the Prometheus gauge (orgs with no live
    host have no score and are left out). Skips the account counting a score does not need:
    this runs on every scrape."""
    tallies = _tallies(session, "", now, settings, None, count_accounts=False)
    return {org: tally.score() for org, tally in tallies.items() if tally.weight}
