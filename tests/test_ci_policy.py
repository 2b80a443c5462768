"""The CI policy itself: with CI=true a skipped test fails the run; without it, a skip is a skip."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = (Path(__file__).parent / "conftest.py").read_text()
SKIPPING_TEST = """
import pytest

def test_needs_a_component():
    pytest.skip("component missing")

def test_fine():
    assert 1 + 1 == 2
"""


@pytest.mark.parametrize(("ci", "expected_rc"), [("true", 1), ("", 0)])
def test_skips_fail_only_in_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str, expected_rc: int
) -> None:
    monkeypatch.setenv("CI", ci)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_component=SKIPPING_TEST)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    assert result.ret == expected_rc
    result.assert_outcomes(passed=1, skipped=1)
    if ci:
        result.stdout.fnmatch_lines(["*CI: 1 test(s) skipped*", "*test_needs_a_component*"])


def test_require_fails_in_ci(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_require="""
from conftest import require

def test_uses_restic():
    require("restic", False, "apt-get install -y restic")
"""
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    assert result.ret == 1
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*restic is required for this test (apt-get install -y restic)*"])
