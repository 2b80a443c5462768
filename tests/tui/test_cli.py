"""``rra tui`` refuses bad input before starting Textual, and the client keeps the token secret:
never in argv, never over plain HTTP off loopback, never in an error message."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from rra.tui.client import AuditorAuthError, AuditorClient, check_base_url, read_token
from tests.tui.seed import SeededFleet

RRA = [sys.executable, "-m", "rra"]


def rra_tui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RRA, "tui", *args], capture_output=True, text=True, timeout=60)


def test_no_source_is_a_usage_error() -> None:
    done = rra_tui()
    assert done.returncode == 2
    assert "--auditor URL --token-file FILE" in done.stderr


def test_plain_http_off_loopback_is_refused(tmp_path: Path) -> None:
    token = tmp_path / "t"
    token.write_text("secret-token-value\n")
    done = rra_tui("--auditor", "http://192.0.2.10:8443", "--token-file", str(token))
    assert done.returncode == 2
    assert "only on loopback" in done.stderr
    assert "secret-token-value" not in done.stdout + done.stderr
    assert check_base_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert check_base_url("http://[::1]:8080") == "http://[::1]:8080"
    with pytest.raises(ValueError, match="https://HOST"):
        check_base_url("ftp://auditor")


def test_token_file_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        read_token(empty)
    with pytest.raises(ValueError, match="cannot read"):
        read_token(tmp_path / "missing")
    done = rra_tui("--auditor", "https://127.0.0.1:9", "--token-file", str(tmp_path / "missing"))
    assert done.returncode == 2 and "cannot read the token file" in done.stderr


def test_report_and_auditor_are_exclusive(tmp_path: Path) -> None:
    done = rra_tui("--report", str(tmp_path / "r.json"), "--auditor", "https://127.0.0.1:9")
    assert done.returncode == 2 and "--report opens one report offline" in done.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "something else"}')
    done = rra_tui("--report", str(bad))
    assert done.returncode == 2 and "is not an rra.report/1 document" in done.stderr


def test_a_refused_token_never_appears_in_the_error(seeded_fleet: SeededFleet) -> None:
    forged = "rra_" + "x" * 43

    async def attempt() -> str:
        client = AuditorClient(
            seeded_fleet.server.base_url, forged, ca_cert=seeded_fleet.server.ca_path
        )
        try:
            await client.orgs()
        except AuditorAuthError as error:
            return f"{error} {error.status_code}"
        finally:
            await client.close()
        raise AssertionError("a forged token was accepted")

    message = asyncio.run(attempt())
    assert message.startswith("401")
    assert forged not in message


def test_a_wrong_ca_is_unreachable_not_trusted(seeded_fleet: SeededFleet, tmp_path: Path) -> None:
    from rra.auditor.tls import init_tls
    from rra.tui.client import AuditorUnreachable

    other = init_tls(tmp_path / "other", hostnames=["localhost"], ip_addresses=["127.0.0.1"])

    async def attempt() -> None:
        client = AuditorClient(
            seeded_fleet.server.base_url, seeded_fleet.server.admin_token, ca_cert=other.ca_cert
        )
        try:
            with pytest.raises(AuditorUnreachable, match="cannot reach"):
                await client.orgs()
        finally:
            await client.close()

    asyncio.run(attempt())
