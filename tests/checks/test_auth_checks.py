"""Authentication checks and metrics over account facts (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from rra.checks.auth import (
    PrivilegedSecondFactor,
    RootLogin,
    SkippableSecondFactor,
    SshSecondFactor,
    SudoNopasswd,
)
from rra.checks.base import CheckContext
from rra.checks.evaluate import evaluate
from rra.checks.facts import AccountFact, Facts, SshFact, WindowsAuthFact

CTX = CheckContext(now=datetime(2026, 11, 24, tzinfo=UTC))


def account(name: str, ssh: str, **extra: Any) -> AccountFact:
    fields: dict[str, Any] = {
        "name": name,
        "uid": 1000,
        "interactive": True,
        "privileged": False,
        "ssh": ssh,
        "reason": f"{name} is {ssh}",
        "sudo_nopasswd": [],
    }
    fields.update(extra)
    return AccountFact.model_validate(fields)


def facts(*accounts: AccountFact, permit: str = "no") -> Facts:
    return Facts(
        accounts=list(accounts),
        ssh=SshFact(source="parsed", settings={"permitrootlogin": permit}),
    )


def test_coverage_metrics_follow_design() -> None:
    f = facts(
        account("alice", "enforced"),
        account("bob", "missing"),
        account("carol", "unknown", privileged=True),
        account("root", "no_ssh", uid=0, privileged=True),
        account("svc", "no_ssh", interactive=False),
    )
    metrics, findings, _ = evaluate(f, CTX)
    assert metrics.interactive_accounts == 4  # before sshd refusals
    assert metrics.second_factor_coverage == pytest.approx(1 / 3)  # unknown in the denominator
    assert metrics.accounts_without_second_factor == ["bob"]
    assert metrics.privileged_second_factor_coverage == 0.0
    status = {x.check: x.status for x in findings}
    assert status["auth.ssh_second_factor"] == "fail"
    assert status["auth.privileged_second_factor"] == "unknown"
    assert status["auth.root_login"] == "pass"


def test_ssh_second_factor_statuses() -> None:
    check = SshSecondFactor()
    passed = check.run(facts(account("a", "enforced")), CTX)
    assert passed.status == "pass" and passed.evidence["coverage"] == 1.0
    failed = check.run(facts(account("a", "enforced"), account("b", "missing")), CTX)
    assert failed.status == "fail"
    assert "b: b is missing" in failed.remediation
    assert failed.evidence["missing"] == [
        {"account": "b", "ssh": "missing", "reason": "b is missing"}
    ]
    unknown = check.run(facts(account("a", "unknown")), CTX)
    assert unknown.status == "unknown"  # never rounded up
    na = check.run(facts(account("a", "no_ssh")), CTX)
    assert na.status == "not_applicable"
    not_collected = check.run(Facts(unknown={"accounts": "/etc/passwd: permission denied"}), CTX)
    assert not_collected.status == "unknown"
    assert "permission denied" in not_collected.evidence["reason"]


def test_privileged_only_judges_privileged() -> None:
    check = PrivilegedSecondFactor()
    f = facts(account("ops", "enforced", privileged=True), account("bob", "missing"))
    assert check.run(f, CTX).status == "pass"
    f = facts(account("ops", "missing", privileged=True))
    assert check.run(f, CTX).status == "fail"
    assert check.severity == "critical"


def test_skippable_second_factor() -> None:
    check = SkippableSecondFactor()
    module = ["pam_google_authenticator"]
    none = facts(account("a", "missing"))
    assert check.run(none, CTX).status == "not_applicable"
    ok = facts(account("a", "enforced", second_factor_modules=module))
    assert check.run(ok, CTX).status == "pass"
    skip = facts(
        account("a", "enforced", second_factor_modules=module),
        account(
            "b",
            "missing",
            second_factor_modules=module,
            second_factor_skippable=["pam_google_authenticator (nullok, not enrolled)"],
        ),
    )
    finding = check.run(skip, CTX)
    assert finding.status == "fail" and "b" in finding.remediation


@pytest.mark.parametrize(
    ("permit", "root_ssh", "expected"),
    [
        ("yes", "missing", "fail"),
        ("without-password", "missing", "warn"),
        ("no", "no_ssh", "pass"),
        ("yes", "enforced", "pass"),
        ("without-password", "unknown", "unknown"),
    ],
)
def test_root_login(permit: str, root_ssh: str, expected: str) -> None:
    root = account("root", root_ssh, uid=0, privileged=True)
    assert RootLogin().run(facts(root, permit=permit), CTX).status == expected


def test_root_login_not_applicable_without_sshd_or_on_windows() -> None:
    no_sshd = Facts(accounts=[account("root", "no_ssh", uid=0)], ssh=None)
    assert RootLogin().run(no_sshd, CTX).status == "not_applicable"
    windows = Facts(accounts=[account("it.admin", "missing")], windows_auth=WindowsAuthFact())
    assert RootLogin().run(windows, CTX).status == "not_applicable"
    assert SudoNopasswd().run(windows, CTX).status == "not_applicable"


def test_sudo_nopasswd() -> None:
    check = SudoNopasswd()
    assert check.run(facts(account("a", "enforced")), CTX).status == "pass"
    rule = "/etc/sudoers.d/90-cloud:1: ubuntu ALL=(ALL) NOPASSWD:ALL"
    flagged = check.run(facts(account("ubuntu", "enforced", sudo_nopasswd=[rule])), CTX)
    assert flagged.status == "fail" and rule in flagged.remediation
    unknown = facts(account("a", "enforced", sudo_nopasswd=None))
    unknown.unknown["sudoers"] = "/etc/sudoers: permission denied"
    finding = check.run(unknown, CTX)
    assert finding.status == "unknown" and "permission denied" in finding.remediation
    # A non-interactive account's rule cannot be used by anyone logging in.
    idle = facts(account("svc", "no_ssh", interactive=False, sudo_nopasswd=[rule]))
    assert check.run(idle, CTX).status == "pass"
