"""The restic adapter (DESIGN §5): pure argv builders (``commands``), one runner (``runner``),
output parsers (``parse``) and typed errors (``errors``), for restic 0.14 and 0.17+."""

from rra.agent.restic.commands import CacheOptions, RepositoryAccess
from rra.agent.restic.errors import (
    RepositoryLocked,
    RepositoryNotFound,
    ResticError,
    ResticFailed,
    ResticNotInstalled,
    ResticOutputError,
    ResticTimeout,
    WrongPassword,
)
from rra.agent.restic.parse import CheckResult, DiffStatistics, Snapshot, Stats, Version
from rra.agent.restic.runner import Restic, run_restic

__all__ = [
    "CacheOptions",
    "CheckResult",
    "DiffStatistics",
    "RepositoryAccess",
    "RepositoryLocked",
    "RepositoryNotFound",
    "Restic",
    "ResticError",
    "ResticFailed",
    "ResticNotInstalled",
    "ResticOutputError",
    "ResticTimeout",
    "Snapshot",
    "Stats",
    "Version",
    "WrongPassword",
    "run_restic",
]
