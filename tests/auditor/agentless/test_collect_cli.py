"""``rra auditor collect`` against real sshd instances: stored, signed by the auditor, partial runs."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from rra.agent.auth.windows import WINDOWS_SECTIONS
from rra.agent.host import HostError
from rra.agent.identity import verify_signature
from rra.agent.transports import winrm_scripts
from rra.auditor.db import make_engine
from rra.auditor.models import HostRow, HostState, ReportRow
from rra.auditor.settings import load_settings
from rra.auditor.signing import load_or_create_auditor_key
from tests.agent.auth.test_windows import recording, replay
from tests.auditor.test_cli import rra
from tests.sshd_lab import SshdLab, free_port
from tests.wsman_endpoint import WSManEndpoint

EXIT_PARTIAL = 3


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("agentless-auditor")
    result = rra(directory, "init", "--hostname", "audit.example", "--json")
    assert result.exit_code == 0, result.output
    return directory


def _inventory(path: Path, lab: SshdLab, extra_hosts: str = "") -> Path:
    hosts = "\n".join(
        f"        {server.name}: {{address: 127.0.0.1, port: {server.port}}}"
        for server in lab.servers[:3]
    )
    path.write_text(
        f"""all:
  vars:
    user: root
    key_file: {lab.client_key}
    known_hosts: {lab.known_hosts}
    connect_timeout: 3
  children:
    finance:
      vars: {{org: mof/finance, criticality: high, labels: {{site: hq}}}}
      hosts:
{hosts}
{extra_hosts}"""
    )
    return path


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port that accepts and never speaks: a hung host."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


def _json(output: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(output)
    return document


def test_collects_stores_and_signs(sshd_lab: SshdLab, data_dir: Path, tmp_path: Path) -> None:
    inventory = _inventory(tmp_path / "inventory.yaml", sshd_lab)
    result = rra(data_dir, "collect", "--inventory", str(inventory), "--forks", "3", "--json")
    assert result.exit_code == 0, result.output
    document = _json(result.stdout)
    assert [row["host"] for row in document["hosts"]] == ["host00", "host01", "host02"]
    assert {row["status"] for row in document["hosts"]} == {"ok"}
    assert {row["stored"] for row in document["hosts"]} == {"stored"}
    assert document["summary"] == {"ok": 3, "unreachable": 0, "failed": 0}

    settings = load_settings(data_dir, None)
    key = load_or_create_auditor_key(settings.data_dir)
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        for row in document["hosts"]:
            host = session.get(HostRow, row["host_id"])
            assert host is not None
            assert (host.collection, host.public_key, host.org) == (
                "agentless",
                None,
                "mof/finance",
            )
            stored = session.get(ReportRow, row["report_id"])
            assert stored is not None
            # signed by the auditor's own key, over the exact stored bytes
            assert verify_signature(key.public_key_b64, stored.payload.encode(), stored.signature)
            report = json.loads(stored.payload)
            assert report["host"]["collection"] == "agentless"
            assert report["host"]["transport"] == "ssh"
            assert report["host"]["labels"] == {"site": "hq"}
            assert report["facts"]["accounts"], "accounts were collected over SSH"
            state = session.get(HostState, row["host_id"])
            assert state is not None and state.report_id == row["report_id"]
    engine.dispose()

    # Collected again: the same host rows, new reports
    again = rra(data_dir, "collect", "-i", str(inventory), "--limit", "host01", "--json")
    assert again.exit_code == 0, again.output
    row = _json(again.stdout)["hosts"][0]
    assert row["host_id"] == document["hosts"][1]["host_id"]
    assert row["report_id"] != document["hosts"][1]["report_id"]


def test_unreachable_and_hung_hosts_are_reported_and_never_stop_the_run(
    sshd_lab: SshdLab, data_dir: Path, tmp_path: Path, silent_port: int
) -> None:
    extra = f"""    outside:
      vars: {{org: mof/branch}}
      hosts:
        closed-port: {{address: 127.0.0.1, port: {free_port()}}}
        hung: {{address: 127.0.0.1, port: {silent_port}, timeout: 4}}
        unpinned: {{address: 127.0.0.1, port: {sshd_lab.servers[0].port}, known_hosts: {tmp_path / "none"}}}
"""
    inventory = _inventory(tmp_path / "inventory.yaml", sshd_lab, extra)
    started = time.monotonic()
    result = rra(data_dir, "collect", "-i", str(inventory), "--forks", "6", "--json")
    elapsed = time.monotonic() - started
    assert result.exit_code == EXIT_PARTIAL, result.output
    rows = {row["host"]: row for row in _json(result.stdout)["hosts"]}
    assert [rows[name]["status"] for name in ("host00", "host01", "host02")] == ["ok"] * 3
    for name in ("closed-port", "hung", "unpinned"):
        assert rows[name]["status"] == "unreachable", rows[name]
        assert rows[name]["stored"] == "stored"  # the host is on record, with why it is unknown
        assert rows[name]["unknown_findings"] > 0
    assert "not pinned" in rows["unpinned"]["reason"]
    assert "no SSH answer" in rows["hung"]["reason"]
    assert elapsed < 60  # the hung host cost its connect timeout, not the run
    settings = load_settings(data_dir, None)
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        state = session.get(HostState, rows["hung"]["host_id"])
        assert state is not None
        statuses = {finding["status"] for finding in state.findings}
        assert "pass" not in statuses  # unknown is never rounded up
        assert all(reason.startswith("unreachable:") for reason in state.facts["unknown"].values())
        hosts = session.exec(select(HostRow).where(HostRow.collection == "agentless")).all()
        assert {"closed-port", "hung", "unpinned"} <= {host.hostname for host in hosts}
    engine.dispose()


def test_bad_inventory_and_limit_exit_2_naming_the_line(data_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("all:\n  hosts:\n    web1: {port: 70000}\n    web2: {colour: blue}\n")
    result = rra(data_dir, "collect", "-i", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:3:" in result.stderr and "port" in result.stderr
    assert f"{bad}:4:" in result.stderr and "colour" in result.stderr
    good = tmp_path / "good.yaml"
    good.write_text("all:\n  hosts:\n    web1:\n")
    result = rra(data_dir, "collect", "-i", str(good), "--limit", "nope")
    assert result.exit_code == 2
    assert "nope" in result.stderr


def test_a_windows_host_over_winrm(data_dir: Path, tmp_path: Path) -> None:
    """Inventory → WinRMHost → the Windows collectors → a stored agentless report, through the
    real pywinrm client and the in-repo WS-Management endpoint (recorded PowerShell output)."""
    recorded = recording("member_server")
    identity = {
        winrm_scripts.HOSTNAME_SCRIPT: (b"WIN-FS01\r\n", b"", 0),
        winrm_scripts.OS_INFO_SCRIPT: (
            b'{"caption":"Microsoft Windows Server 2022 Standard","version":"10.0.20348",'
            b'"machine_guid":"5c1f3e9a-0d2b-4c55-9e77-0a1b2c3d4e5f"}\r\n',
            b"",
            0,
        ),
    }
    sections = {text: name for name, text in WINDOWS_SECTIONS.items()}

    def handler(script: str) -> tuple[bytes, bytes, int]:
        if script in identity:
            return identity[script]
        if script in sections:
            result = recorded[sections[script]]
            assert not isinstance(result, HostError)
            return result.stdout, result.stderr, result.rc
        return b"", b"not recorded for this test", 1  # sockets, logons: unknown, with the reason

    with WSManEndpoint(handler, password="Win-pw-123") as endpoint:
        inventory = tmp_path / "windows.yaml"
        inventory.write_text(
            f"""all:
  children:
    windows:
      vars: {{transport: winrm, winrm_scheme: http, winrm_auth: basic, user: {endpoint.user},
              password_env: RRA_TEST_WINRM_PASSWORD, org: mof/finance}}
      hosts:
        fin-fs1: {{address: 127.0.0.1, port: {endpoint.port}}}
"""
        )
        result = rra(
            data_dir,
            "collect",
            "-i",
            str(inventory),
            "--json",
            env={"RRA_TEST_WINRM_PASSWORD": "Win-pw-123"},
        )
        missing = rra(data_dir, "collect", "-i", str(inventory), "--json")
    assert result.exit_code == 0, result.output
    row = _json(result.stdout)["hosts"][0]
    assert (row["status"], row["transport"], row["stored"]) == ("ok", "winrm", "stored")
    settings = load_settings(data_dir, None)
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        stored = session.get(ReportRow, row["report_id"])
        assert stored is not None
        report = json.loads(stored.payload)
    engine.dispose()
    assert report["host"]["os"] == {
        "family": "windows",
        "name": "Microsoft Windows Server 2022 Standard",
        "version": "10.0.20348",
    }
    assert report["host"]["machine_id"] == "5c1f3e9a-0d2b-4c55-9e77-0a1b2c3d4e5f"
    expected = replay("member_server").accounts
    assert [a["name"] for a in report["facts"]["accounts"]] == [a.name for a in expected]
    assert "Win-pw-123" not in stored.payload
    # Without the password variable the host is not tried: it is reported, with the reason
    assert missing.exit_code == EXIT_PARTIAL
    failed = _json(missing.stdout)["hosts"][0]
    assert failed["status"] == "unreachable"
    assert "RRA_TEST_WINRM_PASSWORD is not set" in failed["reason"]
