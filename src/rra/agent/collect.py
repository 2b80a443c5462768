"""One collection run: host facts → checks → metrics → score → the ``rra.report/1`` envelope."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from rra import __version__
from rra.agent.auth.windows import collect_windows_auth
from rra.agent.collectors.auth import collect_auth
from rra.agent.collectors.backups import collect_backups
from rra.agent.collectors.exposure import collect_exposure
from rra.agent.collectors.system import collect_host_info
from rra.agent.config import AgentConfig, default_state_dir
from rra.agent.drill.outbox import recent_drills
from rra.agent.host import Host
from rra.agent.state import StateStore
from rra.checks.base import CheckContext
from rra.checks.evaluate import evaluate
from rra.checks.facts import Facts
from rra.checks.report import Report

log = structlog.get_logger(__name__)

Progress = Callable[[str], None]


def open_state(config: AgentConfig) -> StateStore:
    """The configured state dir, or the user's data dir when it cannot be written (not root)."""
    wanted = config.resolved_state_dir()
    for candidate in (wanted, default_state_dir()):
        try:
            candidate.mkdir(parents=True, exist_ok=True, mode=0o700)
            probe = candidate / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            log.warning("state dir not writable", state_dir=str(candidate), error=str(exc))
            continue
        if candidate != wanted:
            log.warning("using fallback state dir", wanted=str(wanted), state_dir=str(candidate))
        return StateStore(candidate)
    raise PermissionError(f"no writable state dir: tried {wanted} and {default_state_dir()}")


def collect_report(
    config: AgentConfig,
    host: Host,
    *,
    state: StateStore | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> Report:
    say: Progress = progress or (lambda _message: None)
    now = now or datetime.now(UTC)
    state = state or open_state(config)
    say("reading host facts")
    host_info = collect_host_info(host, config)
    backups = collect_backups(
        host,
        config.backup,
        hostname=host_info.hostname,
        now=now,
        state=state,
        restic_binary=config.agent.restic_binary,
        progress=say,
    )
    # Drills this host ran (pulled from the auditor or `rra drill run`) are facts of the host.
    facts = Facts(backups=backups, drills=recent_drills(state))
    if config.auth.enabled and host_info.os.family == "windows":
        say("reading Windows accounts and remote logon settings")
        windows = collect_windows_auth(host)
        facts.accounts, facts.windows_auth = windows.accounts, windows.settings
        facts.unknown.update(windows.unknown)
    elif config.auth.enabled:
        say("reading accounts, sshd and PAM")
        auth = collect_auth(
            host,
            use_sshd_t=config.auth.sshd_t,
            sshd_config=config.auth.sshd_config,
            pam_service=config.auth.pam_service,
            progress=say,
        )
        facts.accounts, facts.ssh = auth.accounts, auth.ssh
        facts.unknown.update(auth.unknown)
    else:
        facts.unknown["accounts"] = "authentication collection disabled ([auth] enabled = false)"
    if config.exposure.enabled:
        exposure = collect_exposure(
            host,
            config.exposure,
            now,
            sshd_config=config.auth.sshd_config,
            windows=host_info.os.family == "windows",
            progress=say,
        )
        facts.services, facts.access_sources = exposure.services, exposure.access_sources
        facts.exposure = exposure.exposure
        facts.unknown.update(exposure.unknown)
    else:
        reason = "exposure collection disabled ([exposure] enabled = false)"
        facts.unknown.update({"services": reason, "access_sources": reason, "firewall": reason})
    say("evaluating checks")
    metrics, findings, score = evaluate(facts, CheckContext(now=now))
    report = Report(
        seq=state.next_seq(),
        collected_at=now,
        agent_version=__version__,
        host=host_info,
        facts=facts,
        metrics=metrics,
        findings=findings,
        score=score,
    )
    log.info(
        "collected", report_id=report.report_id, score=score.total, state_dir=str(state.directory)
    )
    return report
