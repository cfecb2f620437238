"""Recipe runs record their plan (workflow, version, task order) and hold a lease while running.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recipe_run") as batch:
        batch.add_column(sa.Column("workflow_specification_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("workflow_name", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("workflow_version", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("task_order", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("lease_owner", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_recipe_run_workflow_specification_id_workflow_specification"),
            "workflow_specification",
            ["workflow_specification_id"],
            ["id"],
        )
    # Runs created before this revision: record the plan their recipe names now.
    op.execute(
        "UPDATE recipe_run SET workflow_specification_id = ("
        " SELECT recipe.workflow_specification_id FROM recipe_instance"
        " JOIN recipe ON recipe.id = recipe_instance.recipe_id"
        " WHERE recipe_instance.id = recipe_run.recipe_instance_id)"
    )
    op.execute(
        "UPDATE recipe_run SET"
        " workflow_name = (SELECT name FROM workflow_specification"
        "  WHERE workflow_specification.id = recipe_run.workflow_specification_id),"
        " workflow_version = (SELECT version FROM workflow_specification"
        "  WHERE workflow_specification.id = recipe_run.workflow_specification_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("recipe_run") as batch:
        batch.drop_constraint(
            op.f("fk_recipe_run_workflow_specification_id_workflow_specification"),
            type_="foreignkey",
        )
        for column in (
            "lease_expires_at",
            "lease_owner",
            "task_order",
            "workflow_version",
            "workflow_name",
            "workflow_specification_id",
        ):
            batch.drop_column(column)
