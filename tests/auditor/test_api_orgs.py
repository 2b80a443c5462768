"""``/api/v1/orgs`` rollups (DESIGN §3, §4) end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.auditor.conftest import AuditorServer, unique_org
from tests.auditor.fleet import enroll_host, make_stale, send
from tests.auditor.reports import account, backup, make_report


def test_org_score_is_criticality_weighted_and_a_stale_host_counts_zero(
    auditor_server: AuditorServer,
) -> None:
    org = unique_org()
    high = enroll_host(auditor_server, f"{org}/a", criticality="high")
    low = enroll_host(auditor_server, f"{org}/b", criticality="low")
    stale = enroll_host(auditor_server, f"{org}/b", criticality="medium")
    high_score = send(auditor_server, high, make_report())["score"]
    low_score = send(auditor_server, low, make_report(backups=[backup(age_hours=200)]))["score"]
    stale_score = send(auditor_server, stale, make_report())["score"]
    assert stale_score > 0
    make_stale(auditor_server, stale.host_id)
    client = auditor_server.client(auditor_server.token("inspector", org))

    summary = client.get(f"/api/v1/orgs/{org}").json()
    assert summary["org_score"] == pytest.approx((3 * high_score + 1 * low_score + 2 * 0) / 6)
    assert summary["stale_hosts"] == 1
    assert summary["hosts_by_status"] == {"active": 2, "late": 0, "stale": 1, "retired": 0}
    province = client.get(f"/api/v1/orgs/{org}/b").json()
    assert province["org_score"] == pytest.approx(1 * low_score / 3)


def test_second_factor_coverage_is_over_accounts_not_a_mean_of_host_ratios(
    auditor_server: AuditorServer,
) -> None:
    org = unique_org()
    big = enroll_host(auditor_server, org)
    small = enroll_host(auditor_server, org)
    big_accounts = [account(f"u{i}") for i in range(3)] + [account("ops", "missing")]
    big_accounts += [account("root", "enforced", privileged=True), account("svc", "no_ssh")]
    small_accounts = [account("admin", "missing", privileged=True)]
    send(auditor_server, big, make_report(accounts=big_accounts))
    send(auditor_server, small, make_report(accounts=small_accounts))
    client = auditor_server.client(auditor_server.token("inspector", org))

    summary = client.get(f"/api/v1/orgs/{org}").json()
    # big: 4 of 5 eligible (svc is refused by sshd), small: 0 of 1.
    assert summary["second_factor_coverage"] == pytest.approx(4 / 6)
    mean_of_ratios = (4 / 5 + 0 / 1) / 2
    assert summary["second_factor_coverage"] != pytest.approx(mean_of_ratios)
    assert (summary["second_factor_enforced"], summary["second_factor_accounts"]) == (4, 6)
    assert summary["privileged_second_factor_coverage"] == pytest.approx(1 / 2)
    assert summary["accounts_without_second_factor"] == 2


def test_direct_access_machines_are_distinct_across_hosts(auditor_server: AuditorServer) -> None:
    org = unique_org()
    first = enroll_host(auditor_server, org)
    second = enroll_host(auditor_server, org)
    closed = enroll_host(auditor_server, org)
    send(auditor_server, first, make_report(sources=["10.9.0.1", "10.9.0.2"]))
    send(auditor_server, second, make_report(sources=["10.9.0.2", "10.9.0.3"]))
    send(auditor_server, closed, make_report(sources=[], services=[], backups=[]))
    client = auditor_server.client(auditor_server.token("inspector", org))

    summary = client.get(f"/api/v1/orgs/{org}").json()
    assert summary["direct_access_machine_count"] == 3  # 10.9.0.2 is one machine, seen twice
    assert summary["direct_access_sources"] == {
        "total": 3,
        "addresses": ["10.9.0.1", "10.9.0.2", "10.9.0.3"],
        "truncated": False,
    }
    assert summary["hosts_with_direct_access"] == 2
    # closed has no backup configured: no verdict, so it is outside the compliance ratio.
    assert (summary["hosts_with_fresh_backups"], summary["hosts_with_backup_verdict"]) == (2, 2)
    assert summary["backup_compliance"] == pytest.approx(1.0)


def test_backup_compliance_and_clones(auditor_server: AuditorServer) -> None:
    org = unique_org()
    fresh = enroll_host(auditor_server, org)
    old = enroll_host(auditor_server, org)
    enroll_host(auditor_server, org, machine_id=fresh.machine_id)  # a clone; never reports
    send(auditor_server, fresh, make_report())
    send(auditor_server, old, make_report(backups=[backup(age_hours=30)]))
    client = auditor_server.client(auditor_server.token("inspector", org))

    summary = client.get(f"/api/v1/orgs/{org}").json()
    assert summary["backup_compliance"] == pytest.approx(1 / 2)
    assert summary["clones"] == 1
    assert summary["hosts_without_report"] == 1  # the clone never reported
    assert summary["stale_hosts"] == 1  # ...so it counts 0


def test_listing_gives_every_org_prefix_in_scope_with_depth(auditor_server: AuditorServer) -> None:
    org = unique_org()
    for unit in ("ais", "hr/x"):
        send(auditor_server, enroll_host(auditor_server, f"{org}/{unit}"), make_report())
    client = auditor_server.client(auditor_server.token("inspector", org))

    orgs = [s["org"] for s in client.get("/api/v1/orgs").json()]
    assert orgs == [org, f"{org}/ais", f"{org}/hr", f"{org}/hr/x"]
    shallow = [s["org"] for s in client.get("/api/v1/orgs", params={"depth": 2}).json()]
    assert shallow == [org, f"{org}/ais", f"{org}/hr"]
    narrow = auditor_server.client(auditor_server.token("admin", f"{org}/hr"))
    assert [s["org"] for s in narrow.get("/api/v1/orgs").json()] == [f"{org}/hr", f"{org}/hr/x"]


def test_unknown_org_is_404(auditor_server: AuditorServer) -> None:
    client = auditor_server.client(auditor_server.admin_token)
    assert client.get(f"/api/v1/orgs/{unique_org()}").status_code == 404
    assert client.get("/api/v1/orgs/Not%20An%20Org").status_code == 404
