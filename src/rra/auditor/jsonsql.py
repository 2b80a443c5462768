"""JSON arrays stored in a column, unnested into rows in SQL on SQLite and PostgreSQL alike.

Reads that filter or count inside ``host_state``'s JSON (findings, accounts) do it in the database,
so only the numbers or the listed fields travel — not whole documents parsed in Python per host.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ColumnElement, cast, column, func, type_coerce
from sqlalchemy.dialects.postgresql import JSONB, JSONPATH
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlmodel import Session


def json_array_rows(
    session: Session, document: Any, member: str | None = None
) -> tuple[TableValuedAlias, ColumnElement[Any]]:
    """The elements of ``document`` (or of its ``member``) as rows with a JSON ``value`` column,
    plus each row's position in the array for a stable order.

    Join the result with ``true()`` after the table holding ``document``: SQLite lets a
    table-valued function read columns to its left, and PostgreSQL treats functions in FROM as
    LATERAL. A member that is JSON null (an area that was not collected) gives one row whose
    value is null on both; its fields read as NULL and count as nothing.
    """
    if session.get_bind().dialect.name == "postgresql":
        array = (
            type_coerce(document, JSON) if member is None else type_coerce(document, JSON)[member]
        )
        # Parsed once into jsonb, whose fields are then read without re-parsing text; the lax
        # path yields a non-array (JSON null) as a single row instead of raising.
        elements = (
            func.jsonb_path_query(cast(array, JSONB), cast("lax $[*]", JSONPATH))
            .table_valued(column("value", JSONB), with_ordinality="position")
            .render_derived()
        )
        return elements, elements.c.position
    arguments = [document] if member is None else [document, f"$.{member}"]
    elements = func.json_each(*arguments).table_valued("key", column("value", JSON))
    return elements, elements.c.key
