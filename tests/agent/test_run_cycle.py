"""``rra agent run``: collect → sign → spool → drain, against a real HTTP server that verifies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rra.agent import rootcli
from rra.agent.config import AgentConfig, load_config
from rra.agent.enroll import EnrollError
from rra.agent.identity import verify_signature
from rra.agent.local import LocalHost
from rra.agent.run import RunSummary, next_delay, run_loop, run_once
from rra.checks.canonical import canonical_json
from rra.checks.protocol import HOST_HEADER, SIGNATURE_HEADER
from rra.checks.report import Report
from tests.agent.stub_auditor import StubAuditor, serve, write_agent_config, write_enrollment

BATCH = "/api/v1/reports/batch"
HOST = LocalHost("/")


@pytest.fixture
def auditor() -> Iterator[StubAuditor]:
    with serve(StubAuditor()) as stub:
        yield stub


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def enrolled(auditor: StubAuditor, state: Path, tmp_path: Path, delivery: str = "") -> Path:
    state.mkdir(exist_ok=True)
    auditor.public_key = write_enrollment(state, auditor.url)
    return write_agent_config(tmp_path, state, delivery)


def last_batch(auditor: StubAuditor) -> list[Report]:
    request = auditor.requests[-1]
    return [Report.model_validate_json(item["payload"]) for item in request.json()["reports"]]


def test_not_enrolled(tmp_path: Path, state: Path) -> None:
    config = write_agent_config(tmp_path, state)
    with pytest.raises(EnrollError, match="not enrolled: run rra agent enroll"):
        run_once(load_config(config), HOST)
    result = CliRunner().invoke(rootcli.root, ["agent", "run", "--once", "--config", str(config)])
    assert result.exit_code == 10
    assert "not enrolled: run rra agent enroll" in result.stderr


def test_one_cycle_delivers_a_signed_canonical_report(
    auditor: StubAuditor, state: Path, tmp_path: Path
) -> None:
    summary = run_once(load_config(enrolled(auditor, state, tmp_path)), HOST)
    assert summary.delivered, summary
    assert (summary.sent, summary.spooled, summary.dropped_total) == (1, 0, 0)
    # First the (signed) drill claim, answered 404 by this stub: an auditor without drills.
    claim, request = auditor.requests
    assert claim.path == "/api/v1/drills/claim"
    assert auditor.public_key is not None
    assert verify_signature(auditor.public_key, claim.body, claim.headers[SIGNATURE_HEADER])
    assert request.headers[HOST_HEADER] == "host-1"
    (item,) = request.json()["reports"]
    payload = item["payload"].encode("utf-8")
    assert auditor.public_key is not None
    assert verify_signature(auditor.public_key, payload, item["signature"])
    assert canonical_json(json.loads(payload)) == payload
    (report,) = last_batch(auditor)
    assert report.report_id == summary.report_id
    # org and criticality are the auditor's (from the enrollment), not the config's defaults
    assert (report.host.org, report.host.criticality) == ("mic/ais", "high")
    assert report.delivery.model_dump() == {"dropped_total": 0, "dropped_seqs": [], "spooled": 0}


def test_drops_travel_in_the_next_report(auditor: StubAuditor, state: Path, tmp_path: Path) -> None:
    config = load_config(enrolled(auditor, state, tmp_path, "spool_max_reports = 2"))
    auditor.script(BATCH, *[(503, {"detail": "maintenance"})] * 9)  # 3 runs x 3 attempts
    for _ in range(3):
        down = run_once(config, HOST)
        assert not down.delivered and down.error and "gave up after 3 attempts" in down.error
    assert (down.spooled, down.dropped_total) == (2, 1)
    summary = run_once(config, HOST)  # spool [2, 3] + 4 → drops 2, sends [3, 4]
    assert summary.delivered
    assert (summary.sent, summary.spooled, summary.dropped_total) == (2, 0, 2)
    third, fourth = last_batch(auditor)
    assert (third.seq, fourth.seq) == (3, 4)
    assert fourth.delivery.model_dump() == {"dropped_total": 1, "dropped_seqs": [1], "spooled": 2}
    later = run_once(config, HOST)
    assert last_batch(auditor)[-1].delivery.dropped_seqs == [1, 2]
    assert later.delivered


def test_run_once_cli_exit_codes_and_json(
    auditor: StubAuditor, state: Path, tmp_path: Path
) -> None:
    config = str(enrolled(auditor, state, tmp_path))
    result = CliRunner().invoke(
        rootcli.root, ["agent", "run", "--once", "--config", config, "--json"]
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["delivered"] is True and summary["sent"] == 1
    auditor.script(BATCH, (401, {"detail": "unknown host"}))
    result = CliRunner().invoke(
        rootcli.root, ["agent", "run", "--once", "--config", config, "--json"]
    )
    assert result.exit_code == 10
    assert json.loads(result.stdout)["spooled"] == 1
    assert "unknown host" in result.stderr


def test_bad_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text("[delivery]\nbatch_size = 0\n")
    result = CliRunner().invoke(rootcli.root, ["agent", "run", "--once", "--config", str(config)])
    assert result.exit_code == 2
    assert "delivery.batch_size" in result.stderr


def test_loop_repeats_until_stopped(auditor: StubAuditor, state: Path, tmp_path: Path) -> None:
    config: AgentConfig = load_config(enrolled(auditor, state, tmp_path, 'interval = "0.05s"'))
    stop = threading.Event()
    cycles: list[RunSummary] = []

    def on_cycle(summary: RunSummary) -> None:
        cycles.append(summary)
        if len(cycles) == 3:
            stop.set()

    run_loop(config, HOST, stop, on_cycle)
    assert [c.seq for c in cycles] == [1, 2, 3]
    assert all(c.delivered for c in cycles)


def test_jitter_stays_within_its_share() -> None:
    delays = [next_delay(100.0, 0.1) for _ in range(200)]
    assert all(90.0 <= d <= 110.0 for d in delays)
    assert len(set(delays)) > 1
    assert next_delay(100.0, 0.0) == 100.0


def test_sigterm_stops_the_loop_cleanly(auditor: StubAuditor, state: Path, tmp_path: Path) -> None:
    config = enrolled(auditor, state, tmp_path)  # interval 1h: the loop is waiting when signalled
    child = subprocess.Popen(
        [sys.executable, "-m", "rra", "agent", "run", "--config", str(config), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        assert child.stdout is not None
        first = json.loads(child.stdout.readline())
        assert first["delivered"] is True
        child.send_signal(signal.SIGTERM)
        assert child.wait(10) == 0
    finally:
        child.kill()
        child.wait()
