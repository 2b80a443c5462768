"""``rra agent enroll`` on the command line: token sources, exit codes, and the token kept secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rra.agent import rootcli
from tests.agent.stub_auditor import StubAuditor, TlsFiles, make_tls, serve, write_agent_config

ENROLL = "/api/v1/enroll"
TOKEN = "rra_enr_" + "cli-secret-token-0123456789abcdef"
WELCOME = {"host_id": "h-42", "org": "mic/ais", "criticality": "low", "clone_of": None}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def auditor(tls: TlsFiles) -> Iterator[StubAuditor]:
    with serve(StubAuditor(), tls) as stub:
        yield stub


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_agent_config(tmp_path, tmp_path / "state")


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(rootcli.root, ["agent", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def leaks_token(*outputs: str) -> bool:
    """Also across line wrapping: compare with all whitespace removed."""
    return TOKEN in "".join("".join(outputs).split())


def test_enroll_with_token_file_prints_json(
    auditor: StubAuditor, tls: TlsFiles, config: Path, tmp_path: Path
) -> None:
    auditor.script(ENROLL, (201, {**WELCOME, "clone_of": "h-7"}))
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    code, out, err = invoke(
        "enroll", "--auditor", auditor.url, "--ca-cert", str(tls.ca_cert),
        "--token-file", str(token_file), "--config", str(config), "--json",
    )  # fmt: skip
    assert code == 0, err
    document = json.loads(out)
    assert (document["host_id"], document["org"], document["clone_of"]) == (
        "h-42",
        "mic/ais",
        "h-7",
    )
    assert "enrolled as host h-42" in err and "possible clone of host h-7" in err
    assert auditor.requests[0].json()["token"] == TOKEN  # the trailing newline was stripped
    assert not leaks_token(out, err)


def test_token_from_the_environment(auditor: StubAuditor, tls: TlsFiles, config: Path) -> None:
    auditor.script(ENROLL, (201, WELCOME))
    code, _, err = invoke(
        "enroll", "--auditor", auditor.url, "--ca-cert", str(tls.ca_cert), "--config", str(config),
        env={"RRA_ENROLL_TOKEN": TOKEN},
    )  # fmt: skip
    assert code == 0, err
    assert auditor.requests[0].json()["token"] == TOKEN


def test_refused_token_exits_10_without_echoing_it(
    auditor: StubAuditor, tls: TlsFiles, config: Path
) -> None:
    auditor.script(ENROLL, (401, {"detail": "unknown, expired or used enrollment token"}))
    code, out, err = invoke(
        "enroll", "--auditor", auditor.url, "--ca-cert", str(tls.ca_cert), "--token", TOKEN,
        "--config", str(config),
    )  # fmt: skip
    assert code == 10
    assert "ask an admin for a new one" in err
    assert not leaks_token(out, err)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([], "an enrollment token is needed"),
        (["--token", TOKEN, "--token-file", "/nonexistent"], "not both"),
        (["--token-file", "/nonexistent/token"], "--token-file /nonexistent/token"),
    ],
)
def test_token_usage_errors_exit_2(
    tls: TlsFiles, config: Path, extra: list[str], expected: str
) -> None:
    code, _, err = invoke(
        "enroll", "--auditor", "https://127.0.0.1:1", "--ca-cert", str(tls.ca_cert),
        "--config", str(config), *extra, env={"RRA_ENROLL_TOKEN": ""},
    )  # fmt: skip
    assert code == 2
    assert expected in err


def test_plain_http_to_a_remote_auditor_exits_2(config: Path) -> None:
    code, _, err = invoke(
        "enroll", "--auditor", "http://auditor.example.org", "--token", TOKEN,
        "--config", str(config),
    )  # fmt: skip
    assert code == 2
    assert "only for a loopback auditor" in err


def test_unreachable_auditor_exits_10(tls: TlsFiles, config: Path) -> None:
    with serve(StubAuditor(), tls) as gone:
        url = gone.url
    code, _, err = invoke(
        "enroll", "--auditor", url, "--ca-cert", str(tls.ca_cert), "--token", TOKEN,
        "--config", str(config),
    )  # fmt: skip
    assert code == 10
    assert "connection refused" in err
