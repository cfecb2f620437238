"""People who sign in to the status pages (web_user), the PIs' proposal links, and how long
each readiness pass took (readiness_pass.duration_s, for the metrics).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("readiness_pass", sa.Column("duration_s", sa.Float(), nullable=True))
    op.create_table(
        "web_user",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("roles", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_web_user")),
    )
    op.create_table(
        "proposal_link",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("proposal_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposal.id"], name=op.f("fk_proposal_link_proposal_id_proposal")
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_proposal_link")),
    )
    op.create_index(
        op.f("ix_proposal_link_proposal_id"), "proposal_link", ["proposal_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_proposal_link_proposal_id"), table_name="proposal_link")
    op.drop_table("proposal_link")
    op.drop_table("web_user")
    with op.batch_alter_table("readiness_pass") as batch:
        batch.drop_column("duration_s")
