"""Run one restore drill through a ``Host`` and return its evidence (DESIGN §8).

resolve the snapshot (this host and path, never the newest of any host) → optional ``restic
check`` → sandbox safety (nothing written before it passes) → ``restic --no-cache restore
--verify`` into a fresh run directory → one hashing pass → verify steps → verdict → cleanup.
``rto_seconds`` runs from start to verified; ``rpo_seconds`` is start minus the snapshot time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from rra.agent.drill.fs import DrillFS, DrillFSError, drill_fs_for
from rra.agent.drill.lock import DrillBusy, drill_lock
from rra.agent.drill.outcome import DrillRecorder
from rra.agent.drill.safety import UnsafeSandbox, plan_sandbox
from rra.agent.drill.tree import TreeTimeout
from rra.agent.drill.verify import VerifyContext, run_step
from rra.agent.host import Host
from rra.agent.restic import RepositoryAccess, Restic
from rra.agent.restic.errors import ResticError, ResticFailed, ResticTimeout
from rra.agent.restic.parse import Snapshot
from rra.checks.drill import DrillResult, Executor
from rra.checks.playbook import Playbook

log = structlog.get_logger(__name__)

Progress = Callable[[str], None]
#: How long a drill waits for another drill on the same host before it refuses.
DEFAULT_LOCK_WAIT = 600.0


class DrillAborted(Exception):
    """Stop the drill here; the recorder already holds the verdict and the reason."""


def _access(playbook: Playbook) -> RepositoryAccess:
    source = playbook.source.restic
    return RepositoryAccess(
        source.repository,
        password_file=source.password_file,
        password_command=source.password_command,
    )


def _run_name(playbook: Playbook, started: datetime, drill_id: str) -> str:
    return f"{playbook.name}-{started:%Y%m%dT%H%M%SZ}-{drill_id[:8]}"


class _Drill:
    def __init__(
        self,
        playbook: Playbook,
        host: Host,
        recorder: DrillRecorder,
        progress: Progress,
        fs: DrillFS,
    ) -> None:
        self.playbook = playbook
        self.host = host
        self.rec = recorder
        self.progress = progress
        self.fs = fs
        self.repo = _access(playbook)
        self.restic = Restic(host, binary=playbook.source.restic.binary)
        self.deadline = time.monotonic() + playbook.timeout.total_seconds()
        self.run_dir: str | None = None

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.rec.fail(f"the drill passed its global timeout of {self.playbook.timeout}")
            raise DrillAborted
        return left

    def _restic_failure(self, step: str, error: ResticError) -> DrillAborted:
        """Access problems mean the drill could not run (error); anything else is damage (fail)."""
        if isinstance(error, ResticTimeout):
            self.rec.step(step, "fail", error.message)
            self.rec.fail(f"{step}: {error.message}")
        elif type(error) is ResticFailed:
            self.rec.step(step, "fail", error.message)
            self.rec.fail(f"{step}: restic failed: {error.message}")
        else:
            self.rec.step(step, "error", error.message)
            self.rec.error("operational", f"{step}: {error.message}")
        return DrillAborted()

    def resolve_snapshot(self) -> Snapshot:
        source = self.playbook.source.restic
        hostname = source.host or self.host.hostname()
        self.progress(f"resolving snapshot of {hostname}:{','.join(source.path)}")
        with self.rec.timed("resolve_snapshot") as step:
            try:
                self.rec.result.restic_version = self.restic.version_string()
                found = self.restic.snapshots(self.repo, hostname, self.remaining(), source.path)
            except ResticError as exc:
                raise self._restic_failure("resolve_snapshot", exc) from None
            if source.snapshot != "latest":
                found = [s for s in found if s.id.startswith(source.snapshot)]
            if not found:
                wanted = "any snapshot" if source.snapshot == "latest" else source.snapshot
                message = f"no {wanted} of host {hostname} covering {', '.join(source.path)}"
                step.fail(message)
                self.rec.fail(message)
                raise DrillAborted
            snapshot = max(found, key=lambda s: s.time)
            step.ok(f"snapshot {snapshot.id[:8]} of {snapshot.time:%Y-%m-%d %H:%M:%S} UTC")
        self.rec.result.snapshot_id = snapshot.id
        self.rec.result.snapshot_time = snapshot.time
        self.rec.result.rpo_seconds = (self.rec.result.started_at - snapshot.time).total_seconds()
        return snapshot

    def check_repository(self) -> None:
        spec = self.playbook.restic_check
        if spec is None:
            return
        self.progress(f"restic check --read-data-subset={spec.read_data_subset}")
        with self.rec.timed("restic_check") as step:
            try:
                checked = self.restic.check(self.repo, spec.read_data_subset, self.remaining())
            except ResticError as exc:
                raise self._restic_failure("restic_check", exc) from None
            if not checked.ok:
                step.fail(checked.message or "restic check found errors")
                self.rec.fail(f"restic check failed: {checked.message}")
                raise DrillAborted
            step.ok(f"no errors in {spec.read_data_subset} of the data")

    def plan(self, snapshot: Snapshot) -> str:
        with self.rec.timed("safety") as step:
            try:
                stats = self.restic.stats(self.repo, snapshot.id, self.remaining())
            except ResticError as exc:
                raise self._restic_failure("safety", exc) from None
            try:
                plan = plan_sandbox(
                    self.fs,
                    self.playbook.sandbox,
                    self.playbook.source.restic.path,
                    self.playbook.source.restic.repository,
                    stats.total_size,
                )
            except (UnsafeSandbox, DrillFSError) as exc:
                step.error(str(exc))
                self.rec.error("unsafe", str(exc))
                raise DrillAborted from None
            step.ok(
                f"sandbox {plan.sandbox}: {plan.free_bytes:,} bytes free, "
                f"{plan.required_bytes:,} needed",
                restore_size=stats.total_size,
                files=stats.total_file_count,
            )
        return plan.sandbox

    def restore(self, snapshot: Snapshot, sandbox: str) -> int | None:
        result = self.rec.result
        run_dir = (
            f"{sandbox.rstrip('/')}/{_run_name(self.playbook, result.started_at, result.drill_id)}"
        )
        self.progress(f"restoring {snapshot.id[:8]} into {run_dir}")
        with self.rec.timed("restore") as step:
            try:
                self.fs.make_dirs(sandbox)
                self.fs.make_fresh_dir(run_dir)
            except (DrillFSError, OSError) as exc:
                step.error(str(exc))
                self.rec.error("operational", f"cannot create the run directory: {exc}")
                raise DrillAborted from None
            self.run_dir = result.restore_dir = run_dir
            try:
                restored = self.restic.restore(
                    self.repo,
                    snapshot.id,
                    run_dir,
                    self.remaining(),
                    verify=self.playbook.restic_verify,
                )
            except ResticError as exc:
                raise self._restic_failure("restore", exc) from None
            result.restore_done_at = datetime.now(UTC)
            if restored.errors:
                step.fail(restored.message or f"restic reported {restored.errors} errors")
                self.rec.fail(f"restore failed: {restored.message}")
                raise DrillAborted
            step.ok(restored.message.splitlines()[-1] if restored.message else "restored")
        return restored.verified_files

    def verify(self, verified_files: int | None) -> None:
        if self.run_dir is None:
            raise DrillAborted
        self.progress("hashing the restored tree")
        with self.rec.timed("tree") as step:
            try:
                listing = self.fs.hash_tree(self.run_dir, self.deadline)
            except TreeTimeout as exc:
                step.fail(str(exc))
                self.rec.fail(f"the drill passed its global timeout of {self.playbook.timeout}")
                raise DrillAborted from None
            except (DrillFSError, OSError) as exc:
                step.error(str(exc))
                self.rec.error("operational", f"cannot read the restored tree: {exc}")
                raise DrillAborted from None
            result = self.rec.result
            result.files_restored = listing.file_count
            result.bytes_restored = listing.total_bytes
            result.tree_digest = listing.digest()
            if listing.unreadable:
                names = ", ".join(sorted(listing.unreadable)[:5])
                step.fail(f"{len(listing.unreadable)} restored files unreadable: {names}")
                self.rec.fail(f"restored files unreadable: {names}")
            else:
                step.ok(
                    f"{listing.file_count} files, {listing.total_bytes:,} bytes, "
                    f"digest {result.tree_digest[:16]}"
                )
        ctx = VerifyContext(
            self.host, self.fs, self.run_dir, listing, self.deadline, verified_files
        )
        for spec in self.playbook.verify:
            self.remaining()
            started = time.monotonic()
            outcome = run_step(spec, ctx)
            outcome.duration_seconds = round(time.monotonic() - started, 3)
            self.rec.add(outcome)
            self.progress(f"{outcome.name}: {outcome.status} {outcome.message}")
            if outcome.status in ("fail", "error"):
                self.rec.fail(f"{outcome.name}: {outcome.message}")
        self.rec.result.verified_at = datetime.now(UTC)

    def cleanup(self) -> None:
        result = self.rec.result
        if self.run_dir is None:
            return
        policy = self.playbook.cleanup
        keep = policy == "never" or (policy == "on_success" and not self.rec.passing)
        if keep:
            self.rec.step("cleanup", "skipped", f"kept {self.run_dir} (cleanup: {policy})")
            return
        try:
            self.fs.remove_tree(self.run_dir)
        except (DrillFSError, OSError) as exc:
            self.rec.step("cleanup", "error", f"could not remove {self.run_dir}: {exc}")
            return
        result.cleaned_up = True
        self.rec.step("cleanup", "pass", f"removed {self.run_dir}")


def run_drill(
    playbook: Playbook,
    host: Host,
    *,
    playbook_sha256: str,
    executor: Executor = "cli",
    run_id: str | None = None,
    lock_wait: float = DEFAULT_LOCK_WAIT,
    lock_path: str | None = None,
    progress: Progress | None = None,
) -> DrillResult:
    """Run the drill and return its evidence; never raises for a drill that failed or could not
    run (the verdict says so)."""
    say = progress or (lambda _message: None)
    try:
        fs = drill_fs_for(host)
    except DrillFSError as exc:
        return DrillRecorder.could_not_start(
            playbook, host, playbook_sha256, executor, run_id, str(exc)
        )
    try:
        with drill_lock(playbook.name, min(lock_wait, playbook.timeout.total_seconds()), lock_path):
            recorder = DrillRecorder.start(playbook, host, playbook_sha256, executor, run_id)
            drill = _Drill(playbook, host, recorder, say, fs)
            try:
                snapshot = drill.resolve_snapshot()
                drill.check_repository()
                sandbox = drill.plan(snapshot)
                verified_files = drill.restore(snapshot, sandbox)
                drill.verify(verified_files)
            except DrillAborted:
                pass
            finally:
                recorder.judge()
                drill.cleanup()
            result = recorder.finish()
    except DrillBusy as exc:
        return DrillRecorder.could_not_start(
            playbook, host, playbook_sha256, executor, run_id, str(exc)
        )
    log.info(
        "drill finished",
        playbook=playbook.name,
        verdict=result.verdict,
        rto_seconds=result.rto_seconds,
    )
    return result
