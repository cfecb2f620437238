"""Publication as a step of a recipe run's life, and the PI's outbox in the store.

- ``recipe_run_publication``: pending / publishing / published / failed per succeeded run;
- ``outbox_message``: the PI notices, claimed by one sender before each send;
- ``ticket``: kinds ``publication`` and ``notification``; a run may hold several tickets
  (a processing ticket and later a publication ticket), so ``recipe_run_id`` is indexed,
  no longer unique.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None

NEW_KINDS = "kind IN ('manual_by_definition', 'manual_by_exception', 'publication', 'notification')"
OLD_KINDS = "kind IN ('manual_by_definition', 'manual_by_exception')"


def upgrade() -> None:
    op.create_table(
        "recipe_run_publication",
        sa.Column("recipe_run_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("scratch_dir", sa.Text(), nullable=True),
        sa.Column("version_id", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'publishing', 'published', 'failed')",
            name=op.f("ck_recipe_run_publication_status"),
        ),
        sa.ForeignKeyConstraint(
            ["recipe_run_id"],
            ["recipe_run.id"],
            name=op.f("fk_recipe_run_publication_recipe_run_id_recipe_run"),
        ),
        sa.PrimaryKeyConstraint("recipe_run_id", name=op.f("pk_recipe_run_publication")),
    )
    with op.batch_alter_table("recipe_run_publication") as batch:
        batch.create_index(batch.f("ix_recipe_run_publication_status"), ["status"], unique=False)
    op.create_table(
        "outbox_message",
        sa.Column("key", sa.String(length=256), nullable=False),
        sa.Column("recipient", sa.String(length=256), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("recipe_run_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'refused', 'abandoned')",
            name=op.f("ck_outbox_message_status"),
        ),
        sa.ForeignKeyConstraint(
            ["recipe_run_id"],
            ["recipe_run.id"],
            name=op.f("fk_outbox_message_recipe_run_id_recipe_run"),
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_outbox_message")),
    )
    with op.batch_alter_table("outbox_message") as batch:
        batch.create_index("ix_outbox_message_due", ["status", "next_attempt_at"], unique=False)
        batch.create_index(
            batch.f("ix_outbox_message_recipe_run_id"), ["recipe_run_id"], unique=False
        )
    with op.batch_alter_table("ticket") as batch:
        batch.drop_constraint(op.f("ck_ticket_kind"), type_="check")
        batch.create_check_constraint("kind", NEW_KINDS)
        batch.drop_constraint(op.f("uq_ticket_recipe_run_id"), type_="unique")
        batch.create_index(batch.f("ix_ticket_recipe_run_id"), ["recipe_run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.drop_index(batch.f("ix_ticket_recipe_run_id"))
        batch.create_unique_constraint(op.f("uq_ticket_recipe_run_id"), ["recipe_run_id"])
        batch.drop_constraint(op.f("ck_ticket_kind"), type_="check")
        batch.create_check_constraint("kind", OLD_KINDS)
    op.drop_table("outbox_message")
    op.drop_table("recipe_run_publication")
