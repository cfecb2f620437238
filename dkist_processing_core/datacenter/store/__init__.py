"""The metadata store: SQLAlchemy models, the Alembic migrations that make them, and opening it.

SQLite file by default (``<workdir>/datacenter.sqlite``), PostgreSQL by URL;
:mod:`.postgres_server` starts a throwaway local PostgreSQL for tests and demos.
"""

from .database import (
    DATABASE_URL_ENV,
    MIGRATIONS_DIR,
    SQLITE_FILE_NAME,
    Store,
    StoreConfigurationError,
    StoreError,
    StoreMissing,
    StoreSchemaUnknown,
    StoreUnavailable,
    alembic_config,
    database_url,
    make_engine,
    masked,
    normalise_url,
    open_store,
    upgrade,
)

__all__ = [
    "DATABASE_URL_ENV",
    "MIGRATIONS_DIR",
    "SQLITE_FILE_NAME",
    "Store",
    "StoreConfigurationError",
    "StoreError",
    "StoreMissing",
    "StoreSchemaUnknown",
    "StoreUnavailable",
    "alembic_config",
    "database_url",
    "make_engine",
    "masked",
    "normalise_url",
    "open_store",
    "upgrade",
]
