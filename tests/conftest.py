"""Session-wide test policy: in CI (CI=true) a test that needs a real component fails, never skips."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported lazily: test_ci_policy copies this file where `tests` is absent
    from tests.sshd_lab import SshdLab

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
_skipped: list[str] = []


def require(component: str, available: bool, hint: str) -> None:
    """Skip locally, fail in CI, when a real component a test needs is missing."""
    if available:
        return
    message = f"{component} is required for this test ({hint})"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Belt and braces: any skip in CI (a forgotten pytest.skip, an importorskip) fails the run.
    if IN_CI and _skipped and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if IN_CI and _skipped:
        terminalreporter.write_line(
            f"CI: {len(_skipped)} test(s) skipped; in CI every component must be present:",
            red=True,
        )
        for nodeid in _skipped:
            terminalreporter.write_line(f"  {nodeid}", red=True)


@pytest.fixture(scope="session")
def sshd_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdLab]:
    """Three real sshd instances on loopback (own host keys and configs), one per test session."""
    from tests.sshd_lab import SshdLab, sshd_available

    require("root + sshd", sshd_available(), "run as root with openssh-server installed")
    lab = SshdLab.create(tmp_path_factory.mktemp("sshd-lab"))
    try:
        lab.start(3)
        yield lab
    finally:
        lab.close()
