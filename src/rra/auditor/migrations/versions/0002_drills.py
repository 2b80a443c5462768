"""Restore drills: playbooks, scheduled drill runs (claimed atomically) and signed drill results.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "playbooks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("org", sa.String(length=255), nullable=False),
        sa.Column("yaml", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("schedule", sa.String(length=128), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index(op.f("ix_playbooks_org"), "playbooks", ["org"], unique=False)

    op.create_table(
        "drill_results",
        sa.Column("drill_id", sa.String(length=36), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("host_id", sa.String(length=36), nullable=True),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("org", sa.String(length=255), nullable=False),
        sa.Column("playbook", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rto_seconds", sa.Float(), nullable=True),
        sa.Column("rto_target_seconds", sa.Float(), nullable=True),
        sa.Column("rpo_seconds", sa.Float(), nullable=True),
        sa.Column("snapshot_id", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("signer", sa.String(length=8), nullable=False),
        sa.Column("signer_key", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"]),
        sa.PrimaryKeyConstraint("drill_id"),
    )
    op.create_index(
        "ix_drill_results_host_started", "drill_results", ["host_id", "started_at"], unique=False
    )
    op.create_index(op.f("ix_drill_results_org"), "drill_results", ["org"], unique=False)
    op.create_index(op.f("ix_drill_results_playbook"), "drill_results", ["playbook"], unique=False)
    op.create_index(op.f("ix_drill_results_run_id"), "drill_results", ["run_id"], unique=False)

    op.create_table(
        "drill_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("playbook_id", sa.String(length=36), nullable=True),
        sa.Column("playbook_name", sa.String(length=64), nullable=False),
        sa.Column("org", sa.String(length=255), nullable=False),
        sa.Column("host_id", sa.String(length=36), nullable=True),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("executor_kind", sa.String(length=8), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("claimed_by", sa.String(length=255), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"]),
        sa.ForeignKeyConstraint(["playbook_id"], ["playbooks.id"]),
        sa.PrimaryKeyConstraint("id"),
        # Materialising one fire time twice (two replicas, two claims) inserts nothing twice.
        sa.UniqueConstraint("playbook_id", "target", "due_at", name="uq_drill_runs_due"),
    )
    op.create_index(
        "ix_drill_runs_claim", "drill_runs", ["executor_kind", "state", "due_at"], unique=False
    )
    op.create_index(op.f("ix_drill_runs_host_id"), "drill_runs", ["host_id"], unique=False)
    op.create_index(op.f("ix_drill_runs_org"), "drill_runs", ["org"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_drill_runs_org"), table_name="drill_runs")
    op.drop_index(op.f("ix_drill_runs_host_id"), table_name="drill_runs")
    op.drop_index("ix_drill_runs_claim", table_name="drill_runs")
    op.drop_table("drill_runs")

    op.drop_index(op.f("ix_drill_results_run_id"), table_name="drill_results")
    op.drop_index(op.f("ix_drill_results_playbook"), table_name="drill_results")
    op.drop_index(op.f("ix_drill_results_org"), table_name="drill_results")
    op.drop_index("ix_drill_results_host_started", table_name="drill_results")
    op.drop_table("drill_results")

    op.drop_index(op.f("ix_playbooks_org"), table_name="playbooks")
    op.drop_table("playbooks")
