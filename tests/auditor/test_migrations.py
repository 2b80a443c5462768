"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import rra.auditor.models  # noqa: F401 - registers the tables on SQLModel.metadata
from rra.auditor.db import make_engine
from rra.auditor.migrate import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    head_revision,
    upgrade_to_head,
)
from tests.auditor.conftest import scratch_database


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with scratch_database("rra_migrations") as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'auditor.db'}"


def schema_differences(url: str) -> list[object]:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, SQLModel.metadata))
    finally:
        engine.dispose()


def assert_migrates_to_models(url: str) -> None:
    assert current_revision(url) is None
    upgrade_to_head(url)
    assert current_revision(url) == head_revision()
    assert schema_differences(url) == []
    upgrade_to_head(url)  # at head already: a no-op, not an error
    assert current_revision(url) == head_revision()


def assert_downgrades_to_empty(url: str) -> None:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    upgrade_to_head(url)
    assert schema_differences(url) == []


def test_sqlite_schema_matches_models(sqlite_url: str) -> None:
    assert_migrates_to_models(sqlite_url)
    assert_downgrades_to_empty(sqlite_url)


def test_postgresql_schema_matches_models(postgres_url: str) -> None:
    assert_migrates_to_models(postgres_url)
    assert_downgrades_to_empty(postgres_url)


def test_every_model_table_is_created_by_a_migration(sqlite_url: str) -> None:
    upgrade_to_head(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert tables == set(SQLModel.metadata.tables) | {"alembic_version"}


def test_revision_files_are_named_after_their_revision() -> None:
    """One linear history, files sortable by name: ``NNNN_slug.py`` holding revision ``NNNN``."""
    for path in sorted((MIGRATIONS_DIR / "versions").glob("[0-9]*.py")):
        declared = re.search(r'^revision: str = "([^"]+)"', path.read_text(), re.MULTILINE)
        assert declared is not None, path
        assert path.name.startswith(declared.group(1) + "_"), path
    assert re.fullmatch(r"\d{4}", head_revision())
