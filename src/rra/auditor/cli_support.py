"""Shared plumbing of ``rra auditor ...``: settings from the global options, a database that is
checked to be at the head revision, exit codes, and output (rich tables or JSON on stdout)."""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, make_url

from rra.auditor.db import make_engine
from rra.auditor.migrate import current_revision, head_revision
from rra.auditor.models import as_utc
from rra.auditor.settings import CONFIG_NAME, AuditorSettings, data_dir_from_env, load_settings
from rra.auditor.tokens import normalise_scope

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_OPERATIONAL = 10

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err_console.print(f"error: {message}", markup=False)
    raise typer.Exit(code)


def warn(message: str) -> None:
    err_console.print(f"warning: {message}", markup=False)


@dataclass(frozen=True)
class CliOptions:
    """The global options, kept until a command needs settings (``init`` writes them first)."""

    data_dir: Path
    config: Path | None

    @property
    def config_path(self) -> Path:
        return self.config or self.data_dir / CONFIG_NAME

    def settings(self, *, config_may_be_missing: bool = False) -> AuditorSettings:
        """``config_may_be_missing``: for ``init``, which is about to write ``--config``."""
        config = self.config
        if config is not None and not config.is_file():
            if not config_may_be_missing:
                fail(f"--config {config}: no such file")
            config = None
        try:
            return load_settings(self.data_dir, config)
        except ValidationError as exc:
            fail(f"invalid configuration ({self.config_path}):\n{exc}")
        except (OSError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
            fail(f"cannot read {self.config_path}: {exc}")


def options_from(ctx: typer.Context) -> CliOptions:
    # Click hands the group callback's ctx.obj down to every subcommand's context.
    if isinstance(ctx.obj, CliOptions):
        return ctx.obj
    return CliOptions(data_dir_from_env(None), None)


def render_config(database_url: str | None) -> str:
    """The commented default config: every key commented out, so later defaults still apply."""
    template = files("rra.auditor").joinpath("config_template.toml").read_text(encoding="utf-8")
    lines: list[str] = []
    for line in template.splitlines():
        is_setting = line[:1].isalpha() and "=" in line
        lines.append(f"# {line}" if is_setting else line)
        if database_url is not None and line.startswith("# database_url ="):
            # JSON string escapes are valid TOML basic-string escapes.
            lines.append(f"database_url = {json.dumps(database_url)}")
    return "\n".join(lines) + "\n"


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@contextmanager
def database_errors(settings: AuditorSettings) -> Iterator[None]:
    """An unreachable or broken database is an operational error (exit 10), not a traceback."""
    try:
        yield
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        detail = str(exc.orig) if exc.orig is not None else str(exc)
        fail(f"database unreachable ({redact_url(settings.resolved_database_url)}): {detail.strip()}",
             EXIT_OPERATIONAL)  # fmt: skip


def redact_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "<unparseable database URL>"


def require_head(settings: AuditorSettings) -> None:
    """Exit 2 unless the database is at the head revision: old code must never meet a new schema."""
    with database_errors(settings):
        current = current_revision(settings.resolved_database_url)
    head = head_revision()
    if current is None:
        fail("the database has no schema yet: run `rra auditor init` (or `rra auditor migrate`)")
    if current != head:
        fail(
            f"the database is at revision {current}, this rra needs {head}: run `rra auditor migrate`"
        )


def ready_engine(settings: AuditorSettings) -> Engine:
    """An engine on a database that is reachable and at the head revision."""
    require_head(settings)
    return make_engine(settings.resolved_database_url, pool_size=1)


def org_argument(value: str, option: str = "--org") -> str:
    try:
        return normalise_scope(value)
    except ValueError as exc:
        fail(f"{option}: {exc}")


def parse_labels(pairs: Sequence[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--label {pair!r}: expected KEY=VALUE")
        labels[key.strip()] = value.strip()
    return labels


def timestamp(moment: datetime | None) -> str | None:
    utc = as_utc(moment)
    return utc.isoformat(timespec="seconds") if utc is not None else None


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str | None]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else cell for cell in row))
    # Piped output keeps whole rows (ids intact for grep and cut); a terminal folds to fit.
    console = out_console if out_console.is_terminal else Console(highlight=False, width=1000)
    console.print(table)
