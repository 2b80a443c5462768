"""Schema migrations (Alembic) driven from code: no alembic.ini, so they work from an installed wheel.

Every table change ships as a revision in ``rra/auditor/migrations/versions``; ``serve`` refuses
to start on a database that is not at ``head_revision()``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from rra.auditor.db import make_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (and ``database_url`` when given)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # file_template keeps new revisions sortable by name: 0002_<slug>.py, given --rev-id 0002.
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if database_url is not None:
        # ConfigParser interpolation treats '%' specially; URL-encoded passwords contain it.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(database_url: str) -> str | None:
    """The revision the database is at; None for an empty (never migrated) database."""
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def upgrade_to_head(database_url: str) -> None:
    """Apply every pending migration. Safe to run again: a database at head is left untouched."""
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.begin() as connection:
            config = alembic_config(database_url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
