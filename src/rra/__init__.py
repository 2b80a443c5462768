"""rra — the Recovery Readiness Auditor."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rra")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"
