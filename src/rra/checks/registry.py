"""Discover checks through the ``rra.checks`` entry-point group; built-ins are registered the same way."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from rra.checks.base import Check

ENTRY_POINT_GROUP = "rra.checks"


class CheckRegistryError(Exception):
    """A registered check is broken: wrong type, duplicate id, or an id that disagrees with its name."""


def load_check(entry: EntryPoint) -> Check:
    target = entry.load()
    if not (isinstance(target, type) and issubclass(target, Check)):
        raise CheckRegistryError(
            f"entry point {entry.name!r} ({entry.value}) is not a Check subclass"
        )
    if target.id != entry.name:
        raise CheckRegistryError(
            f"entry point {entry.name!r} loads a check whose id is {target.id!r}; they must agree"
        )
    return target()


def load_checks(group: str = ENTRY_POINT_GROUP) -> list[Check]:
    """All registered checks, sorted by id. A duplicate id is an error, not a silent override."""
    checks: dict[str, Check] = {}
    for entry in entry_points(group=group):
        if entry.name in checks:
            raise CheckRegistryError(f"check {entry.name!r} is registered twice")
        checks[entry.name] = load_check(entry)
    return [checks[check_id] for check_id in sorted(checks)]
