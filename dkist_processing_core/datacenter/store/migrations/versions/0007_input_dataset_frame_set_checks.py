"""An input dataset's frames are checked against their frame counts and input dataset per statement.

A readiness pass making 10,000 candidates ready writes ~200,000 input dataset
frames in one INSERT ... SELECT. PostgreSQL checks a foreign key with one
lookup query per inserted row (two keys: 400,000 queries), which cost three
quarters of that statement and more than the rest of the pass together. Here
the two foreign keys of ``input_dataset_frame`` are replaced by checks that
hold the same rule:

- PostgreSQL: statement-level triggers over the transition tables, so a whole
  INSERT (or UPDATE) is checked by one anti-join; deleting a frame count or an
  input dataset that a frame still names is refused the same way. A violation
  raises SQLSTATE 23503 (foreign_key_violation) naming the frame or input
  dataset, like the foreign key did.
- SQLite (no statement-level triggers): row triggers doing what its foreign
  key did, one index lookup per row.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None

FK_FRAME = "fk_input_dataset_frame_frame_id_frame_count"
FK_DATASET = "fk_input_dataset_frame_input_dataset_id_input_dataset"

POSTGRESQL = [
    """
    CREATE FUNCTION input_dataset_frame_check_parents() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        missing text;
    BEGIN
        SELECT n.frame_id INTO missing FROM input_dataset_frame_new n
            WHERE NOT EXISTS (SELECT 1 FROM frame_count f WHERE f.frame_id = n.frame_id) LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'input dataset frame %: no frame count with this frame id', missing
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        SELECT n.input_dataset_id::text INTO missing FROM input_dataset_frame_new n
            WHERE NOT EXISTS (SELECT 1 FROM input_dataset d WHERE d.id = n.input_dataset_id)
            LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'input dataset frame: no input dataset %', missing
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER input_dataset_frame_parents_on_insert AFTER INSERT ON input_dataset_frame
        REFERENCING NEW TABLE AS input_dataset_frame_new
        FOR EACH STATEMENT EXECUTE FUNCTION input_dataset_frame_check_parents()
    """,
    """
    CREATE TRIGGER input_dataset_frame_parents_on_update AFTER UPDATE ON input_dataset_frame
        REFERENCING NEW TABLE AS input_dataset_frame_new
        FOR EACH STATEMENT EXECUTE FUNCTION input_dataset_frame_check_parents()
    """,
    """
    CREATE FUNCTION frame_count_check_input_dataset_frames() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        named text;
    BEGIN
        SELECT o.frame_id INTO named FROM frame_count_old o
            WHERE EXISTS (SELECT 1 FROM input_dataset_frame i WHERE i.frame_id = o.frame_id)
            AND NOT EXISTS (SELECT 1 FROM frame_count f WHERE f.frame_id = o.frame_id) LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'frame count %: an input dataset frame still names it', named
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER frame_count_input_dataset_frames_on_delete AFTER DELETE ON frame_count
        REFERENCING OLD TABLE AS frame_count_old
        FOR EACH STATEMENT EXECUTE FUNCTION frame_count_check_input_dataset_frames()
    """,
    """
    CREATE TRIGGER frame_count_input_dataset_frames_on_update AFTER UPDATE ON frame_count
        REFERENCING OLD TABLE AS frame_count_old
        FOR EACH STATEMENT EXECUTE FUNCTION frame_count_check_input_dataset_frames()
    """,
    """
    CREATE FUNCTION input_dataset_check_frames() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        named text;
    BEGIN
        SELECT o.id::text INTO named FROM input_dataset_old o
            WHERE EXISTS (SELECT 1 FROM input_dataset_frame i WHERE i.input_dataset_id = o.id)
            AND NOT EXISTS (SELECT 1 FROM input_dataset d WHERE d.id = o.id) LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'input dataset %: input dataset frames still name it', named
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER input_dataset_frames_on_delete AFTER DELETE ON input_dataset
        REFERENCING OLD TABLE AS input_dataset_old
        FOR EACH STATEMENT EXECUTE FUNCTION input_dataset_check_frames()
    """,
    """
    CREATE TRIGGER input_dataset_frames_on_update AFTER UPDATE ON input_dataset
        REFERENCING OLD TABLE AS input_dataset_old
        FOR EACH STATEMENT EXECUTE FUNCTION input_dataset_check_frames()
    """,
]

POSTGRESQL_DROP = [
    "DROP TRIGGER input_dataset_frames_on_update ON input_dataset",
    "DROP TRIGGER input_dataset_frames_on_delete ON input_dataset",
    "DROP FUNCTION input_dataset_check_frames()",
    "DROP TRIGGER frame_count_input_dataset_frames_on_update ON frame_count",
    "DROP TRIGGER frame_count_input_dataset_frames_on_delete ON frame_count",
    "DROP FUNCTION frame_count_check_input_dataset_frames()",
    "DROP TRIGGER input_dataset_frame_parents_on_update ON input_dataset_frame",
    "DROP TRIGGER input_dataset_frame_parents_on_insert ON input_dataset_frame",
    "DROP FUNCTION input_dataset_frame_check_parents()",
]

_SQLITE_PARENTS = """
    BEGIN
        SELECT RAISE(ABORT, 'input dataset frame: no frame count with this frame id')
            WHERE NOT EXISTS (SELECT 1 FROM frame_count WHERE frame_id = NEW.frame_id);
        SELECT RAISE(ABORT, 'input dataset frame: no input dataset with this id')
            WHERE NOT EXISTS (SELECT 1 FROM input_dataset WHERE id = NEW.input_dataset_id);
    END
"""

SQLITE = [
    "CREATE TRIGGER input_dataset_frame_parents_on_insert BEFORE INSERT ON input_dataset_frame"
    + _SQLITE_PARENTS,
    "CREATE TRIGGER input_dataset_frame_parents_on_update"
    " BEFORE UPDATE OF frame_id, input_dataset_id ON input_dataset_frame" + _SQLITE_PARENTS,
    """
    CREATE TRIGGER frame_count_input_dataset_frames_on_delete BEFORE DELETE ON frame_count
    BEGIN
        SELECT RAISE(ABORT, 'frame count: an input dataset frame still names it')
            WHERE EXISTS (SELECT 1 FROM input_dataset_frame WHERE frame_id = OLD.frame_id);
    END
    """,
    """
    CREATE TRIGGER frame_count_input_dataset_frames_on_update BEFORE UPDATE OF frame_id
        ON frame_count WHEN NEW.frame_id != OLD.frame_id
    BEGIN
        SELECT RAISE(ABORT, 'frame count: an input dataset frame still names it')
            WHERE EXISTS (SELECT 1 FROM input_dataset_frame WHERE frame_id = OLD.frame_id);
    END
    """,
    """
    CREATE TRIGGER input_dataset_frames_on_delete BEFORE DELETE ON input_dataset
    BEGIN
        SELECT RAISE(ABORT, 'input dataset: input dataset frames still name it')
            WHERE EXISTS (SELECT 1 FROM input_dataset_frame WHERE input_dataset_id = OLD.id);
    END
    """,
    """
    CREATE TRIGGER input_dataset_frames_on_update BEFORE UPDATE OF id ON input_dataset
        WHEN NEW.id != OLD.id
    BEGIN
        SELECT RAISE(ABORT, 'input dataset: input dataset frames still name it')
            WHERE EXISTS (SELECT 1 FROM input_dataset_frame WHERE input_dataset_id = OLD.id);
    END
    """,
]

SQLITE_DROP = [
    "DROP TRIGGER input_dataset_frames_on_update",
    "DROP TRIGGER input_dataset_frames_on_delete",
    "DROP TRIGGER frame_count_input_dataset_frames_on_update",
    "DROP TRIGGER frame_count_input_dataset_frames_on_delete",
    "DROP TRIGGER input_dataset_frame_parents_on_update",
    "DROP TRIGGER input_dataset_frame_parents_on_insert",
]


def upgrade() -> None:
    with op.batch_alter_table("input_dataset_frame") as batch:
        batch.drop_constraint(FK_FRAME, type_="foreignkey")
        batch.drop_constraint(FK_DATASET, type_="foreignkey")
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL if postgresql else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL_DROP if postgresql else SQLITE_DROP:
        op.execute(statement)
    with op.batch_alter_table("input_dataset_frame") as batch:
        batch.create_foreign_key(FK_FRAME, "frame_count", ["frame_id"], ["frame_id"])
        batch.create_foreign_key(FK_DATASET, "input_dataset", ["input_dataset_id"], ["id"])
