"""``[delivery]``: spool cap, batch size, loop interval and retry settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from rra.agent.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_defaults(tmp_path: Path) -> None:
    delivery = load_config(write(tmp_path, "")).delivery
    assert delivery.spool_max_reports == 1000
    assert delivery.batch_size == 50
    assert delivery.interval == timedelta(hours=1)
    assert delivery.jitter == 0.1
    assert delivery.retry_attempts == 5
    assert delivery.retry_max_wait == timedelta(seconds=60)
    assert delivery.timeout == timedelta(seconds=30)


def test_values_from_toml(tmp_path: Path) -> None:
    text = (
        '[delivery]\nspool_max_reports = 20\nbatch_size = 5\ninterval = "15m"\n'
        'jitter = 0.25\nretry_attempts = 2\nretry_max_wait = "5s"\ntimeout = "10s"\n'
    )
    delivery = load_config(write(tmp_path, text)).delivery
    assert (delivery.spool_max_reports, delivery.batch_size) == (20, 5)
    assert delivery.interval == timedelta(minutes=15)
    assert delivery.jitter == 0.25
    assert delivery.retry_max_wait == timedelta(seconds=5)


def test_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RRA_DELIVERY__BATCH_SIZE", "7")
    assert load_config(write(tmp_path, "[delivery]\nbatch_size = 3\n")).delivery.batch_size == 7


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("batch_size = 0", "delivery.batch_size"),
        ("batch_size = 101", "delivery.batch_size"),
        ("spool_max_reports = 0", "delivery.spool_max_reports"),
        ('interval = "0s"', "delivery.interval: expected a duration greater than zero"),
        ('interval = "soon"', "delivery.interval: expected a duration"),
        ("jitter = 1.5", "delivery.jitter"),
        ('timeout = "0s"', "delivery.timeout"),
        ("colour = 1", "delivery.colour: Extra inputs"),
    ],
)
def test_invalid_values_name_the_key(tmp_path: Path, line: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, f"[delivery]\n{line}\n"))
    assert expected in str(raised.value)
