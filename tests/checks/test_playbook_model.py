"""The playbook model itself (no YAML): defaults, one-or-many paths, units that never crash."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from rra.checks.playbook import FilesMinStep, Playbook, RestoreVerifyStep, step_kind


def playbook(**changes: Any) -> Playbook:
    data: dict[str, Any] = {
        "name": "finance-db",
        "rto": "4h",
        "sandbox": "/var/tmp/rra-drills",
        "source": {
            "restic": {"repository": "/srv/restic", "password_file": "/p", "path": "/srv/a"}
        },
    }
    return Playbook.model_validate(data | changes)


def test_defaults() -> None:
    p = playbook()
    assert p.verify == [RestoreVerifyStep()]
    assert (p.rpo, p.timeout, p.cleanup) == (timedelta(hours=24), timedelta(hours=6), "always")
    assert p.source.restic.snapshot == "latest"


def test_restic_verify_on_by_default() -> None:
    assert playbook().restic_verify is True
    # Listing other steps does not turn it off.
    assert playbook(verify=[{"files_min": 1}]).restic_verify is True
    assert playbook(verify=[{"restic_verify": True}, {"files_min": 1}]).restic_verify is True


def test_restic_verify_false_turns_it_off() -> None:
    p = playbook(verify=[{"restic_verify": False}, {"files_min": 1}])
    assert p.restic_verify is False
    assert [step_kind(s) for s in p.verify] == ["restic_verify", "files_min"]
    assert p.verify[1] == FilesMinStep(files_min=1)


def test_path_accepts_one_or_many() -> None:
    source = {"repository": "/r", "password_file": "/p"}
    one = playbook(source={"restic": source | {"path": "/srv/a"}})
    many = playbook(source={"restic": source | {"path": ["/srv/a", "/srv/b"]}})
    assert one.source.restic.path == ["/srv/a"]
    assert many.source.restic.path == ["/srv/a", "/srv/b"]


@pytest.mark.parametrize("path", [[], ["/srv/a", "rel"], "rel", "/srv/../etc"])
def test_path_rejects_empty_relative_and_dotdot(path: Any) -> None:
    source = {"repository": "/r", "password_file": "/p", "path": path}
    with pytest.raises(ValidationError):
        playbook(source={"restic": source})


@pytest.mark.parametrize("rto", ["99999999999999w", float("inf"), float("nan"), None, [1]])
def test_unusable_durations_are_validation_errors(rto: Any) -> None:
    # Regression: timedelta overflow and None used to escape pydantic as OverflowError/TypeError.
    with pytest.raises(ValidationError) as caught:
        playbook(rto=rto)
    assert [e["loc"] for e in caught.value.errors()] == [("rto",)]
