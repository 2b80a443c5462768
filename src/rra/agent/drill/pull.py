"""An enrolled agent's drill cycle: claim due drills from the auditor, run them, send the results.

Runs at the start of ``rra agent run`` so the report that follows already carries the drills.
Each result is signed with the host key and kept in the outbox until the auditor acknowledges it;
an unreachable auditor delays results, it never loses them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from rra.agent.config import AgentConfig
from rra.agent.drill.load import PlaybookError, parse_playbook
from rra.agent.drill.outbox import DrillOutbox, remember
from rra.agent.drill.outcome import unrunnable_result
from rra.agent.drill.runner import Progress, run_drill
from rra.agent.enroll import Enrollment
from rra.agent.host import Host
from rra.agent.identity import HostKey
from rra.agent.sender import AuditorSettingsError, DeliveryError, RetryPolicy, Sender, open_client
from rra.agent.state import StateStore
from rra.checks.drill import DrillResult
from rra.checks.protocol import ClaimedDrill, DrillClaimRequest

log = structlog.get_logger(__name__)


@dataclass
class DrillCycle:
    ran: list[DrillResult] = field(default_factory=list)
    sent: int = 0
    rejected: int = 0
    waiting: int = 0
    error: str | None = None


def run_claimed(
    claim: ClaimedDrill, host: Host, config: AgentConfig, progress: Progress | None
) -> DrillResult:
    try:
        playbook = parse_playbook(claim.playbook_yaml, f"auditor:{claim.playbook}")
    except PlaybookError as exc:
        return unrunnable_result(
            run_id=claim.run_id,
            playbook=claim.playbook,
            playbook_sha256=claim.playbook_sha256,
            hostname=host.hostname(),
            executor="agent",
            reason=f"the playbook could not be read: {exc}",
            error_kind="invalid",
            started_at=datetime.now(UTC),
        )
    return run_drill(
        playbook,
        host,
        playbook_sha256=claim.playbook_sha256,
        executor="agent",
        run_id=claim.run_id,
        lock_wait=config.drills.lock_wait.total_seconds(),
        progress=progress,
    )


def send_outbox(sender: Sender, outbox: DrillOutbox, cycle: DrillCycle) -> None:
    for path, payload, signature in outbox.entries():
        ack = sender.send_drill_result(payload, signature)
        if ack.status == "rejected":
            # Permanent: keep it aside for the admin, counted, instead of retrying forever.
            path.rename(path.with_suffix(".rejected"))
            cycle.rejected += 1
            log.error("drill result rejected", file=str(path), error=ack.error)
        else:
            path.unlink(missing_ok=True)
            cycle.sent += 1


def drill_cycle(
    config: AgentConfig,
    host: Host,
    state: StateStore,
    enrollment: Enrollment,
    key: HostKey,
    *,
    retry: RetryPolicy,
    progress: Progress | None = None,
) -> DrillCycle:
    """Claim and run due drills (when ``[drills] pull``), then send every waiting result."""
    cycle = DrillCycle()
    outbox = DrillOutbox(state.directory)
    try:
        client = open_client(
            enrollment.auditor_url, enrollment.ca_cert, config.delivery.timeout.total_seconds()
        )
    except AuditorSettingsError as exc:
        cycle.error = f"enrollment.json: {exc}"
        return cycle
    sender = Sender(client, enrollment.host_id, retry)
    try:
        if config.drills.pull:
            request = DrillClaimRequest(
                requested_at=datetime.now(UTC),
                nonce=secrets.token_hex(16),
                max_runs=config.drills.max_per_run,
            )
            body = request.model_dump_json().encode("utf-8")
            for claim in sender.claim_drills(body, key.sign(body)):
                if progress is not None:
                    progress(f"restore drill '{claim.playbook}' (run {claim.run_id[:8]})")
                result = run_claimed(claim, host, config, progress)
                remember(state, result)
                outbox.add(result, key)
                cycle.ran.append(result)
        send_outbox(sender, outbox, cycle)
    except DeliveryError as exc:
        cycle.error = str(exc)
        log.error("drill delivery stopped", error=str(exc))
    finally:
        sender.close()
    cycle.waiting = len(outbox.entries())
    return cycle
