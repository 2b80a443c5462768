"""The exposure collector end to end: an image audit (logs only) and this live host (sockets)."""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from pathlib import Path

import pytest

from rra.agent.collectors.exposure import collect_exposure
from rra.agent.config import ExposureSection
from rra.agent.local import LocalHost
from rra.checks.base import CheckContext
from rra.checks.evaluate import evaluate
from rra.checks.facts import Facts
from tests.agent.exposure.utmp_writer import login, logout, write_wtmp
from tests.conftest import require
from tests.sshd_lab import wait_for

NOW = datetime.now(UTC).replace(microsecond=0)
CONFIG = ExposureSection(bastions=[ip_network("10.0.5.0/28")], window=timedelta(days=30))


def _image(tmp_path: Path) -> LocalHost:
    root = tmp_path / "img"
    (root / "var/log").mkdir(parents=True)
    write_wtmp(
        root / "var/log/wtmp",
        [
            login(NOW - timedelta(days=2), "alice", "192.0.2.7", "192.0.2.7"),
            logout(NOW - timedelta(days=2) + timedelta(hours=1)),
            login(NOW - timedelta(days=1), "bob", "10.0.5.3", "10.0.5.3"),  # a bastion
            login(NOW - timedelta(hours=5), "alice", "2001:db8::7", "2001:db8::7", line="pts/1"),
            login(NOW - timedelta(days=45), "carol", "198.51.100.9", "198.51.100.9"),  # too old
            login(NOW - timedelta(hours=3), "root", "127.0.0.1", "127.0.0.1", line="pts/2"),
        ],
    )
    stamp = (NOW - timedelta(days=3)).isoformat()
    lines = [
        f"{stamp} img sshd[99]: Accepted publickey for ops from 203.0.113.5 port 50022 ssh2: ED25519 SHA256:x",
        f"{stamp} img sshd[99]: Failed password for root from 203.0.113.66 port 1 ssh2",
        f"{stamp} img CRON[5]: pam_unix(cron:session): session opened for user root",
    ]
    with gzip.open(root / "var/log/auth.log.2.gz", "wt") as out:
        out.write("\n".join(lines) + "\n")
    (root / "var/log/auth.log").write_text("")
    return LocalHost(root)


def test_image_audit_reads_logins_and_reports_sockets_unknown(tmp_path: Path) -> None:
    host = _image(tmp_path)
    facts = collect_exposure(host, CONFIG, NOW)
    assert facts.services is None
    assert "live facts" in facts.unknown["services"]
    sources = {s.address: s for s in facts.access_sources or []}
    # window, loopback and bastions applied; a failed login is not access; gzip rotation read
    assert sorted(sources) == ["192.0.2.7", "2001:db8::7", "203.0.113.5"]
    assert sources["203.0.113.5"].via == "auth.log" and sources["203.0.113.5"].users == ["ops"]
    assert sources["192.0.2.7"].via == "wtmp"
    assert facts.exposure is not None
    assert facts.exposure.bastions == ["10.0.5.0/28"]
    assert {log.path for log in facts.exposure.logs} >= {"/var/log/wtmp", "/var/log/auth.log.2.gz"}
    report_facts = Facts(
        services=facts.services,
        access_sources=facts.access_sources,
        exposure=facts.exposure,
        unknown=facts.unknown,
    )
    metrics, findings, _ = evaluate(report_facts, CheckContext(now=NOW))
    assert metrics.direct_access_machine_count == 3
    status = {f.check: f.status for f in findings}
    assert status["exposure.direct_access_sources"] == "fail"
    assert status["exposure.admin_services"] == "unknown"  # never rounded up


@pytest.fixture
def sshd_everywhere(tmp_path: Path) -> Iterator[int]:
    require(
        "root + sshd",
        os.geteuid() == 0 and Path("/usr/sbin/sshd").exists(),
        "run as root; apt-get install openssh-server",
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    key = tmp_path / "hostkey"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = tmp_path / "sshd_config"
    pidfile = tmp_path / "sshd.pid"
    config.write_text(f"Port {port}\nListenAddress 0.0.0.0\nHostKey {key}\nPidFile {pidfile}\n")
    subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], stderr=subprocess.DEVNULL)
    wait_for(port)
    yield port
    if pidfile.exists():
        subprocess.run(["kill", pidfile.read_text().strip()], check=False)


def test_live_host_sees_the_exposed_sshd(sshd_everywhere: int, tmp_path: Path) -> None:
    facts = collect_exposure(LocalHost("/"), CONFIG, NOW, sshd_config=str(tmp_path / "none"))
    assert facts.services is not None
    ours = [s for s in facts.services if s.port == sshd_everywhere]
    assert len(ours) == 1
    ssh = ours[0]
    assert (ssh.service, ssh.process, ssh.admin) == ("ssh", "sshd", True)
    ruleset = subprocess.run(
        ["nft", "list", "ruleset"], capture_output=True, text=True, check=False
    )
    if ruleset.returncode == 0 and not ruleset.stdout.strip():
        # No host firewall on this machine: nothing restricts it.
        assert ssh.exposure == "inferred"
        assert "198.51.100.23" in ssh.reason
    assert facts.exposure is not None and facts.exposure.firewall is not None
