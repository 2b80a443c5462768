"""End to end: the real agent (enroll, run --once, spool) against the real auditor over TLS.

The auditor is stopped and started again on the same port, so the agent sees a real outage:
connection refused, reports spooled on disk, then drained in order once the auditor is back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from rra.agent.collectors.system import collect_host_info
from rra.agent.config import AgentConfig, load_config
from rra.agent.demo_fleet import free_loopback_port
from rra.agent.enroll import enroll
from rra.agent.local import LocalHost
from rra.agent.run import run_once
from rra.agent.sender import RetryPolicy
from rra.agent.state import StateStore
from rra.auditor.models import HostRow, ReportRow
from tests.agent.stub_auditor import write_agent_config
from tests.auditor.conftest import AuditorServer, start_server, stop_server

HOST = LocalHost("/")
NO_WAIT = RetryPolicy(attempts=2, max_wait=0.01)


class Outage:
    """One auditor (SQLite) that a test can stop and start again at the same address."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.url = f"sqlite:///{data_dir / 'auditor.db'}"
        self.port = free_loopback_port()
        self.server: AuditorServer | None = None

    def up(self) -> AuditorServer:
        self.server = start_server(self.data_dir, self.url, "sqlite", port=self.port)
        return self.server

    def down(self) -> None:
        if self.server is not None:
            stop_server(self.server)
            self.server = None


@pytest.fixture
def outage(tmp_path: Path) -> Iterator[Outage]:
    auditor = Outage(tmp_path / "auditor")
    yield auditor
    auditor.down()


def _enrolled_agent(
    outage: Outage, tmp_path: Path, delivery: str = ""
) -> tuple[AgentConfig, StateStore, str]:
    server = outage.up()
    state = StateStore(tmp_path / "state")
    config = load_config(write_agent_config(tmp_path, state.directory, delivery))
    enrollment, _answer = enroll(
        state.directory,
        server.base_url,
        server.enroll_token("e2e/spool"),
        server.ca_path,
        collect_host_info(HOST, config),
    )
    return config, state, enrollment.host_id


def _stored(outage: Outage, host_id: str) -> list[ReportRow]:
    assert outage.server is not None
    with Session(outage.server.engine) as session:
        return list(
            session.exec(
                select(ReportRow)
                .where(ReportRow.host_id == host_id)
                .order_by(col(ReportRow.received_at), col(ReportRow.seq))
            ).all()
        )


def test_outage_spools_then_delivers_each_report_once_in_order(
    outage: Outage, tmp_path: Path
) -> None:
    config, state, host_id = _enrolled_agent(outage, tmp_path)
    outage.down()
    spooled_ids = []
    for expected_waiting in (1, 2, 3):
        summary = run_once(config, HOST, state=state, retry=NO_WAIT)
        assert summary.error is not None and summary.spooled == expected_waiting
        spooled_ids.append(summary.report_id)
    assert len(list((state.directory / "spool").glob("*.json"))) == 3

    outage.up()
    summary = run_once(config, HOST, state=state, retry=NO_WAIT)
    assert summary.delivered and summary.sent == 4 and summary.spooled == 0
    stored = _stored(outage, host_id)
    assert [row.report_id for row in stored] == [*spooled_ids, summary.report_id]
    assert [row.seq for row in stored] == sorted(row.seq for row in stored)
    assert list((state.directory / "spool").glob("*.json")) == []

    # A further run sends only its own report: nothing is delivered twice.
    again = run_once(config, HOST, state=state, retry=NO_WAIT)
    assert again.sent == 1
    assert len(_stored(outage, host_id)) == 5


def test_spool_cap_drops_are_counted_and_reach_the_auditor(outage: Outage, tmp_path: Path) -> None:
    config, state, host_id = _enrolled_agent(outage, tmp_path, "spool_max_reports = 2")
    outage.down()
    seqs = [run_once(config, HOST, state=state, retry=NO_WAIT).seq for _ in range(4)]
    # Cap 2: the two oldest were dropped, and counted, while the auditor was away. The next run
    # spools its report before sending (so a crash cannot lose it), which drops one more.
    outage.up()
    summary = run_once(config, HOST, state=state, retry=NO_WAIT)
    assert summary.delivered and summary.dropped_total == 3
    stored = _stored(outage, host_id)
    assert [row.seq for row in stored] == [seqs[3], summary.seq]
    newest = stored[-1]
    assert outage.server is not None
    with Session(outage.server.engine) as session:
        host = session.get(HostRow, host_id)
        assert host is not None and host.dropped_reports == 2
    # The report made after the drops names them; the third drop travels in the next one.
    delivery = json.loads(newest.payload)["delivery"]
    assert delivery["dropped_total"] == 2 and delivery["dropped_seqs"] == seqs[:2]
    assert datetime.now(UTC) > datetime.fromisoformat(json.loads(newest.payload)["collected_at"])
