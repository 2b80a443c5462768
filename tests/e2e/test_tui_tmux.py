"""Smoke test of ``rra tui`` as a person runs it: in a real terminal (tmux), against the demo's
auditor (served again from the folder ``rra demo`` left), keys sent, the pane read back."""

from __future__ import annotations

import json
import shlex
import shutil
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from rra.agent.demo_fleet import free_loopback_port, wait_healthy
from tests.conftest import require

RRA = [sys.executable, "-m", "rra"]
PANE = (140, 40)


@pytest.fixture(scope="module")
def demo_auditor(demo_folder: Path) -> Iterator[tuple[str, Path, Path]]:
    """(url, CA certificate, inspector token file) of the demo's auditor, served again."""
    data_dir = demo_folder / "auditor"
    port = free_loopback_port()
    log = data_dir / "tui-serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*RRA, "auditor", "--data-dir", str(data_dir), "serve", "--host", "127.0.0.1",
             "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"https://127.0.0.1:{port}"
    ca_cert = data_dir / "tls" / "ca.pem"
    try:
        wait_healthy(url, ca_cert, process, log)
        created = subprocess.run(
            [*RRA, "auditor", "--data-dir", str(data_dir), "token", "create", "--role", "admin",
             "--org", "/", "--name", "tui smoke", "--json"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        token_file = demo_folder / "tui.token"
        token_file.write_text(json.loads(created.stdout)["token"] + "\n")
        token_file.chmod(0o600)
        yield url, ca_cert, token_file
    finally:
        process.terminate()
        process.wait(timeout=20)


class Tmux:
    def __init__(self) -> None:
        self.socket = f"rra-test-{uuid.uuid4().hex[:8]}"

    def run(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True
        )
        return done.stdout

    def pane(self) -> str:
        return self.run("capture-pane", "-p", "-t", "tui")

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "tui", *keys)

    def wait_for(self, *texts: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.pane()
            if all(text in screen for text in texts):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{texts} not on screen after {timeout}s:\n{screen}")


@contextmanager
def tmux_running(command: list[str]) -> Iterator[Tmux]:
    require("tmux", shutil.which("tmux") is not None, "apt-get install -y tmux")
    tmux = Tmux()
    width, height = PANE
    tmux.run("new-session", "-d", "-s", "tui", "-x", str(width), "-y", str(height),
             # The pane outlives the TUI so a crash's traceback and exit code stay readable.
             f"env -u COLUMNS -u LINES TERM=xterm-256color {shlex.join(command)}; "
             "echo EXITED=$?; sleep 60")  # fmt: skip
    # A detached session may not keep -x/-y under every window-size policy: set it explicitly.
    tmux.run("resize-window", "-t", "tui", "-x", str(width), "-y", str(height))
    try:
        yield tmux
    finally:
        subprocess.run(["tmux", "-L", tmux.socket, "kill-server"], capture_output=True)


def test_tui_on_the_demo_auditor(demo_auditor: tuple[str, Path, Path]) -> None:
    url, ca_cert, token_file = demo_auditor
    token = token_file.read_text().strip()
    with httpx.Client(
        verify=ssl.create_default_context(cafile=str(ca_cert)),
        headers={"Authorization": f"Bearer {token}"},
    ) as api:
        (host,) = api.get(f"{url}/api/v1/hosts").json()["items"]
    score = f"{host['score']:.0f}"
    command = [*RRA, "tui", "--auditor", url, "--token-file", str(token_file),
               "--ca-cert", str(ca_cert)]  # fmt: skip
    with tmux_running(command) as tmux:
        screen = tmux.wait_for(host["hostname"], "Score", "1–1 of 1 hosts")
        row = next(line for line in screen.splitlines() if host["hostname"] in line)
        assert f" {score} " in row, row
        assert "[ACTIVE]" in row and "[PASS]" in row  # status and the demo's passing drill
        # One key at a time, as a person types: a key sent with the one that moves the focus
        # would reach the widget that had it.
        tmux.keys("/")
        tmux.wait_for("filter: words match")
        time.sleep(0.3)
        tmux.keys(host["hostname"][:4])
        tmux.wait_for(f"filter “{host['hostname'][:4]}”")
        tmux.keys("Enter")  # leave the filter box
        time.sleep(0.3)
        tmux.keys("Enter")  # open the host
        tmux.wait_for("Findings", "recovery.backup_fresh", "points lost")
        tmux.keys("2")  # the backups tab: the demo's two repositories
        tmux.wait_for("finance", "hr")
        tmux.keys("5")  # the drills tab: the demo's passing drill
        tmux.wait_for("finance-restore", "[PASS]")
        tmux.keys("Escape")
        tmux.wait_for("1–1 of 1 hosts")
        tmux.keys("q")
        tmux.wait_for("EXITED=0")


def test_tui_offline_report(demo_folder: Path) -> None:
    report = json.loads((demo_folder / "report.json").read_text())
    command = [*RRA, "tui", "--report", str(demo_folder / "report.json")]
    with tmux_running(command) as tmux:
        screen = tmux.wait_for(report["host"]["hostname"], "offline")
        row = next(line for line in screen.splitlines() if report["host"]["hostname"] in line)
        assert f" {report['score']['total']:.0f} " in row, row
