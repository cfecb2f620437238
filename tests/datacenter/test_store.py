"""The store opens on both backends, and the migrations make exactly the models' schema."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from dkist_processing_core.datacenter.store import (
    DATABASE_URL_ENV,
    StoreConfigurationError,
    StoreMissing,
    StoreUnavailable,
    database_url,
    open_store,
)
from dkist_processing_core.datacenter.store.models import Base


def test_migrations_match_models(store):
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_every_model_table_exists(store):
    tables = set(inspect(store.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_database_url_order(tmp_path, monkeypatch):
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    assert database_url(workdir=tmp_path) == f"sqlite:///{tmp_path.resolve()}/datacenter.sqlite"
    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql://u@127.0.0.1:5/db")
    assert database_url(workdir=tmp_path) == "postgresql+psycopg://u@127.0.0.1:5/db"
    assert database_url("sqlite:///x.sqlite", workdir=tmp_path) == "sqlite:///x.sqlite"


def test_a_reader_opens_an_existing_store_on_each_backend(database_url):
    store = open_store(database_url, create=False)
    try:
        assert "alembic_version" in inspect(store.engine).get_table_names()
    finally:
        store.dispose()


def test_a_reader_never_creates_a_store(tmp_path, postgres_server):
    with pytest.raises(StoreMissing, match=f"no metadata store in {tmp_path / 'empty'}"):
        open_store(workdir=tmp_path / "empty", create=False)
    assert not (tmp_path / "empty").exists()
    empty = postgres_server.create_database("empty_for_a_reader")
    with pytest.raises(StoreMissing, match="the database has no tables"):
        open_store(empty, create=False)
    engine = create_engine(empty)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_opening_errors_name_the_store_and_hide_the_password(tmp_path):
    (tmp_path / "datacenter.sqlite").write_bytes(b"not a database, " * 512)
    with pytest.raises(StoreUnavailable, match=r"datacenter\.sqlite cannot be opened"):
        open_store(workdir=tmp_path)
    with pytest.raises(StoreConfigurationError) as malformed:
        open_store("postgresql://ops:hunter22@db.example.org:port/x")
    assert "hunter22" not in str(malformed.value) and "ops:***@" in str(malformed.value)
    with pytest.raises(StoreUnavailable) as unreachable:
        open_store("postgresql://ops:hunter22@127.0.0.1:1/x")
    assert "hunter22" not in str(unreachable.value) and "127.0.0.1" in str(unreachable.value)


def _candidate_with_input_dataset(store, clock):
    """A processing candidate with two frames and an input dataset holding them."""
    from dkist_processing_core.datacenter.planning import input_datasets, readiness, recipes

    with store.session() as s:
        recipes.create_instrument(s, "inst", clock=clock)
        recipes.create_workflow_specification(s, "inst", "wf", "1.0", validate=False, clock=clock)
        recipes.create_recipe(s, "r", "inst", "wf", "1.0", validate_workflow=False, clock=clock)
        candidate = readiness.register_processing_candidate(
            s,
            "obs_1",
            [],
            proposal_id="pid_1",
            principal_investigator="PI",
            recipe="r",
            observation_date=clock.now(),
            clock=clock,
        )
        readiness.record_frames(
            s, [readiness.FrameArrival(f"f_{i}", "obs_1", "observe") for i in (1, 2)], clock=clock
        )
        return input_datasets.assemble_input_dataset(s, candidate.id, clock=clock).id


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO input_dataset_frame (input_dataset_id, frame_id, op_run_id, frame_kind) "
        "VALUES (:dataset, 'never_received', 'obs_1', 'observe')",
        "INSERT INTO input_dataset_frame (input_dataset_id, frame_id, op_run_id, frame_kind) "
        "VALUES (:dataset + 1000, 'f_1', 'obs_1', 'observe')",
        "UPDATE input_dataset_frame SET frame_id = 'never_received' WHERE frame_id = 'f_1'",
        "DELETE FROM frame_count WHERE frame_id = 'f_2'",
        "UPDATE frame_count SET frame_id = 'renamed' WHERE frame_id = 'f_2'",
    ],
    ids=[
        "unknown frame",
        "unknown input dataset",
        "frame renamed",
        "frame deleted",
        "count renamed",
    ],
)
def test_input_dataset_frames_name_existing_frame_counts_and_input_datasets(
    store, clock, statement
):
    """Migration 0007 replaced the two foreign keys by triggers; the rule is the same."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    dataset = _candidate_with_input_dataset(store, clock)
    with (
        pytest.raises(IntegrityError, match=r"frame count|input dataset"),
        store.engine.begin() as c,
    ):
        c.execute(text(statement), {"dataset": dataset} if ":dataset" in statement else {})
    with store.engine.connect() as c:  # nothing changed
        assert c.execute(text("SELECT count(*) FROM input_dataset_frame")).scalar() == 2
        assert c.execute(text("SELECT count(*) FROM frame_count")).scalar() == 2
