"""The store opens on both backends, and the migrations make exactly the models' schema."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from dkist_processing_core.datacenter.store import DATABASE_URL_ENV, database_url
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
