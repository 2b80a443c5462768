"""A collection over SSH gives the same facts as a local collection of the same machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rra.agent.collect import collect_report
from rra.agent.config import AgentConfig, BackupConfig
from rra.agent.local import LocalHost
from rra.agent.state import StateStore
from rra.agent.transports.ssh import SSHHost
from rra.checks.report import Report
from tests.agent.conftest import Repo
from tests.sshd_lab import SshdLab


def _comparable(report: Report) -> dict[str, Any]:
    facts: dict[str, Any] = report.model_dump(mode="json")["facts"]
    # The SSH session itself is an established loopback connection; loopback is never a direct
    # access source, so access_sources must match too. Only the order of sockets may differ.
    facts["services"] = sorted(
        facts["services"], key=lambda s: (s["proto"], s["address"], s["port"])
    )
    return facts


def test_ssh_collection_matches_local_collection(
    sshd_lab: SshdLab, repo: Repo, tmp_path: Path
) -> None:
    data = tmp_path / "finance"
    data.mkdir()
    (data / "ledger.csv").write_text("a,b\n")
    now = datetime.now(UTC).replace(microsecond=0)
    repo.backup([data], now - timedelta(hours=2), host="rra-ssh-test")
    config = AgentConfig(
        backup=[
            BackupConfig(
                name="finance",
                repository=repo.location,
                password_file=str(repo.password_file),
                paths=[str(data)],
                host="rra-ssh-test",
            )
        ]
    )
    local = collect_report(config, LocalHost("/"), state=StateStore(tmp_path / "s1"), now=now)
    server = sshd_lab.servers[2]
    with SSHHost(
        "127.0.0.1",
        server.port,
        "root",
        key_file=sshd_lab.client_key,
        allow_agent=False,
        known_hosts=sshd_lab.known_hosts,
    ) as remote_host:
        remote = collect_report(config, remote_host, state=StateStore(tmp_path / "s2"), now=now)
    local_facts, remote_facts = _comparable(local), _comparable(remote)
    assert remote_facts["backups"][0]["status"] == "ok", remote_facts["backups"]
    assert remote_facts["backups"][0]["snapshot_count"] == 1
    assert len(remote_facts["accounts"]) > 3
    assert any(s["process"] == "sshd" for s in remote_facts["services"])
    for area in local_facts:
        assert remote_facts[area] == local_facts[area], area
    assert remote.host.hostname == local.host.hostname
    assert remote.host.machine_id == local.host.machine_id
    assert remote.metrics == local.metrics


def test_sudo_denied_makes_root_only_facts_unknown_with_sudos_answer(
    sshd_lab: SshdLab, tmp_path: Path
) -> None:
    user = sshd_lab.add_user()
    server = sshd_lab.servers[2]
    with SSHHost(
        "127.0.0.1",
        server.port,
        user,
        key_file=sshd_lab.client_key,
        allow_agent=False,
        known_hosts=sshd_lab.known_hosts,
        become=True,
    ) as limited:
        report = collect_report(AgentConfig(), limited, state=StateStore(tmp_path / "s"))
    facts = report.facts
    reasons = list(facts.unknown.values()) + [a.reason for a in facts.accounts or []]
    assert any("sudo -n refused" in r and "password is required" in r for r in reasons), reasons
    # the firewall needs root too: unknown, naming sudo's refusal instead of guessing "open"
    assert facts.exposure is not None and facts.exposure.firewall is not None
    assert "sudo -n refused" in facts.exposure.firewall.reason
