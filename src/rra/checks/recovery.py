"""Built-in recovery checks (DESIGN §4), registered through the ``rra.checks`` entry points.

Each check judges every configured backup, keeps one evidence entry per backup and reports the
worst status over them; the remediation names each backup that needs work and the command to run.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, ClassVar

from rra.checks.base import Check, CheckContext, Outcome
from rra.checks.facts import BackupFact, Facts
from rra.checks.metrics import backup_in_error, backup_uncovered
from rra.checks.report import Pillar, Status
from rra.checks.units import format_duration

NO_BACKUP = "no backup is configured (see recovery.backup_configured)"

# For combining per-backup results: unknown earns no credit, so it ranks below warn.
_RANK: dict[Status, int] = {"pass": 0, "warn": 1, "unknown": 2, "fail": 3}


def worst(statuses: Iterable[Status]) -> Status:
    """The worst of per-backup statuses (pass < warn < unknown < fail); pass when there are none."""
    result: Status = "pass"
    for status in statuses:
        if _RANK[status] > _RANK[result]:
            result = status
    return result


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _paths(backup: BackupFact) -> str:
    paths = [*backup.paths_covered, *backup.paths_missing]
    return " ".join(paths) if paths else "PATH..."


def _hours(value: float) -> str:
    return f"{value:.1f} h"


class _RecoveryCheck(Check):
    pillar: ClassVar[Pillar] = "recovery"

    def applicable(self, facts: Facts, ctx: CheckContext) -> str | None:
        return None if facts.backups else NO_BACKUP


def _combine(results: list[tuple[Status, dict[str, Any], str | None]], **top: Any) -> Outcome:
    status = worst(s for s, _, _ in results)
    remediations = [r for s, _, r in results if s != "pass" and r]
    evidence = {"backups": [e for _, e, _ in results], **top}
    return Outcome(status, evidence, "\n".join(remediations) or None)


class BackupConfigured(Check):
    id = "recovery.backup_configured"
    pillar = "recovery"
    severity = "critical"
    title = "A backup is configured"
    rationale = (
        "Without a backup there is nothing to recover from after ransomware, a wiper or a failed "
        "disk; every other recovery check depends on one."
    )
    remediation = (
        "Declare each backup in agent.toml ([[backup]] with name, repository, password_file, paths "
        "and rpo), create the repository with `restic -r REPO init`, and schedule the backup job "
        "(`restic -r REPO backup PATH...` from a systemd timer) at least every RPO."
    )

    def evaluate(self, facts: Facts, ctx: CheckContext) -> Outcome:
        names = [b.name for b in facts.backups]
        if names:
            return Outcome("pass", {"backups": names, "count": len(names)})
        reason = facts.unknown.get("backups")
        if reason is not None:
            # The backup configuration itself could not be read: not the same as "none declared".
            return Outcome(
                "unknown",
                {"backups": [], "count": 0, "reason": reason},
                f"The backup configuration could not be read ({reason}); fix it so the agent can "
                "see the declared backups.",
            )
        return Outcome("fail", {"backups": [], "count": 0})


class BackupFresh(_RecoveryCheck):
    id = "recovery.backup_fresh"
    severity = "critical"
    title = "Backups are within their RPO"
    rationale = (
        "A backup is only as good as its newest snapshot: data written since then is lost. Each "
        "backup must have a snapshot covering all its paths no older than its RPO, and a "
        "repository that cannot be opened cannot be restored from."
    )
    remediation = (
        "Run each backup job now and schedule the backup job (systemd timer) at least every RPO."
    )

    def evaluate(self, facts: Facts, ctx: CheckContext) -> Outcome:
        results = [self._one(b) for b in facts.backups]
        ages = [b.age_hours for b in facts.backups if b.age_hours is not None]
        return _combine(
            results,
            max_age_hours=max(ages) if ages else None,
            backups_in_error=[b.name for b in facts.backups if backup_in_error(b)],
            backups_uncovered=[b.name for b in facts.backups if backup_uncovered(b)],
        )

    @staticmethod
    def _one(b: BackupFact) -> tuple[Status, dict[str, Any], str | None]:
        evidence: dict[str, Any] = {
            "name": b.name,
            "age_hours": b.age_hours,
            "rpo_hours": b.rpo_hours,
            "latest_snapshot_id": b.latest_snapshot_id,
            "latest_snapshot_at": _iso(b.latest_snapshot_at),
            "error": b.error,
            "paths_missing": list(b.paths_missing),
        }
        status: Status
        remedy: str | None = None
        repo = b.repository
        if backup_in_error(b):
            status = "fail"
            remedy = (
                f"Backup '{b.name}': the repository {repo} cannot be opened "
                f"(restic: {b.error or 'no message'}). Check that it is reachable and that the "
                f"password file is right (`restic -r {repo} cat config`); if a dead process left "
                f"a lock, remove it with `restic -r {repo} unlock`. Then run the backup job."
            )
        elif b.paths_missing:
            status = "fail"
            missing = " ".join(b.paths_missing)
            remedy = (
                f"Backup '{b.name}': no snapshot in {repo} covers {missing}. Add these paths to "
                f"the backup job and run it (`restic -r {repo} backup {_paths(b)}`); check that "
                "the job's --host matches this host."
            )
        elif b.age_hours is None:
            status = "fail"
            remedy = (
                f"Backup '{b.name}': {repo} holds no snapshot of this host's paths. Run the first "
                f"backup now (`restic -r {repo} backup {_paths(b)}`) and schedule the backup job "
                f"(systemd timer) at least every {b.rpo_hours:g} h."
            )
        elif b.age_hours <= b.rpo_hours:
            status = "pass"
        else:
            status = "warn" if b.age_hours <= 2 * b.rpo_hours else "fail"
            remedy = (
                f"Backup '{b.name}': the newest snapshot is {_hours(b.age_hours)} old, over its "
                f"RPO of {b.rpo_hours:g} h. Find why the job stopped (`systemctl list-timers`, "
                f"the job's journal), run it now (`restic -r {repo} backup {_paths(b)}`), and "
                f"schedule the backup job (systemd timer) at least every {b.rpo_hours:g} h."
            )
        evidence["status"] = status
        return status, evidence, remedy


class BackupIntegrity(_RecoveryCheck):
    id = "recovery.backup_integrity"
    severity = "high"
    title = "Backup repositories pass restic check"
    rationale = (
        "Snapshots in a damaged repository cannot be restored; `restic check` (reading a share of "
        "the pack data each time) finds damage while there is still time to take a new backup."
    )
    remediation = (
        "Run `restic -r REPO check --read-data-subset=1/12` and schedule it at least weekly."
    )

    def evaluate(self, facts: Facts, ctx: CheckContext) -> Outcome:
        limit = ctx.policy.integrity_max_age
        results = [self._one(b, ctx.now, limit) for b in facts.backups]
        return _combine(results, max_age=format_duration(limit))

    @staticmethod
    def _one(
        b: BackupFact, now: datetime, max_age: timedelta
    ) -> tuple[Status, dict[str, Any], str | None]:
        repo = b.repository
        check_cmd = f"`restic -r {repo} check --read-data-subset=1/12`"
        limit = format_duration(max_age)
        limit_seconds = max_age.total_seconds()
        age_seconds = None if b.last_check_at is None else (now - b.last_check_at).total_seconds()
        evidence: dict[str, Any] = {
            "name": b.name,
            "last_check_at": _iso(b.last_check_at),
            "ok": b.last_check_ok,
            "message": b.last_check_message,
            "read_data": b.last_check_read_data,
            "check_age_hours": None if age_seconds is None else round(age_seconds / 3600, 2),
        }
        status: Status
        remedy: str | None = None
        if backup_in_error(b):
            status = "fail"
            evidence["error"] = b.error
            remedy = (
                f"Backup '{b.name}': the repository {repo} cannot be opened, so it cannot be "
                f"checked (restic: {b.error or 'no message'}). Restore access first (see "
                f"recovery.backup_fresh), then run {check_cmd}."
            )
        elif b.last_check_ok is False:
            status = "fail"
            remedy = (
                f"Backup '{b.name}': the last restic check failed"
                f"{f' ({b.last_check_message})' if b.last_check_message else ''}. Run "
                f"`restic -r {repo} check --read-data` to see the damage, repair with "
                f"`restic -r {repo} repair index` and `restic -r {repo} repair snapshots` "
                "(restic >= 0.16), then take a fresh backup and check again."
            )
        elif b.last_check_ok is None and b.last_check_at is None:
            status = "fail"
            remedy = (
                f"Backup '{b.name}' has never been checked: run {check_cmd} now and schedule it "
                f"at least every {limit} (agent.toml `check_interval`)."
            )
        elif b.last_check_ok is None:
            status = "unknown"
            remedy = (
                f"Backup '{b.name}': the result of the restic check at {_iso(b.last_check_at)} "
                f"could not be read. Run {check_cmd} and keep its output."
            )
        elif age_seconds is None:
            status = "warn"
            remedy = (
                f"Backup '{b.name}': a restic check passed but its time is not known. Run "
                f"{check_cmd} and schedule it at least every {limit}."
            )
        elif age_seconds <= limit_seconds:
            status = "pass"
        else:
            status = "warn"
            remedy = (
                f"Backup '{b.name}': the last passing restic check is "
                f"{_hours(age_seconds / 3600)} old (limit {limit}). Run {check_cmd} and schedule "
                f"it at least every {limit} (agent.toml `check_interval`)."
            )
        evidence["status"] = status
        return status, evidence, remedy


def _tristate(
    flag: bool | None, evidence: dict[str, Any], *, fail: str, unknown: str
) -> tuple[Status, dict[str, Any], str | None]:
    """A declared yes/no property of a backup: True passes, False fails, None is unknown."""
    status: Status = "pass" if flag is True else ("fail" if flag is False else "unknown")
    evidence["status"] = status
    return status, evidence, {"pass": None, "fail": fail, "unknown": unknown}[status]


class BackupOffsite(_RecoveryCheck):
    id = "recovery.backup_offsite"
    severity = "high"
    title = "Backups have an offsite copy"
    rationale = (
        "A repository on the same host, site or storage as the data falls with it (fire, "
        "ransomware that reaches the backup server, a stolen array); a copy must live elsewhere."
    )
    remediation = (
        "Keep a copy of each repository off this site: `restic -r OFFSITE_REPO copy --from-repo "
        "REPO` on a schedule, then set `offsite = true` for the backup in agent.toml."
    )

    def evaluate(self, facts: Facts, ctx: CheckContext) -> Outcome:
        return _combine([self._one(b) for b in facts.backups])

    @staticmethod
    def _one(b: BackupFact) -> tuple[Status, dict[str, Any], str | None]:
        repo = b.repository
        return _tristate(
            b.offsite,
            {"name": b.name, "repository": repo, "offsite": b.offsite},
            fail=(
                f"Backup '{b.name}' has no offsite copy ({repo}). Create a repository off this "
                f"site (`restic -r OFFSITE_REPO init --from-repo {repo} --copy-chunker-params`), "
                f"copy to it from a systemd timer (`restic -r OFFSITE_REPO copy --from-repo "
                f"{repo}`), then set `offsite = true` for '{b.name}' in agent.toml."
            ),
            unknown=(
                f"Backup '{b.name}': whether {repo} has an offsite copy is not known. Set "
                f"`offsite = true` or `offsite = false` in its [[backup]] entry in agent.toml "
                "(true only if a copy lives outside this site)."
            ),
        )


class BackupImmutable(_RecoveryCheck):
    id = "recovery.backup_immutable"
    severity = "medium"
    title = "Backups cannot be deleted from the host (append-only)"
    rationale = (
        "Ransomware operators delete backups first. With the repository password a compromised "
        "host can forget and prune every snapshot unless the repository only accepts new data."
    )
    remediation = (
        "Serve the repository append-only (`rest-server --append-only`, or object-lock storage), "
        "run forget/prune only from a separate trusted machine, and set `append_only = true`."
    )

    def evaluate(self, facts: Facts, ctx: CheckContext) -> Outcome:
        return _combine([self._one(b) for b in facts.backups])

    @staticmethod
    def _one(b: BackupFact) -> tuple[Status, dict[str, Any], str | None]:
        repo = b.repository
        return _tristate(
            b.append_only,
            {"name": b.name, "repository": repo, "append_only": b.append_only},
            fail=(
                f"Backup '{b.name}': {repo} lets this host delete snapshots, so an attacker on it "
                "can erase the backups. Serve the repository with `rest-server --append-only` "
                "(or storage with object lock), run `restic forget --prune` only from a separate "
                f"trusted machine, then set `append_only = true` for '{b.name}' in agent.toml."
            ),
            unknown=(
                f"Backup '{b.name}': whether {repo} is append-only is not known. Set "
                f"`append_only = true` or `append_only = false` in its [[backup]] entry in "
                "agent.toml."
            ),
        )


class MassChange(_RecoveryCheck):
    id = "recovery.mass_change"
    severity = "high"
    title = "No mass change between the two newest snapshots"
    rationale = (
        "Ransomware rewrites or deletes most files at once; the next backup then faithfully "
        "stores the damage. A large share of changed or removed files between the two newest "
        "snapshots is the earliest warning a backup can give."
    )
    remediation = (
        "Compare the two newest snapshots (`restic -r REPO diff OLDER NEWER`) and keep older "
        "snapshots until the change is explained."
    )

    def applicable(self, facts: Facts, ctx: CheckContext) -> str | None:
        if not facts.backups:
            return NO_BACKUP
        if all(self._too_few(b) for b in facts.backups):
            names = ", ".join(f"'{b.name}'" for b in facts.backups)
            return f"fewer than two snapshots in every backup ({names}): nothing to compare yet"
        return None

    @staticmethod
    def _too_few(b: BackupFact) -> bool:
        return (
            b.change_ratio is None
            and not backup_in_error(b)
            and b.snapshot_count is not None
            and b.snapshot_count < 2
        )

    def evaluate(self, facts: Facts, ctx: CheckContext) -> Outcome:
        warn_above = ctx.policy.mass_change_warn
        fail_above = ctx.policy.mass_change_fail
        results = [self._one(b, warn_above, fail_above) for b in facts.backups]
        applicable = [r for r in results if r[0] != "not_applicable"]
        outcome = _combine(applicable, warn_above=warn_above, fail_above=fail_above)
        outcome.evidence["backups"] = [e for _, e, _ in results]
        return outcome

    def _one(
        self, b: BackupFact, warn_above: float, fail_above: float
    ) -> tuple[Status, dict[str, Any], str | None]:
        repo = b.repository
        evidence: dict[str, Any] = {
            "name": b.name,
            "change_ratio": b.change_ratio,
            "change_detail": b.change_detail,
            "snapshot_count": b.snapshot_count,
        }
        status: Status
        remedy: str | None = None
        ratio = b.change_ratio
        if ratio is not None:
            if ratio > fail_above:
                status = "fail"
            elif ratio > warn_above:
                status = "warn"
            else:
                status = "pass"
            if status != "pass":
                detail = b.change_detail or {}
                newest = detail.get("new_snapshot_id") or b.latest_snapshot_id or "NEWEST"
                previous = detail.get("old_snapshot_id") or "PREVIOUS"
                remedy = (
                    f"Backup '{b.name}': {ratio:.0%} of files changed or disappeared between the "
                    "two newest snapshots, a sign of ransomware encryption or mass deletion. "
                    f"Compare them (`restic -r {repo} snapshots`, then `restic -r {repo} diff "
                    f"{previous} {newest}`), pause forget/prune so older snapshots are kept until "
                    "it is explained, and if it is an attack restore from the last good snapshot."
                )
        elif backup_in_error(b):
            status = "unknown"
            evidence["reason"] = "the repository cannot be opened"
            remedy = (
                f"Backup '{b.name}': {repo} cannot be opened, so its snapshots cannot be "
                "compared; restore access first (see recovery.backup_fresh)."
            )
        elif self._too_few(b):
            status = "not_applicable"
            evidence["reason"] = "fewer than two snapshots"
        else:
            status = "unknown"
            evidence["reason"] = "the change between the two newest snapshots was not measured"
            remedy = (
                f"Backup '{b.name}': the change between the two newest snapshots was not "
                f"measured; compare them with `restic -r {repo} diff PREVIOUS NEWEST` and check "
                "the agent's log for the reason."
            )
        evidence["status"] = status
        return status, evidence, remedy
