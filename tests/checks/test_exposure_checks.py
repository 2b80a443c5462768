"""Exposure checks and metrics over service, access-source and firewall facts (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from rra.checks.base import CheckContext
from rra.checks.evaluate import evaluate
from rra.checks.exposure import AdminServices, DirectAccessSources, HostFirewall, LegacyProtocols
from rra.checks.facts import (
    AccessSourceFact,
    ExposureFact,
    Facts,
    FirewallFact,
    LogReadFact,
    ServiceFact,
)

NOW = datetime(2026, 11, 24, tzinfo=UTC)
CTX = CheckContext(now=NOW)


def service(exposure: str, **extra: Any) -> ServiceFact:
    fields: dict[str, Any] = {
        "proto": "tcp",
        "address": "0.0.0.0",
        "port": 22,
        "process": "sshd",
        "service": "ssh",
        "admin": True,
        "exposure": exposure,
        "reason": f"because {exposure}",
    }
    fields.update(extra)
    return ServiceFact.model_validate(fields)


def source(address: str, logins: int = 3) -> AccessSourceFact:
    return AccessSourceFact(
        address=address, last_seen=NOW, logins=logins, service="ssh", via="wtmp"
    )


def test_metrics_from_exposure_facts() -> None:
    facts = Facts(
        services=[
            service("inferred"),
            service("confirmed", port=3389, service="rdp"),
            service("restricted", port=5985, service="winrm"),
            service("inferred", port=8080, service="other", admin=False),
        ],
        access_sources=[source("192.0.2.7"), source("2001:db8::9"), source("192.0.2.7", 1)],
    )
    metrics, findings, score = evaluate(facts, CTX)
    assert metrics.admin_services_exposed == 2
    assert metrics.direct_access is True
    assert metrics.direct_access_sources == ["192.0.2.7", "2001:db8::9"]
    assert metrics.direct_access_machine_count == 2
    status = {f.check: f.status for f in findings}
    assert status["exposure.admin_services"] == "fail"
    assert status["exposure.direct_access_sources"] == "fail"
    assert score.pillars.exposure is not None


@pytest.mark.parametrize(
    ("exposures", "expected"),
    [
        (["restricted", "restricted"], "pass"),
        (["restricted", "unknown"], "unknown"),
        (["inferred", "unknown"], "fail"),
        ([], "pass"),
    ],
)
def test_admin_services(exposures: list[str], expected: str) -> None:
    facts = Facts(services=[service(e, port=22 + i) for i, e in enumerate(exposures)])
    finding = AdminServices().run(facts, CTX)
    assert finding.status == expected
    if expected == "fail":
        assert "ssh on 0.0.0.0:22/tcp (because inferred)" in finding.remediation


def test_not_collected_is_unknown_with_the_reason() -> None:
    facts = Facts(unknown={"services": "--root audit: sockets are live facts"})
    finding = AdminServices().run(facts, CTX)
    assert finding.status == "unknown" and "live facts" in finding.evidence["reason"]
    assert DirectAccessSources().run(Facts(), CTX).status == "unknown"
    assert HostFirewall().run(Facts(), CTX).status == "unknown"


def test_direct_access_sources() -> None:
    check = DirectAccessSources()
    clean = Facts(access_sources=[], exposure=ExposureFact(bastions=["10.0.5.0/28"]))
    assert check.run(clean, CTX).status == "pass"
    dirty = Facts(access_sources=[source("192.0.2.7")])
    finding = check.run(dirty, CTX)
    assert finding.status == "fail" and "192.0.2.7" in finding.remediation
    unread = Facts(
        access_sources=[],
        exposure=ExposureFact(
            logs=[LogReadFact(path="/var/log/wtmp", via="wtmp", error="permission denied")]
        ),
    )
    assert check.run(unread, CTX).status == "unknown"  # nothing seen is not "nothing happened"


def test_legacy_protocols() -> None:
    check = LegacyProtocols()
    assert check.run(Facts(services=[service("inferred")]), CTX).status == "pass"
    telnet = service("inferred", port=23, service="telnet", process="in.telnetd", legacy=True)
    finding = check.run(Facts(services=[telnet]), CTX)
    assert finding.status == "fail" and "telnet on 0.0.0.0:23/tcp" in finding.remediation
    assert check.severity == "critical"


@pytest.mark.parametrize(
    ("firewall", "expected"),
    [
        (FirewallFact(tool="nftables", active=True, default_inbound="drop", rules=5), "pass"),
        (FirewallFact(tool="nftables", active=True, default_inbound="accept", rules=2), "warn"),
        (FirewallFact(tool="none", active=False, reason="no ruleset"), "fail"),
        (FirewallFact(reason="nft: permission denied"), "unknown"),
    ],
)
def test_host_firewall(firewall: FirewallFact, expected: str) -> None:
    facts = Facts(exposure=ExposureFact(firewall=firewall))
    assert HostFirewall().run(facts, CTX).status == expected
