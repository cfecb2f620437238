"""Object inventory kinds: the catalog's own vocabulary (quality report, inventories, ...).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None

NEW_KINDS = "kind IN ('frame', 'asdf', 'quality_report', 'quality_data', 'quality_report_data', 'movie', 'preview', 'manifest', 'parameter_values', 'documentation', 'provenance', 'dataset_inventory', 'frame_inventory', 'other')"
OLD_KINDS = "kind IN ('frame', 'asdf', 'quality', 'movie', 'preview', 'manifest', 'other')"


def upgrade() -> None:
    # Batch mode: SQLite rebuilds the table to change a CHECK constraint.
    with op.batch_alter_table("object_inventory") as batch:
        batch.drop_constraint(op.f("ck_object_inventory_kind"), type_="check")
        batch.alter_column("kind", type_=sa.String(length=32), existing_type=sa.String(length=16))
        batch.create_check_constraint("kind", NEW_KINDS)


def downgrade() -> None:
    with op.batch_alter_table("object_inventory") as batch:
        batch.drop_constraint(op.f("ck_object_inventory_kind"), type_="check")
        batch.alter_column("kind", type_=sa.String(length=16), existing_type=sa.String(length=32))
        batch.create_check_constraint("kind", OLD_KINDS)
