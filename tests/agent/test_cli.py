from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rra.agent import rootcli
from rra.agent.cli import exit_code_for
from rra.checks.report import Finding

RRA = [sys.executable, "-m", "rra"]


def finding(status: str) -> Finding:
    return Finding(check="x.y", pillar="recovery", status=status, severity="low", title="t")


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        (["pass", "not_applicable"], 0),
        (["pass", "unknown"], 3),
        (["unknown", "warn"], 1),
        (["fail"], 1),
        ([], 0),
    ],
)
def test_exit_codes(statuses: list[str], code: int) -> None:
    assert exit_code_for([finding(s) for s in statuses]) == code


def test_schema_report_is_json_schema() -> None:
    result = CliRunner().invoke(rootcli.root, ["schema", "report"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    assert schema["title"] == "rra.report/1"
    assert {"report_id", "seq", "facts", "metrics", "findings", "score"} <= set(schema["required"])


def test_invalid_config_exits_2_with_message(tmp_path: Path) -> None:
    bad = tmp_path / "agent.toml"
    bad.write_text('[agent]\ncriticality = "huge"\n')
    result = CliRunner().invoke(rootcli.root, ["agent", "collect", "--config", str(bad)])
    assert result.exit_code == 2
    assert "agent.criticality" in result.output
    assert str(bad) in result.output.replace("\n", "")


def test_agent_commands_do_not_import_server_or_ui_libraries() -> None:
    code = (
        "import sys; from rra.agent.rootcli import root\n"
        "try: root(['agent', '--help'], prog_name='rra')\n"
        "except SystemExit: pass\n"
        "print(sorted(m for m in ('fastapi', 'sqlmodel', 'textual', 'uvicorn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("[]")


def test_missing_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = EntryPoint("auditor", "rra_not_installed.cli:app", rootcli.COMMAND_GROUP)
    monkeypatch.setattr(rootcli, "_entries", lambda: {"auditor": missing})
    result = CliRunner().invoke(rootcli.root, ["auditor"])
    assert result.exit_code == 2
    assert "pip install 'rra[auditor]'" in result.output


def test_root_help_lists_groups_without_loading_them() -> None:
    result = CliRunner().invoke(rootcli.root, ["--help"])
    assert result.exit_code == 0
    assert "agent" in result.output and "schema" in result.output
