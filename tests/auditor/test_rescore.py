"""Rescoring stored facts after a policy change, on the live server's database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlmodel import Session

from rra.auditor.rescore import rescore_all
from rra.auditor.settings import AuditorSettings
from rra.checks.policy import Policy
from rra.checks.scoring import CAP_BACKUP_STALE
from tests.auditor.conftest import AuditorServer, enroll, unique_org
from tests.auditor.reports import backup, make_report
from tests.auditor.wire import post_report, state


def _rescore(server: AuditorServer, settings: AuditorSettings) -> int:
    with Session(server.engine) as session:
        count = rescore_all(session, settings)
        session.commit()
    return count


def test_rescore_after_a_policy_change_changes_stored_scores(
    auditor_server: AuditorServer, tmp_path: Path
) -> None:
    org = unique_org()
    hosts = [enroll(auditor_server, org) for _ in range(3)]
    # A backup 30 hours old misses its 24 h RPO; the default caps recovery only after 7 days,
    # the strict policy after one.
    for host in hosts:
        report = make_report(org=org, backups=[backup(age_hours=30.0)])
        assert post_report(auditor_server, host, report).status_code == 201
    default = AuditorSettings(data_dir=tmp_path)
    before = {h.host_id: state(auditor_server, h.host_id) for h in hosts}
    strict = AuditorSettings(
        data_dir=tmp_path, policy=Policy(stale_backup_cap_age=timedelta(days=1))
    )
    assert strict.policy_id != default.policy_id

    try:
        assert _rescore(auditor_server, strict) >= len(hosts)
        for host in hosts:
            old, new = before[host.host_id], state(auditor_server, host.host_id)
            assert old is not None and new is not None
            assert new.score_total < old.score_total
            assert CAP_BACKUP_STALE in new.score["caps_applied"]
            assert CAP_BACKUP_STALE not in old.score["caps_applied"]
            assert new.policy_id == strict.policy_id
            assert new.report_id == old.report_id  # same facts, re-evaluated
    finally:
        # Other tests share this server: put every state back under the server's own policy.
        _rescore(auditor_server, default)

    for host in hosts:
        old, restored = before[host.host_id], state(auditor_server, host.host_id)
        assert old is not None and restored is not None
        assert restored.score_total == old.score_total
        assert restored.findings == old.findings
        assert restored.policy_id == default.policy_id
