"""The deployment files in examples/: systemd units that systemd itself accepts and that keep their
hardening, and an auditor.toml that documents every setting with its real default."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from rra.auditor.settings import AuditorSettings, load_settings
from tests.conftest import require

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
UNITS = ("rra-agent.service", "rra-agent.timer", "rra-auditor.service")
INSTALLED_RRA = "/usr/local/bin/rra"


def unit(name: str) -> configparser.ConfigParser:
    # systemd allows a key more than once (SystemCallFilter=...): strict=False keeps the last.
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string((EXAMPLES / name).read_text())
    return parser


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    require("systemd-analyze", analyze is not None, "apt-get install systemd")
    assert analyze is not None
    # verify insists that ExecStart's binary exists: point it at this checkout's rra.
    rra = Path(sys.executable).with_name("rra")
    for name in UNITS:
        text = (EXAMPLES / name).read_text().replace(INSTALLED_RRA, str(rra))
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        [analyze, "verify", "--man=no", *(str(tmp_path / name) for name in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def test_agent_unit_is_a_hardened_oneshot() -> None:
    service = unit("rra-agent.service")["Service"]
    assert service["Type"] == "oneshot"
    assert service["ExecStart"].endswith("agent run --once")
    assert service["ProtectSystem"] == "strict"
    assert service["ProtectHome"] == "read-only"
    assert service["NoNewPrivileges"] == "true"
    assert service["PrivateTmp"] == "true"
    assert service["StateDirectory"] == "rra" and service["StateDirectoryMode"] == "0700"
    assert service["CapabilityBoundingSet"].split() == ["CAP_DAC_READ_SEARCH"]
    assert "ReadOnlyPaths" in service


def test_agent_timer_runs_hourly_with_jitter_and_catches_up() -> None:
    timer = unit("rra-agent.timer")["Timer"]
    assert timer["OnCalendar"] == "hourly"
    assert "RandomizedDelaySec" in timer
    assert timer["Persistent"] == "true"


def test_auditor_unit_serves_unprivileged() -> None:
    service = unit("rra-auditor.service")["Service"]
    assert service["ExecStart"].endswith("auditor serve")
    assert "--insecure-http" not in service["ExecStart"]
    assert service["StateDirectory"] == "rra-auditor"
    assert service["User"] != "root" or service.get("DynamicUser") == "yes"
    assert service["CapabilityBoundingSet"] == ""
    assert service["NoNewPrivileges"] == "true"
    assert service["ProtectSystem"] == "strict"
    assert service["Environment"] == "RRA_AUDITOR_DATA_DIR=/var/lib/rra-auditor"


def test_windows_task_runs_once_hourly_as_system() -> None:
    script = (EXAMPLES / "install-agent-task.ps1").read_text()
    assert "agent run --once" in script
    assert "S-1-5-18" in script  # the SYSTEM account
    assert re.search(r"-RepetitionInterval \(New-TimeSpan -Hours 1\)", script)
    assert "-RandomDelay" in script


def test_example_auditor_toml_loads_as_the_defaults(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, EXAMPLES / "auditor.toml")
    assert settings == AuditorSettings(data_dir=tmp_path)


def test_example_auditor_toml_is_the_template_init_writes() -> None:
    template = files("rra.auditor").joinpath("config_template.toml").read_text(encoding="utf-8")
    assert (EXAMPLES / "auditor.toml").read_text() == template


def _field_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths |= _field_paths(annotation, f"{prefix}{name}.")
        else:
            paths.add(prefix + name)
    return paths


def _documented_paths(text: str) -> set[str]:
    """Keys set in the file, plus keys shown commented out (``# key = value``) in their section."""
    document: dict[str, Any] = tomllib.loads(text)
    paths = {f"{section}.{key}" for section, table in document.items() if isinstance(table, dict)
             for key in table}  # fmt: skip
    paths |= {key for key, value in document.items() if not isinstance(value, dict)}
    section = ""
    for line in text.splitlines():
        if header := re.fullmatch(r"\[(\w+)\]", line.strip()):
            section = header.group(1) + "."
        elif commented := re.match(r"#\s*(\w+)\s*=", line):
            paths.add(section + commented.group(1))
    return paths


def test_example_auditor_toml_documents_every_setting() -> None:
    text = (EXAMPLES / "auditor.toml").read_text()
    assert _documented_paths(text) == _field_paths(AuditorSettings)


@pytest.mark.parametrize("name", UNITS)
def test_units_start_the_installed_rra(name: str) -> None:
    text = (EXAMPLES / name).read_text()
    for line in text.splitlines():
        if line.startswith(("ExecStart=", "ExecStartPre=")):
            assert line.split("=", 1)[1].startswith(INSTALLED_RRA + " ")
