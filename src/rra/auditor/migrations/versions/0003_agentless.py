"""Agentless hosts: hosts collected by the auditor itself over SSH/WinRM have no key.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite can only change a column's nullability by copying the table
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(
            sa.Column("collection", sa.String(length=16), nullable=False, server_default="agent")
        )
        batch.alter_column("public_key", existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    op.execute(
        "DELETE FROM host_state WHERE host_id IN (SELECT id FROM hosts WHERE public_key IS NULL)"
    )
    op.execute(
        "DELETE FROM reports WHERE host_id IN (SELECT id FROM hosts WHERE public_key IS NULL)"
    )
    op.execute("DELETE FROM hosts WHERE public_key IS NULL")
    with op.batch_alter_table("hosts") as batch:
        batch.alter_column("public_key", existing_type=sa.String(length=64), nullable=False)
        batch.drop_column("collection")
