from __future__ import annotations

from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path

import pytest

from rra.agent.config import ConfigError, load_config

GOOD = """
[agent]
org = "mic/ais"
criticality = "high"
state_dir = "/var/lib/rra"

[[backup]]
name = "finance"
repository = "/srv/backup/finance"
password_file = "/etc/rra/finance.pass"
paths = ["/var/lib/finance/"]
rpo = "12h"

[exposure]
bastions = ["10.0.5.10", "10.0.5.0/28"]
window = "30d"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_example_config_loads() -> None:
    config = load_config(Path(__file__).parents[2] / "examples" / "agent.toml")
    assert config.agent.org == "mic/ais"
    assert config.backup[0].check_read_data == "rotate:12"


def test_good_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    backup = config.backup[0]
    assert backup.rpo == timedelta(hours=12)
    assert backup.paths == ["/var/lib/finance"]  # trailing slash normalised
    assert backup.check_interval == timedelta(days=7)
    assert config.exposure.bastions == [ip_network("10.0.5.10/32"), ip_network("10.0.5.0/28")]
    assert config.exposure.window == timedelta(days=30)
    assert config.resolved_state_dir() == Path("/var/lib/rra")


def test_env_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RRA_AGENT__ORG", "mop/hanoi")
    assert load_config(write(tmp_path, GOOD)).agent.org == "mop/hanoi"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('rpo = "12h"', 'rpo = "soon"'), "backup[0].rpo: expected a duration"),
        (
            ('paths = ["/var/lib/finance/"]', 'paths = ["var/lib"]'),
            "backup[0].paths: expected absolute",
        ),
        (('paths = ["/var/lib/finance/"]', "paths = []"), "backup[0].paths"),
        (('criticality = "high"', 'criticality = "huge"'), "agent.criticality"),
        (('org = "mic/ais"', 'org = "MIC AIS"'), "agent.org: expected an org path"),
        (('password_file = "/etc/rra/finance.pass"', ""), "exactly one of password_file"),
        (('window = "30d"', 'window = "30d"\ncolour = "red"'), "exposure.colour: Extra inputs"),
        (('"10.0.5.10"', '"10.0.5.300"'), "exposure.bastions"),
    ],
)
def test_invalid_config_names_file_key_and_expectation(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: invalid configuration")
    assert expected in message


def test_toml_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[agent\norg = 1\n")
    with pytest.raises(ConfigError, match=r"invalid TOML: .*line 1"):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "nope.toml")


def test_duplicate_backup_names(tmp_path: Path) -> None:
    block = GOOD[GOOD.index("[[backup]]") : GOOD.index("[exposure]")]
    with pytest.raises(ConfigError, match="repeated: finance"):
        load_config(write(tmp_path, GOOD + block))
