"""The host screen against a real auditor (and offline, against a report file): findings most
points first with their evidence and remediation, backups, accounts without a second factor,
direct-access sources, drills, the trend; errors shown without losing data; ``d`` asks for a drill.
The table-building functions are tested on their own at the end."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Sparkline, Static, TabbedContent

from rra.checks.facts import Facts
from rra.checks.report import Finding
from rra.tui.client import AuditorClient
from rra.tui.models import DrillResult, HostDetail, ScorePoint
from rra.tui.screens import host_tables as tables
from rra.tui.screens.host import HostScreen, RunDrillRequested
from rra.tui.source import ApiSource, DataSource, ReportSource
from tests.auditor.reports import account, backup, make_report, source
from tests.tui.harness import ScreenHarness, api_source, settle
from tests.tui.proxy import Relay
from tests.tui.seed import PLAYBOOK, SeededFleet

Scenario = Callable[[Pilot[None], HostScreen], Awaitable[None]]
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def harness(screen: HostScreen) -> ScreenHarness:
    return ScreenHarness(screen)


class DrillCatcher(ScreenHarness):
    """The harness, plus the handler the real app has for ``d``."""

    def __init__(self, screen: HostScreen) -> None:
        super().__init__(screen)
        self.requests: list[RunDrillRequested] = []

    def on_run_drill_requested(self, message: RunDrillRequested) -> None:
        self.requests.append(message)


def run(screen: HostScreen, scenario: Scenario, app: ScreenHarness | None = None) -> None:
    async def main() -> None:
        try:
            async with (app or harness(screen)).run_test(size=(120, 40)) as pilot:
                await settle(pilot)
                await scenario(pilot, screen)
        finally:
            await screen.source.close()

    asyncio.run(main())


def rows(table: DataTable[tables.Cell]) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(row)] for row in range(table.row_count)]


def column(table: DataTable[tables.Cell], name: str) -> list[str]:
    index = [str(c.label) for c in table.ordered_columns].index(name)
    return [row[index] for row in rows(table)]


def text_of(screen: HostScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).content)


def screen_text(pilot: Pilot[None]) -> str:
    """What the terminal shows now, as plain text."""
    return "\n".join(strip.text for strip in pilot.app.screen._compositor.render_strips())


async def show_tab(pilot: Pilot[None], screen: HostScreen, number: int, key: str) -> None:
    await pilot.press(str(number))
    await pilot.pause()
    assert screen.query_one(TabbedContent).active == f"tab-{key}"


# ── against the real auditor ──
def test_ais_db_01_shows_why_it_scores_low(seeded_fleet: SeededFleet) -> None:
    host_id = seeded_fleet.hosts["ais-db-01"].host_id

    async def scenario(pilot: Pilot[None], screen: HostScreen) -> None:
        header = text_of(screen, "#host-header")
        assert "ais-db-01" in header and "mic/ais" in header and "[ACTIVE]" in header
        assert "criticality high" in header
        assert text_of(screen, "#host-pillars").startswith("Score ")
        # Findings: most points lost first, the top one actually losing points.
        findings = screen.table("findings")
        points = [float(p) for p in column(findings, "Lost")]
        assert points and points == sorted(points, reverse=True) and points[0] > 0
        checks = column(findings, "Check")
        assert "recovery.backup_fresh" in checks and "auth.ssh_second_factor" in checks
        assert column(findings, "Status")[0] in ("[FAIL]", "[WARN]", "[UNKNOWN]")
        # Backups: 72 h old against a 24 h RPO.
        (backup_row,) = rows(screen.table("backups"))
        assert backup_row[:4] == ["finance", "[OK]", "3.0d (over RPO)", "24.0h"]
        # Accounts without a second factor, with the reason; privileged flagged; alice not listed.
        await show_tab(pilot, screen, 3, "accounts")
        assert rows(screen.table("accounts")) == [
            ["root", "yes", "[MISSING]", "test"],
            ["bob", "no", "[MISSING]", "test"],
        ]
        assert "2 of 3 interactive account(s)" in text_of(screen, "#accounts-note")
        visible = screen_text(pilot)
        assert "bob" in visible and "root" in visible and "alice" not in visible
        # Direct access.
        await show_tab(pilot, screen, 4, "sources")
        assert sorted(column(screen.table("sources"), "Address")) == [
            "198.51.100.7",
            "198.51.100.8",
        ]
        assert "198.51.100.8" in screen_text(pilot)
        # Drills: the seeded passing finance-restore drill.
        await show_tab(pilot, screen, 5, "drills")
        (drill,) = rows(screen.table("drills"))
        assert drill[1:3] == [PLAYBOOK, "[PASS]"]
        # The trend: both reports, and the numbers beside the sparkline.
        assert len(screen.query_one("#host-sparkline", Sparkline).data or []) == 2
        assert text_of(screen, "#host-trend-text").startswith("trend (2 reports): min ")
        assert not screen.query_one("#host-loading", Static).display
        assert screen.query_one("#host-banner", Static).has_class("hidden")

    run(HostScreen(api_source(seeded_fleet), host_id), scenario)


def test_highlighting_a_finding_shows_its_evidence_and_remediation(
    seeded_fleet: SeededFleet,
) -> None:
    host_id = seeded_fleet.hosts["ais-db-01"].host_id

    async def scenario(pilot: Pilot[None], screen: HostScreen) -> None:
        detail = screen.query_one("#finding-detail", Static)
        top = screen.findings[0]
        assert top.remediation and top.remediation in str(detail.content)
        index = [f.check for f in screen.findings].index("recovery.backup_fresh")
        assert index > 0
        for _ in range(index):
            await pilot.press("down")
        await pilot.press("enter")
        await pilot.pause()
        shown = str(detail.content)
        fresh = screen.findings[index]
        assert fresh.check == "recovery.backup_fresh"
        assert "Remediation" in shown and fresh.remediation in shown
        assert "over its RPO of 24 h" in shown
        assert "max_age_hours: 72.0" in shown  # the evidence, key: value
        assert top.remediation not in shown
        assert "over its RPO" in screen_text(pilot)

    run(HostScreen(api_source(seeded_fleet), host_id), scenario)


def test_reload_failure_keeps_the_data_and_says_so(seeded_fleet: SeededFleet) -> None:
    host_id = seeded_fleet.hosts["hcm-app-01"].host_id
    relay = Relay(urlsplit(seeded_fleet.server.base_url).port or 0)
    relay.start()
    source = api_source(seeded_fleet, base_url=f"https://127.0.0.1:{relay.port}")

    async def scenario(pilot: Pilot[None], screen: HostScreen) -> None:
        assert "hcm-app-01" in text_of(screen, "#host-header")
        before = rows(screen.table("findings"))
        assert before
        relay.stop()
        await pilot.press("r")
        await settle(pilot)
        banner = screen.query_one("#host-banner", Static)
        assert not banner.has_class("hidden")
        assert str(banner.content).startswith("[AUDITOR UNREACHABLE] cannot reach the auditor")
        assert "showing data from" in str(banner.content)
        assert rows(screen.table("findings")) == before
        assert "hcm-app-01" in text_of(screen, "#host-header")
        assert pilot.app.screen is screen

    try:
        run(HostScreen(source, host_id), scenario)
    finally:
        relay.stop()


def test_unreachable_auditor_shows_the_error_and_stays_up() -> None:
    client = AuditorClient("https://127.0.0.1:9", "no-token", timeout=5.0)

    async def scenario(pilot: Pilot[None], screen: HostScreen) -> None:
        banner = screen.query_one("#host-banner", Static)
        assert not banner.has_class("hidden")
        assert str(banner.content).startswith("[AUDITOR UNREACHABLE] cannot reach the auditor")
        assert "not loaded" in text_of(screen, "#host-header")
        assert screen.table("findings").row_count == 0
        assert "[AUDITOR UNREACHABLE]" in screen_text(pilot)
        assert [n.severity for n in pilot.app._notifications] == ["error"]
        await pilot.press("r")  # trying again fails the same way, and the screen stays
        await settle(pilot)
        assert pilot.app.screen is screen and not banner.has_class("hidden")

    run(HostScreen(ApiSource(client), "0b7c3c1e-0000-4000-8000-000000000001"), scenario)


def test_inspector_out_of_scope_gets_the_404_not_data(seeded_fleet: SeededFleet) -> None:
    host_id = seeded_fleet.hosts["hn-fin-01"].host_id  # prov/hanoi: outside the "mic" scope

    async def scenario(pilot: Pilot[None], screen: HostScreen) -> None:
        banner = str(screen.query_one("#host-banner", Static).content)
        assert banner.startswith("[ERROR] 404")
        assert screen.detail is None and screen.report is None
        assert "hn-fin-01" not in screen_text(pilot)
        assert "not loaded" in text_of(screen, "#host-header")
        for key in tables_keys():
            assert screen.table(key).row_count == 0
        assert screen.query_one("#host-sparkline", Sparkline).data == []

    run(HostScreen(api_source(seeded_fleet, "inspector"), host_id), scenario)


def test_d_asks_the_app_to_run_a_drill_and_escape_goes_back(seeded_fleet: SeededFleet) -> None:
    host_id = seeded_fleet.hosts["ais-web-01"].host_id
    screen = HostScreen(api_source(seeded_fleet), host_id)
    app = DrillCatcher(screen)

    async def scenario(pilot: Pilot[None], screen: HostScreen) -> None:
        await pilot.press("d")
        await pilot.pause()
        assert [(m.host_id, m.hostname) for m in app.requests] == [(host_id, "ais-web-01")]
        assert pilot.app.screen is screen
        await pilot.press("escape")  # back to whatever was under it
        await pilot.pause()
        assert pilot.app.screen is not screen

    run(screen, scenario, app)


# ── offline: one report file ──
def test_offline_report_file_shows_the_same_sections(tmp_path: Path) -> None:
    report = make_report(
        hostname="lone-01",
        backups=[backup(age_hours=30.0, offsite=True, append_only=False)],
        accounts=[account("alice"), account("bob", "missing"), account("svc", "unknown")],
        sources=["198.51.100.7"],
    )
    path = tmp_path / "report.json"
    path.write_text(report.to_json())
    source = ReportSource.from_file(path)

    async def scenario(pilot: Pilot[None], screen: HostScreen) -> None:
        assert "lone-01" in text_of(screen, "#host-header")
        points = [float(p) for p in column(screen.table("findings"), "Lost")]
        assert len(points) == len(report.findings) and points == sorted(points, reverse=True)
        (backup_row,) = rows(screen.table("backups"))
        assert backup_row[2] == "30.0h (over RPO)" and backup_row[6:8] == ["yes", "no"]
        await show_tab(pilot, screen, 3, "accounts")
        assert column(screen.table("accounts"), "Account") == ["bob", "svc"]
        assert column(screen.table("accounts"), "Second factor") == ["[MISSING]", "[UNKNOWN]"]
        await show_tab(pilot, screen, 4, "sources")
        assert column(screen.table("sources"), "Address") == ["198.51.100.7"]
        await show_tab(pilot, screen, 5, "drills")
        assert screen.table("drills").row_count == 0
        assert "No drill has run on this host yet" in screen_text(pilot)
        assert len(screen.query_one("#host-sparkline", Sparkline).data or []) == 1
        assert text_of(screen, "#host-trend-text") == (
            f"trend (1 report): min {report.score.total:.0f} · max {report.score.total:.0f}"
            f" · last {report.score.total:.0f}"
        )
        await show_tab(pilot, screen, 1, "findings")
        assert "Remediation" in screen_text(pilot)

    run(HostScreen(source, source.host_id), scenario)


class NeverReported(DataSource):
    """A host the auditor knows but that has not reported: no report, no history, no findings."""

    label = "test"

    def __init__(self) -> None:
        self.detail = HostDetail(id="h-1", hostname="new-01", org="mic/ais", status="late")

    async def host(self, host_id: str) -> HostDetail:
        return self.detail

    async def host_report(self, host_id: str) -> None:
        return None

    async def host_history(self, host_id: str) -> list[ScorePoint]:
        return []

    async def host_drills(self, host_id: str) -> list[DrillResult]:
        return []

    def host_pages(self):
        raise NotImplementedError

    async def orgs(self):
        raise NotImplementedError

    async def trend(self, org):
        raise NotImplementedError

    async def drills(self):
        raise NotImplementedError

    async def runs(self):
        raise NotImplementedError

    async def playbooks(self):
        raise NotImplementedError

    async def trigger_run(self, playbook, host):
        raise NotImplementedError


def test_a_host_that_never_reported_says_so() -> None:
    async def scenario(pilot: Pilot[None], screen: HostScreen) -> None:
        assert "new-01" in text_of(screen, "#host-header")
        assert "[LATE]" in text_of(screen, "#host-header")
        assert text_of(screen, "#findings-note").startswith("This host has not sent a report yet")
        assert text_of(screen, "#host-trend-text") == "trend: no reports yet"
        await show_tab(pilot, screen, 2, "backups")
        assert "has not sent a report yet" in screen_text(pilot)
        assert screen.query_one("#host-banner", Static).has_class("hidden")

    run(HostScreen(NeverReported(), "h-1"), scenario)


class SlowHost(NeverReported):
    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def host(self, host_id: str) -> HostDetail:
        await self.release.wait()
        return self.detail


def test_loading_text_until_the_data_arrives() -> None:
    source = SlowHost()

    async def main() -> None:
        screen = HostScreen(source, "h-1")
        async with harness(screen).run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            loading = screen.query_one("#host-loading", Static)
            assert loading.display and "loading host h-1…" in screen_text(pilot)
            source.release.set()
            await settle(pilot)
            assert not loading.display and "new-01" in text_of(screen, "#host-header")

    asyncio.run(main())


# ── the pure table-building functions ──
def tables_keys() -> list[str]:
    return ["findings", "backups", "accounts", "sources", "drills"]


def finding(check: str, points: float, status: str = "fail", severity: str = "high") -> Finding:
    return Finding.model_validate(
        {
            "check": check,
            "pillar": "recovery",
            "status": status,
            "severity": severity,
            "title": f"title of {check}",
            "evidence": {"count": 2, "items": [{"a": 1}], "map": {"k": None}, "empty": []},
            "remediation": f"fix {check}",
            "points_lost": points,
        }
    )


def test_sorted_findings_most_points_first_then_not_passing_then_severity() -> None:
    ordered = tables.sorted_findings(
        [
            finding("a.pass", 0.0, "pass", "critical"),
            finding("b.small", 2.0),
            finding("c.unknown", 0.0, "unknown", "low"),
            finding("d.big", 9.5, "warn"),
            finding("e.na", 0.0, "not_applicable", "critical"),
            finding("f.small-critical", 2.0, severity="critical"),
        ]
    )
    assert [f.check for f in ordered] == [
        "d.big",
        "f.small-critical",
        "b.small",
        "e.na",
        "c.unknown",
        "a.pass",
    ]
    row = tables.finding_row(ordered[0])
    assert [str(cell) for cell in row] == [
        "9.5",
        "[HIGH]",
        "[WARN]",
        "recovery",
        "d.big",
        "title of d.big",
    ]
    assert str(tables.finding_status_badge("not_applicable")) == "[N/A]"


def test_finding_detail_has_remediation_and_evidence_lines() -> None:
    detail = tables.finding_detail(finding("x.check", 3.0))
    assert isinstance(detail, Text)
    lines = detail.plain.splitlines()
    assert lines[0] == "[FAIL] [HIGH] title of x.check"
    assert lines[1] == "x.check · recovery · 3.0 points lost"
    assert lines[lines.index("Remediation") + 1] == "fix x.check"
    evidence = lines[lines.index("Evidence") + 1 :]
    assert evidence == ["count: 2", "items:", '  - {"a": 1}', "map:", "  k: —", "empty: []"]
    passing = tables.finding_detail(
        finding("y", 0.0, "pass").model_copy(update={"remediation": ""})
    )
    assert "nothing to do" in passing.plain


def test_backup_rows() -> None:
    fresh, old, broken = tables.backup_rows(
        [
            backup("web", 2.0),
            backup(
                "db", 72.0, offsite=False, append_only=True, last_check_ok=False,
                last_check_message="pack 1a2b damaged", paths_missing=["/srv/db"],
            ),
            backup("mail", status="error", error="repository not found").model_copy(
                update={"age_hours": None}
            ),
        ]
    )  # fmt: skip
    assert [str(c) for c in fresh] == [
        "web", "[OK]", "2.0h", "24.0h", "10", "ok", "—", "—", "—",
    ]  # fmt: skip
    assert [str(c) for c in old] == [
        "db", "[OK]", "3.0d (over RPO)", "24.0h", "10", "FAILED", "no", "yes",
        "pack 1a2b damaged; not covered: /srv/db",
    ]  # fmt: skip
    assert str(broken[1]) == "[ERROR]" and str(broken[2]) == "—"
    assert str(broken[8]) == "repository not found"


def test_account_rows_only_uncovered_interactive_accounts() -> None:
    daemon = account("daemon", "missing").model_copy(update={"interactive": False})
    accounts = [
        account("alice"),
        account("zed", "unknown"),
        account("bob", "missing"),
        account("root", "missing", privileged=True),
        account("web", "no_ssh"),
        daemon,
    ]
    assert [[str(c) for c in row] for row in tables.account_rows(accounts)] == [
        ["root", "yes", "[MISSING]", "test"],
        ["bob", "no", "[MISSING]", "test"],
        ["zed", "no", "[UNKNOWN]", "test"],
    ]
    facts = Facts(accounts=accounts)
    assert tables.accounts_note(facts) == (
        "3 of 5 interactive account(s) can log in remotely without a second factor (1 privileged)."
    )
    assert tables.accounts_note(Facts(accounts=[account("alice")])).startswith("Every one of 1")
    unread = Facts(accounts=None, unknown={"accounts": "not root"})
    assert tables.accounts_note(unread) == "Accounts were not collected on this run: not root"


def test_source_rows_most_logins_first() -> None:
    busy = source("198.51.100.8").model_copy(
        update={"logins": 7, "users": ["bob", "root"], "last_seen": NOW - timedelta(hours=3)}
    )
    assert [[str(c) for c in row] for row in tables.source_rows([source("198.51.100.7"), busy], NOW)] == [
        ["198.51.100.8", "ssh", "wtmp", "7", "3h ago", "bob, root"],
        ["198.51.100.7", "ssh", "wtmp", "1", "—", "—"],
    ]  # fmt: skip
    assert tables.sources_note(Facts(access_sources=[])).startswith("No machine logged in")
    assert "not collected" in tables.sources_note(Facts(access_sources=None))


def test_drill_rows_newest_first_with_rto_against_target() -> None:
    def drill(hours: float, verdict: str, rto: float | None) -> DrillResult:
        return DrillResult.model_validate(
            {
                "drill_id": f"d{hours}", "hostname": "h", "org": "mic", "playbook": "p",
                "verdict": verdict, "started_at": NOW - timedelta(hours=hours),
                "ended_at": NOW, "rto_seconds": rto, "rto_target_seconds": 600.0,
                "rpo_seconds": 7200.0,
            }
        )  # fmt: skip

    old, new = drill(48, "fail", 900.0), drill(3, "pass", 95.0)
    rendered = tables.drill_rows([old, new])
    assert [[str(c) for c in row] for row in rendered] == [
        ["2026-11-24 06:30Z", "p", "[PASS]", "95s / 10.0m", "2.0h"],
        ["2026-11-22 09:30Z", "p", "[FAIL]", "15.0m / 10.0m", "2.0h"],
    ]
    late = rendered[1][3]
    assert isinstance(late, Text) and "red" in str(late.style)


def test_trend_and_header_text() -> None:
    points = [
        ScorePoint(collected_at=NOW, score=40.0),
        ScorePoint(collected_at=NOW - timedelta(days=2), score=75.4),
        ScorePoint(collected_at=NOW - timedelta(days=1), score=61.0),
    ]
    assert tables.trend_scores(points) == [75.4, 61.0, 40.0]
    assert tables.trend_summary(points) == "trend (3 reports): min 40 · max 75 · last 40"
    assert tables.trend_summary([]) == "trend: no reports yet"
    host = HostDetail(
        id="h",
        hostname="ais-db-01",
        org="mic/ais",
        status="stale",
        criticality="high",
        collection="agentless",
        score=21.7,
        last_seen_at=NOW - timedelta(hours=5),
        dropped_reports=2,
    )
    assert tables.header_text(host, NOW).plain == (
        "ais-db-01  mic/ais  [STALE]  criticality high  agentless  linux  last seen 5h ago"
        "  2 report(s) dropped"
    )
    assert tables.pillar_text(host, None).plain == (
        "Score 22   recovery —   authentication —   exposure —"
    )
