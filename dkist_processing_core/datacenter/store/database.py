"""Opening the metadata store: an embedded SQLite file by default, PostgreSQL by URL.

The database URL comes from, in order: the ``url`` argument, the environment
variable ``DKIST_PROCESSING_DATABASE_URL``, or a SQLite file
``<workdir>/datacenter.sqlite``. Tables are made by the Alembic migrations
(:func:`upgrade`), never by ``metadata.create_all``.

Opening fails with a :class:`StoreError` that names the store (its URL with the
password masked, or its file) and what to do: :class:`StoreConfigurationError`
for a URL that cannot be used, :class:`StoreMissing` when a caller that only
reads (``open_store(..., create=False)``) points where no store exists,
:class:`StoreUnavailable` for a server that cannot be reached or a file that is
not a database, and :class:`StoreSchemaUnknown` for a store whose schema a newer
version made.

SQLite runs in WAL mode with a busy timeout, and every transaction starts with
``BEGIN IMMEDIATE``: writers queue for the single write lock instead of failing
half way, which is what makes two readiness passes at once safe on SQLite.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker

DATABASE_URL_ENV = "DKIST_PROCESSING_DATABASE_URL"
SQLITE_FILE_NAME = "datacenter.sqlite"
SQLITE_BUSY_TIMEOUT_MS = 120_000
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class StoreError(RuntimeError):
    """The metadata store cannot be opened; the message names it (password masked)."""


class StoreConfigurationError(StoreError, ValueError):
    """A database URL that cannot be used: malformed, or neither SQLite nor PostgreSQL."""


class StoreMissing(StoreError):
    """No metadata store where one was expected (opened with ``create=False``).

    ``location`` is the SQLite file's folder, or the masked database URL.
    """

    def __init__(self, message: str, location: str, url: str):
        super().__init__(message)
        self.location = location
        self.url = url


class StoreUnavailable(StoreError):
    """The database server cannot be reached, or the file is not a usable database."""


class StoreSchemaUnknown(StoreError):
    """The store's schema revision is one these migrations do not know (a newer version's)."""


def masked(url: str) -> str:
    """``url`` with its password replaced by ``***`` (also when the URL does not parse)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r":(?!PASSWORD@)[^@\s/]*@", ":***@", url)


def database_url(url: str | None = None, workdir: str | Path | None = None) -> str:
    """The database URL to use: ``url``, else the environment variable, else a SQLite file."""
    if url:
        return normalise_url(url)
    from_env = os.environ.get(DATABASE_URL_ENV)
    if from_env:
        try:
            return normalise_url(from_env)
        except StoreConfigurationError as error:
            raise StoreConfigurationError(f"{DATABASE_URL_ENV}: {error}") from None
    if workdir is None:
        raise StoreConfigurationError(
            f"no database given: pass a database URL, set {DATABASE_URL_ENV}, "
            "or give a work directory for the embedded SQLite file"
        )
    path = Path(workdir).resolve() / SQLITE_FILE_NAME
    return f"sqlite:///{path}"


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for a plain ``postgresql://`` URL."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as error:
        raise StoreConfigurationError(
            f"database URL {masked(url)!r} cannot be parsed ({error}); expected "
            "sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif not (parsed.drivername.startswith("sqlite") or parsed.drivername.startswith("postgresql")):
        raise StoreConfigurationError(
            f"database URL {parsed.render_as_string(hide_password=True)!r}: the "
            f"{parsed.drivername!r} database is not supported; expected sqlite:///PATH or "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for ``url``; for SQLite with WAL, a busy timeout and immediate transactions."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _configure_sqlite(dbapi_connection, _record):
            # Let SQLAlchemy, not the driver, decide when transactions begin.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


class Store:
    """The metadata store: an engine and a session factory.

    >>> store = Store.open(workdir="work")          # doctest: +SKIP
    >>> store.upgrade()                             # doctest: +SKIP
    >>> with store.session() as session:            # doctest: +SKIP
    ...     ...                                     # committed on leaving the block
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str | None = None, workdir: str | Path | None = None, **kwargs) -> Store:
        return cls(make_engine(database_url(url, workdir), **kwargs))

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` with the Alembic migrations."""
        upgrade(self.engine, revision)

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(connection=None, url: str | None = None):
    """An Alembic configuration pointing at the migrations shipped with this package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _refuse_unknown_revisions(connection, config, engine: Engine) -> None:
    """A store at a revision these migrations do not know was made by a newer version."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from dkist_processing_core import __version__

    script = ScriptDirectory.from_config(config)
    known = {r.revision for r in script.walk_revisions()}
    unknown = [
        r for r in MigrationContext.configure(connection).get_current_heads() if r not in known
    ]
    if unknown:
        raise StoreSchemaUnknown(
            f"metadata store {engine.url.render_as_string(hide_password=True)} is at schema "
            f"revision {', '.join(map(repr, unknown))}, which dkist-processing-core "
            f"{__version__} does not know (its newest is {script.get_current_head()!r}): a "
            "newer version made or migrated it; use that version (a store is never migrated "
            "down)"
        )


def upgrade(url_or_engine: str | Engine, revision: str = "head") -> None:
    """Run the Alembic migrations up to ``revision`` on the database.

    Raises :class:`StoreSchemaUnknown` for a store at a revision these migrations do not
    know (made or migrated by a newer version), before changing anything.
    """
    from alembic import command

    engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
    try:
        with engine.begin() as connection:
            config = alembic_config(connection)
            _refuse_unknown_revisions(connection, config, engine)
            command.upgrade(config, revision)
    finally:
        if engine is not url_or_engine:
            engine.dispose()


def open_store(
    url: str | None = None,
    workdir: str | Path | None = None,
    *,
    migrate: bool = True,
    create: bool = True,
) -> Store:
    """Open the store (see :func:`database_url`) and, by default, migrate it to the newest schema.

    With ``create=False`` (for callers that only read) a store must already be
    there: no SQLite file is made and no tables are created in an empty
    database; :class:`StoreMissing` says where none was found. A server that
    cannot be reached or a file that is not a database raises
    :class:`StoreUnavailable`.
    """
    url = database_url(url, workdir)
    shown = masked(url)
    parsed = make_url(url)
    sqlite_file = (
        Path(parsed.database)
        if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:")
        else None
    )
    if not create and sqlite_file is not None and not sqlite_file.is_file():
        raise StoreMissing(
            f"no metadata store in {sqlite_file.parent} (no {sqlite_file.name} there)",
            location=str(sqlite_file.parent),
            url=shown,
        )
    try:
        store = Store(make_engine(url))
    except OSError as error:
        raise StoreUnavailable(f"metadata store {shown}: cannot create it: {error}") from error
    try:
        if not create and not inspect(store.engine).has_table("alembic_version"):
            store.dispose()
            where = str(sqlite_file.parent) if sqlite_file is not None else shown
            raise StoreMissing(
                f"no metadata store at {shown} (the database has no tables)", where, shown
            )
        if migrate:
            store.upgrade()
    except DBAPIError as error:
        store.dispose()
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        what = f"file {sqlite_file}" if sqlite_file is not None else shown
        raise StoreUnavailable(
            f"metadata store {what} cannot be opened: {reason}".replace(
                parsed.password or "\0", "***"
            )
        ) from error
    return store
