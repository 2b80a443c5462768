"""Properties of rra-score/1 that must hold for any set of findings."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rra.checks.report import PILLARS, Finding, Status
from rra.checks.scoring import assign_points_lost, score_findings

STATUSES: list[Status] = ["pass", "warn", "fail", "unknown", "not_applicable"]
CHECK_IDS = [
    "recovery.backup_fresh",
    "recovery.restore_drill",
    "recovery.backup_configured",
    "recovery.mass_change",
    "auth.ssh_second_factor",
    "exposure.admin_services",
    "site.custom",
]

fresh_evidence: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {
        "max_age_hours": st.none() | st.floats(0, 2000, allow_nan=False),
        "backups_in_error": st.lists(st.sampled_from(["a", "b"]), max_size=2),
        "backups_uncovered": st.lists(st.sampled_from(["a", "b"]), max_size=2),
    }
)


@st.composite
def findings_st(draw: st.DrawFn, status: st.SearchStrategy[Status] | None = None) -> Finding:
    check = draw(st.sampled_from(CHECK_IDS))
    return Finding(
        check=check,
        pillar=draw(st.sampled_from(PILLARS)),
        status=draw(status if status is not None else st.sampled_from(STATUSES)),
        severity=draw(st.sampled_from(["critical", "high", "medium", "low"])),
        title=check,
        evidence=draw(fresh_evidence) if check == "recovery.backup_fresh" else {},
    )


finding_lists = st.lists(findings_st(), max_size=12)


@given(finding_lists)
def test_total_and_pillars_within_0_and_100(findings: list[Finding]) -> None:
    score = score_findings(findings)
    assert 0 <= score.total <= 100
    for value in score.pillars.model_dump().values():
        assert value is None or 0 <= value <= 100


@given(finding_lists, st.data())
def test_passing_a_finding_never_lowers_the_total(
    findings: list[Finding], data: st.DataObject
) -> None:
    open_ = [i for i, x in enumerate(findings) if x.status in ("warn", "fail", "unknown")]
    if not open_:
        return
    index = data.draw(st.sampled_from(open_))
    passed = list(findings)
    passed[index] = findings[index].model_copy(update={"status": "pass"})
    assert score_findings(passed).total >= score_findings(findings).total


@given(finding_lists, st.data())
def test_warn_to_pass_and_fail_to_warn_never_lower_the_total(
    findings: list[Finding], data: st.DataObject
) -> None:
    steps: dict[Status, Status] = {"fail": "warn", "unknown": "warn", "warn": "pass"}
    open_ = [i for i, x in enumerate(findings) if x.status in steps]
    if not open_:
        return
    index = data.draw(st.sampled_from(open_))
    better = list(findings)
    better[index] = findings[index].model_copy(update={"status": steps[findings[index].status]})
    assert score_findings(better).total >= score_findings(findings).total


@given(
    finding_lists,
    st.lists(findings_st(status=st.just("not_applicable")), min_size=1, max_size=5),
    st.data(),
)
def test_not_applicable_findings_change_nothing(
    findings: list[Finding], extra: list[Finding], data: st.DataObject
) -> None:
    mixed = list(findings)
    for item in extra:
        mixed.insert(data.draw(st.integers(0, len(mixed))), item)
    assert score_findings(mixed) == score_findings(findings)
    without = [x for x in mixed if x.status != "not_applicable"]
    assert score_findings(without) == score_findings(mixed)

    # and every applicable finding loses the same points as before
    def lost(items: list[Finding]) -> list[float]:
        return [x.points_lost for x in assign_points_lost(items) if x.status != "not_applicable"]

    assert lost(mixed) == lost(findings)


@settings(max_examples=200)
@given(finding_lists)
def test_points_lost_non_negative_and_zero_for_pass(findings: list[Finding]) -> None:
    total = score_findings(findings).total
    for finding in assign_points_lost(findings):
        assert finding.points_lost >= 0
        assert finding.points_lost <= 100 - total + 0.01
        if finding.status in ("pass", "not_applicable"):
            assert finding.points_lost == 0
